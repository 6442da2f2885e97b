// render_html (src/report/html.cpp) on synthetic figures: the markup contract the browser
// test relies on (data-chart / data-bar / data-table counts), escaping, the policy that
// forbids every fetch, number formatting, and the page of a store without data. One test
// writes the rendered sample page to the build folder (report-sample.html) for a look in a
// browser.

#include "report/html.hpp"

#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "report/svg.hpp"

namespace mdesync::report {
namespace {

using namespace std::chrono;

Timestamp utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return Timestamp{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

// A deterministic wobble in -1..1.
double wobble(std::size_t i, double phase) {
  return std::sin(static_cast<double>(i) * 0.7 + phase) * 0.6 +
         std::sin(static_cast<double>(i) * 0.23 + phase * 2) * 0.4;
}

std::int64_t around(double base, double spread, std::size_t i, double phase) {
  return static_cast<std::int64_t>(std::llround(base + spread * wobble(i, phase)));
}

const std::string k_evil_host = "<script>alert('pwn')</script>";

std::string fmt_host(std::size_t i) {
  static const char* const k_prefix[] = {"srv-sql-", "ws-hq-", "fin-eu-lt-", "build-agent-"};
  return k_prefix[i % 4] + std::to_string(1000 + i * 37) + ".corp.contoso.com";
}

// A tenant of about 2,300 devices over 90 days: the backlog drifting down.
Figures sample() {
  Figures f;
  Header& h = f.header;
  h.tenant = "Contoso Ltd. & Partners";
  h.store = "postgresql://mdesync@db01.contoso.internal:5432/mdesync";
  h.generated_at = utc(2025, 6, 2, 7, 42);
  h.as_of = utc(2025, 6, 2, 6, 0);
  h.days = 90;
  h.window_start = utc(2025, 3, 4);
  h.window_end = *h.as_of;
  h.flow_bucket = "week";
  h.stale_after_hours = 48;
  h.history_start = utc(2025, 1, 14);
  h.objects = {
      {"host", "delta", utc(2025, 6, 2, 6, 4), utc(2025, 6, 2, 6, 0), 1.6, false},
      {"package", "full", utc(2025, 5, 29, 22, 10), utc(2025, 5, 29, 22, 0), 81.5, true},
      {"installed_package", "delta", utc(2025, 6, 2, 6, 9), utc(2025, 6, 2, 6, 0), 1.55, false},
      {"vulnerability", "delta", utc(2025, 6, 2, 6, 12), utc(2025, 6, 2, 6, 0), 1.5, false},
      {"finding", "delta", utc(2025, 6, 2, 6, 31), utc(2025, 6, 2, 6, 0), 1.2, false},
  };
  h.warnings = {
      "The package data is 3.4 days old (last good sync 2025-05-29 22:10 UTC); the stale "
      "threshold is 48 hours.",
      "The last sync run (#418, 2025-06-02 05:00 UTC) failed: the Defender API answered 503 "
      "for the software inventory export.",
  };

  // Trend: 91 days, one per day of the window.
  const sys_days first = sys_days{year{2025} / month{3} / day{4}};
  for (std::size_t i = 0; i <= 90; ++i) {
    DayOpen d;
    d.date = day_text(Timestamp{first + days{i}});
    const double t = static_cast<double>(i) / 90.0;
    d.open = {around(420 - 170 * t, 18, i, 0.1), around(3150 - 760 * t, 90, i, 1.3),
              around(9050 - 900 * t, 160, i, 2.1), around(2140 - 120 * t, 40, i, 3.7),
              around(42 - 6 * t, 3, i, 4.2)};
    f.trend.open.push_back(d);
  }
  for (std::size_t w = 0; w < 13; ++w) {
    FlowBucket b;
    b.start = day_text(Timestamp{first + days{7 * w}});
    b.opened = around(640, 160, w, 0.5);
    b.fixed = around(760, 180, w, 1.9);
    b.reopened = around(38, 20, w, 2.7);
    f.trend.flow.push_back(b);
  }
  f.trend.flow[4].reopened = 0;

  const BySeverity last = f.trend.open.back().open;
  Headline& hl = f.headline;
  hl.open = last;
  for (const std::int64_t v : last) hl.open_total += v;
  hl.with_exploit = 1874;
  hl.exploit_verified = 612;
  hl.exploit_in_kit = 97;
  hl.hosts_with_open_critical = 143;
  hl.hosts_with_open = 2291;
  hl.median_age_days = 47.26;
  hl.within_deadline = 9321;
  hl.past_deadline = hl.open_total - hl.open[4] - hl.within_deadline;
  hl.within_deadline_share = static_cast<double>(hl.within_deadline) /
                             static_cast<double>(hl.within_deadline + hl.past_deadline);

  Remediation& r = f.remediation;
  r.fixed = {512, 3120, 5634, 1210, 18};
  r.mean_days = {13.84, 26.1, 61.37, 98.2, 40.0};
  r.median_days = {9.5, 21.04, 44.9, 77.0, std::nullopt};
  r.fixed_total = 512 + 3120 + 5634 + 1210 + 18;
  r.mean_days_total = 47.6;
  r.median_days_total = 31.2;

  Ageing& a = f.ageing;
  a.buckets = {{{31, 260, 810, 120, 4},
                {27, 240, 690, 130, 3},
                {40, 320, 1100, 210, 5},
                {88, 760, 2750, 540, 10},
                {40, 520, 1900, 480, 8},
                {26, 310, 1050, 540, 6}}};
  a.within = {58, 1040, 6300, 1923, 0};
  a.past = {194, 1370, 2000, 97, 0};
  const char* cves[] = {"CVE-2024-38063", "CVE-2024-30078", "CVE-2023-4863",
                        "CVE-2024-21412", "CVE-2023-36884", "CVE-2024-3400"};
  for (std::size_t i = 0; i < 6; ++i) {
    Ageing::Finding x;
    x.cve = cves[i];
    x.host = i == 2 ? k_evil_host : fmt_host(i);
    x.host_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d" + std::to_string(i);
    x.group = i % 2 == 0 ? "Servers - Datacenter" : "Finance \"EU\"";
    x.software = "microsoft windows_server_2019 10.0.17763.5329";
    x.opened = utc(2024, 10, static_cast<unsigned>(3 + i), 4, 0);
    x.age_days = 242.1 - static_cast<double>(i) * 1.4;
    a.oldest_critical.push_back(x);
  }

  for (std::size_t i = 0; i < 20; ++i) {
    TopVulnerability v;
    v.cve = "CVE-2025-" + std::to_string(21300 + i * 37);
    v.severity = std::string(k_severities[i < 4 ? 0 : (i < 13 ? 1 : 2)]);
    v.cvss = i == 7 ? std::nullopt : std::optional<double>(9.8 - static_cast<double>(i) * 0.2);
    v.epss = i == 9 ? std::nullopt : std::optional<double>(0.9731 / static_cast<double>(i + 1));
    if (i == 15) v.epss = 0.00021;
    v.exploitability = i % 5 == 0   ? "Exploit is in kit"
                       : i % 3 == 0 ? "Exploit is verified"
                       : i % 2 == 0 ? "Exploit is public"
                                    : "No known exploits";
    v.patch_available = i == 11 ? std::nullopt : std::optional<bool>(i != 6);
    v.recommendation = i % 4 == 0 ? "Update Microsoft Windows Server 2019 to KB5040430 (July "
                                    "2024 cumulative update)"
                                  : "Update Google Chrome to version 126.0.6478.126 or later";
    v.hosts = 1480 - static_cast<std::int64_t>(i) * 61;
    v.open = v.hosts + static_cast<std::int64_t>(i % 3) * 40;
    v.name = i == 1 ? "Microsoft Edge (Chromium-based) <= 124 & WebView2 Remote Code "
                      "Execution Vulnerability in the \"V8\" JavaScript engine"
                    : "Windows TCP/IP Remote Code Execution Vulnerability affecting IPv6 "
                      "packet processing on all supported editions";
    f.top_vulnerabilities.push_back(v);
  }

  const char* groups[] = {"Servers - Datacenter", "Workstations - HQ", "Finance \"EU\"",
                          "(no group)"};
  const char* os[] = {"Windows Server 2019", "Windows 11 23H2", "Windows 10 22H2",
                      "Ubuntu 22.04 LTS"};
  for (std::size_t i = 0; i < 20; ++i) {
    TopHost th;
    th.id = "f3e2d1c0b9a89786756453423120f1e2d3c4b5a" + std::to_string(i % 10);
    th.name = i == 3 ? k_evil_host : fmt_host(i);
    th.group = groups[i % 4];
    th.os = os[i % 4];
    th.exposure_level = i < 6 ? "High" : (i < 15 ? "Medium" : "Low");
    th.risk = i < 4 ? "High" : (i < 12 ? "Medium" : "None");
    th.critical = 14 - static_cast<std::int64_t>(i / 2);
    th.high = 61 - static_cast<std::int64_t>(i) * 2;
    th.open = 212 - static_cast<std::int64_t>(i) * 6;
    f.top_hosts.push_back(th);
  }

  f.groups = {
      {"Servers - Datacenter", 412, {{118, 980, 2510, 410, 9}}, 1150, 3050, 24.6},
      {"Workstations - HQ", 1388, {{74, 1210, 4620, 1240, 20}}, 1670, 5120, 37.9},
      {"Finance \"EU\"", 296, {{41, 180, 890, 260, 5}}, 640, 1020, 52.3},
      {"(no group)", 195, {{19, 70, 190, 110, 2}}, 120, 304, std::nullopt},
  };

  const char* vendors[] = {"microsoft", "google", "mozilla", "oracle", "adobe", "7-zip"};
  const char* names[] = {"windows_server_2019", "chrome", "firefox", "jre",
                         "acrobat_reader_dc",   "7-zip"};
  for (std::size_t i = 0; i < 12; ++i) {
    SoftwareFigures s;
    s.vendor = vendors[i % 6];
    s.name = std::string(names[i % 6]) + (i >= 6 ? "_esr" : "");
    s.open = 2840 - static_cast<std::int64_t>(i) * 190;
    s.critical = i < 5 ? 60 - static_cast<std::int64_t>(i) * 9 : 0;
    s.high = 640 - static_cast<std::int64_t>(i) * 40;
    s.hosts = 1900 - static_cast<std::int64_t>(i) * 120;
    s.recommendation = i == 3 ? "" : "Update to the latest version";
    f.software.push_back(s);
  }

  for (std::size_t i = 0; i < 12; ++i) {
    RunFigures run;
    run.id = 418 - static_cast<std::int64_t>(i);
    run.mode = i % 6 == 5 ? "full" : "delta";
    run.outcome = i == 0 ? "failed" : (i == 4 ? "partial" : "success");
    run.started_at = utc(2025, 6, 2, 5, 0) - hours{6 * i};
    run.seconds = i == 0 ? 41.2 : (run.mode == "full" ? 1834.7 : 212.4 + static_cast<double>(i));
    run.calls = run.mode == "full" ? 4210 : 118 + static_cast<std::int64_t>(i);
    run.written = run.mode == "full" ? 1423208 : 18234 - static_cast<std::int64_t>(i) * 300;
    run.closed = i == 0 ? 0 : 412 + static_cast<std::int64_t>(i);
    f.runs.push_back(run);
  }
  return f;
}

Figures no_data() {
  Figures f;
  f.header.tenant = "Contoso Ltd.";
  f.header.store = "sqlite:/var/lib/mdesync/contoso.db";
  f.header.generated_at = utc(2025, 6, 2, 7, 42);
  f.header.no_data = true;
  f.header.flow_bucket = "day";
  f.header.warnings = {"No sync has stored any data yet."};
  return f;
}

// --- markup helpers ---------------------------------------------------------------------

// Whether `word` occurs in `text` as a word (not inside "tenant").
bool has_word(std::string_view text, std::string_view word) {
  const auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t at = text.find(word); at != std::string_view::npos;
       at = text.find(word, at + 1)) {
    const bool start = at == 0 || !letter(text[at - 1]);
    const bool end = at + word.size() == text.size() || !letter(text[at + word.size()]);
    if (start && end) return true;
  }
  return false;
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

// The element that starts with the tag containing `attribute` up to its closing tag
// (elements of that name are not nested in the page).
std::string element_with(std::string_view html, std::string_view tag, std::string_view attribute) {
  const std::size_t at = html.find(attribute);
  if (at == std::string_view::npos) return {};
  const std::size_t open = html.rfind("<" + std::string(tag), at);
  const std::size_t close = html.find("</" + std::string(tag) + ">", at);
  if (open == std::string_view::npos || close == std::string_view::npos) return {};
  return std::string(html.substr(open, close - open));
}

std::string chart(std::string_view html, std::string_view name) {
  return element_with(html, "svg", "data-chart=\"" + std::string(name) + "\"");
}

std::string table(std::string_view html, std::string_view name) {
  return element_with(html, "table", "data-table=\"" + std::string(name) + "\"");
}

std::string tbody(std::string_view table_html) {
  const std::size_t open = table_html.find("<tbody>");
  const std::size_t close = table_html.find("</tbody>");
  if (open == std::string_view::npos || close == std::string_view::npos) return {};
  return std::string(table_html.substr(open, close - open));
}

std::size_t body_rows(std::string_view html, std::string_view name) {
  return occurrences(tbody(table(html, name)), "<tr");
}

// The text of the first cell of each body row.
std::vector<std::string> first_cells(std::string_view html, std::string_view name) {
  const std::string body = tbody(table(html, name));
  std::vector<std::string> out;
  for (std::size_t at = body.find("<tr"); at != std::string::npos; at = body.find("<tr", at + 3)) {
    const std::size_t td = body.find("<td", at);
    const std::size_t start = body.find('>', td) + 1;
    out.push_back(body.substr(start, body.find("</td>", start) - start));
  }
  return out;
}

class RenderHtml : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_figures = new Figures(sample());
    s_html = new std::string(render_html(*s_figures));
  }
  static void TearDownTestSuite() {
    delete s_html;
    delete s_figures;
  }
  static const Figures& figures() { return *s_figures; }
  static const std::string& html() { return *s_html; }

 private:
  static Figures* s_figures;
  static std::string* s_html;
};
Figures* RenderHtml::s_figures = nullptr;
std::string* RenderHtml::s_html = nullptr;

TEST_F(RenderHtml, WritesTheSamplePagesForALook) {
  std::ofstream(MDESYNC_BINARY_DIR "/report-sample.html", std::ios::binary) << html();
  std::ofstream(MDESYNC_BINARY_DIR "/report-sample-nodata.html", std::ios::binary)
      << render_html(no_data());
  std::ifstream back(MDESYNC_BINARY_DIR "/report-sample.html", std::ios::binary);
  EXPECT_TRUE(back.good());
}

TEST_F(RenderHtml, IsOneHtml5DocumentWithAPolicyThatForbidsEveryFetch) {
  EXPECT_EQ(html().rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(html().find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(html().find("<meta charset=\"utf-8\">"), std::string::npos);
  const std::string csp =
      R"(<meta http-equiv="Content-Security-Policy" content="default-src 'none'; )";
  ASSERT_NE(html().find(csp), std::string::npos);
  // The policy comes before any style or script.
  EXPECT_LT(html().find(csp), html().find("<style>"));
  EXPECT_EQ(occurrences(html(), "<style"), 1U);
  EXPECT_EQ(occurrences(html(), "<script"), 1U);
  EXPECT_EQ(occurrences(html(), "</html>"), 1U);
  // Nothing that could be fetched: no URL scheme, no source or stylesheet reference.
  EXPECT_EQ(html().find("http://"), std::string::npos);
  EXPECT_EQ(html().find("https://"), std::string::npos);
  EXPECT_EQ(html().find("//fonts"), std::string::npos);
  EXPECT_EQ(html().find(" src="), std::string::npos);
  EXPECT_EQ(html().find("@import"), std::string::npos);
  EXPECT_EQ(html().find("url(http"), std::string::npos);
  EXPECT_EQ(html().find("rel=\"stylesheet\""), std::string::npos);
  EXPECT_EQ(html().find("xmlns"), std::string::npos);
  // A print stylesheet.
  EXPECT_NE(html().find("@media print{"), std::string::npos);
}

TEST_F(RenderHtml, HasItsSectionsInOrder) {
  std::size_t last = 0;
  for (const std::string_view id :
       {"header", "headline", "trend", "remediation", "ageing", "top-vulnerabilities", "top-hosts",
        "groups", "software", "runs"}) {
    const std::size_t at = html().find("<section id=\"" + std::string(id) + "\"");
    ASSERT_NE(at, std::string::npos) << id;
    EXPECT_GT(at, last) << id;
    last = at;
  }
  EXPECT_GT(html().find("<footer"), last);
  EXPECT_NE(html().find("Generated by mdesync report"), std::string::npos);
}

TEST_F(RenderHtml, EscapesEveryStringFromTheData) {
  // A host named <script>...: in the top hosts and in the oldest criticals.
  EXPECT_EQ(html().find(k_evil_host), std::string::npos);
  EXPECT_EQ(occurrences(html(), "&lt;script&gt;alert(&#39;pwn&#39;)&lt;/script&gt;"), 2U);
  EXPECT_EQ(html().find("alert('pwn')"), std::string::npos);
  EXPECT_NE(html().find("Contoso Ltd. &amp; Partners"), std::string::npos);
  EXPECT_EQ(html().find("Contoso Ltd. & Partners"), std::string::npos);
  EXPECT_NE(html().find("(Chromium-based) &lt;= 124 &amp; WebView2"), std::string::npos);
  EXPECT_NE(html().find("the &quot;V8&quot; JavaScript engine"), std::string::npos);
  // In attributes too: the group chart's categories.
  EXPECT_NE(html().find("data-category=\"Finance &quot;EU&quot;\""), std::string::npos);
  EXPECT_EQ(html().find("Finance \"EU\""), std::string::npos);
}

TEST_F(RenderHtml, ChartsCarryTheirNameRoleAndLabel) {
  for (const std::string_view name :
       {"severity-mix", "trend-open", "trend-flow", "remediation", "ageing", "groups"}) {
    const std::string svg = chart(html(), name);
    ASSERT_FALSE(svg.empty()) << name;
    const std::string tag = svg.substr(0, svg.find('>'));
    EXPECT_NE(tag.find("role=\"img\""), std::string::npos) << name;
    EXPECT_NE(tag.find("aria-label=\""), std::string::npos) << name;
    EXPECT_EQ(tag.find("aria-label=\"\""), std::string::npos) << name;
  }
  EXPECT_EQ(occurrences(html(), "<svg"), 6U);
  EXPECT_EQ(occurrences(html(), "<svg"), occurrences(html(), "data-chart="));
}

TEST_F(RenderHtml, TrendOpenHasOneAreaPerSeverityWithOnePointPerDay) {
  const std::string svg = chart(html(), "trend-open");
  EXPECT_EQ(occurrences(svg, "<path"), 5U);
  EXPECT_EQ(occurrences(svg, "<polyline"), 0U);
  EXPECT_EQ(occurrences(svg, "data-bar"), 0U);
  for (const std::string_view s : k_severities) {
    EXPECT_EQ(occurrences(svg, "data-series=\"" + std::string(s) + "\" data-points=\"91\""), 1U)
        << s;
  }
  // The last day's values are labelled at the right edge, with separators.
  EXPECT_NE(svg.find(svg::count(figures().trend.open.back().open[2])), std::string::npos);
}

TEST_F(RenderHtml, BarChartsHaveOneBarPerFigure) {
  EXPECT_EQ(occurrences(chart(html(), "trend-flow"), "<rect data-bar"),
            3 * figures().trend.flow.size());
  EXPECT_EQ(occurrences(chart(html(), "trend-flow"), "data-bar"), 3 * figures().trend.flow.size());
  // A zero bucket is still drawn, with no height.
  EXPECT_NE(chart(html(), "trend-flow").find("height=\"0\" fill=\"url(#trend-flow-hatch-2)\""),
            std::string::npos);
  EXPECT_EQ(occurrences(chart(html(), "remediation"), "<rect data-bar"), 5U);
  EXPECT_EQ(occurrences(chart(html(), "ageing"), "<g data-bar"), 6U);
  EXPECT_EQ(occurrences(chart(html(), "ageing"), "data-bar"), 6U);
  EXPECT_EQ(occurrences(chart(html(), "groups"), "<g data-bar"), figures().groups.size());
  EXPECT_EQ(occurrences(chart(html(), "groups"), "data-bar"), figures().groups.size());
}

TEST_F(RenderHtml, TablesHaveOneBodyRowPerFigure) {
  const Figures& f = figures();
  EXPECT_EQ(body_rows(html(), "objects"), f.header.objects.size());
  EXPECT_EQ(body_rows(html(), "top-vulnerabilities"), f.top_vulnerabilities.size());
  EXPECT_EQ(body_rows(html(), "top-hosts"), f.top_hosts.size());
  EXPECT_EQ(body_rows(html(), "groups"), f.groups.size());
  EXPECT_EQ(body_rows(html(), "software"), f.software.size());
  EXPECT_EQ(body_rows(html(), "runs"), f.runs.size());
  EXPECT_EQ(body_rows(html(), "oldest-critical"), f.ageing.oldest_critical.size());
  EXPECT_EQ(body_rows(html(), "remediation"), 5U);
  EXPECT_EQ(body_rows(html(), "ageing-deadlines"), 5U);
  EXPECT_EQ(body_rows(html(), "ageing-buckets"), 6U);
  EXPECT_EQ(body_rows(html(), "trend-open"), f.trend.open.size());
  EXPECT_EQ(body_rows(html(), "trend-flow"), f.trend.flow.size());
  EXPECT_EQ(occurrences(html(), "data-table="), 12U);
}

TEST_F(RenderHtml, FirstCellOfEachRowIsItsKey) {
  const Figures& f = figures();
  const auto runs = first_cells(html(), "runs");
  ASSERT_EQ(runs.size(), f.runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i], std::to_string(f.runs[i].id));
  const auto cves = first_cells(html(), "top-vulnerabilities");
  ASSERT_EQ(cves.size(), f.top_vulnerabilities.size());
  for (std::size_t i = 0; i < cves.size(); ++i) EXPECT_EQ(cves[i], f.top_vulnerabilities[i].cve);
  const auto hosts = first_cells(html(), "top-hosts");
  ASSERT_EQ(hosts.size(), f.top_hosts.size());
  EXPECT_EQ(hosts[0], f.top_hosts[0].name);
  EXPECT_EQ(hosts[3], svg::escape(k_evil_host));
  const auto sev = first_cells(html(), "remediation");
  ASSERT_EQ(sev.size(), 5U);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(sev[i], k_severities[i]);
  EXPECT_EQ(first_cells(html(), "ageing-deadlines"), sev);
  const auto days = first_cells(html(), "trend-open");
  ASSERT_EQ(days.size(), f.trend.open.size());
  EXPECT_EQ(days.front(), f.trend.open.front().date);  // in the figures' order
  EXPECT_EQ(days.back(), f.trend.open.back().date);
  const auto objects = first_cells(html(), "objects");
  ASSERT_EQ(objects.size(), f.header.objects.size());
  EXPECT_EQ(objects[1], "package");
  EXPECT_EQ(first_cells(html(), "groups").back(), "(no group)");
  EXPECT_EQ(first_cells(html(), "software").front(), "windows_server_2019");
  EXPECT_EQ(first_cells(html(), "oldest-critical").front(), "CVE-2024-38063");
}

TEST_F(RenderHtml, FormatsNumbersWithSeparatorsOneDecimalAndADashForUnknown) {
  // Rows written by a full run.
  EXPECT_NE(html().find(">1,423,208<"), std::string::npos);
  const std::string total = svg::count(figures().headline.open_total);
  EXPECT_NE(total.find(','), std::string::npos);
  EXPECT_NE(html().find("<p class=\"big\">" + total + "</p>"), std::string::npos);
  // Days and percentages with one decimal.
  EXPECT_NE(html().find(">47.3<span class=\"unit\">days</span>"), std::string::npos);
  EXPECT_NE(table(html(), "remediation").find(">13.8<"), std::string::npos);
  EXPECT_NE(table(html(), "remediation").find(">21.0<"), std::string::npos);
  EXPECT_NE(table(html(), "top-vulnerabilities").find(">97.3%<"), std::string::npos);
  EXPECT_NE(table(html(), "top-vulnerabilities").find(">&lt;0.1%<"), std::string::npos);
  // Unknown values: an en dash, never nan or a made-up zero.
  EXPECT_NE(table(html(), "remediation").find("<td class=\"num\">\u2013</td></tr>"),
            std::string::npos);  // Unknown's median
  EXPECT_NE(table(html(), "groups").find("<td class=\"num\">\u2013</td></tr>"), std::string::npos);
  EXPECT_FALSE(has_word(html(), "nan"));
  EXPECT_FALSE(has_word(html(), "inf"));
  EXPECT_FALSE(has_word(html(), "NaN"));
}

TEST_F(RenderHtml, ShowsWarningsAsAlertsAndTheHistoryStart) {
  EXPECT_EQ(occurrences(html(), "role=\"alert\""), figures().header.warnings.size());
  EXPECT_NE(html().find("the Defender API answered 503"), std::string::npos);
  EXPECT_NE(html().find("class=\"alert danger\""), std::string::npos);
  // The history starts before the window: no note.
  EXPECT_EQ(html().find("history starts"), std::string::npos);

  Figures f = figures();
  f.header.history_start = utc(2025, 4, 20);
  f.trend.open.erase(f.trend.open.begin(), f.trend.open.begin() + 47);
  const std::string page = render_html(f);
  EXPECT_NE(page.find("history starts 2025-04-20."), std::string::npos);
  const std::string svg = chart(page, "trend-open");
  EXPECT_EQ(occurrences(svg, "data-points=\"44\""), 5U);
  EXPECT_EQ(body_rows(page, "trend-open"), 44U);
}

// Daily flow buckets over a short history, many device groups with long names, medians past
// their deadline: the counts hold, and the page is written for a look too.
TEST(RenderHtmlVariant, DailyBucketsManyGroupsAndLateRemediation) {
  Figures f = sample();
  f.header.flow_bucket = "day";
  f.header.history_start = utc(2025, 4, 20);
  f.header.groups = {"Servers - Datacenter", "Workstations - HQ & Branch <EMEA>"};
  f.header.warnings.clear();
  f.trend.open.erase(f.trend.open.begin(), f.trend.open.begin() + 47);
  f.trend.flow.clear();
  for (std::size_t i = 0; i < f.trend.open.size(); ++i) {
    FlowBucket b;
    b.start = f.trend.open[i].date;
    b.opened = around(90, 60, i, 0.3);
    b.fixed = i % 7 == 5 ? 0 : around(110, 70, i, 1.1);
    b.reopened = around(5, 5, i, 2.2);
    f.trend.flow.push_back(b);
  }
  f.remediation.median_days = {19.5, 41.0, 44.9, 77.0, 12.0};
  f.groups.clear();
  for (std::size_t i = 0; i < 14; ++i) {
    GroupFigures g;
    g.name = i == 3 ? "Workstations - HQ & Branch <EMEA> - Finance and Controlling department"
                    : "Group " + std::to_string(i + 1) + " - Site " +
                          std::string(1, static_cast<char>('A' + i % 5));
    g.hosts = 120 + static_cast<std::int64_t>(i) * 17;
    g.open = {20 - static_cast<std::int64_t>(i), 300 - static_cast<std::int64_t>(i) * 9,
              900 - static_cast<std::int64_t>(i) * 40, 200, static_cast<std::int64_t>(i % 3)};
    g.past_deadline = 100;
    g.fixed = 400;
    g.mean_days_to_remediate = 30.5;
    f.groups.push_back(g);
  }
  const std::string page = render_html(f);
  std::ofstream(MDESYNC_BINARY_DIR "/report-sample-variant.html", std::ios::binary) << page;
  EXPECT_EQ(occurrences(chart(page, "trend-flow"), "<rect data-bar"), 3 * f.trend.flow.size());
  EXPECT_EQ(occurrences(chart(page, "groups"), "<g data-bar"), 14U);
  EXPECT_EQ(body_rows(page, "groups"), 14U);
  EXPECT_EQ(body_rows(page, "trend-flow"), f.trend.flow.size());
  EXPECT_NE(page.find("over the 15-day deadline"), std::string::npos);
  EXPECT_NE(page.find("over the 30-day deadline"), std::string::npos);
  EXPECT_NE(page.find("Workstations - HQ &amp; Branch &lt;EMEA&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<EMEA>"), std::string::npos);
  EXPECT_EQ(page.find("The whole tenant"), std::string::npos);
}

TEST(RenderHtmlNoData, SaysNoSyncHasRunAndHowToRunOne) {
  const std::string page = render_html(no_data());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  EXPECT_NE(page.find("No sync has run yet"), std::string::npos);
  EXPECT_NE(page.find("<code>mdesync sync</code>"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy"), std::string::npos);
  // No data sections and no charts; the header and the runs remain.
  EXPECT_NE(page.find("<section id=\"header\""), std::string::npos);
  EXPECT_NE(page.find("<section id=\"runs\""), std::string::npos);
  for (const std::string_view id : {"headline", "trend", "remediation", "ageing",
                                    "top-vulnerabilities", "top-hosts", "groups", "software"}) {
    EXPECT_EQ(page.find("<section id=\"" + std::string(id) + "\""), std::string::npos) << id;
  }
  EXPECT_EQ(page.find("<svg"), std::string::npos);
  EXPECT_EQ(occurrences(page, "role=\"alert\""), 1U);
  // Unknown times are a dash, not the epoch.
  EXPECT_EQ(page.find("1970"), std::string::npos);
  EXPECT_EQ(body_rows(page, "objects"), 0U);
  EXPECT_NE(table(page, "objects").find("<tfoot>"), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

TEST(RenderHtmlEmpty, EmptyListsKeepTheirTablesWithANoneMessage) {
  Figures f = sample();
  f.top_vulnerabilities.clear();
  f.top_hosts.clear();
  f.groups.clear();
  f.software.clear();
  f.runs.clear();
  f.ageing.oldest_critical.clear();
  f.trend.open.clear();
  f.trend.flow.clear();
  f.header.objects.clear();
  const std::string page = render_html(f);
  for (const std::string_view name :
       {"top-vulnerabilities", "top-hosts", "groups", "software", "runs", "oldest-critical",
        "trend-open", "trend-flow", "objects"}) {
    const std::string t = table(page, name);
    ASSERT_FALSE(t.empty()) << name;
    EXPECT_NE(t.find("<tbody></tbody>"), std::string::npos) << name;
    EXPECT_NE(t.find("<tfoot><tr><td class=\"none\""), std::string::npos) << name;
  }
  EXPECT_EQ(occurrences(chart(page, "trend-open"), "data-points=\"0\""), 5U);
  EXPECT_EQ(occurrences(chart(page, "trend-flow"), "data-bar"), 0U);
  EXPECT_EQ(occurrences(chart(page, "groups"), "data-bar"), 0U);
  EXPECT_EQ(occurrences(chart(page, "ageing"), "<g data-bar"), 6U);
  EXPECT_FALSE(has_word(page, "nan"));
}

TEST(RenderHtmlEdge, NonFiniteAndSingleDayFiguresStayReadable) {
  Figures f = sample();
  f.headline.median_age_days = std::numeric_limits<double>::quiet_NaN();
  f.headline.within_deadline_share = std::nullopt;
  f.remediation.median_days[0] = std::numeric_limits<double>::infinity();
  f.trend.open.resize(1);
  const std::string page = render_html(f);
  EXPECT_FALSE(has_word(page, "nan"));
  EXPECT_FALSE(has_word(page, "inf"));
  EXPECT_EQ(occurrences(chart(page, "trend-open"), "data-points=\"1\""), 5U);
  EXPECT_NE(page.find("<p class=\"big\">\u2013</p>"), std::string::npos);
}

TEST(SvgText, CountsGetThousandsSeparators) {
  EXPECT_EQ(svg::count(0), "0");
  EXPECT_EQ(svg::count(999), "999");
  EXPECT_EQ(svg::count(1000), "1,000");
  EXPECT_EQ(svg::count(1423208), "1,423,208");
  EXPECT_EQ(svg::count(-1234567), "-1,234,567");
  EXPECT_EQ(svg::count(std::numeric_limits<std::int64_t>::min()), "-9,223,372,036,854,775,808");
}

TEST(SvgText, NumbersRoundToTheirDecimals) {
  EXPECT_EQ(svg::number(12.345, 1), "12.3");
  EXPECT_EQ(svg::number(1234.56, 1), "1,234.6");
  EXPECT_EQ(svg::number(-0.04, 1), "0.0");
  EXPECT_EQ(svg::number(std::nan(""), 1), "\u2013");
  EXPECT_EQ(svg::axis_number(2500), "2,500");
  EXPECT_EQ(svg::axis_number(25000), "25k");
  EXPECT_EQ(svg::axis_number(1500000), "1.5M");
}

TEST(SvgText, EscapesMarkupAndRepairsBrokenUtf8) {
  EXPECT_EQ(svg::escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(svg::escape("Zürich – 東京"), "Zürich – 東京");
  EXPECT_EQ(svg::escape(std::string("a\xff"
                                    "b\x01"
                                    "c",
                                    5)),
            "a\uFFFDb\uFFFDc");
  EXPECT_EQ(svg::escape("\xe2\x82"), "\uFFFD\uFFFD");  // a cut sequence
  EXPECT_EQ(svg::truncate("Workstations - Headquarters", 12), "Workstation\u2026");
  EXPECT_EQ(svg::truncate("東京東京", 3), "東京\u2026");
  EXPECT_EQ(svg::truncate("short", 12), "short");
}

TEST(SvgText, DatesAndTimes) {
  EXPECT_EQ(svg::short_date("2025-03-04"), "Mar 4");
  EXPECT_EQ(svg::short_date("2025-12-31"), "Dec 31");
  EXPECT_EQ(svg::short_date("soon"), "soon");
  EXPECT_EQ(svg::time_text(utc(2025, 6, 2, 7, 5)), "2025-06-02 07:05 UTC");
}

}  // namespace
}  // namespace mdesync::report
