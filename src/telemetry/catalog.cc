#include "telemetry/catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "kube_core/quantity.h"

namespace umbra::telemetry {
namespace {

// Shadow features are per VMI (`sum by (namespace, name)` over vCPUs, disks and interfaces); node
// features per node. Ratios guard their denominators with clamp_min so an idle series gives 0, not
// NaN. Scales: fractions 1; storage latency 10 ms; IOPS 1000; VMI network 1 Gbit/s; node network
// 10 Gbit/s.
constexpr const char* DefaultCatalog = R"yaml(# Umbra's metric catalog: feature -> PromQL.
rateWindow: 60s
# Which label of node-exporter's series holds the node name: `node` (kube-prometheus relabels so),
# `instance` (kube-prometheus-stack's node-exporter relabels so), or auto: whichever the series
# carry, `node` first.
nodeLabel: auto
features:
  # --- per shadow VMI (virt-handler) ---
  - name: cpu_steal
    scope: shadow
    required: true
    series: kubevirt_vmi_vcpu_delay_seconds_total
    # The host run-queue delay fraction of the runnable time: what the guest sees as steal, less
    # the time the CFS quota of the launcher's compute container throttled it (cAdvisor's
    # container_cpu_cfs_throttled_seconds_total: run_delay counts throttled time too, and a
    # shadow at 1 % of a vCPU is throttled most of the time). Without cAdvisor's series, 0.
    query: >-
      clamp_min(sum by (namespace, name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      - (sum by (namespace, name) (label_replace(rate(container_cpu_cfs_throttled_seconds_total{namespace=~"$ns",container="compute",pod=~"virt-launcher-($shadows)-[a-z0-9]{5}"}[$window]), "name", "$1", "pod", "virt-launcher-(.+)-[a-z0-9]{5}"))
      or 0 * sum by (namespace, name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))), 0)
      / clamp_min(clamp_min(sum by (namespace, name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      - (sum by (namespace, name) (label_replace(rate(container_cpu_cfs_throttled_seconds_total{namespace=~"$ns",container="compute",pod=~"virt-launcher-($shadows)-[a-z0-9]{5}"}[$window]), "name", "$1", "pod", "virt-launcher-(.+)-[a-z0-9]{5}"))
      or 0 * sum by (namespace, name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))), 0)
      + sum by (namespace, name) (rate(kubevirt_vmi_vcpu_seconds_total{namespace=~"$ns",name=~"$shadows",state="running"}[$window])), 1e-9)
  # A Synthetic shadow's probe: operations per second of each kernel's wall time (umbra_probe_*,
  # served by the guest). Co-runners' cache and memory-bandwidth pressure slows the memory kernel
  # only; steal and throttling slow both alike. The loss, 1 - memory speed / ALU speed, is taken
  # over the whole observation (ratio of the means; ModelForecaster), not per step, where a small
  # probe's few operations would bias it. The memory speed is divided by the idle reference.
  # Absent for Passive shadows.
  - name: probe_memory_speed
    scope: shadow
    series: umbra_probe_operations_total
    scale: 100
    query: >-
      sum by (namespace, name) (rate(umbra_probe_operations_total{namespace=~"$ns",name=~"$shadows",kernel="memory"}[$window]))
      / clamp_min(sum by (namespace, name) (rate(umbra_probe_seconds_total{namespace=~"$ns",name=~"$shadows",kernel="memory"}[$window])), 1e-9)
      / $probe_reference
  - name: probe_alu_speed
    scope: shadow
    series: umbra_probe_operations_total
    scale: 100
    query: >-
      sum by (namespace, name) (rate(umbra_probe_operations_total{namespace=~"$ns",name=~"$shadows",kernel="alu"}[$window]))
      / clamp_min(sum by (namespace, name) (rate(umbra_probe_seconds_total{namespace=~"$ns",name=~"$shadows",kernel="alu"}[$window])), 1e-9)
  - name: cpu_wait
    scope: shadow
    series: kubevirt_vmi_vcpu_wait_seconds_total
    # Host run-queue wait per vCPU-second (libvirt's vcpu.N.wait; not I/O wait).
    query: >-
      sum by (namespace, name) (rate(kubevirt_vmi_vcpu_wait_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      / clamp_min(sum by (namespace, name) (rate(kubevirt_vmi_vcpu_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window])), 1e-9)
  - name: cpu_usage
    scope: shadow
    series: kubevirt_vmi_cpu_usage_seconds_total
    query: >-
      sum by (namespace, name) (rate(kubevirt_vmi_cpu_usage_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))
  - name: memory_used
    scope: shadow
    series: kubevirt_vmi_memory_used_bytes
    query: >-
      sum by (namespace, name) (kubevirt_vmi_memory_used_bytes{namespace=~"$ns",name=~"$shadows"})
      / clamp_min(sum by (namespace, name) (kubevirt_vmi_memory_domain_bytes{namespace=~"$ns",name=~"$shadows"}), 1)
  - name: storage_latency
    scope: shadow
    series: kubevirt_vmi_storage_read_times_seconds_total
    scale: 0.01
    query: >-
      (sum by (namespace, name) (rate(kubevirt_vmi_storage_read_times_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      + sum by (namespace, name) (rate(kubevirt_vmi_storage_write_times_seconds_total{namespace=~"$ns",name=~"$shadows"}[$window])))
      / clamp_min(sum by (namespace, name) (rate(kubevirt_vmi_storage_iops_read_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      + sum by (namespace, name) (rate(kubevirt_vmi_storage_iops_write_total{namespace=~"$ns",name=~"$shadows"}[$window])), 1e-9)
  - name: storage_iops
    scope: shadow
    series: kubevirt_vmi_storage_iops_read_total
    scale: 1000
    query: >-
      sum by (namespace, name) (rate(kubevirt_vmi_storage_iops_read_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      + sum by (namespace, name) (rate(kubevirt_vmi_storage_iops_write_total{namespace=~"$ns",name=~"$shadows"}[$window]))
  - name: network_bytes
    scope: shadow
    series: kubevirt_vmi_network_receive_bytes_total
    scale: 125000000
    query: >-
      sum by (namespace, name) (rate(kubevirt_vmi_network_receive_bytes_total{namespace=~"$ns",name=~"$shadows"}[$window]))
      + sum by (namespace, name) (rate(kubevirt_vmi_network_transmit_bytes_total{namespace=~"$ns",name=~"$shadows"}[$window]))
  # --- per node (node-exporter): the node's name is in the label nodeLabel names ---
  - name: node_cpu_utilization
    scope: node
    required: true
    series: node_cpu_seconds_total
    query: >-
      1 - avg by ($node_label) (rate(node_cpu_seconds_total{mode="idle",$node_label=~"$nodes"}[$window]))
  - name: node_cpu_steal
    scope: node
    series: node_cpu_seconds_total
    query: >-
      avg by ($node_label) (rate(node_cpu_seconds_total{mode="steal",$node_label=~"$nodes"}[$window]))
  - name: node_cpu_iowait
    scope: node
    series: node_cpu_seconds_total
    query: >-
      avg by ($node_label) (rate(node_cpu_seconds_total{mode="iowait",$node_label=~"$nodes"}[$window]))
  - name: node_memory_available
    scope: node
    series: node_memory_MemAvailable_bytes
    query: >-
      max by ($node_label) (node_memory_MemAvailable_bytes{$node_label=~"$nodes"})
      / clamp_min(max by ($node_label) (node_memory_MemTotal_bytes{$node_label=~"$nodes"}), 1)
  - name: node_pressure_cpu
    scope: node
    series: node_pressure_cpu_waiting_seconds_total
    query: >-
      max by ($node_label) (rate(node_pressure_cpu_waiting_seconds_total{$node_label=~"$nodes"}[$window]))
  - name: node_pressure_memory
    scope: node
    series: node_pressure_memory_waiting_seconds_total
    query: >-
      max by ($node_label) (rate(node_pressure_memory_waiting_seconds_total{$node_label=~"$nodes"}[$window]))
  - name: node_pressure_io
    scope: node
    series: node_pressure_io_waiting_seconds_total
    query: >-
      max by ($node_label) (rate(node_pressure_io_waiting_seconds_total{$node_label=~"$nodes"}[$window]))
  - name: node_disk_busy
    scope: node
    series: node_disk_io_time_seconds_total
    query: >-
      max by ($node_label) (rate(node_disk_io_time_seconds_total{$node_label=~"$nodes"}[$window]))
  - name: node_network_bytes
    scope: node
    series: node_network_receive_bytes_total
    scale: 1250000000
    query: >-
      sum by ($node_label) (rate(node_network_receive_bytes_total{$node_label=~"$nodes",device!="lo"}[$window]))
      + sum by ($node_label) (rate(node_network_transmit_bytes_total{$node_label=~"$nodes",device!="lo"}[$window]))
)yaml";

Error fieldError(const std::string& origin, const std::string& field, const std::string& what) {
  return Error::config(origin + ": " + field + ": " + what);
}

}  // namespace

bool validNodeLabel(const std::string& label) {
  if (label == "auto")
    return true;
  if (label.empty() || !(std::isalpha(static_cast<unsigned char>(label[0])) || label[0] == '_'))
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

const char* defaultCatalogYaml() {
  return DefaultCatalog;
}

const MetricCatalog& MetricCatalog::defaults() {
  static const MetricCatalog c = [] {
    auto parsed = parseCatalog(DefaultCatalog, "default metric catalog");
    if (!parsed.ok()) {
      throw std::logic_error(parsed.error().message);  // a bug in the text above; tests parse it
    }
    return *parsed;
  }();
  return c;
}

int MetricCatalog::index(const std::string& name) const {
  for (size_t i = 0; i < features.size(); ++i) {
    if (features[i].name == name)
      return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> MetricCatalog::names() const {
  std::vector<std::string> out;
  out.reserve(features.size());
  for (const auto& f : features)
    out.push_back(f.name);
  return out;
}

std::string MetricCatalog::toYaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "rateWindow" << YAML::Value
      << std::to_string(rateWindow.count()) + "s" << YAML::Key << "nodeLabel" << YAML::Value
      << nodeLabel << YAML::Key << "probeReference" << YAML::Value << probeReference << YAML::Key
      << "features" << YAML::Value << YAML::BeginSeq;
  for (const auto& f : features) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << f.name << YAML::Key << "scope"
        << YAML::Value << (f.scope == Scope::Shadow ? "shadow" : "node") << YAML::Key << "required"
        << YAML::Value << f.required << YAML::Key << "series" << YAML::Value << f.series
        << YAML::Key << "scale" << YAML::Value << f.scale << YAML::Key << "query" << YAML::Value
        << f.query << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

// A YAML error met while reading (a key that is not text, "? -") surfaces as an exception from
// yaml-cpp's conversions; parseCatalog turns any into a one-line error.
Result<MetricCatalog> catalogFrom(const YAML::Node& root, const std::string& origin) {
  if (!root.IsMap()) {
    return fieldError(origin, "(top level)", "must be a mapping with rateWindow and features");
  }
  MetricCatalog c;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "rateWindow" && key != "features" && key != "nodeLabel" && key != "probeReference") {
      return fieldError(origin, key, "unknown field");
    }
  }
  if (root["rateWindow"]) {
    const auto d = root["rateWindow"].IsScalar() ? kube::parseDuration(root["rateWindow"].Scalar())
                                                 : std::nullopt;
    if (!d || d->count() < 1000) {
      return fieldError(origin, "rateWindow", "must be a duration of at least 1s (e.g. 60s)");
    }
    c.rateWindow = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (root["nodeLabel"]) {
    c.nodeLabel = root["nodeLabel"].IsScalar() ? root["nodeLabel"].Scalar() : "";
    if (!validNodeLabel(c.nodeLabel))
      return fieldError(origin, "nodeLabel",
                        "must be auto or a Prometheus label name (node, instance, ...), got \"" +
                            c.nodeLabel + "\"");
  }
  if (root["probeReference"]) {
    const YAML::Node r = root["probeReference"];
    double v = 0;
    if (!r.IsScalar() || !YAML::convert<double>::decode(r, v) || !(v > 0))
      return fieldError(origin, "probeReference",
                        "must be a number greater than 0 (the probe's memory/ALU rate ratio on an "
                        "idle node)");
    c.probeReference = v;
  }
  const YAML::Node list = root["features"];
  if (!list || !list.IsSequence() || list.size() == 0) {
    return fieldError(origin, "features", "must be a non-empty list");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node n = list[i];
    const std::string at = "features[" + std::to_string(i) + "]";
    if (!n.IsMap()) {
      return fieldError(origin, at, "must be a mapping");
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      if (key != "name" && key != "scope" && key != "query" && key != "series" && key != "scale" &&
          key != "required") {
        std::string field = at;
        field.append(".").append(key);
        return fieldError(origin, field, "unknown field");
      }
    }
    Feature f;
    const auto text = [&](const char* key, std::string& out) -> Status {
      if (!n[key] || !n[key].IsScalar() || n[key].Scalar().empty()) {
        return fieldError(origin, at + "." + key, "must be a non-empty string");
      }
      out = n[key].Scalar();
      return okStatus();
    };
    UMBRA_CHECK(text("name", f.name));
    if (!seen.insert(f.name).second) {
      return fieldError(origin, at + ".name", "\"" + f.name + "\" appears twice");
    }
    std::string scope;
    UMBRA_CHECK(text("scope", scope));
    if (scope != "shadow" && scope != "node") {
      return fieldError(origin, at + ".scope", "must be shadow or node, got \"" + scope + "\"");
    }
    f.scope = scope == "shadow" ? Scope::Shadow : Scope::Node;
    UMBRA_CHECK(text("query", f.query));
    UMBRA_CHECK(text("series", f.series));
    try {
      if (n["scale"]) {
        f.scale = n["scale"].as<double>();
        if (!(f.scale > 0)) {
          return fieldError(origin, at + ".scale", "must be positive");
        }
      }
      if (n["required"])
        f.required = n["required"].as<bool>();
    } catch (const YAML::Exception&) {
      return fieldError(origin, at, "scale must be a number and required a boolean");
    }
    c.features.push_back(std::move(f));
  }
  return c;
}

}  // namespace

Result<MetricCatalog> parseCatalog(const std::string& yaml, const std::string& origin) {
  try {
    return catalogFrom(YAML::Load(yaml), origin);
  } catch (const YAML::Exception& e) {
    return Error::config(origin + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace umbra::telemetry
