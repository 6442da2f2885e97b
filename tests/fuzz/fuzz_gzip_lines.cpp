// libFuzzer harness: the streaming gzip line decoder, fed the input in chunks whose size
// the first byte picks, through each inflater the build has. Never more lines than
// decompressed bytes + 1, and where both inflaters accept the stream they give the same
// lines. (They may still differ on whether a malformed gzip header is acceptable:
// tests/fuzz/README.md.)

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "util/gzip_lines.hpp"

namespace {

using mdesync::util::GzipLineDecoder;
using mdesync::util::Inflater;

struct Outcome {
  bool ok = false;
  std::vector<std::string> lines;
};

Outcome run(std::string_view input, std::size_t chunk, Inflater inflater) {
  Outcome out;
  GzipLineDecoder decoder(1 << 16, inflater);
  auto collect = [&](std::string_view line) -> mdesync::util::Status {
    out.lines.emplace_back(line);
    return {};
  };
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    if (!decoder.feed(input.substr(at, chunk), collect)) return out;
  }
  out.ok = static_cast<bool>(decoder.finish(collect));
  if (decoder.lines() > decoder.decompressed_bytes() + 1) std::abort();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome z = run(input, chunk, Inflater::zlib);
  if (mdesync::util::have_isal()) {
    const Outcome i = run(input, chunk, Inflater::isal);
    if (z.ok && i.ok && z.lines != i.lines) std::abort();
  }
  return 0;
}
