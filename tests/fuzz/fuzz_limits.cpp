// Fuzzes the sizes and limits a caller gives, and reading a stream in short reads (issue 15).
// Input: byte 0 picks max_line_bytes (from the edges of uint64 down to 0, or the next 8 bytes as is),
// byte 1 the read pattern of a stream (how many bytes each read returns: a pipe gives short reads),
// byte 2 max_users; the rest is a log. Checked beyond "no crash, no sanitizer report":
//  - the lines (and the too-long line numbers) seen through a stream of short reads and a 64-byte
//    starting buffer are exactly those seen through memory in one block, for any max_line_bytes;
//  - the user limit either holds (no more users than max_users) or is a limit_error "max_users" with
//    that value at a line, and the accumulator keeps exactly max_users users and stays usable.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <churn/error.hpp>
#include <churn/features.hpp>
#include <churn/reader.hpp>

namespace {

/// A byte_source that returns at most pattern[i % n] + 1 bytes per read, like a pipe or a socket.
class short_reads : public churn::detail::byte_source {
 public:
  short_reads(std::string_view data, std::uint8_t pattern) : data_(data), pattern_(pattern) {}
  std::size_t preferred_block() const override { return 64; }
  std::size_t read(char* out, std::size_t n) override {
    const std::size_t sizes[] = {1, 2, 3, 7, 64, 65, 4096, std::size_t(1) << 20};
    const std::size_t want = sizes[(pattern_ >> (2 * (calls_++ % 4))) % 8];
    n = std::min({n, want, data_.size() - offset_});
    std::memcpy(out, data_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::uint64_t input_bytes() const override { return offset_; }

 private:
  std::string_view data_;
  std::uint8_t pattern_;
  std::size_t offset_ = 0;
  std::size_t calls_ = 0;
};

using seen_lines = std::vector<std::pair<std::uint64_t, std::string>>;

seen_lines lines_of(churn::detail::byte_source& source, std::uint64_t max_line_bytes, std::size_t block) {
  seen_lines seen;
  churn::detail::for_each_line(
      source, max_line_bytes, true,
      [&](const churn::detail::line_view& line) {
        seen.emplace_back(line.number, std::string(line.data, line.size));
        return true;
      },
      [&](std::uint64_t number) {
        seen.emplace_back(number, "<too long>");
        return true;
      },
      block);
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint64_t edges[] = {0, 1, 2, 63, 64, 65, 127, 4096, std::uint64_t(1) << 32, std::uint64_t(1) << 63,
                                 std::numeric_limits<std::uint64_t>::max() / 2,
                                 std::numeric_limits<std::uint64_t>::max() - 1,
                                 std::numeric_limits<std::uint64_t>::max()};
  constexpr std::size_t n_edges = sizeof edges / sizeof edges[0];
  std::size_t at = 3;
  std::uint64_t max_line_bytes = edges[data[0] % (n_edges + 1) % n_edges];
  if (data[0] % (n_edges + 1) == n_edges && size >= 11) {
    std::memcpy(&max_line_bytes, data + 3, 8);
    at = 11;
  }
  const std::string_view text(reinterpret_cast<const char*>(data) + at, size - at);

  churn::detail::memory_source whole(text);
  const seen_lines expected = lines_of(whole, max_line_bytes, whole.preferred_block());
  short_reads stream(text, data[1]);
  if (lines_of(stream, max_line_bytes, stream.preferred_block()) != expected) std::abort();

  // The user limit, from the caller.
  const std::uint64_t max_users = 1 + data[2] % 8;
  churn::aggregation_options options;
  options.max_users = max_users;
  churn::feature_accumulator acc(options);
  churn::read_options lenient;
  lenient.strict = false;
  lenient.max_line_bytes = max_line_bytes;
  try {
    churn::read_buffer(text, acc, lenient);
    if (acc.users() > max_users) std::abort();
  } catch (const churn::limit_error& e) {
    if (e.limit() != "max_users" || e.value() != max_users || e.line() == 0 || acc.users() != max_users) std::abort();
    (void)acc.to_bytes();  // still usable
  } catch (const churn::data_error&) {  // an absurd timestamp: not a limit
    if (acc.users() > max_users) std::abort();
  }
  return 0;
}
