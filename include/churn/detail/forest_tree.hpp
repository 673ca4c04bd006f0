#pragma once
// Growing one CART tree over rank-coded features (see forest_data.hpp).
//
// Per node and candidate feature the split search picks one of two exact methods:
//  - a counting histogram over the feature's codes (one bin per distinct value) when the node is large
//    relative to the number of distinct values: O(n_node + n_bins), no sort;
//  - a radix sort of the node's (code, position) keys when the node is small: O(n_node), one or two
//    passes with digits sized to the column's codes (insertion sort below 33 samples).
// Both produce the node's distinct values in order with their totals, scanned once to evaluate every
// threshold. For gini on a column without NaN (the common case) they produce running totals directly
// and the scan computes every threshold's score in a loop the compiler vectorises.
// Bootstrap replicates are weights (counts), never copies; samples with zero weight are left out.
//
// Histogram subtraction (the sibling's histogram = parent - smaller child) is deliberately not used:
// a random forest draws a fresh feature subset at each node, so the parent's histogram for a feature
// the child draws exists only with probability max_features / n_features (about 1/sqrt(p)), and
// keeping every parent's histograms alive along the depth-first stack would cost more memory traffic
// than the saved counting pass.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/rng.hpp>
#include <churn/tree.hpp>

namespace churn {
namespace detail {

/// Impurity of a node with total weight w of which wp is class 1.
inline double node_impurity(criterion c, double w, double wp) noexcept {
  if (w <= 0) return 0;
  const double p = wp / w;
  const double q = 1 - p;
  if (c == criterion::gini) return 1 - (p * p + q * q);
  double h = 0;
  if (p > 0) h -= p * std::log2(p);
  if (q > 0) h -= q * std::log2(q);
  return h;
}

/// A monotone proxy of the impurity decrease of a split (larger is better); see scikit-learn's
/// proxy_impurity_improvement. Gini: sum over children of (wp^2 + wn^2) / w. Entropy: -sum w * H.
inline double split_proxy(criterion c, double wl, double wpl, double wr, double wpr) noexcept {
  if (c == criterion::gini) {
    const double wnl = wl - wpl, wnr = wr - wpr;
    return (wpl * wpl + wnl * wnl) / wl + (wpr * wpr + wnr * wnr) / wr;
  }
  return -(wl * node_impurity(c, wl, wpl) + wr * node_impurity(c, wr, wpr));
}

struct split_candidate {
  bool found = false;
  std::uint32_t feature = 0;
  std::uint32_t split_code = 0;  ///< non-missing codes <= split_code go left
  bool missing_left = false;
  float threshold = 0;
  double proxy = -std::numeric_limits<double>::infinity();
  double wl = 0, wpl = 0, wr = 0, wpr = 0;
  std::uint32_t nl = 0, nr = 0;
};

struct grow_node {
  std::uint32_t begin = 0, end = 0, depth = 0;
  double w = 0, wp = 0, impurity = 0;
  double improvement = 0;
  std::int32_t left = -1, right = -1;
  split_candidate split;
};

/// One training row of a tree, kept next to its weight and label so that the split search reads them
/// sequentially; nodes own contiguous ranges of these, partitioned in place.
struct tree_sample {
  double w;  ///< bootstrap count x sample weight x class weight (> 0)
  std::uint32_t row;
  std::uint32_t y;  ///< 0 or 1
};

struct sort_item {
  double w;
  std::uint32_t code;
  std::uint32_t y;
};

/// Per-thread buffers reused across nodes and trees.
struct tree_scratch {
  struct bin {
    double w, wp;
    std::uint32_t n;
  };
  struct group {
    std::uint32_t code;
    std::uint32_t n;
    double w, wp;
  };
  std::vector<bin> hist;
  std::vector<std::uint64_t> hist_packed;  // integer weights: per code, packed (weight, class-1 weight, n)
  std::vector<std::uint64_t> packed_row;   // integer weights: per training row, its sample packed
  std::vector<std::uint64_t> cum_packed;   // integer weights: packed running totals
  std::vector<std::uint64_t> node_bits;    // the searched node's samples: their row bits (one word)
  std::vector<std::uint64_t> node_packed;  // the searched node's samples: packed, in order (integer weights)
  /// Whether trees whose weights are all small integers may use the packed integer sums; false forces
  /// the double sums (a test compares the two paths tree by tree).
  bool integer_sums = true;
  std::vector<sort_item> items, items_tmp;
  std::vector<std::uint32_t> keys, keys_tmp;
  std::vector<group> groups;
  std::vector<double> cum_w, cum_wp, proxy;  // per threshold, for the gini scan
  std::vector<std::uint32_t> cum_n, cum_code;
  std::vector<tree_sample> right_side;  // partition buffer
  std::vector<std::uint32_t> features;
  std::vector<grow_node> nodes;
  std::vector<std::uint64_t> constant;  // per node, a bit per feature: known constant in the node
};

/// A grown tree: pre-order nodes and the raw impurity decrease per feature
/// (sum over the tree's splits of w*imp - wl*imp_l - wr*imp_r, not yet normalised).
struct grown_tree {
  std::vector<tree_node> nodes;
  std::vector<double> cover;  ///< per node: the weighted count of its training samples (as nodes)
  std::vector<double> importance;
  double root_weight = 0;
};

class tree_grower {
 public:
  tree_grower(const tree_params& params, const binned_features& X, std::size_t mtry, tree_scratch& scratch)
      : p_(params), X_(X), mtry_(mtry), s_(scratch) {}

  /// Grows a tree over `samples` (distinct rows with positive weight), reordering them.
  grown_tree grow(std::vector<tree_sample>& samples, rng& g) {
    smp_ = samples.data();
    g_ = &g;
    auto& nodes = s_.nodes;
    nodes.clear();
    s_.hist.resize(static_cast<std::size_t>(X_.max_bins()) + 1);
    s_.features.resize(X_.n_features);
    for (std::uint32_t f = 0; f < X_.n_features; ++f) s_.features[f] = f;

    grown_tree out;
    out.importance.assign(X_.n_features, 0.0);
    double w = 0, wp = 0;
    for (const auto& s : samples) {
      w += s.w;
      wp += s.w * s.y;
    }
    root_weight_ = w;
    out.root_weight = w;
    packed_ = s_.integer_sums && packable(samples, w);
    if (packed_) {
      s_.hist_packed.resize(static_cast<std::size_t>(X_.max_bins()) + 1);
      s_.packed_row.resize(X_.n_rows);
      for (const auto& s : samples) s_.packed_row[s.row] = pack(s);
    }
    min_weight_leaf_ = p_.min_weight_fraction_leaf * w;
    words_ = (X_.n_features + 63) / 64;
    s_.constant.clear();
    add_node(0, static_cast<std::uint32_t>(samples.size()), 0, w, wp, -1);

    if (p_.max_leaf_nodes == 0) {
      std::vector<std::uint32_t> stack{0};
      while (!stack.empty()) {
        const std::uint32_t id = stack.back();
        stack.pop_back();
        if (!nodes[id].split.found) continue;
        split_node(id, out);
        stack.push_back(static_cast<std::uint32_t>(nodes[id].right));
        stack.push_back(static_cast<std::uint32_t>(nodes[id].left));
      }
    } else {
      // Best-first, as scikit-learn does when max_leaf_nodes is set: expand the open node whose split
      // decreases impurity most; ties go to the older node.
      auto worse = [&](std::uint32_t a, std::uint32_t b) {
        if (nodes[a].improvement != nodes[b].improvement) return nodes[a].improvement < nodes[b].improvement;
        return a > b;
      };
      std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, decltype(worse)> open(worse);
      if (nodes[0].split.found) open.push(0);
      std::size_t leaves = 1;
      while (!open.empty() && leaves < p_.max_leaf_nodes) {
        const std::uint32_t id = open.top();
        open.pop();
        split_node(id, out);
        ++leaves;
        for (auto child : {nodes[id].left, nodes[id].right})
          if (nodes[static_cast<std::size_t>(child)].split.found) open.push(static_cast<std::uint32_t>(child));
      }
      for (auto& n : nodes)
        if (n.left < 0) n.split.found = false;
    }
    flatten(out);
    return out;
  }

 private:
  // `parent`: the node's parent, -1 for the root.
  void add_node(std::uint32_t begin, std::uint32_t end, std::uint32_t depth, double w, double wp, std::int64_t parent) {
    // A feature constant in a node is constant in its descendants (their samples are a subset): the
    // node starts from its parent's known constant features and adds those its own search finds, so
    // that no descendant counts the node's samples for them again. Skipping them changes nothing: the
    // search of a constant feature neither draws a random number nor proposes a split.
    const std::size_t id = s_.nodes.size();
    if (s_.constant.size() < (id + 1) * words_) s_.constant.resize(2 * (id + 1) * words_);
    if (parent >= 0)
      std::copy_n(s_.constant.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(parent) * words_), words_,
                  s_.constant.begin() + static_cast<std::ptrdiff_t>(id * words_));
    else
      std::fill_n(s_.constant.begin() + static_cast<std::ptrdiff_t>(id * words_), words_, std::uint64_t{0});
    constant_ = s_.constant.data() + id * words_;
    grow_node n;
    n.begin = begin;
    n.end = end;
    n.depth = depth;
    n.w = w;
    n.wp = wp;
    n.impurity = node_impurity(p_.split_criterion, w, wp);
    const std::size_t count = end - begin;
    const bool leaf = (p_.max_depth > 0 && depth >= p_.max_depth) || count < p_.min_samples_split ||
                      count < 2 * p_.min_samples_leaf || w < 2 * min_weight_leaf_ ||
                      n.impurity <= std::numeric_limits<double>::epsilon();
    if (!leaf) {
      mark_constant_binary(begin, end);
      find_split(n);
      if (n.split.found) {
        const auto& s = n.split;
        const double il = node_impurity(p_.split_criterion, s.wl, s.wpl);
        const double ir = node_impurity(p_.split_criterion, s.wr, s.wpr);
        n.improvement = (w / root_weight_) * (n.impurity - s.wr / w * ir - s.wl / w * il);
        if (n.improvement + std::numeric_limits<double>::epsilon() < p_.min_impurity_decrease) n.split.found = false;
      }
    }
    s_.nodes.push_back(n);
  }

  void split_node(std::uint32_t id, grown_tree& out) {
    // Copy: add_node may reallocate the vector.
    const grow_node n = s_.nodes[id];
    const auto& s = n.split;
    const std::uint16_t* col = X_.column(s.feature);
    const std::uint32_t missing = X_.n_bins[s.feature];
    // Stable and branch-free: each sample is written to both sides and only its own side advances (the
    // side is unpredictable). Stability keeps every node's samples in row order, so the reads of a
    // feature's codes for a node go forward through memory.
    tree_sample* first = smp_ + n.begin;
    const std::uint32_t count = n.end - n.begin;
    auto& right_side = s_.right_side;
    right_side.resize(count);
    std::uint32_t nl = 0, nr = 0;
    const std::uint32_t split_code = s.split_code;
    const bool missing_left = s.missing_left;
    for (std::uint32_t i = 0; i < count; ++i) {
      const tree_sample x = first[i];
      const std::uint32_t c = col[x.row];
      const bool left = c == missing ? missing_left : c <= split_code;
      first[nl] = x;
      right_side[nr] = x;
      nl += left;
      nr += !left;
    }
    std::copy(right_side.begin(), right_side.begin() + nr, first + nl);
    const auto m = n.begin + nl;
    const double il = node_impurity(p_.split_criterion, s.wl, s.wpl);
    const double ir = node_impurity(p_.split_criterion, s.wr, s.wpr);
    out.importance[s.feature] += n.w * n.impurity - s.wl * il - s.wr * ir;
    const auto left = static_cast<std::int32_t>(s_.nodes.size());
    add_node(n.begin, m, n.depth + 1, s.wl, s.wpl, id);
    const auto right = static_cast<std::int32_t>(s_.nodes.size());
    add_node(m, n.end, n.depth + 1, s.wr, s.wpr, id);
    s_.nodes[id].left = left;
    s_.nodes[id].right = right;
  }

  // The index of the lowest set bit of v != 0.
  static unsigned lowest_bit(std::uint64_t v) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(v));
#else
    unsigned i = 0;
    for (; (v & 1) == 0; v >>= 1) ++i;
    return i;
#endif
  }

  // Marks the two-valued features constant over samples [begin, end) as known constant (see
  // binned_features::binary_rows).
  void mark_constant_binary(std::uint32_t begin, std::uint32_t end) noexcept {
    const std::size_t words = X_.binary_words;
    const std::uint64_t* bits = X_.binary_rows.data();
    const std::size_t n_binary = X_.binary_features.size();
    // With packed sums and one word of bits, the same pass also lays the node's bits and packed samples
    // out contiguously, so that summing a two-valued feature reads them in order (no scattered reads).
    gathered_ = packed_ && words == 1;
    if (gathered_) {
      const std::uint32_t count = end - begin;
      if (s_.node_bits.size() < count) {
        s_.node_bits.resize(count);
        s_.node_packed.resize(count);
      }
      std::uint64_t* nb = s_.node_bits.data();
      std::uint64_t* np = s_.node_packed.data();
      const std::uint64_t* pr = s_.packed_row.data();
      std::uint64_t all = ~std::uint64_t{0}, any = 0;
      for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint32_t row = smp_[begin + i].row;
        const std::uint64_t v = bits[row];
        nb[i] = v;
        np[i] = pr[row];
        all &= v;
        any |= v;
      }
      mark_constant_word(0, ~(all ^ any), n_binary);
      return;
    }
    if (packed_) {
      // The node's packed samples in order all the same: the split search reads them by position in
      // the node, instead of through each sample's row (one dependent load less per sample and feature).
      const std::uint32_t count = end - begin;
      if (s_.node_packed.size() < count) s_.node_packed.resize(count);
      std::uint64_t* np = s_.node_packed.data();
      const std::uint64_t* pr = s_.packed_row.data();
      for (std::uint32_t i = 0; i < count; ++i) np[i] = pr[smp_[begin + i].row];
    }
    for (std::size_t k = 0; k < words; ++k) {
      std::uint64_t all = ~std::uint64_t{0}, any = 0;
      for (std::uint32_t i = begin; i < end; ++i) {
        const std::uint64_t v = bits[smp_[i].row * words + k];
        all &= v;
        any |= v;
      }
      mark_constant_word(k, ~(all ^ any), n_binary);
    }
  }

  // Marks the features of word k of the row bits whose bit is set in `same` as known constant.
  void mark_constant_word(std::size_t k, std::uint64_t same, std::size_t n_binary) noexcept {
    const std::size_t in_word = std::min<std::size_t>(64, n_binary - 64 * k);
    if (in_word < 64) same &= (std::uint64_t{1} << in_word) - 1;
    for (; same != 0; same &= same - 1) {
      const std::uint32_t f = X_.binary_features[64 * k + lowest_bit(same)];
      constant_[f / 64] |= std::uint64_t{1} << (f % 64);
    }
  }

  // Draws candidate features without replacement until mtry non-constant ones have been evaluated
  // (or none is left), as scikit-learn does.
  void find_split(grow_node& n) {
    const std::size_t p = X_.n_features;
    std::size_t visited = 0;
    for (std::size_t j = 0; j < p && visited < mtry_; ++j) {
      const std::size_t r = j + static_cast<std::size_t>(g_->below(p - j));
      std::swap(s_.features[j], s_.features[r]);
      const std::uint32_t f = s_.features[j];
      std::uint64_t& known = constant_[f / 64];
      const std::uint64_t bit = std::uint64_t{1} << (f % 64);
      if (known & bit) continue;
      const bool constant = p_.split_strategy == splitter::best ? evaluate_best(n, f) : evaluate_random(n, f);
      if (constant)
        known |= bit;
      else
        ++visited;
    }
  }

  // Whether a split with the given left side is allowed; if so and better, records it.
  // `threshold` < 0 codes "compute the midpoint between bins code and next_code", done only for a new
  // best because it is comparatively costly.
  void consider(grow_node& n, std::uint32_t f, double wl, double wpl, std::uint32_t nl, std::uint32_t code,
                bool missing_left, float threshold, std::uint32_t next_code = 0, bool lazy = false) {
    const std::uint32_t count = n.end - n.begin;
    const std::uint32_t nr = count - nl;
    const double wr = n.w - wl;
    // Sums by subtraction can stray below 0 or above the total by rounding.
    const double wpr = std::min(wr, std::max(0.0, n.wp - wpl));
    if (nl < p_.min_samples_leaf || nr < p_.min_samples_leaf) return;
    if (wl < min_weight_leaf_ || wr < min_weight_leaf_ || wl <= 0 || wr <= 0) return;
    const double proxy = split_proxy(p_.split_criterion, wl, wpl, wr, wpr);
    if (proxy > n.split.proxy) {
      auto& s = n.split;
      s.found = true;
      s.feature = f;
      s.split_code = code;
      s.missing_left = missing_left;
      s.threshold = lazy ? midpoint(f, code, next_code) : threshold;
      s.proxy = proxy;
      s.wl = wl;
      s.wpl = wpl;
      s.wr = wr;
      s.wpr = wpr;
      s.nl = nl;
      s.nr = nr;
    }
  }

  // The threshold between bins a < b: scikit-learn's midpoint, then the largest float not above it.
  float midpoint(std::uint32_t f, std::uint32_t a, std::uint32_t b) const {
    const double lo = X_.upper[f][a];
    const double hi = X_.lower[f][b];
    double t = lo / 2.0 + hi / 2.0;
    if (t == hi || std::isinf(t) || std::isnan(t)) t = lo;
    return float_floor(t);
  }

  // Counts the node's samples per code of feature f into s_.hist[0, bins) (weight, class-1 weight, n).
  void fill_histogram(const grow_node& n, std::uint32_t f, std::uint32_t bins) {
    const std::uint16_t* col = X_.column(f);
    const tree_sample* smp = smp_ + n.begin;
    auto* h = s_.hist.data();
    std::fill(h, h + bins, tree_scratch::bin{0, 0, 0});
    for (std::uint32_t i = 0, count = n.end - n.begin; i < count; ++i) {
      const tree_sample& x = smp[i];
      auto& b = h[col[x.row]];
      b.w += x.w;
      b.wp += x.w * x.y;
      ++b.n;
    }
  }

  // Integer weights, the common case (bootstrap counts times unit sample and class weights): when every
  // sample's weight is a whole number and the tree's total weight is below 2^21, every sum of weights
  // the split search forms is an integer below 2^21, exact in double whatever the order of the
  // additions. The same sums formed in integers therefore give the same doubles, hence the same splits
  // and the same tree. Three of them fit in one 64-bit word (weight << 42 | class-1 weight << 21 |
  // samples), so a sample costs one integer addition instead of two chains of dependent floating-point
  // additions through memory, which is what a histogram of few bins costs in small nodes.
  static constexpr int pack_bits = 21;
  static constexpr std::uint64_t pack_mask = (std::uint64_t{1} << pack_bits) - 1;

  static bool packable(const std::vector<tree_sample>& samples, double total) noexcept {
    if (!(total < static_cast<double>(pack_mask)) || samples.size() >= pack_mask) return false;
    for (const auto& s : samples)
      if (s.w != std::floor(s.w)) return false;
    return true;
  }

  static std::uint64_t pack(const tree_sample& x) noexcept {
    const auto w = static_cast<std::uint64_t>(x.w);
    return w << (2 * pack_bits) | (w * x.y) << pack_bits | 1u;
  }

  // The node's totals, packed (exact: the node's weights are integer sums).
  static std::uint64_t pack_node(const grow_node& n) noexcept {
    return static_cast<std::uint64_t>(n.w) << (2 * pack_bits) | static_cast<std::uint64_t>(n.wp) << pack_bits |
           (n.end - n.begin);
  }

  // Appends a packed running total after `code` to s_.cum_* at gi (see build_running_sums).
  void put_packed(std::size_t gi, std::uint64_t running, std::uint32_t code) noexcept {
    s_.cum_w[gi] = static_cast<double>(running >> (2 * pack_bits));
    s_.cum_wp[gi] = static_cast<double>((running >> pack_bits) & pack_mask);
    s_.cum_n[gi] = static_cast<std::uint32_t>(running & pack_mask);
    s_.cum_code[gi] = code;
  }

  // build_running_sums with packed integer sums (packed_ set, feature without missing values).
  std::size_t build_running_sums_packed(const grow_node& n, std::uint32_t f) {
    const std::uint32_t nb = X_.n_bins[f];
    const std::uint32_t count = n.end - n.begin;
    const tree_sample* smp = smp_ + n.begin;
    const std::uint16_t* col = X_.column(f);
    const std::uint64_t* np = s_.node_packed.data();  // the node's samples, packed, in order
    if (nb == 2) {
      // Codes 0 and 1: code 1's totals in four independent chains, with no memory in between; code 0's
      // are the node's less those (exact in integers).
      std::uint64_t a[4] = {0, 0, 0, 0};
      std::uint32_t i = 0;
      if (gathered_) {
        // The node's bits and packed samples in order (see mark_constant_binary): a loop the compiler
        // vectorises.
        const std::uint64_t* nbits = s_.node_bits.data();
        const std::uint32_t j = X_.binary_slot[f];
        for (; i < count; ++i) a[0] += np[i] & (std::uint64_t{0} - ((nbits[i] >> j) & 1u));
      }
      for (; i + 4 <= count; i += 4)
        for (std::uint32_t k = 0; k < 4; ++k) a[k] += np[i + k] & (std::uint64_t{0} - col[smp[i + k].row]);
      for (; i < count; ++i) a[0] += np[i] & (std::uint64_t{0} - col[smp[i].row]);
      const std::uint64_t total = pack_node(n);
      const std::uint64_t ones = (a[0] + a[1]) + (a[2] + a[3]);
      const std::uint64_t zeros = total - ones;
      if ((ones & pack_mask) == 0 || (zeros & pack_mask) == 0) return 1;  // constant in the node
      put_packed(0, zeros, 0);
      put_packed(1, total, 1);
      return 2;
    }
    auto* h = s_.hist_packed.data();
    std::fill(h, h + nb, std::uint64_t{0});
    for (std::uint32_t i = 0; i < count; ++i) h[col[smp[i].row]] += np[i];
    // Running totals of the non-empty codes (branch-free), then unpacked: most bins of a small node are
    // empty, and only the non-empty ones are converted.
    auto& run = s_.cum_packed;
    if (run.size() < nb) run.resize(nb);
    std::uint64_t running = 0;
    std::size_t gi = 0;
    for (std::uint32_t c = 0; c < nb; ++c) {
      running += h[c];
      run[gi] = running;
      s_.cum_code[gi] = c;
      gi += (h[c] & pack_mask) != 0;
    }
    for (std::size_t i = 0; i < gi; ++i) put_packed(i, run[i], s_.cum_code[i]);
    return gi;
  }

  // Sorts the node's samples by their code of feature f into s_.keys, as 32-bit keys (code << 16 |
  // position in the node): a quarter of the bytes of (code, weight, label) items to move, and ties keep
  // the node's order. Requires fewer than 65,536 samples in the node.
  void sort_node_keys(const grow_node& n, std::uint32_t f) {
    const std::uint16_t* col = X_.column(f);
    const tree_sample* smp = smp_ + n.begin;
    const std::uint32_t count = n.end - n.begin;
    auto& keys = s_.keys;
    keys.resize(count);
    for (std::uint32_t i = 0; i < count; ++i) keys[i] = (static_cast<std::uint32_t>(col[smp[i].row]) << 16) | i;
    if (count <= 32) {
      for (std::size_t i = 1; i < count; ++i) {
        const std::uint32_t k = keys[i];
        std::size_t j = i;
        for (; j > 0 && keys[j - 1] > k; --j) keys[j] = keys[j - 1];
        keys[j] = k;
      }
    } else {
      radix_sort_keys(keys, s_.keys_tmp, code_bits(X_.n_bins[f]));
    }
  }

  // Sorts the node's (code, weight, label) items by code into s_.items: for nodes too large for keys.
  void sort_node_items(const grow_node& n, std::uint32_t f) {
    const std::uint16_t* col = X_.column(f);
    const tree_sample* smp = smp_ + n.begin;
    const std::uint32_t count = n.end - n.begin;
    auto& items = s_.items;
    items.resize(count);
    for (std::uint32_t i = 0; i < count; ++i) items[i] = {smp[i].w, col[smp[i].row], smp[i].y};
    radix_sort(items, s_.items_tmp, X_.n_bins[f] > 255 ? 2 : 1);
  }

  // Counting wins while the bins to clear and scan are few compared with the node's samples;
  // otherwise a radix sort of the node's codes (O(n), no comparisons).
  static bool use_histogram(std::uint32_t bins, std::uint32_t count) noexcept {
    return bins <= 64 || bins <= 2 * count;
  }

  // For a feature without missing values: the node's distinct codes in ascending order, and after each
  // one the running totals (weight, class-1 weight, samples) of the node's samples up to that code, in
  // s_.cum_*. Returns the number of distinct codes. Writing totals at every sample and advancing only
  // where the code changes keeps the loops free of branches and of read-modify-write chains in memory.
  std::size_t build_running_sums(const grow_node& n, std::uint32_t f) {
    const std::uint32_t nb = X_.n_bins[f];
    const std::uint32_t count = n.end - n.begin;
    const tree_sample* smp = smp_ + n.begin;
    auto& cw = s_.cum_w;
    auto& cwp = s_.cum_wp;
    auto& cn = s_.cum_n;
    auto& codes = s_.cum_code;
    const std::size_t room = std::max<std::size_t>(count, nb) + 1;
    if (cw.size() < room) {
      cw.resize(room);
      cwp.resize(room);
      cn.resize(room);
      codes.resize(room);
    }
    double wl = 0, wpl = 0;
    std::uint32_t nl = 0;
    std::size_t gi = 0;
    if (use_histogram(nb, count)) {
      if (packed_) return build_running_sums_packed(n, f);
      fill_histogram(n, f, nb);
      const auto* h = s_.hist.data();
      // An empty bin adds zeros, which leaves the totals exactly as they are.
      for (std::uint32_t c = 0; c < nb; ++c) {
        wl += h[c].w;
        wpl += h[c].wp;
        nl += h[c].n;
        cw[gi] = wl;
        cwp[gi] = wpl;
        cn[gi] = nl;
        codes[gi] = c;
        gi += h[c].n != 0;
      }
      return gi;
    }
    if (count <= 0xFFFFu) {
      sort_node_keys(n, f);
      auto& keys = s_.keys;
      keys.push_back(0xFFFFFFFFu);  // a code no sample has (codes stay below nb <= 65535): the last group ends
      if (packed_) {
        const std::uint64_t* np = s_.node_packed.data();  // the node's samples, packed, in order
        std::uint64_t running = 0;
        for (std::uint32_t j = 0; j < count; ++j) {
          const std::uint32_t code = keys[j] >> 16;
          running += np[keys[j] & 0xFFFFu];
          put_packed(gi, running, code);
          gi += code != (keys[j + 1] >> 16);
        }
        return gi;
      }
      for (std::uint32_t j = 0; j < count; ++j) {
        const std::uint32_t code = keys[j] >> 16;
        const tree_sample& x = smp[keys[j] & 0xFFFFu];
        wl += x.w;
        wpl += x.w * x.y;
        ++nl;
        cw[gi] = wl;
        cwp[gi] = wpl;
        cn[gi] = nl;
        codes[gi] = code;
        gi += code != (keys[j + 1] >> 16);
      }
      return gi;
    }
    sort_node_items(n, f);
    const auto& items = s_.items;
    for (std::uint32_t j = 0; j < count; ++j) {
      const sort_item& x = items[j];
      wl += x.w;
      wpl += x.w * x.y;
      ++nl;
      cw[gi] = wl;
      cwp[gi] = wpl;
      cn[gi] = nl;
      codes[gi] = x.code;
      gi += j + 1 == count || x.code != items[j + 1].code;
    }
    return gi;
  }

  // Builds the node's groups of equal codes for feature f (ascending; the missing group last).
  void build_groups(const grow_node& n, std::uint32_t f) {
    auto& groups = s_.groups;
    groups.clear();
    const std::uint32_t nb = X_.n_bins[f];
    const std::uint32_t count = n.end - n.begin;
    const tree_sample* smp = smp_ + n.begin;
    if (use_histogram(nb, count)) {
      fill_histogram(n, f, nb + 1);
      const auto* h = s_.hist.data();
      // Branch-free compaction of the non-empty bins (about half of them are empty: unpredictable).
      groups.resize(static_cast<std::size_t>(nb) + 1);
      std::size_t gi = 0;
      for (std::uint32_t c = 0; c <= nb; ++c) {
        groups[gi] = {c, h[c].n, h[c].w, h[c].wp};
        gi += h[c].n != 0;
      }
      groups.resize(gi);
      return;
    }
    // Branch-free grouping: in small nodes most values are distinct, so a branch would mispredict.
    if (count <= 0xFFFFu) {
      sort_node_keys(n, f);
      groups.assign(count, tree_scratch::group{0, 0, 0, 0});
      std::size_t gi = 0;
      std::uint32_t prev = s_.keys[0] >> 16;
      for (const std::uint32_t k : s_.keys) {
        const std::uint32_t code = k >> 16;
        const tree_sample& x = smp[k & 0xFFFFu];
        gi += code != prev;
        prev = code;
        auto& g = groups[gi];
        g.code = code;
        g.w += x.w;
        g.wp += x.w * x.y;
        ++g.n;
      }
      groups.resize(gi + 1);
      return;
    }
    sort_node_items(n, f);
    groups.assign(count, tree_scratch::group{0, 0, 0, 0});
    std::size_t gi = 0;
    std::uint32_t prev = s_.items[0].code;
    for (const sort_item& x : s_.items) {
      gi += x.code != prev;
      prev = x.code;
      auto& g = groups[gi];
      g.code = x.code;
      g.w += x.w;
      g.wp += x.w * x.y;
      ++g.n;
    }
    groups.resize(gi + 1);
  }

  // Bits needed for codes 0..nb (nb is the missing code), at least 1.
  static int code_bits(std::uint32_t nb) noexcept {
    int bits = 1;
    while (bits < 16 && (nb >> bits) != 0) ++bits;
    return bits;
  }

  // Sorts keys by their upper 16 bits, the code, of which only the low `bits` can be set (LSD radix;
  // stable). Digits are sized to the column: one pass up to 8 bits, else two passes of about half the
  // bits each. Small digit tables are quick to clear and prefix-sum, which is most of the cost in the
  // small nodes that sort, and spread the counts over more buckets than a byte split would when the
  // codes only just exceed 8 bits (a high byte of 0 or 1 makes every increment wait for the last).
  static void radix_sort_keys(std::vector<std::uint32_t>& keys, std::vector<std::uint32_t>& tmp, int bits) {
    tmp.resize(keys.size());
    const int passes = bits <= 8 ? 1 : 2;
    const int low_bits = (bits + passes - 1) / passes;
    const int digit_bits[2] = {low_bits, bits - low_bits};
    std::uint32_t count[2][257];
    for (int pass = 0; pass < passes; ++pass) std::fill(count[pass], count[pass] + (1u << digit_bits[pass]) + 1, 0u);
    const std::uint32_t low_mask = (1u << low_bits) - 1u;
    const int high_shift = 16 + low_bits;
    if (passes == 1) {
      for (const auto k : keys) ++count[0][((k >> 16) & low_mask) + 1];
    } else {
      for (const auto k : keys) {
        ++count[0][((k >> 16) & low_mask) + 1];
        ++count[1][(k >> high_shift) + 1];
      }
    }
    const std::size_t n = keys.size();
    for (int pass = 0; pass < passes; ++pass) {
      const int shift = pass == 0 ? 16 : high_shift;
      const std::uint32_t mask = (1u << digit_bits[pass]) - 1u;
      const std::uint32_t buckets = mask + 1u;
      std::uint32_t* c = count[pass];
      if (c[1 + ((keys[0] >> shift) & mask)] == n) continue;  // one bucket: already in order
      for (std::uint32_t b = 0; b < buckets; ++b) c[b + 1] += c[b];
      std::uint32_t end[257];
      std::copy(c + 1, c + 1 + buckets, end);
      radix_scatter_stable(keys.data(), tmp.data(), n, c, end,
                           [shift, mask](std::uint32_t k) { return (k >> shift) & mask; });
      keys.swap(tmp);
    }
  }

  // Sorts items by code (LSD radix, one or two byte passes; stable).
  static void radix_sort(std::vector<sort_item>& items, std::vector<sort_item>& tmp, int passes) {
    tmp.resize(items.size());
    // Both byte histograms in one read of the items.
    std::uint32_t count[2][257] = {};
    for (const auto& x : items) {
      ++count[0][(x.code & 0xFFu) + 1];
      ++count[1][((x.code >> 8) & 0xFFu) + 1];
    }
    for (int pass = 0; pass < passes; ++pass) {
      const int shift = 8 * pass;
      std::uint32_t* c = count[pass];
      if (c[1 + ((items[0].code >> shift) & 0xFFu)] == items.size()) continue;  // one bucket: already in order
      for (int b = 0; b < 256; ++b) c[b + 1] += c[b];
      std::uint32_t end[256];
      std::copy(c + 1, c + 257, end);
      radix_scatter_stable(items.data(), tmp.data(), items.size(), c, end,
                           [shift](const sort_item& x) { return (x.code >> shift) & 0xFFu; });
      items.swap(tmp);
    }
  }

  // Threshold of the split "every present value left, missing right": every finite float is <= it
  // (inputs beyond float range are rejected), and unlike infinity it is representable in JSON.
  static constexpr float all_present_left = std::numeric_limits<float>::max();

  // Returns true when feature f is constant in the node.
  bool evaluate_best(grow_node& n, std::uint32_t f) {
    if (p_.split_criterion == criterion::gini && !X_.has_missing[f]) {
      const std::size_t groups = build_running_sums(n, f);
      if (groups <= 1) return true;
      scan_gini(n, f, n.end - n.begin, groups);
      return false;
    }
    build_groups(n, f);
    const auto& groups = s_.groups;
    if (groups.size() <= 1) return true;
    const std::uint32_t nb = X_.n_bins[f];
    const bool has_missing = groups.back().code == nb;
    const std::size_t present = groups.size() - (has_missing ? 1 : 0);
    const double mw = has_missing ? groups.back().w : 0;
    const double mwp = has_missing ? groups.back().wp : 0;
    const std::uint32_t mn = has_missing ? groups.back().n : 0;
    const std::uint32_t count = n.end - n.begin;
    double wl = 0, wpl = 0;
    std::uint32_t nl = 0;
    for (std::size_t i = 0; i + 1 < present; ++i) {
      wl += groups[i].w;
      wpl += groups[i].wp;
      nl += groups[i].n;
      const std::uint32_t a = groups[i].code, b = groups[i + 1].code;
      if (has_missing) {
        consider(n, f, wl, wpl, nl, a, false, 0, b, true);
        consider(n, f, wl + mw, wpl + mwp, nl + mn, a, true, 0, b, true);
      } else {
        // No missing value seen here: at prediction a NaN follows the majority of training rows.
        consider(n, f, wl, wpl, nl, a, nl >= count - nl, 0, b, true);
      }
    }
    if (has_missing) {
      // Every present value left, the missing ones right.
      consider(n, f, n.w - mw, n.wp - mwp, count - mn, nb - 1, false, all_present_left);
    }
    return false;
  }

  // The common case of evaluate_best (gini, no missing value in the node), in three passes: running
  // sums, then the proxy of every threshold (no dependency between thresholds, so the compiler
  // vectorises its two divisions, the bulk of the work), then the first best. The same arithmetic in
  // the same order as consider(), so the same split wins; only the winner goes through consider().
  void scan_gini(grow_node& n, std::uint32_t f, std::uint32_t count, std::size_t groups) {
    const std::size_t last = groups - 1;  // thresholds between group i and i + 1, i < last
    s_.proxy.resize(last);
    const double* cw = s_.cum_w.data();
    const double* cwp = s_.cum_wp.data();
    const std::uint32_t* cn = s_.cum_n.data();
    const std::uint32_t* codes = s_.cum_code.data();
    double* proxy = s_.proxy.data();
    // Every condition on a threshold is monotone in i (the left side only grows: weights are positive),
    // so the allowed thresholds form one range [lo, hi); the proxy loop then has no condition in it.
    const double w = n.w, wp = n.wp, min_w = min_weight_leaf_;
    const std::uint32_t min_leaf = static_cast<std::uint32_t>(p_.min_samples_leaf);
    std::size_t lo = 0, hi = last;
    while (lo < hi && (cn[lo] < min_leaf || cw[lo] < min_w || cw[lo] <= 0)) ++lo;
    while (hi > lo && (count - cn[hi - 1] < min_leaf || w - cw[hi - 1] < min_w || w - cw[hi - 1] <= 0)) --hi;
    for (std::size_t i = lo; i < hi; ++i) {
      const double l = cw[i], lp = cwp[i];
      const double r = w - l;
      const double rp = std::min(r, std::max(0.0, wp - lp));
      const double ln = l - lp, rn = r - rp;
      proxy[i] = (lp * lp + ln * ln) / l + (rp * rp + rn * rn) / r;
    }
    // The first threshold with the largest proxy, if that beats the node's best so far. The maximum is
    // taken over four independent chains (max is exact, so their order does not matter), then found.
    if (lo == hi) return;
    double m[4] = {proxy[lo], proxy[lo], proxy[lo], proxy[lo]};
    std::size_t i = lo;
    for (; i + 4 <= hi; i += 4)
      for (int k = 0; k < 4; ++k) m[k] = std::max(m[k], proxy[i + static_cast<std::size_t>(k)]);
    for (; i < hi; ++i) m[0] = std::max(m[0], proxy[i]);
    const double top = std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
    if (!(top > n.split.proxy)) return;
    std::size_t best_i = lo;
    while (proxy[best_i] != top) ++best_i;
    consider(n, f, cw[best_i], cwp[best_i], cn[best_i], codes[best_i], cn[best_i] >= count - cn[best_i], 0,
             codes[best_i + 1], true);
  }

  // Extremely randomized trees: one threshold drawn uniformly between the node's min and max value.
  bool evaluate_random(grow_node& n, std::uint32_t f) {
    const std::uint16_t* col = X_.column(f);
    const std::uint32_t nb = X_.n_bins[f];
    std::uint32_t lo = std::numeric_limits<std::uint32_t>::max(), hi = 0, mn = 0;
    double mw = 0, mwp = 0;
    for (std::uint32_t i = n.begin; i < n.end; ++i) {
      const tree_sample& x = smp_[i];
      const std::uint32_t c = col[x.row];
      if (c == nb) {
        ++mn;
        mw += x.w;
        mwp += x.w * x.y;
      } else {
        lo = std::min(lo, c);
        hi = std::max(hi, c);
      }
    }
    const std::uint32_t count = n.end - n.begin;
    if (mn == count) return true;  // all missing
    if (lo == hi) {
      if (mn == 0) return true;
      consider(n, f, n.w - mw, n.wp - mwp, count - mn, nb - 1, false, all_present_left);
      return false;
    }
    const double vmin = X_.lower[f][lo], vmax = X_.upper[f][hi];
    double t = vmin + g_->uniform() * (vmax - vmin);
    if (t >= vmax) t = vmin;
    const auto& up = X_.upper[f];
    // Last bin whose values are all <= t, kept within [lo, hi).
    auto it = std::upper_bound(up.begin() + lo, up.begin() + hi, static_cast<float>(float_floor(t)));
    std::uint32_t code = it == up.begin() + lo ? lo : static_cast<std::uint32_t>(it - up.begin()) - 1;
    float threshold = float_floor(t);
    if (threshold < up[code] || threshold >= X_.lower[f][code + 1]) threshold = midpoint(f, code, code + 1);
    double wl = 0, wpl = 0;
    std::uint32_t nl = 0;
    for (std::uint32_t i = n.begin; i < n.end; ++i) {
      const tree_sample& x = smp_[i];
      if (col[x.row] <= code) {
        wl += x.w;
        wpl += x.w * x.y;
        ++nl;
      }
    }
    if (mn > 0) {
      consider(n, f, wl, wpl, nl, code, false, threshold);
      consider(n, f, wl + mw, wpl + mwp, nl + mn, code, true, threshold);
    } else {
      consider(n, f, wl, wpl, nl, code, nl >= count - nl, threshold);
    }
    return false;
  }

  // Pre-order layout: left child at i + 1, right child index stored.
  void flatten(grown_tree& out) const {
    const auto& nodes = s_.nodes;
    out.nodes.clear();
    out.nodes.reserve(nodes.size());
    out.cover.clear();
    out.cover.reserve(nodes.size());
    struct item {
      std::uint32_t id;
      std::int64_t parent;  // flat index of the parent whose right child this is, or -1
    };
    std::vector<item> stack{{0, -1}};
    while (!stack.empty()) {
      const item it = stack.back();
      stack.pop_back();
      const auto pos = static_cast<std::uint32_t>(out.nodes.size());
      if (it.parent >= 0) out.nodes[static_cast<std::size_t>(it.parent)].right = pos;
      const auto& n = nodes[it.id];
      const float value = n.w > 0 ? static_cast<float>(std::min(1.0, std::max(0.0, n.wp / n.w))) : 0.0f;
      out.cover.push_back(n.w);
      if (n.left < 0 || !n.split.found) {
        out.nodes.push_back(tree_node::leaf(value));
      } else {
        out.nodes.push_back(tree_node::split(n.split.feature, n.split.threshold, n.split.missing_left, value, 0));
        stack.push_back({static_cast<std::uint32_t>(n.right), pos});
        stack.push_back({static_cast<std::uint32_t>(n.left), -1});
      }
    }
  }

  const tree_params& p_;
  const binned_features& X_;
  std::size_t mtry_;
  tree_scratch& s_;
  tree_sample* smp_ = nullptr;
  rng* g_ = nullptr;
  double root_weight_ = 0;
  double min_weight_leaf_ = 0;
  bool packed_ = false;                ///< the tree's weights allow packed integer sums (see pack)
  std::size_t words_ = 0;              ///< 64-bit words per node in s_.constant
  bool gathered_ = false;              ///< s_.node_bits and s_.node_packed hold the searched node
  std::uint64_t* constant_ = nullptr;  ///< the known constant features of the node being searched
};

}  // namespace detail
}  // namespace churn
