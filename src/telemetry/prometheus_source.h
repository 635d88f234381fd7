#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "telemetry/metrics_source.h"

namespace umbra::telemetry {

// PromQL per feature. `$ns`, `$shadows` (a regex of shadow names) and `$nodes` (a regex of node
// names) are substituted; each query must return one series per shadow (label `name`) or per
// node (label `node`). Clusters relabel, so this is configurable; the defaults follow KubeVirt's
// and node-exporter's names (shared/kubevirt/API-NOTES.md) with a `node` label on node series.
//
// `$window` is the rate window. A shadow's series is born when its observation starts, and rate()
// over a window reaching back before a series' first sample reads low (Prometheus does not
// extrapolate past it), so steps earlier than start + window are reported as gaps, not values.
struct MetricCatalog {
  std::chrono::seconds rateWindow{60};
  // The delay fraction of the shadow's runnable time (delay / (delay + running)): what share of
  // the time its vCPUs wanted to run they waited, which the guest sees as steal. A ratio, so a
  // throttled 20m probe and a 2-core VM on the same node read the same contention.
  std::string cpuSteal =
      "sum by (name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"$ns\","
      "name=~\"$shadows\"}[$window])) / clamp_min(sum by (name) "
      "(rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"$ns\",name=~\"$shadows\"}[$window]))"
      " + sum by (name) (rate(kubevirt_vmi_vcpu_seconds_total{namespace=\"$ns\","
      "name=~\"$shadows\",state=\"running\"}[$window])), 1e-9)";
  std::string cpuUtilization =
      "1 - avg by (node) (rate(node_cpu_seconds_total{mode=\"idle\",node=~\"$nodes\"}[$window]))";
  std::string memoryPressure =
      "max by (node) (rate(node_pressure_memory_waiting_seconds_total{node=~\"$nodes\"}[$window]))";
  std::string ioWait =
      "avg by (node) (rate(node_cpu_seconds_total{mode=\"iowait\",node=~\"$nodes\"}[$window]))";
};

struct PrometheusOptions {
  std::string url;  // http(s)://host:port, no trailing slash
  std::string bearerToken;
  std::chrono::seconds timeout{10};
  MetricCatalog catalog;
};

// A MetricsSource over Prometheus' HTTP API (query_range), through cpprestsdk (only in the .cc).
// One query per feature for all shadows or nodes of a placement, never one per shadow.
// Network latency has no standard series in KubeVirt or node-exporter; it is reported as 0.
class PrometheusSource final : public MetricsSource {
 public:
  explicit PrometheusSource(PrometheusOptions options);
  ~PrometheusSource() override;

  Result<std::vector<CandidateTelemetry>> observe(const std::vector<ShadowRef>& shadows,
                                                  SystemTime start, SystemTime end,
                                                  Duration step) override;
  int queriesIssued() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Turns a query_range answer into {label value -> {unix seconds -> value}}; pure, for tests.
// Errors name the query and Prometheus' errorType/error.
Result<std::map<std::string, std::map<int64_t, double>>> parseMatrix(const std::string& body,
                                                                     const std::string& label,
                                                                     const std::string& what);

}  // namespace umbra::telemetry
