#include "sim/cluster.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "kube_core/quantity.h"

namespace umbra::sim {

double QueueCurve::at(double rho) const {
  rho = std::clamp(rho, 0.0, 1.0);
  return std::min(1.0, scale * std::pow(rho, exponent) / (1.0 - rho + knee));
}

namespace {

// Reads fields with their path, so every error names the file and the field.
class Fields {
 public:
  explicit Fields(std::string source) : source_(std::move(source)) {}

  Error fail(const std::string& path, const std::string& what) const {
    return Error::config(source_ + ": " + path + ": " + what);
  }

  Status keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& known) {
    if (!n)
      return okStatus();
    if (!n.IsMap())
      return fail(path, "must be a mapping");
    for (const auto& kv : n) {
      const auto key = kv.first.as<std::string>();
      if (!known.count(key))
        return fail(std::string(path).append(".").append(key), "unknown field");
    }
    return okStatus();
  }

  // A plain number or a Kubernetes quantity ("64Gi", "500m").
  Status quantity(const YAML::Node& n, const std::string& path, double& out, double lo = 0) {
    if (!n)
      return okStatus();
    if (!n.IsScalar())
      return fail(path, "must be a number or a quantity");
    const auto v = kube::parseQuantity(n.Scalar());
    if (!v || !std::isfinite(*v))
      return fail(path, "must be a number or a quantity, got \"" + n.Scalar() + "\"");
    if (*v < lo)
      return fail(path, "must be at least " + std::to_string(lo) + ", got " + n.Scalar());
    out = *v;
    return okStatus();
  }

  Status fraction(const YAML::Node& n, const std::string& path, double& out, double hi = 1) {
    UMBRA_CHECK(quantity(n, path, out));
    if (out > hi)
      return fail(path, "must be at most " + std::to_string(hi) + ", got " + n.Scalar());
    return okStatus();
  }

  Status text(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n)
      return okStatus();
    if (!n.IsScalar())
      return fail(path, "must be a string");
    out = n.Scalar();
    return okStatus();
  }

  Status stringMap(const YAML::Node& n, const std::string& path,
                   std::map<std::string, std::string>& out) {
    if (!n)
      return okStatus();
    if (!n.IsMap())
      return fail(path, "must be a mapping of strings");
    for (const auto& kv : n) {
      if (!kv.second.IsScalar())
        return fail(path + "." + kv.first.as<std::string>(), "must be a string");
      out[kv.first.as<std::string>()] = kv.second.Scalar();
    }
    return okStatus();
  }

  Status curve(const YAML::Node& n, const std::string& path, QueueCurve& c) {
    UMBRA_CHECK(keys(n, path, {"scale", "exponent", "knee"}));
    if (!n)
      return okStatus();
    UMBRA_CHECK(quantity(n["scale"], path + ".scale", c.scale));
    UMBRA_CHECK(quantity(n["exponent"], path + ".exponent", c.exponent));
    UMBRA_CHECK(quantity(n["knee"], path + ".knee", c.knee));
    if (c.knee <= 0)
      return fail(path + ".knee", "must be greater than 0");
    return okStatus();
  }

 private:
  std::string source_;
};

const std::set<std::string> Profiles = {"steady", "diurnal", "spiky", "bursty"};

Status parsePhysics(Fields& f, const YAML::Node& n, Physics& p) {
  UMBRA_CHECK(
      f.keys(n, "physics",
             {"cpu", "disk", "network", "memoryPressureStart", "interference", "noise",
              "measurementNoise", "diskLatency", "networkLatency", "dirtyRatePerCore", "classes"}));
  if (!n)
    return okStatus();
  UMBRA_CHECK(f.curve(n["cpu"], "physics.cpu", p.cpu));
  UMBRA_CHECK(f.curve(n["disk"], "physics.disk", p.disk));
  UMBRA_CHECK(f.curve(n["network"], "physics.network", p.network));
  UMBRA_CHECK(f.fraction(n["memoryPressureStart"], "physics.memoryPressureStart",
                         p.memoryPressureStart, 0.99));
  UMBRA_CHECK(f.quantity(n["interference"], "physics.interference", p.interference));
  UMBRA_CHECK(f.fraction(n["noise"], "physics.noise", p.noise, 0.5));
  UMBRA_CHECK(
      f.fraction(n["measurementNoise"], "physics.measurementNoise", p.measurementNoise, 0.5));
  UMBRA_CHECK(f.quantity(n["diskLatency"], "physics.diskLatency", p.diskLatencySeconds));
  UMBRA_CHECK(f.quantity(n["networkLatency"], "physics.networkLatency", p.networkLatencySeconds));
  UMBRA_CHECK(
      f.quantity(n["dirtyRatePerCore"], "physics.dirtyRatePerCore", p.dirtyBytesPerCoreSecond));
  if (const auto classes = n["classes"]) {
    if (!classes.IsMap())
      return f.fail("physics.classes",
                    "must be a mapping of class name to {sensitivity, pressure}");
    for (const auto& kv : classes) {
      const std::string path = "physics.classes." + kv.first.as<std::string>();
      UMBRA_CHECK(f.keys(kv.second, path, {"sensitivity", "pressure"}));
      InterferenceClass c;
      UMBRA_CHECK(f.quantity(kv.second["sensitivity"], path + ".sensitivity", c.sensitivity));
      UMBRA_CHECK(f.quantity(kv.second["pressure"], path + ".pressure", c.pressure));
      p.classes[kv.first.as<std::string>()] = c;
    }
  }
  return okStatus();
}

Status parseNode(Fields& f, const YAML::Node& n, const std::string& path, NodeSpec& node,
                 int& count) {
  UMBRA_CHECK(f.keys(n, path,
                     {"name", "count", "cpu", "memory", "disk", "network", "cpuSpeed", "labels",
                      "taints", "devices", "background"}));
  if (!n)
    return f.fail(path, "must be a mapping");
  UMBRA_CHECK(f.text(n["name"], path + ".name", node.name));
  if (node.name.empty())
    return f.fail(path + ".name", "is required");
  double c = 1;
  UMBRA_CHECK(f.quantity(n["count"], path + ".count", c, 1));
  count = static_cast<int>(c);
  if (!n["cpu"] || !n["memory"])
    return f.fail(path + (n["cpu"] ? ".memory" : ".cpu"), "is required");
  UMBRA_CHECK(f.quantity(n["cpu"], path + ".cpu", node.cpuCores, 0.1));
  UMBRA_CHECK(f.quantity(n["memory"], path + ".memory", node.memoryBytes, 1 << 20));
  UMBRA_CHECK(f.quantity(n["disk"], path + ".disk", node.diskBytesPerSecond, 1));
  UMBRA_CHECK(f.quantity(n["network"], path + ".network", node.networkBytesPerSecond, 1));
  UMBRA_CHECK(f.quantity(n["cpuSpeed"], path + ".cpuSpeed", node.cpuSpeed, 0.1));
  UMBRA_CHECK(f.stringMap(n["labels"], path + ".labels", node.labels));
  if (const auto devices = n["devices"]) {
    if (!devices.IsMap())
      return f.fail(path + ".devices", "must be a mapping of resource names to quantities");
    for (const auto& kv : devices) {
      const std::string name = kv.first.as<std::string>();
      if (name.find('/') == std::string::npos && name.rfind("hugepages-", 0) != 0)
        return f.fail(path + ".devices." + name,
                      "must be an extended resource (vendor/name) or hugepages-<size>");
      UMBRA_CHECK(f.quantity(kv.second, path + ".devices." + name, node.devices[name]));
    }
  }
  if (const auto taints = n["taints"]) {
    if (!taints.IsSequence())
      return f.fail(path + ".taints", "must be a list");
    for (size_t i = 0; i < taints.size(); ++i) {
      const std::string tp = path + ".taints[" + std::to_string(i) + "]";
      UMBRA_CHECK(f.keys(taints[i], tp, {"key", "value", "effect"}));
      Taint t;
      UMBRA_CHECK(f.text(taints[i]["key"], tp + ".key", t.key));
      UMBRA_CHECK(f.text(taints[i]["value"], tp + ".value", t.value));
      UMBRA_CHECK(f.text(taints[i]["effect"], tp + ".effect", t.effect));
      if (t.key.empty())
        return f.fail(tp + ".key", "is required");
      if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute")
        return f.fail(tp + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute");
      node.taints.push_back(t);
    }
  }
  if (const auto b = n["background"]) {
    const std::string bp = path + ".background";
    UMBRA_CHECK(f.keys(b, bp, {"profile", "trace", "level", "share", "memory"}));
    UMBRA_CHECK(f.text(b["profile"], bp + ".profile", node.background.profile));
    UMBRA_CHECK(f.text(b["trace"], bp + ".trace", node.background.trace));
    UMBRA_CHECK(f.fraction(b["level"], bp + ".level", node.background.level));
    UMBRA_CHECK(f.fraction(b["share"], bp + ".share", node.background.share));
    UMBRA_CHECK(f.fraction(b["memory"], bp + ".memory", node.background.memory));
    if (!node.background.profile.empty() && !Profiles.count(node.background.profile))
      return f.fail(bp + ".profile", "must be steady, diurnal, spiky or bursty, got \"" +
                                         node.background.profile + "\"");
    if (node.background.profile.empty() == node.background.trace.empty())
      return f.fail(bp, "needs exactly one of profile and trace");
  }
  return okStatus();
}

}  // namespace

Result<ClusterSpec> parseCluster(const std::string& yamlText, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yamlText);
  } catch (const YAML::Exception& e) {
    return Error::config(source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  Fields f(source);
  if (!root || !root.IsMap())
    return f.fail("(top level)", "must be a mapping with name, physics and nodes");
  UMBRA_CHECK(f.keys(root, "(top level)", {"name", "physics", "nodes"}));
  ClusterSpec spec;
  UMBRA_CHECK(f.text(root["name"], "name", spec.name));
  UMBRA_CHECK(parsePhysics(f, root["physics"], spec.physics));
  const auto nodes = root["nodes"];
  if (!nodes || !nodes.IsSequence() || nodes.size() == 0)
    return f.fail("nodes", "must be a non-empty list");
  std::set<std::string> names;
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodeSpec node;
    int count = 1;
    UMBRA_CHECK(parseNode(f, nodes[i], "nodes[" + std::to_string(i) + "]", node, count));
    for (int k = 0; k < count; ++k) {
      NodeSpec copy = node;
      if (count > 1) {
        char suffix[16];
        std::snprintf(suffix, sizeof(suffix), "-%02d", k);
        copy.name += suffix;
      }
      if (!names.insert(copy.name).second)
        return f.fail("nodes[" + std::to_string(i) + "].name", "duplicate node " + copy.name);
      spec.nodes.push_back(std::move(copy));
    }
  }
  return spec;
}

std::vector<std::string> classNames(const ClusterSpec& cluster) {
  std::vector<std::string> names;
  for (const auto& [name, cls] : cluster.physics.classes)
    names.push_back(name);
  return names;
}

}  // namespace umbra::sim
