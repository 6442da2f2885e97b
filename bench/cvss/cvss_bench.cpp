// Vectors parsed and scored per second, per version, on the real test vectors
// (tests/data/cvss/*.tsv) so that the mix of base-only and full vectors is realistic.
//   cvss_bench --benchmark_filter=ParseAndScore
// items_per_second is the number to compare with the targets (v3.1 > 1M/s, v4.0 > 200k/s
// per core).
#include <fstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "cvss/cvss.hpp"

namespace {

std::vector<std::string> load(const std::string& file) {
  std::vector<std::string> out;
  std::ifstream in(std::string(MDESYNC_SOURCE_DIR) + "/tests/data/cvss/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(line.substr(0, line.find('\t')));
  }
  return out;
}

void parse_and_score(benchmark::State& state, const std::string& file) {
  const std::vector<std::string> vectors = load(file);
  if (vectors.empty()) {
    state.SkipWithError("no vectors found");
    return;
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto parsed = mdesync::cvss::parse(vectors[i]);
    if (parsed) {
      auto s = mdesync::cvss::score(*parsed);
      benchmark::DoNotOptimize(s.score);
    }
    if (++i == vectors.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void score_only(benchmark::State& state, const std::string& file) {
  std::vector<mdesync::cvss::Vector> parsed;
  for (const auto& v : load(file)) {
    if (auto p = mdesync::cvss::parse(v)) parsed.push_back(std::move(*p));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto s = mdesync::cvss::score(parsed[i]);
    benchmark::DoNotOptimize(s.score);
    if (++i == parsed.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK_CAPTURE(parse_and_score, ParseAndScore_v2, std::string("v2.tsv"));
BENCHMARK_CAPTURE(parse_and_score, ParseAndScore_v30, std::string("v30.tsv"));
BENCHMARK_CAPTURE(parse_and_score, ParseAndScore_v31, std::string("v31.tsv"));
BENCHMARK_CAPTURE(parse_and_score, ParseAndScore_v40, std::string("v40.tsv"));
BENCHMARK_CAPTURE(score_only, ScoreOnly_v31, std::string("v31.tsv"));
BENCHMARK_CAPTURE(score_only, ScoreOnly_v40, std::string("v40.tsv"));

}  // namespace

BENCHMARK_MAIN();
