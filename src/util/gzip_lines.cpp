#include "util/gzip_lines.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef MDESYNC_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

namespace mdesync::util {

namespace {

// What one call of an inflate backend did.
struct Step {
  std::size_t produced = 0;
  bool member_end = false;  // the gzip member (trailer included) is complete
  bool stalled = false;     // no progress: more input is needed
  std::string error;        // corrupt data
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Input for the next calls; must stay alive until it is consumed (avail() == 0).
  virtual void input(const char* data, std::size_t n) = 0;
  [[nodiscard]] virtual std::size_t avail() const = 0;
  // A new gzip member starts at the next input byte.
  virtual void start_member() = 0;
  virtual Step inflate(char* out, std::size_t n, bool finish) = 0;
};

class ZlibBackend final : public Backend {
 public:
  ZlibBackend() {
    // 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw stream is reported as corrupt.
    m_ok = inflateInit2(&m_zs, 16 + MAX_WBITS) == Z_OK;
  }
  ~ZlibBackend() override {
    if (m_ok) inflateEnd(&m_zs);
  }
  ZlibBackend(const ZlibBackend&) = delete;
  ZlibBackend& operator=(const ZlibBackend&) = delete;
  [[nodiscard]] bool ok() const { return m_ok; }
  void input(const char* data, std::size_t n) override {
    // zlib's API takes a non-const pointer but does not write through next_in.
    m_zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    m_zs.avail_in = static_cast<uInt>(n);
  }
  [[nodiscard]] std::size_t avail() const override { return m_zs.avail_in; }
  void start_member() override { inflateReset(&m_zs); }
  Step inflate(char* out, std::size_t n, bool finish) override {
    m_zs.next_out = reinterpret_cast<Bytef*>(out);
    m_zs.avail_out = static_cast<uInt>(n);
    const int rc = ::inflate(&m_zs, finish ? Z_FINISH : Z_NO_FLUSH);
    Step s;
    s.produced = n - m_zs.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      s.error = m_zs.msg != nullptr ? m_zs.msg : "inflate failed";
      return s;
    }
    s.member_end = rc == Z_STREAM_END;
    s.stalled = !s.member_end && s.produced == 0 && (rc == Z_BUF_ERROR || finish);
    return s;
  }

 private:
  z_stream m_zs{};
  bool m_ok = false;
};

#ifdef MDESYNC_HAVE_ISAL
class IsalBackend final : public Backend {
 public:
  IsalBackend() { isal_inflate_init(&m_st); }
  void input(const char* data, std::size_t n) override {
    m_st.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data));
    m_st.avail_in = static_cast<std::uint32_t>(n);
  }
  [[nodiscard]] std::size_t avail() const override { return m_st.avail_in; }
  void start_member() override {
    // A reset forgets the input pointer: keep it.
    auto* next = m_st.next_in;
    const auto avail = m_st.avail_in;
    isal_inflate_reset(&m_st);
    m_st.crc_flag = ISAL_GZIP;  // parse the gzip header, check the CRC and length trailer
    m_st.next_in = next;
    m_st.avail_in = avail;
    m_member_bytes = 0;
  }
  Step inflate(char* out, std::size_t n, bool /*finish*/) override {
    m_st.next_out = reinterpret_cast<std::uint8_t*>(out);
    m_st.avail_out = static_cast<std::uint32_t>(n);
    const auto before_in = m_st.avail_in;
    // RFC 1952: reserved FLG bits (byte 3 of a member) set is an error. zlib refuses
    // them, ISA-L does not look (found by tests/fuzz/fuzz_gzip_lines).
    if (m_member_bytes <= 3 && before_in > 3 - m_member_bytes &&
        (m_st.next_in[3 - m_member_bytes] & 0xE0U) != 0) {
      Step bad;
      bad.error = "reserved gzip header flags set";
      return bad;
    }
    const int rc = isal_inflate(&m_st);
    m_member_bytes += before_in - m_st.avail_in;
    Step s;
    s.produced = n - m_st.avail_out;
    if (rc < 0 || rc == ISAL_NEED_DICT) {
      s.error = message(rc);
      return s;
    }
    s.member_end = m_st.block_state == ISAL_BLOCK_FINISH;
    s.stalled = !s.member_end && s.produced == 0 && m_st.avail_in == before_in;
    return s;
  }

 private:
  static std::string message(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK:
        return "invalid lookback distance";
      case ISAL_INVALID_WRAPPER:
        return "not a gzip stream (invalid header)";
      case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
      case ISAL_INCORRECT_CHECKSUM:
        return "incorrect checksum";
      default:
        return fmt::format("inflate failed ({})", rc);
    }
  }
  inflate_state m_st{};
  std::size_t m_member_bytes = 0;  // of the current member, consumed so far
};
#endif

Inflater resolve(Inflater wanted) {
  if (wanted != Inflater::fastest) return wanted;
  const char* env = std::getenv("MDESYNC_INFLATE");
  if (env != nullptr && std::string_view(env) == "zlib") return Inflater::zlib;
  return have_isal() ? Inflater::isal : Inflater::zlib;
}

}  // namespace

bool have_isal() noexcept {
#ifdef MDESYNC_HAVE_ISAL
  return true;
#else
  return false;
#endif
}

struct GzipLineDecoder::Impl {
  std::unique_ptr<Backend> backend;
  std::string init_error;
  std::array<char, 64 * 1024> out{};
};

GzipLineDecoder::GzipLineDecoder(std::size_t max_line_bytes, Inflater inflater)
    : m_impl(std::make_unique<Impl>()), m_max_line(max_line_bytes) {
  const Inflater chosen = resolve(inflater);
#ifdef MDESYNC_HAVE_ISAL
  if (chosen == Inflater::isal) {
    m_impl->backend = std::make_unique<IsalBackend>();
    return;
  }
#endif
  if (chosen == Inflater::isal) {
    m_impl->init_error = "this build has no ISA-L inflate";
    return;
  }
  auto zlib = std::make_unique<ZlibBackend>();
  if (!zlib->ok()) {
    m_impl->init_error = "zlib failed to initialise";
    return;
  }
  m_impl->backend = std::move(zlib);
}

GzipLineDecoder::~GzipLineDecoder() = default;

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

// Inflates what the backend holds. Feeding: until the input is used up. Finishing: until
// the open member ends, or fails as truncated when it cannot.
Status GzipLineDecoder::run(bool finish, const LineHandler& on_line) {
  Backend& b = *m_impl->backend;
  for (;;) {
    if (!finish && b.avail() == 0) return {};
    if (!m_in_member) {
      if (finish) return {};
      // A new member starts here (the first one, or one concatenated after another).
      b.start_member();
      m_in_member = true;
    }
    const Step s = b.inflate(m_impl->out.data(), m_impl->out.size(), finish);
    m_out_bytes += s.produced;
    if (!s.error.empty()) {
      m_failed = true;
      return fail(ErrorCode::corrupt_stream,
                  fmt::format("corrupt gzip data after {} compressed bytes: {}",
                              m_in_bytes - b.avail(), s.error));
    }
    if (auto st = split({m_impl->out.data(), s.produced}, on_line); !st) {
      m_failed = true;
      return st;
    }
    if (s.member_end) {
      m_in_member = false;
    } else if (s.stalled) {
      if (!finish) return {};  // needs more input
      m_failed = true;
      return fail(ErrorCode::corrupt_stream,
                  fmt::format("gzip stream truncated after {} compressed bytes ({} lines read)",
                              m_in_bytes, m_lines));
    }
  }
}

Status GzipLineDecoder::feed(std::string_view compressed, const LineHandler& on_line) {
  if (m_failed) return fail(ErrorCode::internal, "gzip decoder used after an error");
  if (!m_impl->backend) return fail(ErrorCode::internal, m_impl->init_error);
  m_in_bytes += compressed.size();
  m_impl->backend->input(compressed.data(), compressed.size());
  return run(false, on_line);
}

Status GzipLineDecoder::finish(const LineHandler& on_line) {
  if (m_failed) return fail(ErrorCode::internal, "gzip decoder used after an error");
  if (!m_impl->backend) return fail(ErrorCode::internal, m_impl->init_error);
  // Drain output the backend may still hold for the input it already consumed.
  m_impl->backend->input(nullptr, 0);
  if (auto st = run(true, on_line); !st) return st;
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
