#include "util/time.hpp"

#include <fmt/format.h>

namespace mdesync::util {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view text) : m_text(text) {}

  [[nodiscard]] bool done() const { return m_pos == m_text.size(); }
  [[nodiscard]] char peek() const { return done() ? '\0' : m_text[m_pos]; }
  [[nodiscard]] std::size_t pos() const { return m_pos; }

  bool accept(char c) {
    if (peek() != c || done()) return false;
    ++m_pos;
    return true;
  }

  // Exactly `count` ASCII digits.
  bool digits(int count, int& out) {
    out = 0;
    for (int i = 0; i < count; ++i) {
      const char c = peek();
      if (done() || c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
      ++m_pos;
    }
    return true;
  }

 private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

tl::unexpected<Error> bad(std::string_view text, std::string_view why) {
  return fail(ErrorCode::parse, fmt::format("invalid timestamp '{}': {}", text, why));
}

}  // namespace

Result<Timestamp> parse_timestamp(std::string_view text) {
  using namespace std::chrono;
  Cursor in(text);
  int y = 0, mo = 0, d = 0;
  if (!in.digits(4, y) || !in.accept('-') || !in.digits(2, mo) || !in.accept('-') ||
      !in.digits(2, d)) {
    return bad(text, "expected a date as yyyy-MM-dd");
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return bad(text, "no such calendar date");
  sys_time<microseconds> result{sys_days{ymd}};
  if (in.done()) return result;

  const bool iso = in.accept('T');
  if (!iso && !in.accept(' ')) return bad(text, "expected 'T' or ' ' after the date");
  int h = 0, mi = 0, s = 0;
  if (!in.digits(2, h) || !in.accept(':') || !in.digits(2, mi) || !in.accept(':') ||
      !in.digits(2, s)) {
    return bad(text, "expected a time as HH:mm:ss");
  }
  if (h > 23 || mi > 59 || s > 59) return bad(text, "time of day out of range");
  result += hours{h} + minutes{mi} + seconds{s};

  if (in.accept('.')) {
    int n = 0;
    std::int64_t frac = 0;
    while (!in.done() && in.peek() >= '0' && in.peek() <= '9') {
      int digit = 0;
      in.digits(1, digit);
      if (++n > 7) return bad(text, "more than 7 fractional digits");
      frac = frac * 10 + digit;
    }
    if (n == 0) return bad(text, "expected digits after '.'");
    // Scale to 100 ns units (7 digits), then truncate to microseconds.
    for (int i = n; i < 7; ++i) frac *= 10;
    result += microseconds{frac / 10};
  }

  if (in.done()) return result;  // no zone: UTC implied
  if (in.accept('Z')) {
    if (!in.done()) return bad(text, "unexpected characters after 'Z'");
    return result;
  }
  const char sign = in.peek();
  if (sign != '+' && sign != '-') return bad(text, "expected 'Z' or an offset such as +00:00");
  in.accept(sign);
  int oh = 0, om = 0;
  if (!in.digits(2, oh)) return bad(text, "expected an offset as +HH:mm");
  in.accept(':');
  if (!in.digits(2, om)) return bad(text, "expected an offset as +HH:mm");
  if (!in.done()) return bad(text, "unexpected characters after the offset");
  if (oh > 14 || om > 59) return bad(text, "offset out of range");
  const auto offset = hours{oh} + minutes{om};
  // Local time = UTC + offset, so UTC = local - offset.
  const Timestamp utc = sign == '+' ? result - offset : result + offset;
  // An offset may carry a time at the edge of the calendar out of years 0001-9999, which
  // the fixed-width text form cannot hold (found by tests/fuzz/fuzz_time).
  const year_month_day utc_day{floor<days>(utc)};
  if (utc_day.year() < year{1} || utc_day.year() > year{9999}) {
    return bad(text, "the time in UTC is outside the years 0001-9999");
  }
  return utc;
}

namespace {

std::string format_impl(Timestamp t, bool with_fraction) {
  using namespace std::chrono;
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{t - day_point};
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  tod.hours().count(), tod.minutes().count(), tod.seconds().count());
  if (with_fraction && tod.subseconds().count() != 0) {
    out += fmt::format(".{:06}", tod.subseconds().count());
  }
  out += 'Z';
  return out;
}

}  // namespace

std::string format_timestamp(Timestamp t) {
  return format_impl(t, true);
}

std::string format_timestamp_seconds(Timestamp t) {
  return format_impl(t, false);
}

}  // namespace mdesync::util
