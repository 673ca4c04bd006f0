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
    std::string m = "parse error in " + (file.empty() ? std::string("<buffer>") : file) + " at line " +
                    std::to_string(line);
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
        path_(std::move(path)), reason_(what) {}
  /// The JSON path of the bad element ("" for the document itself).
  const std::string& path() const noexcept { return path_; }
  /// What is wrong there, without the location (what() is "model format error at <path>: <reason>").
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
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

/// A parameter outside its allowed values. Derives from churn::error (and so is catchable as one);
/// the message names the parameter, the value and what is allowed.
class parameter_error : public error {
 public:
  parameter_error(const std::string& name, const std::string& value, const std::string& allowed)
      : error("invalid value for parameter '" + name + "': " + value + " (allowed: " + allowed + ")"),
        name_(name) {}
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
};

}  // namespace churn
