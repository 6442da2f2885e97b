// libFuzzer harness: the record decoders. The first byte picks the decoder (an export
// line of each kind, an OData page of each listing, an export-files answer, an error
// envelope); the rest is the input. Decoders must return a value or an error, never
// crash, whatever the bytes.

#include <cstdint>
#include <string>

#include "defender/decode.hpp"

namespace {

using namespace mdesync::defender;

template <class T>
void line(const std::string& text) {
  LineDecoder<T> decoder;
  T row;
  (void)decoder.decode(text, row);
  (void)decoder.decode(text, row);  // the reused parser and buffer, a second time
}

template <class T>
void page(std::string text) {
  std::size_t n = 0;
  (void)decode_page<T>(text, [&](T&&) -> mdesync::util::Status {
    ++n;
    return {};
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 12) {
    case 0:
      line<VulnerabilityRow>(text);
      break;
    case 1:
      line<InventoryRow>(text);
      break;
    case 2:
      page<Machine>(text);
      break;
    case 3:
      page<Software>(text);
      break;
    case 4:
      page<Vulnerability>(text);
      break;
    case 5:
      page<Recommendation>(text);
      break;
    case 6:
      page<VulnerabilityRow>(text);
      break;
    case 7:
      page<InventoryRow>(text);
      break;
    case 8:
      page<Distribution>(text);
      break;
    case 9:
      page<MachineReference>(text);
      break;
    case 10: {
      std::string body = text;
      (void)decode_export_files(body);
      break;
    }
    default:
      (void)decode_api_error(text);
      break;
  }
  return 0;
}
