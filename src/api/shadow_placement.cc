#include "api/shadow_placement.h"

#include "kube_core/quantity.h"

namespace umbra::api {
namespace {

Error invalid(const std::string& who, const std::string& field, const std::string& what) {
  return Error::make(ErrorKind::Terminal, who + ": " + field + ": " + what);
}

// Reads an optional number in [lo, hi] at `section.key`; keeps `out` when absent.
Status readNumber(const Json& section, const char* key, const std::string& field,
                  const std::string& who, double lo, double hi, double& out) {
  if (!section.contains(key)) {
    return okStatus();
  }
  const Json& v = section[key];
  if (!v.is_number() || v.get<double>() < lo || v.get<double>() > hi) {
    return invalid(who, field,
                   "must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "], got " + v.dump());
  }
  out = v.get<double>();
  return okStatus();
}

Status readInt(const Json& section, const char* key, const std::string& field,
               const std::string& who, int lo, int hi, int& out) {
  if (!section.contains(key)) {
    return okStatus();
  }
  const Json& v = section[key];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return invalid(
        who, field,
        "must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v.dump());
  }
  out = v.get<int>();
  return okStatus();
}

Status readDuration(const Json& section, const char* key, const std::string& field,
                    const std::string& who, milliseconds& out) {
  if (!section.contains(key)) {
    return okStatus();
  }
  const Json& v = section[key];
  const auto d = v.is_string() ? kube::parseDuration(v.get<std::string>()) : std::nullopt;
  if (!d || d->count() <= 0) {
    return invalid(who, field, v.dump() + " is not a duration");
  }
  out = *d;
  return okStatus();
}

const Json& sectionOf(const Json& spec, const char* key) {
  static const Json empty = Json::object();
  const auto it = spec.find(key);
  return it != spec.end() && it->is_object() ? *it : empty;
}

}  // namespace

const kube::ResourceType& shadowPlacements() {
  static const kube::ResourceType t{Group, Version, "shadowplacements", "ShadowPlacement", true};
  return t;
}
const kube::ResourceType& virtualMachines() {
  static const kube::ResourceType t{"kubevirt.io", "v1", "virtualmachines", "VirtualMachine", true};
  return t;
}
const kube::ResourceType& virtualMachineInstances() {
  static const kube::ResourceType t{"kubevirt.io", "v1", "virtualmachineinstances",
                                    "VirtualMachineInstance", true};
  return t;
}
const kube::ResourceType& migrations() {
  static const kube::ResourceType t{"kubevirt.io", "v1", "virtualmachineinstancemigrations",
                                    "VirtualMachineInstanceMigration", true};
  return t;
}

const kube::ResourceType& clusterInstancetypes() {
  static const kube::ResourceType t{"instancetype.kubevirt.io", "v1beta1",
                                    "virtualmachineclusterinstancetypes",
                                    "VirtualMachineClusterInstancetype", false};
  return t;
}
const kube::ResourceType& instancetypes() {
  static const kube::ResourceType t{"instancetype.kubevirt.io", "v1beta1",
                                    "virtualmachineinstancetypes", "VirtualMachineInstancetype",
                                    true};
  return t;
}

const kube::ResourceType& clusterPreferences() {
  static const kube::ResourceType t{"instancetype.kubevirt.io", "v1beta1",
                                    "virtualmachineclusterpreferences",
                                    "VirtualMachineClusterPreference", false};
  return t;
}
const kube::ResourceType& preferences() {
  static const kube::ResourceType t{"instancetype.kubevirt.io", "v1beta1",
                                    "virtualmachinepreferences", "VirtualMachinePreference", true};
  return t;
}

const kube::ResourceType& virtualMachinePools() {
  static const kube::ResourceType t{"pool.kubevirt.io", "v1beta1", "virtualmachinepools",
                                    "VirtualMachinePool", true};
  return t;
}

const kube::ResourceType& virtualServices() {
  static const kube::ResourceType t{"networking.istio.io", "v1", "virtualservices",
                                    "VirtualService", true};
  return t;
}

const kube::ResourceType& networkAttachmentDefinitions() {
  static const kube::ResourceType t{"k8s.cni.cncf.io", "v1", "network-attachment-definitions",
                                    "NetworkAttachmentDefinition", true};
  return t;
}

const char* toString(TargetKind kind) {
  return kind == TargetKind::VirtualMachine ? "VirtualMachine" : "VirtualMachineInstance";
}
const char* toString(PinPolicy policy) {
  switch (policy) {
    case PinPolicy::Required: return "Required";
    case PinPolicy::Preferred: return "Preferred";
    case PinPolicy::UntilRunning: return "UntilRunning";
  }
  return "";
}
const char* toString(Mode mode) {
  return mode == Mode::Apply ? "Apply" : "Recommend";
}
const char* toString(Fidelity f) {
  switch (f) {
    case Fidelity::Passive: return "Passive";
    case Fidelity::Synthetic: return "Synthetic";
    case Fidelity::Mirror: return "Mirror";
  }
  return "";
}

Result<PlacementSettings> settingsFrom(const Json& sp, const PlacementDefaults& d) {
  const Json& meta = sp.at("metadata");
  const std::string who = meta.value("namespace", "") + "/" + meta.value("name", "");
  const Json& spec = sectionOf(sp, "spec");
  PlacementSettings s;
  s.candidateCount = d.candidateCount;
  s.cpuFraction = d.cpuFraction;
  s.memoryFraction = d.memoryFraction;
  s.observationDuration = d.observationDuration;
  s.observationInterval = d.observationInterval;
  s.minConfidence = d.minConfidence;
  s.maxExtensions = d.maxExtensions;
  s.weights = d.weights;

  const Json& target = sectionOf(spec, "target");
  const std::string kind = target.value("kind", "");
  if (kind == "VirtualMachine") {
    s.targetKind = TargetKind::VirtualMachine;
  } else if (kind == "VirtualMachineInstance") {
    s.targetKind = TargetKind::VirtualMachineInstance;
  } else {
    return invalid(who, "spec.target.kind", "must be VirtualMachine or VirtualMachineInstance");
  }
  s.targetName = target.value("name", "");
  if (s.targetName.empty()) {
    return invalid(who, "spec.target.name", "required");
  }
  const std::string mode = spec.value("mode", "Apply");
  if (mode != "Apply" && mode != "Recommend") {
    return invalid(who, "spec.mode", "must be Apply or Recommend, got \"" + mode + "\"");
  }
  s.mode = mode == "Apply" ? Mode::Apply : Mode::Recommend;
  const std::string pin = spec.value("pinPolicy", "UntilRunning");
  if (pin == "Required")
    s.pinPolicy = PinPolicy::Required;
  else if (pin == "Preferred")
    s.pinPolicy = PinPolicy::Preferred;
  else if (pin == "UntilRunning")
    s.pinPolicy = PinPolicy::UntilRunning;
  else
    return invalid(who, "spec.pinPolicy",
                   "must be Required, Preferred or UntilRunning, got \"" + pin + "\"");

  const Json& candidates = sectionOf(spec, "candidates");
  UMBRA_CHECK(readInt(candidates, "count", "spec.candidates.count", who, 1, 10, s.candidateCount));
  for (const auto& [k, v] : sectionOf(candidates, "nodeSelector").items()) {
    s.nodeSelector[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }

  const Json& shadow = sectionOf(spec, "shadow");
  UMBRA_CHECK(
      readNumber(shadow, "cpuFraction", "spec.shadow.cpuFraction", who, 1e-6, 0.5, s.cpuFraction));
  UMBRA_CHECK(readNumber(shadow, "memoryFraction", "spec.shadow.memoryFraction", who, 1e-6, 0.5,
                         s.memoryFraction));
  const std::string fidelity = shadow.value("fidelity", "Passive");
  if (fidelity == "Passive") {
    s.fidelity = Fidelity::Passive;
  } else if (fidelity == "Synthetic") {
    s.fidelity = Fidelity::Synthetic;
  } else if (fidelity == "Mirror") {
    s.fidelity = Fidelity::Mirror;
  } else {
    return invalid(who, "spec.shadow.fidelity",
                   "\"" + fidelity + "\" is not supported (Passive, Synthetic or Mirror)");
  }
  const Json& mirroring = sectionOf(shadow, "mirroring");
  s.mirroring.percentage = d.mirroringPercentage;
  UMBRA_CHECK(readNumber(mirroring, "percentage", "spec.shadow.mirroring.percentage", who, 1e-3,
                         100, s.mirroring.percentage));
  s.mirroring.service = mirroring.value("service", "");
  const std::string fallback = mirroring.value("fallback", "None");
  if (fallback != "None" && fallback != "Synthetic")
    return invalid(who, "spec.shadow.mirroring.fallback",
                   "must be None or Synthetic, got \"" + fallback + "\"");
  s.mirroring.fallbackSynthetic = fallback == "Synthetic";
  const Json& load = sectionOf(shadow, "syntheticLoad");
  s.load.profile = load.value("profile", s.load.profile);
  UMBRA_CHECK(readInt(load, "cpuPercent", "spec.shadow.syntheticLoad.cpuPercent", who, 1, 100,
                      s.load.cpuPercent));

  const Json& constraints = sectionOf(spec, "constraints");
  if (constraints.contains("maxCostPerHour")) {
    double cap = 0;
    UMBRA_CHECK(readNumber(constraints, "maxCostPerHour", "spec.constraints.maxCostPerHour", who,
                           1e-9, 1e9, cap));
    s.maxCostPerHour = cap;
  }

  const Json& obs = sectionOf(spec, "observation");
  UMBRA_CHECK(
      readDuration(obs, "duration", "spec.observation.duration", who, s.observationDuration));
  UMBRA_CHECK(
      readDuration(obs, "interval", "spec.observation.interval", who, s.observationInterval));
  if (s.observationInterval > s.observationDuration) {
    return invalid(who, "spec.observation.interval", "must not exceed observation.duration");
  }
  UMBRA_CHECK(readNumber(obs, "minConfidence", "spec.observation.minConfidence", who, 0, 1,
                         s.minConfidence));
  UMBRA_CHECK(
      readInt(obs, "maxExtensions", "spec.observation.maxExtensions", who, 0, 10, s.maxExtensions));
  // The operator's limits (issue 25: fair sharing), checked on the effective values.
  const auto& lim = d.limits;
  if (s.observationDuration > lim.observationDuration)
    return invalid(who, "spec.observation.duration",
                   kube::formatDuration(s.observationDuration) + " exceeds the operator's limit " +
                       kube::formatDuration(lim.observationDuration) +
                       " (limits.observationDuration)");
  if (s.maxExtensions > lim.extensions)
    return invalid(who, "spec.observation.maxExtensions",
                   std::to_string(s.maxExtensions) + " exceeds the operator's limit " +
                       std::to_string(lim.extensions) + " (limits.extensions)");
  if (s.candidateCount > lim.candidates)
    return invalid(who, "spec.candidates.count",
                   std::to_string(s.candidateCount) + " exceeds the operator's limit " +
                       std::to_string(lim.candidates) + " (limits.candidates)");

  const Json& weights = sectionOf(sectionOf(spec, "scoring"), "weights");
  if (!weights.empty()) {
    s.weights = ScoringWeights{0, 0, 0, 0};
    UMBRA_CHECK(readNumber(weights, "cpu", "spec.scoring.weights.cpu", who, 0, 1, s.weights.cpu));
    UMBRA_CHECK(
        readNumber(weights, "memory", "spec.scoring.weights.memory", who, 0, 1, s.weights.memory));
    UMBRA_CHECK(
        readNumber(weights, "disk", "spec.scoring.weights.disk", who, 0, 1, s.weights.disk));
    UMBRA_CHECK(readNumber(weights, "network", "spec.scoring.weights.network", who, 0, 1,
                           s.weights.network));
    if (s.weights.cpu + s.weights.memory + s.weights.disk + s.weights.network <= 0) {
      return invalid(who, "spec.scoring.weights", "at least one weight must be positive");
    }
  }
  return s;
}

}  // namespace umbra::api
