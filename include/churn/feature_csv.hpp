#pragma once
// A feature table as CSV, the file `churn features` writes: `user_id, <features>, churned` (a snapshot
// table: `user_id, cutoff, <features>, churned`, the cutoff as YYYY-MM-DD). Byte for byte what the
// Python writer it replaces wrote (csv.writer's default dialect, numbers as "%.10g"):
// - numbers as printf's "%.10g" ("nan", "inf", "-inf" for the specials); categorical columns as their
//   codes, or with `decode` as the names of the codes;
// - text cells (user ids, category names, column names) made safe for spreadsheets as
//   churn.csvsafe.neutralise does (a leading ' before a formula trigger =, +, -, @, tab or CR, unless
//   the cell is a plain decimal number), then quoted as csv.writer quotes (only a cell holding a comma,
//   a double quote, CR or LF; quotes inside doubled);
// - lines end in CRLF.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "dates.hpp"
#include "error.hpp"
#include "features.hpp"

namespace churn {

struct csv_options {
  bool decode = false;  ///< categorical columns as the names of their codes instead of the codes
};

namespace detail {

inline std::size_t csv_digits(std::string_view s, std::size_t i) {
  std::size_t n = 0;
  while (i + n < s.size() && s[i + n] >= '0' && s[i + n] <= '9') ++n;
  return n;
}

/// A plain decimal number: [+-]?(digits[.digits*] | .digits)([eE][+-]?digits)?, the whole cell.
inline bool csv_plain_number(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::size_t whole = csv_digits(s, i);
  i += whole;
  if (i < s.size() && s[i] == '.') {
    const std::size_t fraction = csv_digits(s, i + 1);
    if (!whole && !fraction) return false;
    i += 1 + fraction;
  } else if (!whole) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const std::size_t exponent = csv_digits(s, j);
    if (!exponent) return false;
    i = j + exponent;
  }
  return i == s.size();
}

/// churn.csvsafe.neutralise: true when a spreadsheet would take the cell for a formula.
inline bool csv_needs_neutralising(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == '\'') ++i;
  if (i == s.size() || std::strchr("=+-@\t\r", s[i]) == nullptr || s[i] == '\0') return false;
  return !csv_plain_number(s);
}

/// A text cell, neutralised, then quoted where csv.writer quotes.
inline void append_csv_text(std::string& out, std::string_view cell) {
  const bool quote = cell.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote) out += '"';
  if (csv_needs_neutralising(cell)) out += '\'';
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  if (quote) out += '"';
}

/// printf("%.10g", v), NaN of either sign as "nan" (as Python's "%.10g" writes it).
inline void append_csv_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "nan";
    return;
  }
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 10);
  out.append(buf, r.ptr);
}

}  // namespace detail

/// Writes `t` as CSV to `path` (see the top of this header). Throws io_error naming the path when the
/// file cannot be created or written, data_error for a categorical code without a name (decode).
inline void write_csv(const feature_table& t, const std::string& path, const csv_options& options = {}) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) throw io_error("cannot write '" + path + "': " + std::strerror(errno));
  const auto fail = [&path](int saved) {
    throw io_error("cannot write '" + path + "': " + std::strerror(saved ? saved : EIO));
  };
  const bool snapshots = !t.report.snapshot_cutoffs.empty();
  std::string out;
  out.reserve(1 << 20);
  const auto flush = [&] {
    if (!out.empty() && std::fwrite(out.data(), 1, out.size(), file.get()) != out.size()) fail(errno);
    out.clear();
  };
  out += "user_id";
  if (snapshots) out += ",cutoff";
  for (const auto& f : t.features) {
    out += ',';
    detail::append_csv_text(out, f.name);
  }
  out += ",churned\r\n";
  const auto cols = t.X.cols();
  std::int64_t last_cutoff = 0;
  std::string date;
  for (Eigen::Index i = 0; i < t.X.rows(); ++i) {
    const auto row = static_cast<std::size_t>(i);
    detail::append_csv_text(out, t.user_ids[row]);
    if (snapshots) {
      if (date.empty() || t.cutoffs[row] != last_cutoff) {
        last_cutoff = t.cutoffs[row];
        date = format_utc(last_cutoff);
      }
      out += ',';
      out += date;
    }
    for (Eigen::Index j = 0; j < cols; ++j) {
      out += ',';
      const double v = t.X(i, j);
      const auto& f = t.features[static_cast<std::size_t>(j)];
      if (options.decode && f.kind == feature_kind::categorical) {
        if (!(v >= 0 && v < static_cast<double>(f.categories.size())))
          throw data_error("write_csv: column '" + f.name + "' holds a code without a name in row " +
                           std::to_string(i + 1));
        detail::append_csv_text(out, f.categories[static_cast<std::size_t>(v)]);
      } else {
        detail::append_csv_number(out, v);
      }
    }
    out += ',';
    out += std::to_string(t.labels(i));
    out += "\r\n";
    if (out.size() > (1u << 20) - 4096) flush();
  }
  flush();
  if (std::fflush(file.get()) != 0) fail(errno);
  std::FILE* raw = file.release();
  if (std::fclose(raw) != 0) fail(errno);
}

}  // namespace churn
