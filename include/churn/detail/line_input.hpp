#pragma once
// Streams the lines of a plain or gzip file (or a byte range of a plain file) through a bounded
// buffer, so a multi-GB log is never held in memory at once. Each line is handed over in place with
// simdjson's padding readable after it, so the JSON parser needs no copy.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "../error.hpp"

namespace churn::detail {

inline constexpr std::size_t input_block_bytes = std::size_t(4) << 20;

/// What the line callback is given: the line without its '\n' (and without a trailing '\r'),
/// `capacity` bytes readable from `data` (at least size + SIMDJSON_PADDING), and its 1-based number.
struct line_view {
  const char* data;
  std::size_t size;
  std::size_t capacity;
  std::uint64_t number;
};

/// Outcome of scanning: lines seen (blank ones included) and lines over the length limit.
struct line_scan_result {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
};

/// Reads raw bytes from a plain file range or a gzip stream.
class byte_source {
 public:
  virtual ~byte_source() = default;
  /// The buffer size worth using: small in-memory inputs need no 4 MB buffer.
  virtual std::size_t preferred_block() const { return input_block_bytes; }
  /// Reads up to n bytes; returns 0 at the end. Throws io_error.
  virtual std::size_t read(char* out, std::size_t n) = 0;
  /// Bytes taken from the underlying input so far: what read() returned, except for a compressed
  /// source, where it is the compressed bytes consumed (progress against the size on disk).
  virtual std::uint64_t input_bytes() const = 0;
};

class plain_file_source : public byte_source {
 public:
  plain_file_source(const std::string& path, std::uint64_t begin, std::uint64_t end)
      : path_(path), remaining_(end - begin) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
    if (begin != 0 && fseeko(file_, static_cast<off_t>(begin), SEEK_SET) != 0) {
      std::fclose(file_);
      throw io_error("cannot seek in '" + path + "': " + std::strerror(errno));
    }
  }
  ~plain_file_source() override { std::fclose(file_); }
  plain_file_source(const plain_file_source&) = delete;
  plain_file_source& operator=(const plain_file_source&) = delete;

  std::size_t read(char* out, std::size_t n) override {
    if (remaining_ == 0) return 0;
    if (n > remaining_) n = static_cast<std::size_t>(remaining_);
    std::size_t got = std::fread(out, 1, n, file_);
    if (got < n && std::ferror(file_)) throw io_error("error reading '" + path_ + "': " + std::strerror(errno));
    remaining_ = got < n ? 0 : remaining_ - got;
    consumed_ += got;
    return got;
  }
  std::uint64_t input_bytes() const override { return consumed_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t remaining_;
  std::uint64_t consumed_ = 0;
};

/// Reads gzip data (one or more members, as `cat a.gz b.gz` or a parallel compressor writes) from a file
/// descriptor with zlib's inflate, or passes plain bytes through when the input does not start with
/// the gzip magic bytes and plain input is allowed (a stream is sniffed in place, never read twice).
/// zlib's gzread was used before; it ignores whatever follows the last member when that is not gzip
/// (its documented "trailing garbage"), so `cat log.json.gz more.json > all.gz` read as the first part
/// alone without a word. Here the bytes after a member must be another member (or NUL padding, as gzip
/// itself allows); anything else, and a member cut short, is an io_error naming the input.
class gzip_decoder {
 public:
  gzip_decoder(int fd, std::string name, bool allow_plain)
      : fd_(fd), name_(std::move(name)), allow_plain_(allow_plain), in_(std::size_t(1) << 20) {}
  ~gzip_decoder() {
    if (inflating_) inflateEnd(&z_);
    ::close(fd_);
  }
  gzip_decoder(const gzip_decoder&) = delete;
  gzip_decoder& operator=(const gzip_decoder&) = delete;

  /// Up to n decompressed (or plain) bytes; 0 at the end of the input.
  std::size_t read(char* out, std::size_t n) {
    if (n == 0 || state_ == state::done) return 0;
    if (n > (std::size_t(1) << 30)) n = std::size_t(1) << 30;
    if (state_ == state::sniff) sniff();
    if (state_ == state::plain) return read_plain(out, n);
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out == n && state_ != state::done) {
      if (state_ == state::between_members) {
        next_member();
        continue;
      }
      if (z_.avail_in == 0 && fill() == 0) fail("unexpected end of file", "the gzip data is truncated");
      const int code = inflate(&z_, Z_NO_FLUSH);
      if (code == Z_STREAM_END) {
        state_ = state::between_members;
      } else if (code != Z_OK && code != Z_BUF_ERROR) {
        fail(z_.msg ? z_.msg : "zlib error " + std::to_string(code), "is the file a complete gzip file?");
      }
    }
    return n - z_.avail_out;
  }

  /// Compressed bytes consumed so far (read from the input and taken by inflate or passed through).
  std::uint64_t consumed() const noexcept { return taken_ - z_.avail_in; }

 private:
  enum class state { sniff, plain, inflating, between_members, done };

  // Reads more input after the unconsumed bytes; returns how many came (0 at the end).
  std::size_t fill() {
    if (z_.avail_in > 0 && z_.next_in != in_.data()) std::memmove(in_.data(), z_.next_in, z_.avail_in);
    z_.next_in = in_.data();
    for (;;) {
      const ssize_t got = ::read(fd_, in_.data() + z_.avail_in, in_.size() - z_.avail_in);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw io_error("error reading '" + name_ + "': " + std::strerror(errno));
      z_.avail_in += static_cast<uInt>(got);
      taken_ += static_cast<std::uint64_t>(got);
      return static_cast<std::size_t>(got);
    }
  }

  // Makes at least `want` unconsumed bytes available unless the input ends first.
  void fill_to(std::size_t want) {
    while (z_.avail_in < want && fill() > 0) {
    }
  }

  bool at_magic() const noexcept { return z_.avail_in >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b; }

  void sniff() {
    z_.next_in = in_.data();
    fill_to(2);
    if (at_magic()) {
      z_.zalloc = Z_NULL;
      z_.zfree = Z_NULL;
      z_.opaque = Z_NULL;
      if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw io_error("cannot read '" + name_ + "': out of memory");
      inflating_ = true;
      state_ = state::inflating;
    } else if (allow_plain_) {
      state_ = state::plain;
    } else {
      fail("not in gzip format", "is the file a gzip file?");
    }
  }

  std::size_t read_plain(char* out, std::size_t n) {
    if (z_.avail_in > 0) {
      const std::size_t k = std::min<std::size_t>(n, z_.avail_in);
      std::memcpy(out, z_.next_in, k);
      z_.next_in += k;
      z_.avail_in -= static_cast<uInt>(k);
      return k;
    }
    for (;;) {
      const ssize_t got = ::read(fd_, out, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw io_error("error reading '" + name_ + "': " + std::strerror(errno));
      taken_ += static_cast<std::uint64_t>(got);
      if (got == 0) state_ = state::done;
      return static_cast<std::size_t>(got);
    }
  }

  // After a member's end: another member, NUL padding to the end, or the end itself.
  void next_member() {
    fill_to(2);
    if (z_.avail_in == 0) {
      state_ = state::done;
    } else if (at_magic()) {
      inflateReset(&z_);
      state_ = state::inflating;
    } else {
      const std::uint64_t where = consumed();
      while (z_.avail_in > 0) {
        if (std::any_of(z_.next_in, z_.next_in + z_.avail_in, [](Bytef b) { return b != 0; }))
          fail("the bytes after the end of the gzip data (compressed byte " + std::to_string(where) +
                   " on) are not gzip",
               "plain text appended to a compressed file? Decompress it and join the plain parts");
        z_.next_in += z_.avail_in;
        z_.avail_in = 0;
        fill();
      }
      state_ = state::done;
    }
  }

  [[noreturn]] void fail(const std::string& what, const std::string& hint) const {
    throw io_error("error decompressing '" + name_ + "': " + what + " (" + hint + ")");
  }

  int fd_;
  std::string name_;
  bool allow_plain_;
  std::vector<Bytef> in_;
  z_stream z_{};
  bool inflating_ = false;
  state state_ = state::sniff;
  std::uint64_t taken_ = 0;
};

class gzip_file_source : public byte_source {
 public:
  explicit gzip_file_source(const std::string& path) : decoder_(open_fd(path), path, false) {}
  std::size_t read(char* out, std::size_t n) override { return decoder_.read(out, n); }
  /// The compressed bytes consumed (progress against the size on disk).
  std::uint64_t input_bytes() const override { return decoder_.consumed(); }

 private:
  static int open_fd(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
    return fd;
  }
  gzip_decoder decoder_;
};

/// Reads a stream that can be read only once, from its first byte to its end: a FIFO, a character
/// device, a socket, or standard input ("-"). Plain or gzip: the decoder tells them apart by the first
/// bytes in its own buffer and passes plain text through unchanged, so nothing is read twice or lost
/// (sniffing a FIFO by opening it and reading two bytes consumed the start of the data; issue 15).
class stream_source : public byte_source {
 public:
  explicit stream_source(const std::string& path) : decoder_(open_fd(path), display_name(path), true) {}

  std::size_t read(char* out, std::size_t n) override {
    const std::size_t got = decoder_.read(out, n);
    returned_ += got;
    return got;
  }
  /// The bytes read() returned: a stream's compressed position cannot be asked for (no lseek on a pipe),
  /// and its size is unknown anyway, so progress over a stream counts what was read.
  std::uint64_t input_bytes() const override { return returned_; }

  /// "<stdin>" for "-", else the path.
  static std::string display_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

 private:
  static int open_fd(const std::string& path) {
    const int fd = path == "-" ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error("cannot open '" + display_name(path) + "': " + std::strerror(errno));
    return fd;
  }
  gzip_decoder decoder_;
  std::uint64_t returned_ = 0;
};

/// What a path stands for when it is read: a regular file, plain or gzip (told by its first bytes),
/// or a stream read once from start to end (see stream_source).
enum class input_kind { plain, gzip, stream };

inline bool is_gzip_file(const std::string& path);

/// The kind of input `path` names ("-" is standard input). Opens nothing but a regular file.
/// @throws io_error naming the path for one that does not exist, cannot be reached (a symbolic link
/// loop, a permission) or is a directory.
inline input_kind classify_input(const std::string& path) {
  if (path == "-") return input_kind::stream;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    throw io_error("cannot read '" + path + "': it is a directory (" + std::strerror(EISDIR) + ")");
  if (!S_ISREG(st.st_mode)) return input_kind::stream;
  return is_gzip_file(path) ? input_kind::gzip : input_kind::plain;
}

/// The source that reads the whole of `path` of the given kind.
inline std::unique_ptr<byte_source> open_input(const std::string& path, input_kind kind);

/// Whether a file starts with the gzip magic bytes (the extension is not trusted). Only for regular
/// files: opening a stream to look would consume its first bytes (use classify_input).
inline bool is_gzip_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  std::size_t got = std::fread(magic, 1, 2, f);
  std::fclose(f);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/// The size of a regular file (0 for a stream, whose size is unknown until it is read).
inline std::uint64_t file_size(const std::string& path) {
  if (path == "-") return 0;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
  return S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
}

inline std::unique_ptr<byte_source> open_input(const std::string& path, input_kind kind) {
  switch (kind) {
    case input_kind::gzip: return std::make_unique<gzip_file_source>(path);
    case input_kind::stream: return std::make_unique<stream_source>(path);
    case input_kind::plain: break;
  }
  return std::make_unique<plain_file_source>(path, 0, file_size(path));
}

/// Splits a plain file into `parts` contiguous byte ranges that each start at a line start.
/// Returns parts+1 offsets (some ranges may be empty on small files).
inline std::vector<std::uint64_t> split_at_lines(const std::string& path, std::size_t parts) {
  std::uint64_t size = file_size(path);
  std::vector<std::uint64_t> bounds{0};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<char> probe(1 << 16);
  for (std::size_t i = 1; i < parts; ++i) {
    std::uint64_t pos = std::max<std::uint64_t>(bounds.back(), size * i / parts);
    // The range starts after the first newline at or after `pos` (or at the end of the file).
    std::uint64_t found = size;
    if (pos > 0) {
      std::uint64_t at = pos - 1;
      fseeko(f, static_cast<off_t>(at), SEEK_SET);
      while (true) {
        std::size_t got = std::fread(probe.data(), 1, probe.size(), f);
        if (got == 0) break;
        const void* nl = std::memchr(probe.data(), '\n', got);
        if (nl) {
          found = at + static_cast<std::uint64_t>(static_cast<const char*>(nl) - probe.data()) + 1;
          break;
        }
        at += got;
      }
    } else {
      found = 0;
    }
    bounds.push_back(found);
  }
  std::fclose(f);
  bounds.push_back(size);
  return bounds;
}

/// The largest line buffer, in bytes: the padding must still fit in a size_t after it.
inline constexpr std::size_t max_block_bytes = std::numeric_limits<std::size_t>::max() / 2 - simdjson::SIMDJSON_PADDING;

/// The next size of a line buffer of `block` bytes holding one unfinished line: twice as large, but
/// no larger than max_line_bytes + 1 (one byte more than the longest line kept tells a line that is too
/// long) nor max_block_bytes. Saturating arithmetic: `max_line_bytes` comes from the caller.
inline std::size_t grown_block(std::size_t block, std::uint64_t max_line_bytes) noexcept {
  const std::uint64_t limit = max_line_bytes >= std::numeric_limits<std::uint64_t>::max() - 1
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : max_line_bytes + 1;
  const std::uint64_t doubled = block >= max_block_bytes / 2 ? max_block_bytes : std::uint64_t(block) * 2;
  return static_cast<std::size_t>(std::min<std::uint64_t>({doubled, limit, max_block_bytes}));
}

/// Calls on_line(line_view) for every line of the source, and on_too_long(line_number) for a line
/// longer than max_line_bytes (which is skipped without being buffered whole). Strips a UTF-8 BOM at
/// the very start when skip_bom is set, and a '\r' before each '\n'. Stops early when a callback
/// returns false.
template <class OnLine, class OnTooLong>
line_scan_result for_each_line(byte_source& source, std::uint64_t max_line_bytes, bool skip_bom, OnLine&& on_line,
                               OnTooLong&& on_too_long, std::size_t block = input_block_bytes) {
  line_scan_result result;
  block = std::min(std::max<std::size_t>(block, 64), max_block_bytes);
  std::vector<char> buffer(block + simdjson::SIMDJSON_PADDING);
  std::size_t filled = 0;  // bytes of data in buffer
  std::size_t start = 0;   // start of the current (incomplete) line in buffer
  bool skipping = false;   // inside an over-long line, discarding until its newline
  bool at_file_start = skip_bom;
  bool eof = false;

  auto emit = [&](const char* data, std::size_t size, std::size_t capacity) -> bool {
    ++result.lines;
    if (size > 0 && data[size - 1] == '\r') --size;
    return on_line(line_view{data, size, capacity, result.lines});
  };

  while (!eof) {
    // Keep the unfinished line at the front, then fill the rest of the buffer.
    if (start > 0) {
      std::memmove(buffer.data(), buffer.data() + start, filled - start);
      filled -= start;
      start = 0;
    }
    if (filled == block) {
      // One line fills the whole buffer: grow it up to the limit, or skip the line.
      // The limit is the caller's and may be anything up to 2^64 - 1: every step saturates (block * 2
      // and max_line_bytes + 1 once wrapped to 0 and the buffer shrank under the data; issue 15).
      const std::size_t grown = grown_block(block, max_line_bytes);
      if (grown > block) {
        block = grown;
        buffer.resize(block + simdjson::SIMDJSON_PADDING);
      } else {
        skipping = true;
        filled = 0;
      }
    }
    std::size_t got = source.read(buffer.data() + filled, block - filled);
    result.bytes += got;
    if (got == 0) eof = true;
    std::size_t scan_from = filled;
    filled += got;
    std::memset(buffer.data() + filled, 0, simdjson::SIMDJSON_PADDING);
    if (at_file_start) {
      // Decide on a BOM only once the first 3 bytes are in, before any line is scanned: a stream may
      // deliver one byte a read, and a BOM after a first short line was stripped (found by fuzz_limits).
      if (filled < 3 && !eof) continue;
      if (filled >= 3 && std::memcmp(buffer.data(), "\xEF\xBB\xBF", 3) == 0) start = 3;
      at_file_start = false;
      scan_from = 0;
    }

    std::size_t pos = std::max(scan_from, start);
    while (pos < filled) {
      const char* nl = static_cast<const char*>(std::memchr(buffer.data() + pos, '\n', filled - pos));
      if (!nl) break;
      std::size_t end = static_cast<std::size_t>(nl - buffer.data());
      if (skipping) {
        ++result.lines;
        skipping = false;
        if (!on_too_long(result.lines)) return result;
      } else if (end - start > max_line_bytes) {
        ++result.lines;
        if (!on_too_long(result.lines)) return result;
      } else if (!emit(buffer.data() + start, end - start, block + simdjson::SIMDJSON_PADDING - start)) {
        return result;
      }
      start = end + 1;
      pos = start;
    }
    if (eof) {
      if (skipping) {
        ++result.lines;
        on_too_long(result.lines);
      } else if (filled > start) {
        // Last line without a trailing newline.
        if (filled - start > max_line_bytes) {
          ++result.lines;
          on_too_long(result.lines);
        } else {
          emit(buffer.data() + start, filled - start, block + simdjson::SIMDJSON_PADDING - start);
        }
      }
    }
  }
  return result;
}

}  // namespace churn::detail
