#include "util/gzip_lines.hpp"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace mdesync::util {

struct GzipLineDecoder::Impl {
  z_stream stream{};
  std::array<char, 64 * 1024> out{};
  bool initialised = false;
};

GzipLineDecoder::GzipLineDecoder(std::size_t max_line_bytes)
    : m_impl(std::make_unique<Impl>()), m_max_line(max_line_bytes) {
  // 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw stream is reported as corrupt.
  m_impl->initialised = inflateInit2(&m_impl->stream, 16 + MAX_WBITS) == Z_OK;
}

GzipLineDecoder::~GzipLineDecoder() {
  if (m_impl->initialised) inflateEnd(&m_impl->stream);
}

Status GzipLineDecoder::emit(std::string_view line, const LineHandler& on_line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  ++m_lines;
  return on_line(line);
}

Status GzipLineDecoder::split(std::string_view chunk, const LineHandler& on_line) {
  while (!chunk.empty()) {
    const auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (m_partial.size() + chunk.size() > m_max_line) {
        return fail(ErrorCode::corrupt_stream,
                    fmt::format("line {} is longer than {} bytes", m_lines + 1, m_max_line));
      }
      m_partial.append(chunk);
      return {};
    }
    const auto piece = chunk.substr(0, nl);
    chunk.remove_prefix(nl + 1);
    if (m_partial.size() + piece.size() > m_max_line) {
      return fail(ErrorCode::corrupt_stream,
                  fmt::format("line {} is longer than {} bytes", m_lines + 1, m_max_line));
    }
    if (m_partial.empty()) {
      if (auto st = emit(piece, on_line); !st) return st;
    } else {
      m_partial.append(piece);
      auto st = emit(m_partial, on_line);
      m_partial.clear();
      if (!st) return st;
    }
  }
  return {};
}

Status GzipLineDecoder::feed(std::string_view compressed, const LineHandler& on_line) {
  if (m_failed) return fail(ErrorCode::internal, "gzip decoder used after an error");
  if (!m_impl->initialised) return fail(ErrorCode::internal, "zlib failed to initialise");
  m_in_bytes += compressed.size();
  z_stream& zs = m_impl->stream;
  // zlib's API takes a non-const pointer but does not write through next_in.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  while (zs.avail_in > 0) {
    if (!m_in_member) {
      // A new member starts here (the first one, or one concatenated after another).
      inflateReset(&zs);
      m_in_member = true;
    }
    zs.next_out = reinterpret_cast<Bytef*>(m_impl->out.data());
    zs.avail_out = static_cast<uInt>(m_impl->out.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t produced = m_impl->out.size() - zs.avail_out;
    m_out_bytes += produced;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      m_failed = true;
      return fail(
          ErrorCode::corrupt_stream,
          fmt::format("corrupt gzip data after {} compressed bytes: {}", m_in_bytes - zs.avail_in,
                      zs.msg != nullptr ? zs.msg : "inflate failed"));
    }
    if (auto st = split({m_impl->out.data(), produced}, on_line); !st) {
      m_failed = true;
      return st;
    }
    if (rc == Z_STREAM_END) m_in_member = false;
    if (rc == Z_BUF_ERROR && produced == 0) break;  // needs more input
  }
  return {};
}

Status GzipLineDecoder::finish(const LineHandler& on_line) {
  if (m_failed) return fail(ErrorCode::internal, "gzip decoder used after an error");
  if (!m_impl->initialised) return fail(ErrorCode::internal, "zlib failed to initialise");
  // Drain output that zlib may still hold for the input it already consumed.
  z_stream& zs = m_impl->stream;
  while (m_in_member) {
    zs.next_in = nullptr;
    zs.avail_in = 0;
    zs.next_out = reinterpret_cast<Bytef*>(m_impl->out.data());
    zs.avail_out = static_cast<uInt>(m_impl->out.size());
    const int rc = inflate(&zs, Z_FINISH);
    const std::size_t produced = m_impl->out.size() - zs.avail_out;
    m_out_bytes += produced;
    if (auto st = split({m_impl->out.data(), produced}, on_line); !st) return st;
    if (rc == Z_STREAM_END) {
      m_in_member = false;
      break;
    }
    if (produced == 0) {
      m_failed = true;
      return fail(ErrorCode::corrupt_stream,
                  fmt::format("gzip stream truncated after {} compressed bytes ({} lines read)",
                              m_in_bytes, m_lines));
    }
  }
  if (!m_partial.empty()) {
    auto st = emit(m_partial, on_line);
    m_partial.clear();
    return st;
  }
  return {};
}

Status read_gzip_lines(const std::filesystem::path& path, const LineHandler& on_line) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    return fail(ErrorCode::io,
                fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  }
  GzipLineDecoder decoder;
  std::array<char, 64 * 1024> buf{};
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), file.get());
    if (n > 0) {
      if (auto st = decoder.feed({buf.data(), n}, on_line); !st) {
        auto err = st.error();
        err.message = fmt::format("{}: {}", path.string(), err.message);
        return fail(std::move(err));
      }
    }
    if (n < buf.size()) {
      if (std::ferror(file.get()) != 0) {
        return fail(ErrorCode::io, fmt::format("cannot read {}", path.string()));
      }
      break;
    }
  }
  if (auto st = decoder.finish(on_line); !st) {
    auto err = st.error();
    err.message = fmt::format("{}: {}", path.string(), err.message);
    return fail(std::move(err));
  }
  return {};
}

}  // namespace mdesync::util
