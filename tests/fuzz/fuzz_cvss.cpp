// libFuzzer harness: CVSS vectors of every version, strict and lenient. A vector that
// parses scores to finite numbers, its base score within 0..10, and its canonical form
// parses again to the same canonical form.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cvss/cvss.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool lenient : {false, true}) {
    auto v = mdesync::cvss::parse(text, {lenient});
    if (!v) continue;
    const auto s = mdesync::cvss::score(*v);
    if (!std::isfinite(s.base) || s.base < 0.0 || s.base > 10.0) std::abort();
    if (!std::isfinite(s.score)) std::abort();
    if (s.temporal && !std::isfinite(*s.temporal)) std::abort();
    if (s.environmental && !std::isfinite(*s.environmental)) std::abort();
    auto again = mdesync::cvss::parse(v->canonical);
    if (!again || again->canonical != v->canonical) std::abort();
  }
  return 0;
}
