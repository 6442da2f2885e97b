#pragma once

// The OData $filter subset the Defender list endpoints accept: eq, ne, gt, ge, lt, le,
// and, or, not, parentheses, startswith(prop,'x') and prop/any(x: x eq 'v'), on an
// endpoint's documented filterable properties only (names compared case-insensitively).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace mdesim {

struct FilterNode;

class Filter {
 public:
  // Errors (ErrorCode::parse) carry the message for the ODataError answer.
  static mdesync::util::Result<Filter> parse(std::string_view text,
                                             const std::vector<std::string>& allowed);
  [[nodiscard]] bool matches(const nlohmann::ordered_json& row) const;

 private:
  std::shared_ptr<const FilterNode> m_root;
};

}  // namespace mdesim
