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
// (`... by ($node_label)`). Substituted before sending:
//   $ns      regex of namespaces        $shadows     regex of VMI names
//   $nodes   regex of node names        $window      the rate window, e.g. 60s
//   $node_label  the label holding the node name in node series (MetricCatalog::nodeLabel)
//   $probe_reference  the probe's memory/ALU rate ratio on an idle node (MetricCatalog)
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
  // The label of node series that holds the node name: "node" (kube-prometheus' relabelling),
  // "instance" (kube-prometheus-stack's node-exporter), any label name, or "auto": the source
  // finds out from the series (node first, then instance).
  std::string nodeLabel = "auto";
  // The Synthetic probe's memory-kernel rate over its ALU-kernel rate on an idle node of the
  // cluster's CPU model (a one-off calibration; 1 in the simulation). probe_memory_speed divides
  // by it.
  double probeReference = 1.0;
  std::vector<Feature> features;

  // KubeVirt's virt-handler and node-exporter names (shared/kubevirt/API-NOTES.md); node series
  // keyed by $node_label (auto).
  static const MetricCatalog& defaults();
  // -1 when absent.
  int index(const std::string& name) const;
  std::vector<std::string> names() const;
  // The catalog as YAML (what `umbra-operator --print-catalog` shows).
  std::string toYaml() const;
};

// "auto" or a Prometheus label name.
bool validNodeLabel(const std::string& label);

// The catalog shipped with Umbra, as YAML (parsed by defaults()).
const char* defaultCatalogYaml();

// A whole catalog from YAML: `rateWindow`, `nodeLabel` and a `features` list; errors name origin
// and field.
Result<MetricCatalog> parseCatalog(const std::string& yaml, const std::string& origin);

}  // namespace umbra::telemetry
