#include "sim_util.hpp"

#include <array>
#include <cctype>
#include <cstdio>

namespace mdesim {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

Rng::Rng(std::uint64_t seed) : m_state(mix64(seed) | 1U) {}

std::uint64_t Rng::next() {
  m_state ^= m_state << 13U;
  m_state ^= m_state >> 7U;
  m_state ^= m_state << 17U;
  return mix64(m_state);
}

std::uint64_t Rng::below(std::uint64_t n) {
  return n == 0 ? 0 : next() % n;
}

double Rng::unit() {
  return static_cast<double>(next() >> 11U) * 0x1.0p-53;
}

std::uint64_t hash_str(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 1469598103934665603ULL ^ seed;
  for (char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ULL;
  }
  return mix64(h);
}

std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) {
  return mix64(a ^ mix64(b));
}

namespace {
constexpr std::string_view k_hex = "0123456789abcdef";

void put_hex(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) {
    out.push_back(k_hex[(v >> (static_cast<unsigned>(i) * 4U)) & 15U]);
  }
}

// Howard Hinnant's civil-from-days algorithm.
void civil(std::int64_t days, int& y, unsigned& m, unsigned& d) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const auto yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2 ? 1 : 0));
}

std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Parts {
  int y;
  unsigned mo, d, h, mi, s;
};

Parts split(std::int64_t t) {
  std::int64_t days = t / 86400;
  std::int64_t rem = t % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  Parts p{};
  civil(days, p.y, p.mo, p.d);
  p.h = static_cast<unsigned>(rem / 3600);
  p.mi = static_cast<unsigned>(rem % 3600 / 60);
  p.s = static_cast<unsigned>(rem % 60);
  return p;
}

std::string fmt_time(std::int64_t t, char sep, const char* tail) {
  const Parts p = split(t);
  std::array<char, 48> buf{};
  const int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02u%c%02u:%02u:%02u%s", p.y, p.mo,
                              p.d, sep, p.h, p.mi, p.s, tail);
  return {buf.data(), static_cast<std::size_t>(n)};
}
}  // namespace

std::string hex40(std::uint64_t a, std::uint64_t b) {
  std::string out;
  out.reserve(40);
  put_hex(out, mix64(a), 16);
  put_hex(out, mix64(b), 16);
  put_hex(out, mix64(a ^ (b << 1U)) & 0xffffffffULL, 8);
  return out;
}

std::string guid(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t x = mix64(a);
  const std::uint64_t y = mix64(b ^ 0x5bd1e995ULL);
  std::string out;
  out.reserve(36);
  put_hex(out, x >> 32U, 8);
  out.push_back('-');
  put_hex(out, (x >> 16U) & 0xffffU, 4);
  out.push_back('-');
  put_hex(out, 0x4000U | (x & 0x0fffU), 4);
  out.push_back('-');
  put_hex(out, 0x8000U | ((y >> 48U) & 0x3fffU), 4);
  out.push_back('-');
  put_hex(out, y & 0xffffffffffffULL, 12);
  return out;
}

std::string iso_time(std::int64_t t) {
  return fmt_time(t, 'T', "Z");
}
std::string iso_time_frac(std::int64_t t, int frac7) {
  std::array<char, 16> f{};
  std::snprintf(f.data(), f.size(), ".%07dZ", frac7 % 10000000);
  return fmt_time(t, 'T', f.data());
}
std::string export_time(std::int64_t t) {
  return fmt_time(t, ' ', "");
}
std::string export_time7(std::int64_t t) {
  return fmt_time(t, ' ', ".0000000");
}
std::string aad_time(std::int64_t t) {
  return fmt_time(t, ' ', "Z");
}

std::string time_path(std::int64_t t) {
  const Parts p = split(t);
  std::array<char, 32> buf{};
  const int n =
      std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02u/%02u%02u/", p.y, p.mo, p.d, p.h, p.mi);
  return {buf.data(), static_cast<std::size_t>(n)};
}

std::int64_t floor6h(std::int64_t t) {
  constexpr std::int64_t k = 6 * 3600;
  std::int64_t q = t / k;
  if (t % k < 0) --q;
  return q * k;
}

std::optional<std::int64_t> parse_time(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (std::isdigit(static_cast<unsigned char>(s[i])) == 0) return false;
      out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
  };
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d) || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return std::nullopt;
  }
  std::size_t pos = 10;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    if (!digits(pos + 1, 2, h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, mi)) {
      return std::nullopt;
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(pos + 1, 2, sec)) return std::nullopt;
      pos += 3;
    }
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) != 0) ++pos;
    }
  }
  std::int64_t offset = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      unsigned oh = 0, om = 0;
      if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !digits(pos + 4, 2, om)) {
        return std::nullopt;
      }
      offset = (s[pos] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
      pos += 6;
    }
  }
  if (pos != s.size() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  return days_from_civil(static_cast<int>(y), mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
}

std::string base64(std::string_view in, bool url) {
  static constexpr std::string_view k_std =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr std::string_view k_url =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::string_view table = url ? k_url : k_std;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto v = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U) |
                   static_cast<unsigned char>(in[i + 2]);
    out.push_back(table[(v >> 18U) & 63U]);
    out.push_back(table[(v >> 12U) & 63U]);
    out.push_back(table[(v >> 6U) & 63U]);
    out.push_back(table[v & 63U]);
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U;
    if (rest == 2) v |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U;
    out.push_back(table[(v >> 18U) & 63U]);
    out.push_back(table[(v >> 12U) & 63U]);
    if (rest == 2) out.push_back(table[(v >> 6U) & 63U]);
    if (!url) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6U) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xffU));
    }
  }
  return out;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back("0123456789ABCDEF"[c >> 4U]);
      out.push_back("0123456789ABCDEF"[c & 15U]);
    }
  }
  return out;
}

void json_str(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(k_hex[c >> 4U]);
          out.push_back(k_hex[c & 15U]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace mdesim
