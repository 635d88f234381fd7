#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::telemetry {

// Whose behaviour a feature describes: the shadow VMI (label `name`, per namespace) or its node
// (label `node`).
enum class Scope { Shadow, Node };

// One feature: PromQL that returns one series per shadow (`sum by (namespace, name)`) or per node
// (`... by (node)`). Substituted before sending:
//   $ns      regex of namespaces        $shadows  regex of VMI names
//   $nodes   regex of node names        $window   the rate window, e.g. 60s
struct Feature {
  std::string name;
  Scope scope = Scope::Shadow;
  std::string query;
  // The metric named in "series ... absent" messages (the one a user greps for).
  std::string series;
  // Normalisation: the feature tensor holds raw / scale, so that 1 is "a lot" for every feature
  // (fractions have scale 1; bytes/s use a link's capacity). Part of a trained model's schema.
  double scale = 1;
  // An absent or stale required series makes the observation fail (MetricsAvailable=False);
  // an optional one becomes a column of gaps and a note.
  bool required = false;
};

// The features Umbra reads, in tensor column order. Clusters rename and relabel, so the operator
// config may override a feature's query, series, scale and required flag (not its name or
// scope: a model's schema depends on them).
struct MetricCatalog {
  std::chrono::seconds rateWindow{60};
  std::vector<Feature> features;

  // KubeVirt's virt-handler and node-exporter names (shared/kubevirt/API-NOTES.md), with node
  // series carrying a `node` label as kube-prometheus relabels them.
  static const MetricCatalog& defaults();
  // -1 when absent.
  int index(const std::string& name) const;
  std::vector<std::string> names() const;
  // The catalog as YAML (what `umbra-operator --print-catalog` shows).
  std::string toYaml() const;
};

// The catalog shipped with Umbra, as YAML (parsed by defaults()).
const char* defaultCatalogYaml();

// A whole catalog from YAML: `rateWindow` and a `features` list; errors name origin and field.
Result<MetricCatalog> parseCatalog(const std::string& yaml, const std::string& origin);

}  // namespace umbra::telemetry
