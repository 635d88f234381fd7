#pragma once

#include <string>
#include <vector>

#include "api/shadow_placement.h"

namespace umbra::placement {

// Contention the target would meet on a node. Fractions in [0, 1]; latency in seconds.
struct Contention {
  double cpuContention = 0;   // steal: share of time a vCPU waits for a physical CPU
  double memoryPressure = 0;  // share of time stalled on memory
  double ioWait = 0;          // share of time waiting on disk
  double networkLatency = 0;  // added latency, seconds
};

struct CandidateForecast {
  std::string node;
  Contention predicted;
  double confidence = 0;  // [0, 1]: the forecaster's, for this candidate alone
  double cpuStderr = 0;   // standard error of predicted.cpuContention (Forecast::cpuStderr)
  double cpuModelSd = 0;  // the model's own error of it (Forecast::cpuModelSd)
};

// Two candidates whose steal differs by less than this are equally good choices.
inline constexpr double StealTolerance = 0.01;

struct ScoredCandidate {
  std::string node;
  double score = 0;  // 0..100, higher is better
  double confidence = 0;
  Contention predicted;
  std::string reason;  // one line: what dominated the score
};

// 100 x (1 - weighted mean of the normalised contention terms). Latency is normalised as
// l / (l + 10 ms), so 10 ms of added latency counts as half of the worst.
double scoreOf(const Contention& c, const api::ScoringWeights& w);

struct Decision {
  std::vector<ScoredCandidate> ranked;  // best first
  std::string selected;                 // empty when there is no candidate
  // The probability that the selected candidate is the best or within StealTolerance of it,
  // given each candidate's uncertainty, sqrt(cpuStderr^2 + cpuModelSd^2) (normal approximation,
  // candidates independent): prod over the others j of Phi((s_sel - s_j + tol) / se_sel_j) in
  // score units. What status reports.
  double confidence = 0;
  // The same from the observation's standard errors alone: below minConfidence, observing longer
  // can settle the choice (extend); above it while `confidence` is below, the model's own
  // uncertainty is what remains, which more observation does not shrink (decide).
  double observationConfidence = 0;
};

// Ranks by score, then confidence, then node name (deterministic).
Decision decide(const std::vector<CandidateForecast>& forecasts, const api::ScoringWeights& w);

// Observe longer (an extension allowing)? Only while the choice is less sure than minConfidence
// and the observation, not the model's own error, is what keeps it so.
inline bool observeLonger(const Decision& d, double minConfidence) {
  return d.confidence < minConfidence && d.observationConfidence < minConfidence;
}

}  // namespace umbra::placement
