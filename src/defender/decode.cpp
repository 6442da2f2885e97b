// The only translation unit that includes simdjson (it is heavy to compile).
#include "defender/decode.hpp"

#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace mdesync::defender {

namespace {

namespace dom = simdjson::dom;
using util::ErrorCode;
using util::Status;

tl::unexpected<util::Error> sj_fail(simdjson::error_code ec) {
  return util::fail(ErrorCode::parse, std::string(simdjson::error_message(ec)));
}

tl::unexpected<util::Error> type_fail(std::string_view expected, std::string_view got) {
  return util::fail(ErrorCode::parse, fmt::format("expected {}, got '{}'", expected, got));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr std::size_t k_key_max = 64;

// ASCII lower case into `buf`; keys longer than the buffer are unknown by definition.
std::string_view lower_key(std::string_view key, char* buf) {
  if (key.size() > k_key_max) return {};
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  return {buf, key.size()};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t out = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc{} && p == s.data() + s.size()) return out;
  double d = 0;
  auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec2 == std::errc{} && p2 == s.data() + s.size() && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9.0e18) {
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<double> parse_double(std::string_view s) {
  double out = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc{} && p == s.data() + s.size()) return out;
  return std::nullopt;
}

dom::array as_array(const dom::element& v) {
  dom::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS) return {};
  return a;
}

dom::object as_object(const dom::element& v) {
  dom::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) return {};
  return o;
}

// A scalar as text: strings unescaped, numbers as written (integers exactly, doubles
// in shortest round-trip form) and booleans as true/false.
struct Scalar {
  bool is_null = false;
  bool is_string = false;
  bool is_number = false;
  bool is_bool = false;
  bool bool_value = false;
  std::string_view text;
  std::string owned;  // backing store for number text
};

Scalar read_scalar(const dom::element& v) {
  Scalar s;
  switch (v.type()) {
    case dom::element_type::NULL_VALUE:
      s.is_null = true;
      break;
    case dom::element_type::STRING:
      s.is_string = true;
      s.text = v.get_string().value_unsafe();
      break;
    case dom::element_type::INT64:
      s.is_number = true;
      s.owned = std::to_string(v.get_int64().value_unsafe());
      s.text = s.owned;
      break;
    case dom::element_type::UINT64:
      s.is_number = true;
      s.owned = std::to_string(v.get_uint64().value_unsafe());
      s.text = s.owned;
      break;
    case dom::element_type::DOUBLE:
      s.is_number = true;
      s.owned = fmt::format("{}", v.get_double().value_unsafe());
      s.text = s.owned;
      break;
    case dom::element_type::BOOL:
      s.is_bool = true;
      s.bool_value = v.get_bool().value_unsafe();
      s.text = s.bool_value ? "true" : "false";
      break;
    default:
      break;  // array or object: the caller decides
  }
  return s;
}

Status read_into(const dom::element& v, std::vector<std::string>& out);

Status read_into(const dom::element& v, OptString& out) {
  const auto type = v.type();
  if (type == dom::element_type::ARRAY) {
    // Documented as a string, sent as a collection ("cveSupportability"): joined.
    std::vector<std::string> parts;
    if (auto st = read_into(v, parts); !st) return st;
    std::string joined;
    for (const auto& p : parts) {
      if (!joined.empty()) joined += ", ";
      joined += p;
    }
    out = std::move(joined);
    return {};
  }
  if (type == dom::element_type::OBJECT) {
    return util::fail(ErrorCode::parse, "expected text, got an object");
  }
  const Scalar s = read_scalar(v);
  if (s.is_null) {
    out.reset();
  } else {
    out.emplace(s.text);
  }
  return {};
}

Status read_into(const dom::element& v, std::string& out) {
  OptString tmp;
  if (auto st = read_into(v, tmp); !st) return st;
  out = tmp.value_or(std::string{});
  return {};
}

Status read_into(const dom::element& v, OptInt& out) {
  switch (v.type()) {
    case dom::element_type::NULL_VALUE:
      out.reset();
      return {};
    case dom::element_type::INT64:
      out = v.get_int64().value_unsafe();
      return {};
    case dom::element_type::UINT64:
      return type_fail("a 64-bit integer", std::to_string(v.get_uint64().value_unsafe()));
    case dom::element_type::DOUBLE: {
      const double d = v.get_double().value_unsafe();
      if (d != std::floor(d) || std::fabs(d) >= 9.0e18)
        return type_fail("an integer", fmt::format("{}", d));
      out = static_cast<std::int64_t>(d);
      return {};
    }
    case dom::element_type::STRING: {
      const auto text = trim(v.get_string().value_unsafe());
      if (text.empty()) {
        out.reset();
        return {};
      }
      auto n = parse_int(text);
      if (!n) return type_fail("an integer", text);
      out = *n;
      return {};
    }
    default:
      return type_fail("an integer", "a non-number");
  }
}

Status read_into(const dom::element& v, OptDouble& out) {
  switch (v.type()) {
    case dom::element_type::NULL_VALUE:
      out.reset();
      return {};
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      out = v.get_double().value_unsafe();
      return {};
    case dom::element_type::STRING: {
      const auto text = trim(v.get_string().value_unsafe());
      if (text.empty()) {
        out.reset();
        return {};
      }
      auto d = parse_double(text);
      if (!d) return type_fail("a number", text);
      out = *d;
      return {};
    }
    default:
      return type_fail("a number", "a non-number");
  }
}

Status read_into(const dom::element& v, OptBool& out) {
  const auto type = v.type();
  if (type == dom::element_type::ARRAY || type == dom::element_type::OBJECT) {
    return type_fail("a boolean", "a collection");
  }
  const Scalar s = read_scalar(v);
  if (s.is_null) {
    out.reset();
    return {};
  }
  if (s.is_bool) {
    out = s.bool_value;
    return {};
  }
  const auto text = trim(s.text);
  if (text.empty()) {
    out.reset();
  } else if (iequals(text, "true") || text == "1") {
    out = true;
  } else if (iequals(text, "false") || text == "0") {
    out = false;
  } else {
    return type_fail("a boolean", text);
  }
  return {};
}

Status read_into(const dom::element& v, OptTime& out) {
  const auto type = v.type();
  if (type == dom::element_type::NULL_VALUE) {
    out.reset();
    return {};
  }
  if (type != dom::element_type::STRING) return type_fail("a timestamp string", "a non-string");
  const auto text = trim(v.get_string().value_unsafe());
  if (text.empty()) {
    out.reset();
    return {};
  }
  auto t = util::parse_timestamp(text);
  if (!t) return util::fail(t.error());
  out = *t;
  return {};
}

Status read_into(const dom::element& v, std::vector<std::string>& out) {
  out.clear();
  const auto type = v.type();
  if (type == dom::element_type::NULL_VALUE) return {};
  if (type != dom::element_type::ARRAY) {
    OptString one;
    if (auto st = read_into(v, one); !st) return st;
    if (one && !one->empty()) out.push_back(std::move(*one));
    return {};
  }
  for (const dom::element el : as_array(v)) {
    OptString item;
    if (auto st = read_into(el, item); !st) return st;
    if (item) out.push_back(std::move(*item));
  }
  return {};
}

template <class T>
using FieldFn = Status (*)(T&, const dom::element&);
template <class T>
using FieldMap = std::unordered_map<std::string_view, FieldFn<T>>;

template <class T>
const FieldMap<T>& fields();

// Rows of one export repeat the same members in the same order, so each position
// remembers the member it saw last time: a case-insensitive compare with that key
// replaces lower-casing and hashing for almost every field.
template <class T>
struct Slot {
  std::string key;          // lower case
  FieldFn<T> fn = nullptr;  // nullptr: unknown member
};

inline bool matches_lower(std::string_view key, std::string_view lower) {
  if (key.size() != lower.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

template <class T>
Status decode_object(const dom::object& obj, T& out) {
  const FieldMap<T>& table = fields<T>();
  thread_local std::vector<Slot<T>> predicted;
  char buf[k_key_max];
  std::size_t position = 0;
  for (const dom::key_value_pair field : obj) {
    if (position >= predicted.size()) predicted.emplace_back();
    Slot<T>& slot = predicted[position++];
    if (!matches_lower(field.key, slot.key)) {
      const auto lk = lower_key(field.key, buf);
      const auto it = table.find(lk);
      slot.key.assign(lk);
      slot.fn = it == table.end() ? nullptr : it->second;
      if (lk.empty()) slot.key.assign(1, '\0');  // over-long key: never matches again
    }
    if (slot.fn == nullptr) continue;  // unknown members are ignored
    if (auto st = slot.fn(out, field.value); !st) {
      return util::fail(ErrorCode::parse,
                        fmt::format("field '{}': {}", field.key, st.error().message));
    }
  }
  return {};
}

template <class T>
Status decode_value(const dom::element& v, T& out) {
  if (v.type() != dom::element_type::OBJECT) return type_fail("an object", "a non-object");
  return decode_object(as_object(v), out);
}

Status read_into(const dom::element& v, std::vector<IpAddress>& out) {
  out.clear();
  if (v.type() == dom::element_type::NULL_VALUE) return {};
  if (v.type() != dom::element_type::ARRAY) return type_fail("an array", "a non-array");
  for (const dom::element el : as_array(v)) {
    IpAddress ip;
    if (auto st = decode_value(el, ip); !st) return st;
    out.push_back(std::move(ip));
  }
  return {};
}

Status read_into(const dom::element& v, std::optional<VmMetadata>& out) {
  if (v.type() == dom::element_type::NULL_VALUE) {
    out.reset();
    return {};
  }
  VmMetadata vm;
  if (auto st = decode_value(v, vm); !st) return st;
  out = std::move(vm);
  return {};
}

// A score with a documented range: a value outside [lo, hi] (NaN included) is not
// stored but recorded in the record's `rejected` list for the mapper to report.
template <class Rec>
Status read_score(const dom::element& v, Rec& r, OptDouble& out, std::string_view field, double lo,
                  double hi, std::string_view range) {
  if (auto st = read_into(v, out); !st) return st;
  if (out && !(*out >= lo && *out <= hi)) {
    r.rejected.push_back({std::string(field), fmt::format("{}", *out), std::string(range)});
    out.reset();
  }
  return {};
}

template <class Rec, class T>
Status read_entry(const dom::element& v, Rec& r, const Field<Rec, T>& f) {
  return read_into(v, r.*(f.member));
}
template <class Rec>
Status read_entry(const dom::element& v, Rec& r, const ScoreField<Rec>& f) {
  return read_score(v, r, r.*(f.member), f.name, f.lo, f.hi, f.range);
}

// The reader of the I-th declared member of Rec (records.hpp), as a plain function.
template <class Rec, std::size_t I>
Status read_field(Rec& r, const dom::element& v) {
  static constexpr auto entry = std::get<I>(Fields<Rec>::list);
  return read_entry(v, r, entry);
}

// A declared member name as the lookup tables key it (lower_key); a name too long for
// any key to match is a mistake in records.hpp.
std::string lower_name(std::string_view name) {
  char buf[k_key_max];
  const std::string_view lower = lower_key(name, buf);
  if (lower.empty()) throw std::logic_error("a record declares a member name no key can match");
  return std::string(lower);
}

// Each table maps a lower-cased JSON key to the member it fills; camelCase and
// PascalCase spellings therefore meet in one entry.
template <class Rec, std::size_t... I>
FieldMap<Rec> field_map(std::index_sequence<I...>) {
  static const std::array<std::string, sizeof...(I)> keys = {
      lower_name(std::get<I>(Fields<Rec>::list).name)...};
  FieldMap<Rec> m = {{keys[I], &read_field<Rec, I>}...};
  if (m.size() != sizeof...(I)) throw std::logic_error("a record declares a member twice");
  return m;
}

template <class T>
const FieldMap<T>& fields() {
  static const FieldMap<T> m =
      field_map<T>(std::make_index_sequence<std::tuple_size_v<decltype(Fields<T>::list)>>{});
  return m;
}

// The member without which a record cannot be keyed; nullptr when present.
const char* missing_key(const Machine& r) {
  return r.id.empty() ? "id" : nullptr;
}
const char* missing_key(const Software& r) {
  return r.id.empty() ? "id" : nullptr;
}
const char* missing_key(const Distribution&) {
  return nullptr;
}
const char* missing_key(const MachineReference& r) {
  return r.id.empty() ? "id" : nullptr;
}
const char* missing_key(const Vulnerability& r) {
  return r.id.empty() ? "id" : nullptr;
}
const char* missing_key(const Recommendation& r) {
  return r.id.empty() ? "id" : nullptr;
}
const char* missing_key(const VulnerabilityRow& r) {
  return r.device_id.empty() ? "deviceId" : nullptr;
}
const char* missing_key(const InventoryRow& r) {
  return r.device_id.empty() ? "deviceId" : nullptr;
}
const char* missing_key(const MachineVulnerability& r) {
  return r.id.empty() ? "id" : nullptr;
}

template <class T>
Status decode_checked(const dom::object& obj, T& out) {
  if (auto st = decode_object(obj, out); !st) return st;
  if (const char* key = missing_key(out)) {
    return util::fail(ErrorCode::parse,
                      fmt::format("required member '{}' is missing or empty", key));
  }
  return {};
}

// Parsers keep their buffers between documents; one per thread for whole pages.
dom::parser& page_parser() {
  thread_local dom::parser parser;
  return parser;
}

util::Result<dom::object> parse_object(dom::parser& parser, std::string& body) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  dom::element root;
  if (auto ec = parser.parse(body.data(), body.size(), false).get(root); ec) return sj_fail(ec);
  dom::object obj;
  if (auto ec = root.get_object().get(obj); ec) {
    return util::fail(ErrorCode::parse, "the document is not a JSON object");
  }
  return obj;
}

}  // namespace

namespace {

// A page is scanned, not parsed whole: a DOM of a 10,000-machine page would take about
// 14 times the page's size (simdjson's tape and string buffer), so the top-level object is
// walked here and each item of `value` is parsed on its own. The scanner only finds where
// values start and end; every item and the nextLink are still checked by simdjson.
class PageScanner {
 public:
  explicit PageScanner(std::string_view text) : m_s(text) {}

  void ws() noexcept {
    while (m_i < m_s.size() &&
           (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r')) {
      ++m_i;
    }
  }
  [[nodiscard]] bool at(char c) const noexcept { return m_i < m_s.size() && m_s[m_i] == c; }
  bool eat(char c) noexcept {
    if (!at(c)) return false;
    ++m_i;
    return true;
  }
  [[nodiscard]] bool done() const noexcept { return m_i >= m_s.size(); }
  [[nodiscard]] std::size_t pos() const noexcept { return m_i; }
  [[nodiscard]] std::size_t size() const noexcept { return m_s.size(); }

  // At a '"': moves past the closing quote. `escaped` tells whether a backslash occurred.
  bool string(bool& escaped) noexcept {
    escaped = false;
    if (!eat('"')) return false;
    while (m_i < m_s.size()) {
      const char c = m_s[m_i++];
      if (c == '"') return true;
      if (c == '\\') {
        escaped = true;
        ++m_i;
      }
    }
    return false;
  }

  // Moves past one value of any type; false when the text ends first.
  bool value() noexcept {
    bool escaped = false;
    if (at('"')) return string(escaped);
    if (at('{') || at('[')) {
      int depth = 0;
      while (m_i < m_s.size()) {
        const char c = m_s[m_i];
        if (c == '"') {
          if (!string(escaped)) return false;
          continue;
        }
        ++m_i;
        if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (--depth == 0) return true;
        }
      }
      return false;
    }
    const std::size_t start = m_i;
    while (m_i < m_s.size() && m_s[m_i] != ',' && m_s[m_i] != '}' && m_s[m_i] != ']' &&
           m_s[m_i] != ' ' && m_s[m_i] != '\t' && m_s[m_i] != '\n' && m_s[m_i] != '\r') {
      ++m_i;
    }
    return m_i > start;
  }

  [[nodiscard]] std::string_view span(std::size_t from) const noexcept {
    return m_s.substr(from, m_i - from);
  }

 private:
  std::string_view m_s;
  std::size_t m_i = 0;
};

// Items and small members are parsed here; their buffers stay as big as one item.
dom::parser& item_parser() {
  thread_local dom::parser parser;
  return parser;
}

// Parses `text`, a part of a body that has SIMDJSON_PADDING bytes reserved after its end.
simdjson::simdjson_result<dom::element> parse_part(std::string_view text) {
  return item_parser().parse(text.data(), text.size(), false);
}

tl::unexpected<util::Error> malformed(std::size_t at) {
  return util::fail(ErrorCode::parse, fmt::format("malformed JSON page near byte {}", at));
}

// A body cut short: the caller fetches it again (corrupt_stream is what the client
// turns into a retried transfer failure).
tl::unexpected<util::Error> truncated(std::size_t size) {
  return util::fail(ErrorCode::corrupt_stream,
                    fmt::format("the body ends after {} bytes, inside its JSON document "
                                "(truncated)",
                                size));
}

// Where the scan stopped: at the end of the text, the body was cut short (everything
// before could start a valid document); elsewhere, it is malformed.
tl::unexpected<util::Error> cut_or_malformed(const PageScanner& p, std::size_t at) {
  return p.done() ? truncated(p.size()) : malformed(at);
}

// Whether `body` ends inside its first JSON value (or holds nothing but blanks): the
// sign of a truncated body once a parser has refused it.
bool ends_inside(std::string_view body) {
  PageScanner p(body);
  p.ws();
  if (p.done()) return true;
  return !p.value() && p.done();
}

// A whole-document parse failed: truncated or malformed.
tl::unexpected<util::Error> refused(const std::string& body, util::Error err) {
  if (ends_inside(body)) return truncated(body.size());
  return util::fail(std::move(err));
}

tl::unexpected<util::Error> page_changed(std::size_t items) {
  return util::fail(ErrorCode::paging,
                    fmt::format("the page differs from the attempt that was cut after {} items, "
                                "so it cannot be resumed without repeating or losing rows; "
                                "rerun",
                                items));
}

// The whole-document path for pages the scanner leaves to simdjson. It hands nothing
// on before the whole body parsed; the first `skip` items were handed on before (by an
// earlier attempt or by the scanner) and are not again. Their text is not compared
// (the DOM does not keep it); the scanner's path, which every page the service sends
// takes, does compare it.
template <class T>
util::Result<PageInfo> decode_page_dom(std::string& body, const Sink<T>& on_item, std::size_t skip,
                                       PageProgress* progress) {
  auto obj = parse_object(page_parser(), body);
  if (!obj) return refused(body, std::move(obj.error()));
  PageInfo info;
  bool saw_value = false;
  char buf[k_key_max];
  for (const dom::key_value_pair field : *obj) {
    const auto lk = lower_key(field.key, buf);
    if (lk == "@odata.nextlink") {
      OptString link;
      if (auto st = read_into(field.value, link); !st) return util::fail(st.error());
      if (link && !link->empty()) info.next_link = std::move(link);
    } else if (lk == "value") {
      saw_value = true;
      if (field.value.type() != dom::element_type::ARRAY) {
        return util::fail(ErrorCode::parse, "member 'value' is not an array");
      }
      for (const dom::element el : as_array(field.value)) {
        if (el.type() != dom::element_type::OBJECT) {
          return util::fail(ErrorCode::parse, fmt::format("item {} is not an object", info.items));
        }
        if (info.items < skip) {
          ++info.items;
          continue;
        }
        T item;
        if (auto st = decode_checked(as_object(el), item); !st) {
          return util::fail(ErrorCode::parse,
                            fmt::format("item {}: {}", info.items, st.error().message));
        }
        ++info.items;
        if (auto st = on_item(std::move(item)); !st) return util::fail(std::move(st.error()));
        if (progress != nullptr) progress->delivered = info.items;
      }
      if (info.items < skip) return page_changed(skip);
    }
  }
  if (!saw_value) return util::fail(ErrorCode::parse, "page has no 'value' array");
  return info;
}

}  // namespace

template <class T>
util::Result<PageInfo> decode_page(std::string& body, const Sink<T>& on_item,
                                   PageProgress* progress) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  PageScanner p(body);
  PageInfo info;
  bool saw_value = false;
  char buf[k_key_max];
  // Items an earlier attempt handed on: scanned and digested, not decoded again.
  const std::size_t resume = progress != nullptr ? progress->delivered : 0;
  std::uint64_t digest = 0;
  p.ws();
  if (!p.eat('{')) {
    if (p.done()) return truncated(p.size());
    return util::fail(ErrorCode::parse, "the document is not a JSON object");
  }
  p.ws();
  if (!p.eat('}')) {
    for (;;) {
      p.ws();
      const std::size_t key_start = p.pos();
      bool escaped = false;
      if (!p.string(escaped)) return cut_or_malformed(p, key_start);
      // A key with escapes is unheard of here; the whole-document parser handles it.
      if (escaped) {
        return decode_page_dom<T>(body, on_item, std::max(resume, info.items), progress);
      }
      const std::string_view key = p.span(key_start);
      const auto lk = lower_key(key.substr(1, key.size() - 2), buf);
      p.ws();
      if (!p.eat(':')) return cut_or_malformed(p, p.pos());
      p.ws();
      if (lk == "value") {
        saw_value = true;
        if (!p.eat('[')) {
          if (p.done()) return truncated(p.size());
          return util::fail(ErrorCode::parse, "member 'value' is not an array");
        }
        p.ws();
        if (!p.eat(']')) {
          for (;;) {
            p.ws();
            const std::size_t item_start = p.pos();
            if (!p.value()) return cut_or_malformed(p, item_start);
            const std::string_view text = p.span(item_start);
            digest = XXH3_64bits_withSeed(text.data(), text.size(), digest);
            if (info.items < resume) {
              // Handed on by an earlier attempt: only checked to be the same text.
              ++info.items;
              if (info.items == resume && digest != progress->digest) return page_changed(resume);
              p.ws();
              if (p.eat(',')) continue;
              if (p.eat(']')) break;
              return cut_or_malformed(p, p.pos());
            }
            if (text.front() != '{') {
              return util::fail(ErrorCode::parse,
                                fmt::format("item {} is not an object", info.items));
            }
            dom::element el;
            dom::object obj;
            if (auto ec = parse_part(text).get(el); ec) {
              return util::fail(ErrorCode::parse, fmt::format("item {}: {}", info.items,
                                                              simdjson::error_message(ec)));
            }
            if (el.get_object().get(obj) != simdjson::SUCCESS) {
              return util::fail(ErrorCode::parse,
                                fmt::format("item {} is not an object", info.items));
            }
            T item;
            if (auto st = decode_checked(obj, item); !st) {
              return util::fail(ErrorCode::parse,
                                fmt::format("item {}: {}", info.items, st.error().message));
            }
            ++info.items;
            if (auto st = on_item(std::move(item)); !st) return util::fail(std::move(st.error()));
            if (progress != nullptr) {
              progress->delivered = info.items;
              progress->digest = digest;
            }
            p.ws();
            if (p.eat(',')) continue;
            if (p.eat(']')) break;
            return cut_or_malformed(p, p.pos());
          }
        }
        if (info.items < resume) return page_changed(resume);
      } else {
        const std::size_t value_start = p.pos();
        if (!p.value()) return cut_or_malformed(p, value_start);
        if (lk == "@odata.nextlink") {
          dom::element el;
          if (auto ec = parse_part(p.span(value_start)).get(el); ec) return sj_fail(ec);
          OptString link;
          if (auto st = read_into(el, link); !st) return util::fail(st.error());
          if (link && !link->empty()) info.next_link = std::move(link);
        }
      }
      p.ws();
      if (p.eat(',')) continue;
      if (p.eat('}')) break;
      return cut_or_malformed(p, p.pos());
    }
  }
  p.ws();
  if (!p.done()) return malformed(p.pos());
  if (!saw_value) return util::fail(ErrorCode::parse, "page has no 'value' array");
  return info;
}

template <class T>
util::Result<T> decode_entity(std::string& body) {
  auto obj = parse_object(page_parser(), body);
  if (!obj) return refused(body, std::move(obj.error()));
  T out;
  if (auto st = decode_checked(*obj, out); !st) return util::fail(st.error());
  return out;
}

util::Result<ExportFiles> decode_export_files(std::string& body) {
  auto obj = parse_object(page_parser(), body);
  if (!obj) return refused(body, std::move(obj.error()));
  ExportFiles out;
  bool saw_files = false;
  OptTime generated;
  char buf[k_key_max];
  for (const dom::key_value_pair field : *obj) {
    const auto lk = lower_key(field.key, buf);
    if (lk == "exportfiles") {
      saw_files = true;
      if (auto st = read_into(field.value, out.urls); !st) {
        return util::fail(ErrorCode::parse, "exportFiles: " + st.error().message);
      }
    } else if (lk == "generatedtime") {
      if (auto st = read_into(field.value, generated); !st) {
        return util::fail(ErrorCode::parse, "generatedTime: " + st.error().message);
      }
    }
  }
  if (!saw_files) return util::fail(ErrorCode::parse, "export response has no exportFiles");
  if (!generated) return util::fail(ErrorCode::parse, "export response has no generatedTime");
  out.generated_time = *generated;
  return out;
}

ApiError decode_api_error(std::string_view body) {
  ApiError out;
  std::string copy(body);
  dom::parser parser;
  auto obj = parse_object(parser, copy);
  if (!obj) return out;
  char buf[k_key_max];
  for (const dom::key_value_pair field : *obj) {
    if (lower_key(field.key, buf) != "error" || field.value.type() != dom::element_type::OBJECT) {
      continue;
    }
    for (const dom::key_value_pair ef : as_object(field.value)) {
      if (ef.value.type() != dom::element_type::STRING) continue;
      const auto lk = lower_key(ef.key, buf);
      if (lk == "code") out.code = std::string(ef.value.get_string().value_unsafe());
      if (lk == "message") out.message = std::string(ef.value.get_string().value_unsafe());
    }
  }
  return out;
}

template <class T>
struct LineDecoder<T>::Impl {
  dom::parser parser;
  std::string buffer;
};

template <class T>
LineDecoder<T>::LineDecoder() : m_impl(std::make_unique<Impl>()) {}

template <class T>
LineDecoder<T>::~LineDecoder() = default;

template <class T>
util::Status LineDecoder<T>::decode(std::string_view line, T& out) {
  std::string& buf = m_impl->buffer;
  if (buf.capacity() < line.size() + simdjson::SIMDJSON_PADDING) {
    buf.reserve(line.size() + line.size() / 2 + simdjson::SIMDJSON_PADDING);
  }
  buf.assign(line.data(), line.size());
  auto obj = parse_object(m_impl->parser, buf);
  if (!obj) return util::fail(obj.error());
  out = T{};
  return decode_checked(*obj, out);
}

#define MDESYNC_INSTANTIATE(T)                                                                 \
  template util::Result<PageInfo> decode_page<T>(std::string&, const Sink<T>&, PageProgress*); \
  template util::Result<T> decode_entity<T>(std::string&);                                     \
  template class LineDecoder<T>;

MDESYNC_INSTANTIATE(Machine)
MDESYNC_INSTANTIATE(Software)
MDESYNC_INSTANTIATE(Distribution)
MDESYNC_INSTANTIATE(MachineReference)
MDESYNC_INSTANTIATE(Vulnerability)
MDESYNC_INSTANTIATE(Recommendation)
MDESYNC_INSTANTIATE(VulnerabilityRow)
MDESYNC_INSTANTIATE(InventoryRow)
MDESYNC_INSTANTIATE(MachineVulnerability)

#undef MDESYNC_INSTANTIATE

}  // namespace mdesync::defender
