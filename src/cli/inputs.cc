#include "cli/inputs.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "sim/files.h"

namespace umbra::cli {

std::string SkippedSeries::describe() const {
  return std::to_string(total()) + " (fewer than three days: " + std::to_string(tooShort) +
         ", no data: " + std::to_string(absent) + ", constant: " + std::to_string(constant) + ")";
}

std::vector<model::EvalSeries> seriesOf(const sim::TraceSet& set, const std::string& target,
                                        int limit, SkippedSeries* skipped) {
  SkippedSeries none;
  SkippedSeries& skip = skipped ? *skipped : none;
  std::vector<model::EvalSeries> out;
  for (const auto& [id, t] : set.series) {
    const auto& column = target == "memory" ? t.memory : t.cpu;
    model::EvalSeries s{id, {}, t.observed};
    s.values.assign(column.begin(), column.end());
    double lo = 1e9, hi = -1e9;
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (i < t.observed.size() && !t.observed[i])
        continue;  // a gap is not a value
      lo = std::min(lo, s.values[i]);
      hi = std::max(hi, s.values[i]);
    }
    if (s.values.size() < size_t{3} * 288) {
      ++skip.tooShort;
      continue;
    }
    if (hi <= 0) {
      ++skip.absent;
      continue;
    }
    if (hi - lo < 1e-9) {
      ++skip.constant;
      continue;
    }
    for (double& v : s.values)
      v = std::clamp(v, 0.0, 1.0);
    out.push_back(std::move(s));
    if (limit > 0 && static_cast<int>(out.size()) >= limit)
      break;
  }
  return out;
}

void keepHalf(sim::TraceSet& traces, const std::string& half, const std::set<std::string>& always) {
  for (auto it = traces.series.begin(); it != traces.series.end();) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a of the id
    for (const unsigned char c : it->first)
      h = (h ^ c) * 1099511628211ULL;
    const bool inA = (h >> 11) % 2 == 0;
    if (always.count(it->first) == 0 && inA != (half == "a"))
      it = traces.series.erase(it);
    else
      ++it;
  }
}

Result<SimInputs> simInputs(const std::string& tracesDir, const std::string& clusterFile,
                            const std::string& half) {
  UMBRA_TRY(auto traces, sim::loadTraces(tracesDir));
  UMBRA_TRY(auto cluster, sim::loadCluster(clusterFile));
  UMBRA_CHECK(sim::checkTraces(cluster, traces, clusterFile));
  if (half != "all") {
    std::set<std::string> backgrounds;
    for (const auto& n : cluster.nodes)
      backgrounds.insert(n.background.trace);
    keepHalf(traces, half, backgrounds);
  }
  return SimInputs{std::move(traces), std::move(cluster)};
}

void printEpoch(const model::EpochReport& e) {
  std::fprintf(stderr,
               "[train] epoch %2d  loss %.4f  validation loss %.4f  validation MAE vs no-change "
               "%.3f  %.0f s (ETA %.0f s)\n",
               e.epoch, e.trainLoss, e.validationLoss, e.validationMase, e.seconds, e.etaSeconds);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "umbra: %s\n", message.c_str());
  return 1;
}

int finishReport(const std::string& path, const nlohmann::json& report) {
  if (path.empty())
    return 0;
  if (Status written = writeFileAtomically(path, report.dump(1) + "\n", "--json"); !written.ok())
    return fail(written.error().message);
  std::fprintf(stderr, "[bench] wrote %s\n", path.c_str());
  return 0;
}

std::vector<size_t> outcomesPerLevel(size_t total, size_t levels) {
  std::vector<size_t> counts(levels, levels == 0 ? 0 : total / levels);
  if (levels > 0)
    counts.front() += total % levels;
  return counts;
}

std::vector<ContentionLevel> contentionLevels(const sim::ClusterSpec& cluster,
                                              const std::vector<int>& loads,
                                              const std::vector<double>& scales, size_t total,
                                              int worlds, uint64_t seed) {
  std::vector<ContentionLevel> out;
  for (const int load : loads) {
    for (const double scale : scales) {
      for (int world = 0; world < worlds; ++world) {
        ContentionLevel l{load, scale, cluster, 0, world, seed + static_cast<uint64_t>(world)};
        l.cluster.physics.interference *= scale;
        out.push_back(std::move(l));
      }
    }
  }
  const auto counts = outcomesPerLevel(total, out.size());
  for (size_t k = 0; k < out.size(); ++k)
    out[k].outcomes = counts[k];
  return out;
}

JudgedOutcomes splitForJudging(const std::vector<std::vector<model::Outcome>>& blocks) {
  JudgedOutcomes out;
  for (const auto& block : blocks) {
    const auto judgeFrom = block.end() - static_cast<std::ptrdiff_t>(block.size() / 5);
    out.fit.insert(out.fit.end(), block.begin(), judgeFrom);
    out.judge.insert(out.judge.end(), judgeFrom, block.end());
    out.all.insert(out.all.end(), block.begin(), block.end());
  }
  return out;
}

}  // namespace umbra::cli
