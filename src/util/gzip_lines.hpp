#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace mdesync::util {

// Which inflate implementation a decoder uses. `fastest` is ISA-L's igzip where the build
// has it (Debian libisal-dev; about 2.5 times zlib's speed here), else zlib; the
// environment variable MDESYNC_INFLATE=zlib makes `fastest` mean zlib (for A/B runs).
enum class Inflater { fastest, zlib, isal };

// Whether this build has ISA-L.
bool have_isal() noexcept;

// Called once per line, without its "\n" or "\r\n". An error stops decoding and is
// returned from feed()/finish() unchanged.
using LineHandler = std::function<Status(std::string_view line)>;

// Push-style streaming gunzip + line splitter: feed compressed bytes as they arrive
// (e.g. from an HTTP write callback) and receive complete lines. Memory is one fixed
// output buffer plus the longest line seen; it never depends on the stream's size.
// Handles multi-member gzip (concatenated members), empty input, CRLF and lines longer
// than the buffer. A truncated or corrupt stream is an ErrorCode::corrupt_stream error,
// never a clean end. Not thread-safe; one instance per stream.
class GzipLineDecoder {
 public:
  // `max_line_bytes` bounds one line; a longer one is a corrupt_stream error.
  explicit GzipLineDecoder(std::size_t max_line_bytes = 256U * 1024U * 1024U,
                           Inflater inflater = Inflater::fastest);
  ~GzipLineDecoder();
  GzipLineDecoder(const GzipLineDecoder&) = delete;
  GzipLineDecoder& operator=(const GzipLineDecoder&) = delete;

  Status feed(std::string_view compressed, const LineHandler& on_line);
  // Declares the end of input: fails if a gzip member is incomplete; emits a final
  // line that lacks a trailing newline.
  Status finish(const LineHandler& on_line);

  // True when the input so far ends on a gzip member boundary (or is empty): finish()
  // would not report a truncated stream. A body that ends while this is false was cut.
  [[nodiscard]] bool complete() const { return !m_in_member && !m_failed; }

  [[nodiscard]] std::uint64_t compressed_bytes() const { return m_in_bytes; }
  [[nodiscard]] std::uint64_t decompressed_bytes() const { return m_out_bytes; }
  [[nodiscard]] std::uint64_t lines() const { return m_lines; }

 private:
  Status run(bool finish, const LineHandler& on_line);
  Status split(std::string_view chunk, const LineHandler& on_line);
  Status emit(std::string_view line, const LineHandler& on_line);

  struct Impl;
  std::unique_ptr<Impl> m_impl;
  std::string m_partial;
  std::size_t m_max_line;
  std::uint64_t m_in_bytes = 0;
  std::uint64_t m_out_bytes = 0;
  std::uint64_t m_lines = 0;
  bool m_in_member = false;  // inside a gzip member that has not ended yet
  bool m_failed = false;
};

// Reads a gzip file from disk through GzipLineDecoder.
Status read_gzip_lines(const std::filesystem::path& path, const LineHandler& on_line);

}  // namespace mdesync::util
