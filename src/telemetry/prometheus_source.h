#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "telemetry/catalog.h"
#include "telemetry/metrics_source.h"
#include "telemetry/prometheus_client.h"

namespace umbra::telemetry {

struct PrometheusOptions {
  PrometheusConnection connection;
  MetricCatalog catalog = MetricCatalog::defaults();
  // A series whose newest value lies further than this before the window's last step is stale
  // (its exporter stopped). Zero means two rate windows.
  std::chrono::seconds staleAfter{0};
};

// {series key -> {unix seconds -> value}}; the key is "namespace/name" for shadow features and
// the node name for node features.
using SeriesByKey = std::map<std::string, std::map<int64_t, double>>;

// A MetricsSource over Prometheus. One query_range per catalog feature for all shadows (or all
// nodes) of a placement, never one per shadow: a regex of names selects them.
//
// A shadow's series are born when it starts, and rate() over a window reaching back before a
// series' first sample reads low (Prometheus does not extrapolate past it), so shadow-feature steps
// earlier than start + rateWindow are gaps, not values.
class PrometheusSource final : public MetricsSource {
 public:
  static Result<std::unique_ptr<PrometheusSource>> create(PrometheusOptions options);
  ~PrometheusSource() override;

  Result<std::vector<CandidateTelemetry>> observe(const std::vector<ShadowRef>& shadows,
                                                  SystemTime start, SystemTime end,
                                                  Duration step) override;

  // One query per node feature for all the nodes (the shadow features are not read).
  Result<std::vector<CandidateTelemetry>> observeNodes(const std::vector<std::string>& nodes,
                                                       SystemTime start, SystemTime end,
                                                       Duration step) override;

  // Training history over a long window (chunked under Prometheus' per-series point limit): one
  // frame per node (scope Node, `names` are node names) or per VMI (scope Shadow, `names` are VMI
  // names in namespaces matching `nsRegex`, keys "namespace/name"), with that scope's features
  // only. Empty `names` means every series the queries return. Gaps stay gaps. A non-empty
  // `features` reads only those features (one query each).
  Result<std::map<std::string, FeatureFrame>> history(
      Scope scope, const std::string& nsRegex, const std::vector<std::string>& names,
      SystemTime start, SystemTime end, std::chrono::seconds step,
      const std::vector<std::string>& features = {});

  // Every VMI's CPU use at each step of [start, end] (cores: the rate of
  // kubevirt_vmi_cpu_usage_seconds_total over the step) and the node it ran on then (the `node`
  // label virt-handler puts on every VMI series); and each node's CPU count at `end` (its
  // node-exporter idle series). One range query and one instant query, for the whole cluster.
  // The last window's answer is kept: asked again for the same window (every candidate of one
  // decision, once its observation ends), it is returned without querying.
  Result<VmiCpuHistory> vmiCpuHistory(SystemTime start, SystemTime end, std::chrono::seconds step);

  // Catalog queries issued (one per feature per observe()); HTTP requests are
  // client().requestsSent(): those plus, with nodeLabel auto, one or two instant queries the
  // first time node series are read (which label holds the node name).
  int queriesIssued() const;
  PrometheusClient& client();
  const MetricCatalog& catalog() const;

  struct Impl;

 private:
  explicit PrometheusSource(std::unique_ptr<Impl> impl);
  Result<std::string> nodeLabel(SystemTime start, SystemTime end);
  void countQuery();
  Result<VmiCpuHistory> readVmiCpuHistory(SystemTime start, SystemTime end,
                                          std::chrono::seconds step);
  std::unique_ptr<Impl> impl_;
  // vmiCpuHistory's last window ({start, end, step} in seconds) and its answer.
  std::mutex vmiMutex_;
  std::optional<std::array<int64_t, 3>> vmiWindow_;
  VmiCpuHistory vmiLast_;
};

// The pure assembly step, for tests: one candidate's frame and decision samples from the
// per-feature query results (`byFeature[i]` answers catalog feature i), rows start, start+step, ...
// <= end. Shadow-feature cells before `shadowValidFrom` are gaps. Errors name the absent or stale
// series of a required feature (node series by `nodeLabel`); optional ones become gap columns and
// notes.
Result<CandidateTelemetry> assembleCandidate(const MetricCatalog& catalog,
                                             const std::vector<SeriesByKey>& byFeature,
                                             const ShadowRef& shadow, int64_t start, int64_t end,
                                             int64_t step, int64_t shadowValidFrom,
                                             int64_t staleAfter,
                                             const std::string& nodeLabel = "node");

// Regex alternation of literal names (metacharacters escaped for PromQL's RE2 in a string).
std::string nameAlternation(const std::vector<std::string>& names);

}  // namespace umbra::telemetry
