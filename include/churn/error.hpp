#pragma once
// One exception hierarchy for the whole library. Every message says where the problem is, what was
// wrong, and (where there is one) the remedy.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace churn {

/// Base of every exception the library throws on bad data or bad use.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(message) {}
};

/// A line of an event log could not be read. Carries the file, the 1-based line number and the field.
class parse_error : public error {
 public:
  parse_error(std::string file, std::uint64_t line, std::string field, std::string what)
      : error(format(file, line, field, what)),
        file_(std::move(file)),
        line_(line),
        field_(std::move(field)),
        reason_(std::move(what)) {}

  const std::string& file() const noexcept { return file_; }
  std::uint64_t line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  static std::string format(const std::string& file, std::uint64_t line, const std::string& field,
                            const std::string& what) {
    std::string m =
        "parse error in " + (file.empty() ? std::string("<buffer>") : file) + " at line " + std::to_string(line);
    if (!field.empty()) m += ", field '" + field + "'";
    return m + ": " + what;
  }
  std::string file_;
  std::uint64_t line_;
  std::string field_;
  std::string reason_;
};

/// A file could not be opened, read or written.
class io_error : public error {
 public:
  using error::error;
};

/// A saved model is corrupt, truncated, of another format or of an unsupported version.
/// Carries the JSON path of the offending element (e.g. "/trees/3/nodes").
class model_format_error : public error {
 public:
  model_format_error(std::string path, const std::string& what)
      : error("model format error at " + (path.empty() ? std::string("/") : path) + ": " + what),
        path_(std::move(path)),
        reason_(what) {}
  /// The JSON path of the bad element ("" for the document itself).
  const std::string& path() const noexcept { return path_; }
  /// What is wrong there, without the location (what() is "model format error at <path>: <reason>").
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

/// A model that lacks what an operation needs, e.g. SHAP values from a model loaded from a file of
/// format version 1, which keeps no training cover. The message says what to do (refit, re-save).
class model_capability_error : public error {
 public:
  using error::error;
};

/// Input data (a matrix, labels, feature values) that the algorithms cannot accept.
class data_error : public error {
 public:
  using error::error;
};

/// A data_error raised by a consumer of a log's events (a reader's sink) at a known line: an event
/// time outside the years 1 to 9999, the user that crossed feature_accumulator's max_users limit.
/// Carries the file, the 1-based line number and the consumer's reason; catch it as a data_error.
class located_data_error : public data_error {
 public:
  located_data_error(std::string file, std::uint64_t line, std::string reason)
      : data_error("data error in " + (file.empty() ? std::string("<buffer>") : file) + " at line " +
                   std::to_string(line) + ": " + reason),
        file_(std::move(file)),
        line_(line),
        reason_(std::move(reason)) {}

  const std::string& file() const noexcept { return file_; }
  std::uint64_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string file_;
  std::uint64_t line_;
  std::string reason_;
};

/// A resource limit the caller set was reached: `limit()` names it ("max_users" of
/// feature_accumulator, "stop" for feature_progress::stop), `value()` is its value. Raised while a
/// log was read, it carries the file and the 1-based line (else "" and 0), and its message is that of
/// a located_data_error. A data_error, so code that catches those still does; a caller tells a limit
/// from bad data by this type, never by the message (issue 15).
class limit_error : public data_error {
 public:
  limit_error(std::string limit, std::uint64_t value, std::string reason, std::string file = {}, std::uint64_t line = 0)
      : data_error(line == 0 ? reason
                             : "data error in " + (file.empty() ? std::string("<buffer>") : file) + " at line " +
                                   std::to_string(line) + ": " + reason),
        limit_(std::move(limit)),
        value_(value),
        reason_(std::move(reason)),
        file_(std::move(file)),
        line_(line) {}

  const std::string& limit() const noexcept { return limit_; }
  std::uint64_t value() const noexcept { return value_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& file() const noexcept { return file_; }
  std::uint64_t line() const noexcept { return line_; }
  /// The same limit, located at a line of a file.
  limit_error at(std::string file, std::uint64_t line) const {
    return limit_error(limit_, value_, reason_, std::move(file), line);
  }

 private:
  std::string limit_;
  std::uint64_t value_;
  std::string reason_;
  std::string file_;
  std::uint64_t line_;
};

/// A parameter outside its allowed values. Derives from churn::error (and so is catchable as one);
/// the message names the parameter, the value and what is allowed.
class parameter_error : public error {
 public:
  parameter_error(const std::string& name, const std::string& value, const std::string& allowed)
      : error("invalid value for parameter '" + name + "': " + value + " (allowed: " + allowed + ")"), name_(name) {}
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
};

}  // namespace churn
