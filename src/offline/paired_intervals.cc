#include "offline/paired_intervals.h"

#include <algorithm>
#include <limits>
#include <random>

namespace umbra::model {

namespace {

std::vector<std::vector<size_t>> byRun(const std::vector<PairedVm>& pairs, size_t runs) {
  std::vector<std::vector<size_t>> out(runs);
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (pairs[i].run < runs)
      out[pairs[i].run].push_back(i);
  }
  return out;
}

Interval percentiles(double mean, std::vector<double> stats) {
  Interval out;
  out.mean = mean;
  if (stats.empty()) {
    out.lo = out.hi = mean;
    return out;
  }
  std::sort(stats.begin(), stats.end());
  const double n = static_cast<double>(stats.size());
  out.lo = stats[static_cast<size_t>(0.025 * n)];
  out.hi = stats[std::max<size_t>(1, static_cast<size_t>(0.975 * n)) - 1];
  return out;
}

void drawVms(const std::vector<PairedVm>& pairs, const std::vector<size_t>& members,
             std::mt19937_64& rng, std::vector<PairedVm>& sample) {
  if (members.empty())
    return;
  std::uniform_int_distribution<size_t> pick(0, members.size() - 1);
  for (size_t k = 0; k < members.size(); ++k)
    sample.push_back(pairs[members[pick(rng)]]);
}

}  // namespace

Interval bootstrapWithinRuns(const std::vector<PairedVm>& pairs, size_t runs,
                             const PairedStat& stat, int resamples, uint64_t seed) {
  const auto groups = byRun(pairs, runs);
  std::mt19937_64 rng(seed);
  std::vector<double> stats;
  std::vector<PairedVm> sample;
  for (int b = 0; b < resamples; ++b) {
    sample.clear();
    for (const auto& members : groups)
      drawVms(pairs, members, rng, sample);
    stats.push_back(stat(sample));
  }
  return percentiles(stat(pairs), std::move(stats));
}

Interval bootstrapRunsAndVms(const std::vector<PairedVm>& pairs, size_t runs,
                             const PairedStat& stat, int resamples, uint64_t seed) {
  auto groups = byRun(pairs, runs);
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const std::vector<size_t>& g) { return g.empty(); }),
               groups.end());
  std::mt19937_64 rng(seed);
  std::vector<double> stats;
  std::vector<PairedVm> sample;
  for (int b = 0; b < resamples && !groups.empty(); ++b) {
    sample.clear();
    std::uniform_int_distribution<size_t> pickRun(0, groups.size() - 1);
    for (size_t r = 0; r < groups.size(); ++r)
      drawVms(pairs, groups[pickRun(rng)], rng, sample);
    stats.push_back(stat(sample));
  }
  return percentiles(stat(pairs), std::move(stats));
}

std::vector<double> perRun(const std::vector<PairedVm>& pairs, size_t runs,
                           const PairedStat& stat) {
  std::vector<double> out;
  for (const auto& members : byRun(pairs, runs)) {
    if (members.empty()) {
      out.push_back(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    std::vector<PairedVm> one;
    for (const size_t i : members)
      one.push_back(pairs[i]);
    out.push_back(stat(one));
  }
  return out;
}

double meanOf(const std::vector<PairedVm>& pairs, double PairedVm::*field) {
  double sum = 0;
  for (const auto& p : pairs)
    sum += p.*field;
  return sum / static_cast<double>(std::max<size_t>(1, pairs.size()));
}

double placerOverPeer(const std::vector<PairedVm>& pairs) {
  const double peer = meanOf(pairs, &PairedVm::peer);
  return peer > 0 ? meanOf(pairs, &PairedVm::placer) / peer : 0.0;
}

double gapClosed(const std::vector<PairedVm>& pairs) {
  const double peer = meanOf(pairs, &PairedVm::peer);
  const double gap = peer - meanOf(pairs, &PairedVm::oracle);
  return gap > 1e-9 ? (peer - meanOf(pairs, &PairedVm::placer)) / gap : 0.0;
}

}  // namespace umbra::model
