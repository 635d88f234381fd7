#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "placement/scoring.h"
#include "telemetry/metrics_source.h"

namespace umbra::model {

// The full VM that would land on the node.
struct TargetProfile {
  double vcpus = 1;
  double memoryBytes = 0;
  std::string key;  // "namespace/name" of the target, to match outcomes to decisions
};

struct Forecast {
  // Over the horizon (what the decision scores).
  placement::Contention p50;
  placement::Contention p90;
  // Per horizon step, when the forecaster has a per-step demand forecast (empty otherwise).
  std::vector<placement::Contention> stepP50, stepP90;
  double confidence = 0;  // [0, 1]: from the predicted spread and the data's coverage
  // Standard error of p50.cpuContention from the observation's noise (what more observation
  // shrinks): the steal samples' standard error of the mean, with an effective sample count
  // corrected for their lag-1 autocorrelation, scaled as p50 is from the mean steal.
  double cpuStderr = 0;
  // The model's own error of p50.cpuContention between candidates (ContentionMap::cpuDiscrepancy
  // times it): what more observation does not shrink.
  double cpuModelSd = 0;
};

// The standard error of the mean of the present samples' steal (n_eff = n (1 - r) / (1 + r) for
// a lag-1 autocorrelation r >= 0). Fewer than two samples: 1 (nothing is known).
double stealStandardError(const std::vector<telemetry::Sample>& samples);

// Predicts the contention the target would meet on a candidate node from that node's telemetry.
class Forecaster {
 public:
  virtual ~Forecaster() = default;
  virtual Result<Forecast> forecast(const telemetry::CandidateTelemetry& observed,
                                    const TargetProfile& target) = 0;
  // Reported in status.model, e.g. "baseline/window-mean".
  virtual std::string name() const = 0;
  // About to forecast these nodes for a window ending at `end`: a forecaster that reads node
  // history may read all of it at once (one query) instead of one node at a time.
  virtual void prefetch(const std::vector<std::string>& nodes, SystemTime end) {
    (void)nodes, (void)end;
  }
};

// Forecasts the target on each node from that node's telemetry and ranks them (placement::decide);
// a node whose forecast fails is left out. Before any shadow, from the nodes' own telemetry: how
// the operator ranks the feasible nodes for half of its candidates (WorldReader), and the
// placement benchmark's forecast-only placer.
placement::Decision rankNodes(Forecaster& forecaster,
                              const std::vector<telemetry::CandidateTelemetry>& nodes,
                              const TargetProfile& target, const api::ScoringWeights& weights);

// A transparent baseline (tests, and a reference in the benchmarks): p50 is the mean of the
// observed window, p90 adds 1.28 standard deviations; the target's own load raises CPU contention
// in proportion to the node's utilisation (a busier node shares less). Confidence falls with the
// spread (coefficient of variation of steal) and with gaps (share of missing steps).
class WindowMeanForecaster final : public Forecaster {
 public:
  Result<Forecast> forecast(const telemetry::CandidateTelemetry& observed,
                            const TargetProfile& target) override;
  std::string name() const override { return "baseline/window-mean"; }
};

}  // namespace umbra::model
