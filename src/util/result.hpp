#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

#include "util/error.hpp"

namespace mdesync::util {

template <typename T>
using Result = tl::expected<T, Error>;

using Status = Result<void>;

// Builds the error side of a Result: `return fail(ErrorCode::io, "cannot open x");`
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::nullopt, std::nullopt});
}

inline tl::unexpected<Error> fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

}  // namespace mdesync::util
