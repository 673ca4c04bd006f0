#pragma once
// A quick look at an event log: how many events, users, sessions and pages, over which dates, and how
// many lines were bad. Built as a mergeable summary so that chunks read in parallel combine exactly.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "event.hpp"
#include "reader.hpp"

namespace churn {

struct scan_summary {
  std::uint64_t events = 0;
  std::uint64_t anonymous_events = 0;  ///< rows with an empty userId (guests, logged out)
  std::int64_t first_ts = missing_int;
  std::int64_t last_ts = missing_int;
  std::map<std::string, std::uint64_t> pages;  ///< by page name as in the log (unknown ones too)
  std::map<std::string, std::uint64_t> auths;
  std::map<std::string, std::uint64_t> levels;
  std::unordered_set<std::string> users;
  std::unordered_set<std::string> churned_users;  ///< reached Cancellation Confirmation
  std::uint64_t sessions = 0;                     ///< distinct (userId, sessionId), set by finish()
  read_report report;

  void add(const event& e) {
    ++events;
    if (e.ts != missing_int) {
      first_ts = first_ts == missing_int ? e.ts : std::min(first_ts, e.ts);
      last_ts = last_ts == missing_int ? e.ts : std::max(last_ts, e.ts);
    }
    ++pages[e.page_name];
    ++auths[std::string(e.auth == auth::unknown ? std::string_view("") : to_string(e.auth))];
    ++levels[std::string(e.level == level::unknown ? std::string_view("") : to_string(e.level))];
    if (e.user_id.empty()) {
      ++anonymous_events;
      return;
    }
    if (users.find(e.user_id) == users.end()) users.insert(e.user_id);
    if (e.page == page::cancellation_confirmation) churned_users.insert(e.user_id);
    session_keys_.insert(e.user_id + '\x1f' + std::to_string(e.session_id));
  }

  void merge(const scan_summary& other) {
    events += other.events;
    anonymous_events += other.anonymous_events;
    if (other.first_ts != missing_int)
      first_ts = first_ts == missing_int ? other.first_ts : std::min(first_ts, other.first_ts);
    if (other.last_ts != missing_int)
      last_ts = last_ts == missing_int ? other.last_ts : std::max(last_ts, other.last_ts);
    for (const auto& [k, v] : other.pages) pages[k] += v;
    for (const auto& [k, v] : other.auths) auths[k] += v;
    for (const auto& [k, v] : other.levels) levels[k] += v;
    users.insert(other.users.begin(), other.users.end());
    churned_users.insert(other.churned_users.begin(), other.churned_users.end());
    session_keys_.insert(other.session_keys_.begin(), other.session_keys_.end());
    sessions = session_keys_.size();
  }

  void finish() { sessions = session_keys_.size(); }

 private:
  std::unordered_set<std::string> session_keys_;
};

/// Scans one file with `options.threads` threads (0: all cores).
inline scan_summary scan_file(const std::string& path, const read_options& options = {}) {
  unsigned threads = detail::resolve_threads(options.threads);
  std::vector<scan_summary> parts(threads);
  std::vector<std::function<void(const event&)>> sinks;
  for (auto& p : parts) sinks.emplace_back([&p](const event& e) { p.add(e); });
  read_report report = read_file_parallel(path, sinks, options);
  scan_summary total = std::move(parts[0]);
  for (std::size_t i = 1; i < parts.size(); ++i) total.merge(parts[i]);
  total.finish();
  total.report = std::move(report);
  return total;
}

/// Scans files and folders (folders stand for their event files, see expand_paths()), one file after
/// the other with `options.threads` threads each. Returns the summary of all of them together (users
/// and sessions counted once across files); `per_file`, when given, receives one summary per file.
/// Throws io_error, parse_error (strict mode).
inline scan_summary scan_files(const std::vector<std::string>& paths, const read_options& options = {},
                               std::vector<scan_summary>* per_file = nullptr) {
  const std::vector<std::string> files = expand_paths(paths);
  scan_summary total;
  read_report reports;
  reports.source = files.size() == 1 ? files[0] : std::to_string(files.size()) + " files";
  for (const auto& file : files) {
    scan_summary one = scan_file(file, options);
    total.merge(one);
    reports.merge(one.report);
    if (files.size() > 1) reports.files.push_back(one.report);
    if (per_file) per_file->push_back(std::move(one));
  }
  total.finish();
  total.report = std::move(reports);
  return total;
}

}  // namespace churn
