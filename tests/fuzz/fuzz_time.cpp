// libFuzzer harness: the timestamp parser. A text that parses formats back to a text
// that parses to the same instant.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = mdesync::util::parse_timestamp(text);
  if (!t) return 0;
  auto again = mdesync::util::parse_timestamp(mdesync::util::format_timestamp(*t));
  if (!again || *again != *t) std::abort();
  return 0;
}
