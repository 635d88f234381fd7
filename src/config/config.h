#pragma once

#include <chrono>
#include <string>

#include "api/shadow_placement.h"
#include "common/result.h"

namespace umbra::config {

// The operator's configuration file (--config). Every field has the design's default; the file
// overrides them and a ShadowPlacement overrides the placement defaults in turn.
struct OperatorConfig {
  api::PlacementDefaults placement;
  int mirroringPercentage = 10;
  std::chrono::milliseconds retrainingInterval{std::chrono::hours(24)};
  int maxConcurrentPlacements = 10;
  std::string prometheusUrl = "http://prometheus-operated.monitoring.svc:9090";
  // rate() window for telemetry: at least twice the cluster's scrape interval. A step counts
  // only once a whole window of a shadow's life lies behind it, so observation.duration should
  // be several windows long.
  std::chrono::milliseconds prometheusRateWindow{std::chrono::minutes(1)};
  std::string modelPath = "/var/lib/umbra/model.pt";
};

// Reads YAML; unknown keys and out-of-range values are one-line errors naming the file and the
// field: "umbra.yaml: shadows.count: must be 1..10, got 0".
Result<OperatorConfig> loadConfig(const std::string& path);
Result<OperatorConfig> parseConfig(const std::string& yaml, const std::string& origin);

}  // namespace umbra::config
