#pragma once

// JSON -> record decoding for every Defender payload. All simdjson use is confined to
// decode.cpp (one heavy translation unit); this header exposes no JSON types.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "defender/records.hpp"
#include "util/result.hpp"

namespace mdesync::defender {

template <class T>
using Sink = std::function<util::Status(T&&)>;

struct PageInfo {
  std::optional<std::string> next_link;  // @odata.nextLink, verbatim
  std::size_t items = 0;                 // elements of "value" (with those a resumed read skipped)
};

// How far the reading of one page got over the attempts at its URL. A body that ends
// inside the document (a cut transfer that still looked complete) is fetched again;
// the next attempt skips the items earlier attempts handed on, after checking that
// their text is the same (ADR 0076).
struct PageProgress {
  std::size_t delivered = 0;  // items already handed to `on_item`
  std::uint64_t digest = 0;   // chained XXH3-64 of those items' text
};

// Decodes an OData collection page, handing each element of "value" to `on_item` in
// order; keys are matched case-insensitively and unknown keys ignored. `body` gets
// padding capacity appended (its contents are unchanged). Parse errors name the
// element index and field. Not thread-safe per call site (uses a thread-local parser).
//
// A body that ends before its JSON document does (every byte so far could begin a
// valid page) is `corrupt_stream` (a cut document, as for a cut gzip stream),
// "... (truncated)"; the items before the cut have been handed on and `progress` (if
// given) says which. Given the same `progress` again, the next attempt hands on only
// the items after those; if they differ from the first attempt's, it is a `paging`
// error and nothing more is handed on. A complete body that is not a valid page stays
// a `parse` error.
template <class T>
util::Result<PageInfo> decode_page(std::string& body, const Sink<T>& on_item,
                                   PageProgress* progress = nullptr);

// Decodes a single entity (its members at top level, as in GET /api/machines/{id}).
// A truncated body is `corrupt_stream`, as for decode_page.
template <class T>
util::Result<T> decode_entity(std::string& body);

// Decodes an ExportFilesResponse (exportFiles + generatedTime). A truncated body is
// `corrupt_stream`, as for decode_page.
util::Result<ExportFiles> decode_export_files(std::string& body);

// The {"error":{"code","message"}} envelope of an MDE error; empty members when the
// body is not that shape. Never fails.
struct ApiError {
  std::string code;
  std::string message;
};
ApiError decode_api_error(std::string_view body);

// Decodes export-file lines (JSON Lines) one at a time, reusing one parser and one
// padded buffer. Not thread-safe: one instance per stream.
template <class T>
class LineDecoder {
 public:
  LineDecoder();
  ~LineDecoder();
  LineDecoder(const LineDecoder&) = delete;
  LineDecoder& operator=(const LineDecoder&) = delete;

  // Replaces `out` with the record on `line`. A malformed line or a field of an
  // impossible type is a parse error (the caller adds file name and line number).
  util::Status decode(std::string_view line, T& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace mdesync::defender
