#include "sync/summary.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace mdesync::sync {

std::int64_t other_outcomes(const ObjectSummary& o) {
  return o.merged + o.stale + o.paired + o.reused_without_row;
}

double RunSummary::seconds() const {
  return std::chrono::duration<double>(ended_at - started_at).count();
}

std::string to_json(const RunSummary& s) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : s.objects) {
    objects.push_back({{"object", o.object},
                       {"mode", o.mode},
                       {"outcome", o.outcome},
                       {"error", o.error},
                       {"errorCode", o.error_code},
                       {"read", o.read},
                       {"written", o.written},
                       {"unchanged", o.unchanged},
                       {"reused", o.reused},
                       {"closed", o.closed},
                       {"skipped", o.skipped},
                       {"stale", o.stale},
                       {"merged", o.merged},
                       {"paired", o.paired},
                       {"reusedWithoutRow", o.reused_without_row},
                       {"skippedReasons", o.skipped_reasons},
                       {"diagnostics", o.diagnostics},
                       {"diagnosticSamples", o.diagnostic_samples},
                       {"warnings", o.warnings},
                       {"httpCalls", o.http_calls},
                       {"callsByEndpoint", o.calls_by_endpoint},
                       {"retries", o.retries},
                       {"throttled", o.throttled},
                       {"bytesDownloaded", o.bytes_downloaded},
                       {"seconds", o.seconds},
                       {"downloadSeconds", o.download_seconds},
                       {"decodeSeconds", o.decode_seconds},
                       {"mapSeconds", o.map_seconds},
                       {"storeSeconds", o.store_seconds}});
  }
  nlohmann::json j = {{"runId", s.run_id},
                      {"mode", s.mode},
                      {"outcome", s.outcome},
                      {"error", s.error},
                      {"startedAt", util::format_timestamp(s.started_at)},
                      {"endedAt", util::format_timestamp(s.ended_at)},
                      {"seconds", s.seconds()},
                      {"tokenRequests", s.token_requests},
                      {"httpCalls", s.http_calls},
                      {"retries", s.retries},
                      {"throttled", s.throttled},
                      {"objects", objects}};
  return j.dump();
}

namespace {

std::string human_bytes(std::uint64_t b) {
  if (b >= 1024ULL * 1024ULL) return fmt::format("{:.1f} MB", static_cast<double>(b) / 1048576.0);
  if (b >= 1024ULL) return fmt::format("{:.1f} kB", static_cast<double>(b) / 1024.0);
  return fmt::format("{} B", b);
}

}  // namespace

std::string to_table(const RunSummary& s) {
  std::string out =
      fmt::format("sync run {} ({}): {} in {:.1f} s, {} HTTP calls, {} retries, {} 429s\n",
                  s.run_id, s.mode, s.outcome, s.seconds(), s.http_calls, s.retries, s.throttled);
  out += fmt::format(
      "{:<32} {:<11} {:>10} {:>9} {:>10} {:>8} {:>8} {:>7} {:>6} {:>7} {:>5} {:>10} "
      "{:>7}\n",
      "object", "outcome", "read", "written", "unchanged", "closed", "skipped", "other", "calls",
      "retries", "429s", "download", "seconds");
  for (const auto& o : s.objects) {
    out += fmt::format(
        "{:<32} {:<11} {:>10} {:>9} {:>10} {:>8} {:>8} {:>7} {:>6} {:>7} {:>5} {:>10} {:>7.1f}\n",
        o.object + " (" + o.mode + ")", o.outcome, o.read, o.written, o.unchanged, o.closed,
        o.skipped, other_outcomes(o), o.http_calls, o.retries, o.throttled,
        human_bytes(o.bytes_downloaded), o.seconds);
  }
  for (const auto& o : s.objects) {
    for (const auto& [reason, n] : o.skipped_reasons) {
      out += fmt::format("  {}: skipped {} ({})\n", o.object, n, reason);
    }
    // The parts of "other", each named.
    if (o.merged > 0) {
      out += fmt::format("  {}: {} rows merged into the row before them (same uid)\n", o.object,
                         o.merged);
    }
    if (o.stale > 0) out += fmt::format("  {}: {} stale delta events ignored\n", o.object, o.stale);
    if (o.paired > 0) {
      out += fmt::format(
          "  {}: {} Fixed delta events ignored (paired with a New event at the same time)\n",
          o.object, o.paired);
    }
    if (o.reused > 0) {
      out += fmt::format(
          "  {}: {} of the rows read were unchanged since the last read and not decoded\n",
          o.object, o.reused);
    }
    if (o.reused_without_row > 0) {
      out += fmt::format(
          "  {}: {} of those not decoded made no row of their own when last decoded (skipped, "
          "filtered out or merged)\n",
          o.object, o.reused_without_row);
    }
    for (const auto& [kind, n] : o.diagnostics) {
      out += fmt::format("  {}: {} x {}\n", o.object, n, kind);
    }
    for (const auto& w : o.warnings) out += fmt::format("  {}: warning: {}\n", o.object, w);
    if (!o.error.empty()) out += fmt::format("  {}: error: {}\n", o.object, o.error);
  }
  if (!s.error.empty()) out += fmt::format("error: {}\n", s.error);
  return out;
}

}  // namespace mdesync::sync
