#pragma once

#include <chrono>
#include <string>

#include "api/shadow_placement.h"
#include "common/result.h"
#include "telemetry/catalog.h"

namespace umbra::config {

// Where and how to read telemetry (`prometheus:` in the file).
struct PrometheusSettings {
  std::string url = "http://prometheus-operated.monitoring.svc:9090";
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  std::string bearerTokenFile;  // e.g. a projected service-account token for a Thanos querier
  std::string username;         // basic auth; the password is read from passwordFile
  std::string passwordFile;
  std::string caFile;
  bool insecureSkipVerify = false;
  // Feature -> PromQL. Its rateWindow (prometheus.rateWindow) is at least twice the cluster's
  // scrape interval; a shadow's step counts only once a whole window of its life lies behind it,
  // so observation.duration should be several windows long. prometheus.catalog.<feature>
  // overrides a feature's query, series, scale or required flag.
  telemetry::MetricCatalog catalog = telemetry::MetricCatalog::defaults();
};

// The operator's configuration file (--config). Every field has the design's default; the file
// overrides them and a ShadowPlacement overrides the placement defaults in turn.
struct OperatorConfig {
  api::PlacementDefaults placement;
  std::chrono::milliseconds retrainingInterval{std::chrono::hours(24)};
  int maxConcurrentPlacements = 10;
  // Fair sharing (`limits:`; the spec caps are in placement.limits). Slots go round robin across
  // namespaces, at most this many to one namespace.
  int concurrentPlacementsPerNamespace = 5;
  // A placement not past its observation by its own longest expected run (observation.duration x
  // (1 + maxExtensions) + shadows.startTimeout + shadows.targetWaitTimeout) plus this grace fails
  // with DeadlineExceeded (stuck on missing metrics, queued too long), its shadows deleted.
  std::chrono::milliseconds deadlineGrace{std::chrono::hours(1)};
  PrometheusSettings prometheus;
  // The forecaster's files (`model:` in the file). A missing or mismatched model file is not an
  // error: a baseline decides and status.model says why.
  std::string modelPath = "/var/lib/umbra/model.pt";
  std::string contentionModelPath = "/var/lib/umbra/contention.json";
  std::string outcomesPath = "/var/lib/umbra/outcomes.jsonl";
  // How long after a placement the placed VM's contention is measured as its outcome.
  std::chrono::milliseconds outcomeWindow{std::chrono::minutes(30)};
  // The CPU outcome over that window: its mean, or the 95th percentile of its 300 s means (with a
  // 24h window, what the placement benchmark judges and `umbra train-contention --statistic p95`
  // simulates).
  bool outcomeP95 = false;
  // The node history the forecaster reads (`model.nodeHistory`): true (coRunners), rebuilt from
  // per-VMI CPU use as the VMIs on the node now would have made it (model/co_runners.h); false
  // (node), the node's own.
  bool coRunnerHistory = true;
  // Champion/challenger retraining every retrainingInterval (`model.retraining:`).
  struct Retraining {
    bool enabled = true;
    std::chrono::milliseconds history{std::chrono::hours(24 * 7)};  // node history read
    int epochs = 12;
    int stepsPerEpoch = 40;
    int batch = 1024;
    int hidden = 32;
    int period = 288;  // steps of 300 s in the season fed to the LSTM (a day)
    double holdBack = 0.2;
    // The `umbra` binary that trains a challenger, run as a short-lived child process so that
    // the operator itself never loads LibTorch. Empty: `umbra` beside the operator's executable,
    // else on PATH.
    std::string trainer;
    // A folder shared with the trainer sidecar (the chart's trainer container): trainings are
    // handed to it there instead of a child process, and the operator's image needs no LibTorch.
    std::string spool;
  } retraining;
};

// Reads YAML; unknown keys and out-of-range values are one-line errors naming the file and the
// field: "umbra.yaml: shadows.count: must be 1..10, got 0".
Result<OperatorConfig> loadConfig(const std::string& path);
Result<OperatorConfig> parseConfig(const std::string& yaml, const std::string& origin);

}  // namespace umbra::config
