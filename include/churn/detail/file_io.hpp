#pragma once
// Whole-file reads and writes with churn's io_error (naming the path and the system's reason) for
// every failure. iostreams reported a directory as std::ios_base::failure ("basic_filebuf::underflow")
// and a failed write without its reason (issue 15).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <churn/error.hpp>

namespace churn::detail {

/// The contents of the file at `path`; `what` names it in errors ("model file").
/// @throws io_error naming the path when it is missing, a directory or cannot be read.
inline std::string read_whole_file(const std::string& path, const std::string& what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw io_error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw io_error("cannot read " + what + " '" + path + "': it is a directory");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  std::string text;
  char block[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(block, 1, sizeof block, f);
    text.append(block, got);
    if (got < sizeof block) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (failed) throw io_error("cannot read " + what + " '" + path + "': " + std::strerror(saved));
  return text;
}

/// Replaces the file at `path` with `text`; `what` names the contents in errors ("model").
/// @throws io_error naming the path when it cannot be created or written (a directory, no
/// permission, disk full).
inline void write_whole_file(const std::string& path, const std::string& text, const std::string& what) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw io_error("cannot open '" + path + "' for writing: " + std::strerror(errno));
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int saved = errno;
  const bool closed = std::fclose(f) == 0;
  if (wrote && !closed) saved = errno;
  if (!wrote || !closed) throw io_error("cannot write the " + what + " to '" + path + "': " + std::strerror(saved));
}

}  // namespace churn::detail
