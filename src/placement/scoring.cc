#include "placement/scoring.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace umbra::placement {

double scoreOf(const Contention& c, const api::ScoringWeights& w) {
  const double total = w.cpu + w.memory + w.disk + w.network;
  if (total <= 0) {
    return 0;
  }
  const auto clamp01 = [](double v) { return std::clamp(v, 0.0, 1.0); };
  const double latency = c.networkLatency > 0 ? c.networkLatency / (c.networkLatency + 0.010) : 0;
  const double weighted = w.cpu * clamp01(c.cpuContention) + w.memory * clamp01(c.memoryPressure) +
                          w.disk * clamp01(c.ioWait) + w.network * clamp01(latency);
  return 100.0 * (1.0 - weighted / total);
}

Decision decide(const std::vector<CandidateForecast>& forecasts, const api::ScoringWeights& w) {
  Decision d;
  for (const CandidateForecast& f : forecasts) {
    char reason[160];
    std::snprintf(reason, sizeof(reason),
                  "predicted steal %.1f%%, memory pressure %.1f%%, io wait %.1f%%, latency %.1f ms",
                  100 * f.predicted.cpuContention, 100 * f.predicted.memoryPressure,
                  100 * f.predicted.ioWait, 1000 * f.predicted.networkLatency);
    d.ranked.push_back({f.node, scoreOf(f.predicted, w), f.confidence, f.predicted, reason});
  }
  std::sort(d.ranked.begin(), d.ranked.end(),
            [](const ScoredCandidate& a, const ScoredCandidate& b) {
              if (a.score != b.score)
                return a.score > b.score;
              if (a.confidence != b.confidence)
                return a.confidence > b.confidence;
              return a.node < b.node;
            });
  if (d.ranked.empty())
    return d;
  d.selected = d.ranked.front().node;
  // Score points per unit of CPU contention (scoreOf is linear in it below 1).
  const double total = w.cpu + w.memory + w.disk + w.network;
  const double perSteal = total > 0 ? 100.0 * w.cpu / total : 0;
  std::map<std::string, const CandidateForecast*> of;
  for (const CandidateForecast& f : forecasts)
    of[f.node] = &f;
  const ScoredCandidate& best = d.ranked.front();
  const auto probability = [&](bool withModel) {
    const auto sd = [&](const std::string& node) {
      const CandidateForecast& f = *of.at(node);
      return withModel ? std::hypot(f.cpuStderr, f.cpuModelSd) : f.cpuStderr;
    };
    double p = 1.0;
    for (size_t j = 1; j < d.ranked.size(); ++j) {
      const double se = perSteal * std::hypot(sd(best.node), sd(d.ranked[j].node));
      const double margin = best.score - d.ranked[j].score + perSteal * StealTolerance;
      p *= se > 0 ? 0.5 * std::erfc(-margin / (se * std::sqrt(2.0))) : (margin >= 0 ? 1.0 : 0.0);
    }
    return p;
  };
  d.confidence = probability(true);
  d.observationConfidence = probability(false);
  return d;
}

}  // namespace umbra::placement
