// Fuzzes the feature accumulator's two doors for outside data. The first byte picks the door:
//  - even: the bytes are from_bytes() input (a partial aggregate sent by another worker). They either
//    throw data_error or give an accumulator whose to_bytes() reloads to the same bytes, and which
//    finalises (or throws churn::error) without crashing;
//  - odd: the bytes are a JSON-lines log read leniently into an accumulator (the sink may throw
//    data_error for timestamps outside the years 1 to 9999), finalised in window and history mode;
//    splitting the log in two at a line boundary and merging gives the same bytes as reading it whole.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <churn/error.hpp>
#include <churn/features.hpp>
#include <churn/reader.hpp>

namespace {

void finalise_all(const churn::feature_accumulator& a) {
  churn::label_options window;  // the session gap is the accumulator's
  churn::label_options history = window;
  history.mode = churn::label_mode::history;
  for (const auto& options : {window, history}) {
    try {
      const auto t = a.finalize(options);
      if (static_cast<std::size_t>(t.X.rows()) != t.user_ids.size() || t.labels.size() != t.X.rows()) std::abort();
    } catch (const churn::error&) {
    }
  }
}

bool read_into(std::string_view text, churn::feature_accumulator& a) {
  churn::read_options lenient;
  lenient.strict = false;
  lenient.max_line_bytes = 1 << 16;
  try {
    churn::read_buffer(text, a, lenient);
  } catch (const churn::data_error&) {
    return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    try {
      const auto a = churn::feature_accumulator::from_bytes(text);
      const std::string bytes = a.to_bytes();
      if (churn::feature_accumulator::from_bytes(bytes).to_bytes() != bytes) std::abort();
      finalise_all(a);
    } catch (const churn::data_error&) {
    }
    return 0;
  }
  churn::feature_accumulator whole;
  if (!read_into(text, whole)) return 0;
  finalise_all(whole);
  // Split at the middle line boundary: the two halves merge into the whole. A byte-order mark is
  // skipped only at the start of a file, so a second half starting with one is not the same text.
  const std::size_t cut = text.find('\n', text.size() / 2);
  if (cut != std::string_view::npos && text.substr(cut + 1, 3) != "\xEF\xBB\xBF") {
    churn::feature_accumulator first, second;
    if (!read_into(text.substr(0, cut + 1), first) || !read_into(text.substr(cut + 1), second)) std::abort();
    first.merge(second);
    if (first.to_bytes() != whole.to_bytes()) std::abort();
  }
  churn::feature_accumulator reloaded = churn::feature_accumulator::from_bytes(whole.to_bytes());
  if (reloaded.to_bytes() != whole.to_bytes()) std::abort();
  return 0;
}
