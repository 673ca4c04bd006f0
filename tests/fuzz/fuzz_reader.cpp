// Fuzzes the event reader in strict and lenient mode. Invariants checked beyond "no crash":
// lenient mode accounts for every line; strict mode either succeeds with the same events or throws
// parse_error at the first line lenient mode counted as bad.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <churn/reader.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  churn::read_options lenient;
  lenient.strict = false;
  lenient.max_line_bytes = 1 << 16;
  std::uint64_t lenient_events = 0;
  auto report = churn::read_buffer(text, [&](const churn::event& e) {
    if (e.ts == churn::missing_int) std::abort();  // ts is required
    ++lenient_events;
  }, lenient);
  if (report.lines != report.events + report.blank_lines + report.bad_lines) std::abort();
  if (report.events != lenient_events) std::abort();

  churn::read_options strict = lenient;
  strict.strict = true;
  std::uint64_t strict_events = 0;
  try {
    churn::read_buffer(text, [&](const churn::event&) { ++strict_events; }, strict);
    if (report.bad_lines != 0 || strict_events != lenient_events) std::abort();
  } catch (const churn::parse_error& e) {
    if (report.bad_lines == 0 || report.examples.empty() || e.line() != report.examples.front().first) std::abort();
  }
  return 0;
}
