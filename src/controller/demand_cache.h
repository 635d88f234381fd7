#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "telemetry/metrics_source.h"
#include "telemetry/prometheus_source.h"

namespace umbra::controller {

// Where the demand history comes from (PrometheusSource::history in the operator; a table in
// tests): per VMI ("namespace/name"), the catalog's cpu_usage (cores) and memory_used (a share of
// the guest's memory), one query per feature for all the VMIs asked.
class DemandHistorySource {
 public:
  virtual ~DemandHistorySource() = default;
  virtual Result<std::map<std::string, telemetry::FeatureFrame>> history(
      const std::set<std::string>& vmis, SystemTime start, SystemTime end,
      std::chrono::seconds step) = 0;
};

// The catalog's per-VMI features from Prometheus, one query each for all the VMIs.
std::unique_ptr<DemandHistorySource> prometheusDemandHistory(telemetry::PrometheusSource& source);

// The demand of every scaler's VMIs, shared: a scaler asks for its VMIs on its grid; the first
// ask after a step has passed reads the history of every VMI any scaler asked for recently (one
// query per feature per step for all scalers together, not one per scaler), the others are
// answered from that read. Thread-safe (reconciles run on several workers).
class DemandCache {
 public:
  explicit DemandCache(DemandHistorySource& source, const Clock& clock)
      : source_(source), clock_(clock) {}

  // The frames of `vmis` (those with data) over `window` up to now, on a grid of `step`.
  Result<std::map<std::string, telemetry::FeatureFrame>> get(const std::set<std::string>& vmis,
                                                             std::chrono::seconds step,
                                                             std::chrono::seconds window);
  int reads() const;  // history() calls made (for tests and metrics)

 private:
  struct Grid {
    std::map<std::string, SteadyTime> wanted;  // VMI -> when last asked for
    std::chrono::seconds window{0};
    std::optional<SteadyTime> readAt;
    std::set<std::string> read;  // the VMIs the last read covered
    std::map<std::string, telemetry::FeatureFrame> frames;
  };
  DemandHistorySource& source_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::map<int64_t, Grid> grids_;  // by step seconds
  int reads_ = 0;
};

// Many VMIs' frames (one read: they share the grid) as one series: cpu_usage summed per row
// (cores), memory_used times `guestForMemory` (bytes); rows before the first data dropped, gaps
// after it carrying the last value.
struct DemandSeries {
  std::vector<double> cpuCores, memoryBytes;
  size_t presentSteps = 0;  // rows with data
};
DemandSeries sumDemand(const std::map<std::string, telemetry::FeatureFrame>& frames,
                       double guestForMemory);

}  // namespace umbra::controller
