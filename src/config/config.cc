#include "config/config.h"
#include "common/files.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "config/yaml_reader.h"
#include "kube_core/quantity.h"

namespace umbra::config {
namespace {

using detail::Reader;

Status parsePrometheus(const YAML::Node& n, const Reader& r, PrometheusSettings& p) {
  UMBRA_CHECK(r.onlyKeys(n, "prometheus",
                         {"url", "rateWindow", "nodeLabel", "probeReference", "timeout",
                          "bearerTokenFile", "basicAuth", "tls", "catalog"}));
  if (!n) {
    return okStatus();
  }
  UMBRA_CHECK(r.string(n["url"], "prometheus.url", p.url));
  if (p.url.rfind("http://", 0) != 0 && p.url.rfind("https://", 0) != 0) {
    return r.error("prometheus.url", "\"" + p.url + "\" is not an http(s) URL");
  }
  std::chrono::milliseconds window = p.catalog.rateWindow;
  UMBRA_CHECK(r.duration(n["rateWindow"], "prometheus.rateWindow", window));
  if (window < std::chrono::seconds(1)) {
    return r.error("prometheus.rateWindow", "must be at least 1s");
  }
  p.catalog.rateWindow = std::chrono::duration_cast<std::chrono::seconds>(window);
  UMBRA_CHECK(r.string(n["nodeLabel"], "prometheus.nodeLabel", p.catalog.nodeLabel));
  if (!telemetry::validNodeLabel(p.catalog.nodeLabel)) {
    return r.error("prometheus.nodeLabel",
                   "must be auto or a Prometheus label name (node, "
                   "instance, ...), got \"" +
                       p.catalog.nodeLabel + "\"");
  }
  UMBRA_CHECK(r.number(n["probeReference"], "prometheus.probeReference", 0.001, 1000,
                       p.catalog.probeReference));
  UMBRA_CHECK(r.duration(n["timeout"], "prometheus.timeout", p.timeout));
  UMBRA_CHECK(r.string(n["bearerTokenFile"], "prometheus.bearerTokenFile", p.bearerTokenFile));
  UMBRA_CHECK(r.onlyKeys(n["basicAuth"], "prometheus.basicAuth", {"username", "passwordFile"}));
  if (n["basicAuth"]) {
    UMBRA_CHECK(r.string(n["basicAuth"]["username"], "prometheus.basicAuth.username", p.username));
    UMBRA_CHECK(r.string(n["basicAuth"]["passwordFile"], "prometheus.basicAuth.passwordFile",
                         p.passwordFile));
    if (p.username.empty() || p.passwordFile.empty()) {
      return r.error("prometheus.basicAuth", "needs both username and passwordFile");
    }
  }
  if (!p.bearerTokenFile.empty() && !p.username.empty()) {
    return r.error("prometheus", "bearerTokenFile and basicAuth are mutually exclusive");
  }
  UMBRA_CHECK(r.onlyKeys(n["tls"], "prometheus.tls", {"caFile", "insecureSkipVerify"}));
  if (n["tls"]) {
    UMBRA_CHECK(r.string(n["tls"]["caFile"], "prometheus.tls.caFile", p.caFile));
    UMBRA_CHECK(r.boolean(n["tls"]["insecureSkipVerify"], "prometheus.tls.insecureSkipVerify",
                          p.insecureSkipVerify));
  }
  const YAML::Node catalog = n["catalog"];
  if (catalog && !catalog.IsMap()) {
    return r.error("prometheus.catalog", "must map feature names to overrides");
  }
  for (const auto& kv : catalog) {
    const std::string name = kv.first.as<std::string>();
    const std::string at = "prometheus.catalog." + name;
    const int i = p.catalog.index(name);
    if (i < 0) {
      std::string known;
      for (const auto& f : p.catalog.features)
        known += (known.empty() ? "" : ", ") + f.name;
      return r.error(at, "unknown feature (known: " + known + ")");
    }
    auto& f = p.catalog.features[static_cast<size_t>(i)];
    UMBRA_CHECK(r.onlyKeys(kv.second, at, {"query", "series", "scale", "required"}));
    UMBRA_CHECK(r.string(kv.second["query"], at + ".query", f.query));
    UMBRA_CHECK(r.string(kv.second["series"], at + ".series", f.series));
    UMBRA_CHECK(r.number(kv.second["scale"], at + ".scale", 0, 1e15, f.scale));
    if (!(f.scale > 0)) {
      return r.error(at + ".scale", "must be positive (the feature is divided by it)");
    }
    UMBRA_CHECK(r.boolean(kv.second["required"], at + ".required", f.required));
  }
  return okStatus();
}

// `limits:`, after the defaults they bound.
Status parseLimits(const YAML::Node& limits, const Reader& r, OperatorConfig& c) {
  UMBRA_CHECK(r.onlyKeys(limits, "limits",
                         {"observationDuration", "extensions", "candidates",
                          "concurrentPlacementsPerNamespace", "deadlineGrace"}));
  auto& lim = c.placement.limits;
  if (limits) {
    UMBRA_CHECK(r.duration(limits["observationDuration"], "limits.observationDuration",
                           lim.observationDuration));
    UMBRA_CHECK(r.integer(limits["extensions"], "limits.extensions", 0, 10, lim.extensions));
    UMBRA_CHECK(r.integer(limits["candidates"], "limits.candidates", 1, 10, lim.candidates));
    UMBRA_CHECK(r.integer(limits["concurrentPlacementsPerNamespace"],
                          "limits.concurrentPlacementsPerNamespace", 1, 1000,
                          c.concurrentPlacementsPerNamespace));
    UMBRA_CHECK(r.duration(limits["deadlineGrace"], "limits.deadlineGrace", c.deadlineGrace));
  }
  const auto& p = c.placement;
  if (p.observationDuration > lim.observationDuration)
    return r.error("observation.duration", "exceeds limits.observationDuration (" +
                                               kube::formatDuration(lim.observationDuration) + ")");
  if (p.maxExtensions > lim.extensions)
    return r.error("observation.maxExtensions",
                   "exceeds limits.extensions (" + std::to_string(lim.extensions) + ")");
  if (p.candidateCount > lim.candidates)
    return r.error("shadows.count",
                   "exceeds limits.candidates (" + std::to_string(lim.candidates) + ")");
  return okStatus();
}

// A `perHour` mapping of names to prices (nodePrices, instancetypePrices), when present.
Status priceTable(const Reader& r, const YAML::Node& table, const std::string& field,
                  const std::string& what, std::vector<std::pair<std::string, double>>& out) {
  if (!table)
    return okStatus();
  if (!table.IsMap())
    return r.error(field, "must be a mapping of " + what);
  for (const auto& kv : table) {
    const std::string key = kv.first.as<std::string>();
    double price = 0;
    UMBRA_CHECK(r.number(kv.second, field + "." + key, 0, 1e9, price));
    out.emplace_back(key, price);
  }
  return okStatus();
}

Result<OperatorConfig> parseRoot(const YAML::Node& root, const Reader& r) {
  OperatorConfig c;
  if (!root || root.IsNull()) {
    return c;  // an empty file means all defaults
  }
  UMBRA_CHECK(r.onlyKeys(root, "",
                         {"shadows", "mirroringPercentage", "mesh", "nodePrices",
                          "instancetypePrices", "observation", "scoring", "retrainingInterval",
                          "maxConcurrentPlacements", "limits", "prometheus", "model"}));
  api::PlacementDefaults& p = c.placement;
  const YAML::Node shadows = root["shadows"];
  UMBRA_CHECK(r.onlyKeys(shadows, "shadows",
                         {"count", "cpuFraction", "memoryFraction", "cpuFloor", "memoryFloor",
                          "imageMemoryFloors", "probeImage", "startTimeout", "targetWaitTimeout"}));
  if (shadows) {
    UMBRA_CHECK(r.integer(shadows["count"], "shadows.count", 1, 10, p.candidateCount));
    UMBRA_CHECK(r.number(shadows["cpuFraction"], "shadows.cpuFraction", 1e-6, 0.5, p.cpuFraction));
    UMBRA_CHECK(
        r.number(shadows["memoryFraction"], "shadows.memoryFraction", 1e-6, 0.5, p.memoryFraction));
    UMBRA_CHECK(r.quantity(shadows["cpuFloor"], "shadows.cpuFloor", p.cpuFloorCores));
    UMBRA_CHECK(r.quantity(shadows["memoryFloor"], "shadows.memoryFloor", p.memoryFloorBytes));
    if (const YAML::Node floors = shadows["imageMemoryFloors"]) {
      if (!floors.IsMap())
        return r.error("shadows.imageMemoryFloors",
                       "must be a mapping of image substrings to quantities, e.g. {fedora: 544Mi}");
      p.imageMemoryFloors.clear();  // the file's list replaces the defaults
      for (const auto& kv : floors) {
        const std::string key = kv.first.as<std::string>();
        if (key.empty())
          return r.error("shadows.imageMemoryFloors", "an empty key would match every image");
        UMBRA_CHECK(
            r.quantity(kv.second, "shadows.imageMemoryFloors." + key, p.imageMemoryFloors[key]));
      }
    }
    UMBRA_CHECK(r.string(shadows["probeImage"], "shadows.probeImage", p.probeImage));
    UMBRA_CHECK(r.duration(shadows["startTimeout"], "shadows.startTimeout", p.shadowStartTimeout));
    UMBRA_CHECK(
        r.duration(shadows["targetWaitTimeout"], "shadows.targetWaitTimeout", p.targetWaitTimeout));
  }
  // fidelity Mirror: the share of the target's requests each shadow gets, and where the mesh's
  // control plane runs (a Mirror shadow's egress policy lets its sidecar reach it).
  UMBRA_CHECK(r.number(root["mirroringPercentage"], "mirroringPercentage", 1e-3, 100,
                       p.mirroringPercentage));
  const YAML::Node mesh = root["mesh"];
  UMBRA_CHECK(r.onlyKeys(mesh, "mesh", {"namespace"}));
  if (mesh)
    UMBRA_CHECK(r.string(mesh["namespace"], "mesh.namespace", p.meshNamespace));
  // spec.constraints.maxCostPerHour: what each node costs per hour, by the value of a label.
  const YAML::Node prices = root["nodePrices"];
  UMBRA_CHECK(r.onlyKeys(prices, "nodePrices", {"label", "perHour"}));
  if (prices) {
    UMBRA_CHECK(r.string(prices["label"], "nodePrices.label", p.nodePrices.label));
    std::vector<std::pair<std::string, double>> table;
    UMBRA_CHECK(priceTable(r, prices["perHour"], "nodePrices.perHour",
                           "label values to prices, e.g. {m6i.2xlarge: 0.384}", table));
    p.nodePrices.perHour.insert(table.begin(), table.end());
  }
  // InstancetypeTrials: what each instancetype costs per hour.
  const YAML::Node types = root["instancetypePrices"];
  UMBRA_CHECK(r.onlyKeys(types, "instancetypePrices",
                         {"perVcpuHour", "perGiBHour", "dedicatedPremium", "perHour"}));
  if (types) {
    api::InstancetypePrices& t = p.instancetypePrices;
    UMBRA_CHECK(
        r.number(types["perVcpuHour"], "instancetypePrices.perVcpuHour", 0, 1e9, t.perVcpuHour));
    UMBRA_CHECK(
        r.number(types["perGiBHour"], "instancetypePrices.perGiBHour", 0, 1e9, t.perGiBHour));
    UMBRA_CHECK(r.number(types["dedicatedPremium"], "instancetypePrices.dedicatedPremium", 0, 10,
                         t.dedicatedPremium));
    UMBRA_CHECK(priceTable(r, types["perHour"], "instancetypePrices.perHour",
                           "instancetype names to prices, e.g. {u1.large: 0.09}", t.perHour));
  }
  const YAML::Node obs = root["observation"];
  UMBRA_CHECK(
      r.onlyKeys(obs, "observation", {"duration", "interval", "minConfidence", "maxExtensions"}));
  if (obs) {
    UMBRA_CHECK(r.duration(obs["duration"], "observation.duration", p.observationDuration));
    UMBRA_CHECK(r.duration(obs["interval"], "observation.interval", p.observationInterval));
    UMBRA_CHECK(r.number(obs["minConfidence"], "observation.minConfidence", 0, 1, p.minConfidence));
    UMBRA_CHECK(
        r.integer(obs["maxExtensions"], "observation.maxExtensions", 0, 10, p.maxExtensions));
    if (p.observationInterval > p.observationDuration) {
      return r.error("observation.interval", "must not exceed observation.duration");
    }
  }
  const YAML::Node scoring = root["scoring"];
  UMBRA_CHECK(r.onlyKeys(scoring, "scoring", {"weights"}));
  if (scoring && scoring["weights"]) {
    const YAML::Node w = scoring["weights"];
    UMBRA_CHECK(r.onlyKeys(w, "scoring.weights", {"cpu", "memory", "disk", "network"}));
    UMBRA_CHECK(r.number(w["cpu"], "scoring.weights.cpu", 0, 1, p.weights.cpu));
    UMBRA_CHECK(r.number(w["memory"], "scoring.weights.memory", 0, 1, p.weights.memory));
    UMBRA_CHECK(r.number(w["disk"], "scoring.weights.disk", 0, 1, p.weights.disk));
    UMBRA_CHECK(r.number(w["network"], "scoring.weights.network", 0, 1, p.weights.network));
    if (p.weights.cpu + p.weights.memory + p.weights.disk + p.weights.network <= 0) {
      return r.error("scoring.weights", "at least one weight must be positive");
    }
  }
  UMBRA_CHECK(r.duration(root["retrainingInterval"], "retrainingInterval", c.retrainingInterval));
  UMBRA_CHECK(r.integer(root["maxConcurrentPlacements"], "maxConcurrentPlacements", 1, 1000,
                        c.maxConcurrentPlacements));
  UMBRA_CHECK(parseLimits(root["limits"], r, c));
  UMBRA_CHECK(parsePrometheus(root["prometheus"], r, c.prometheus));
  const YAML::Node model = root["model"];
  UMBRA_CHECK(r.onlyKeys(model, "model",
                         {"path", "contentionPath", "outcomesPath", "outcomeWindow",
                          "outcomeStatistic", "nodeHistory", "retraining"}));
  if (model) {
    UMBRA_CHECK(r.string(model["path"], "model.path", c.modelPath));
    UMBRA_CHECK(r.string(model["contentionPath"], "model.contentionPath", c.contentionModelPath));
    UMBRA_CHECK(r.string(model["outcomesPath"], "model.outcomesPath", c.outcomesPath));
    UMBRA_CHECK(r.duration(model["outcomeWindow"], "model.outcomeWindow", c.outcomeWindow));
    std::string statistic = c.outcomeP95 ? "p95" : "mean";
    UMBRA_CHECK(r.string(model["outcomeStatistic"], "model.outcomeStatistic", statistic));
    if (statistic != "mean" && statistic != "p95")
      return r.error("model.outcomeStatistic", "must be mean or p95, got \"" + statistic + "\"");
    c.outcomeP95 = statistic == "p95";
    std::string history = c.coRunnerHistory ? "coRunners" : "node";
    UMBRA_CHECK(r.string(model["nodeHistory"], "model.nodeHistory", history));
    if (history != "coRunners" && history != "node")
      return r.error("model.nodeHistory", "must be coRunners or node, got \"" + history + "\"");
    c.coRunnerHistory = history == "coRunners";
    const YAML::Node t = model["retraining"];
    UMBRA_CHECK(r.onlyKeys(t, "model.retraining",
                           {"enabled", "history", "epochs", "stepsPerEpoch", "batch", "hidden",
                            "period", "holdBack", "trainer", "spool"}));
    auto& rt = c.retraining;
    if (t) {
      UMBRA_CHECK(r.boolean(t["enabled"], "model.retraining.enabled", rt.enabled));
      UMBRA_CHECK(r.duration(t["history"], "model.retraining.history", rt.history));
      UMBRA_CHECK(r.integer(t["epochs"], "model.retraining.epochs", 1, 1000, rt.epochs));
      UMBRA_CHECK(r.integer(t["stepsPerEpoch"], "model.retraining.stepsPerEpoch", 1, 100000,
                            rt.stepsPerEpoch));
      UMBRA_CHECK(r.integer(t["batch"], "model.retraining.batch", 1, 65536, rt.batch));
      UMBRA_CHECK(r.integer(t["hidden"], "model.retraining.hidden", 1, 1024, rt.hidden));
      UMBRA_CHECK(r.integer(t["period"], "model.retraining.period", 1, 10000, rt.period));
      UMBRA_CHECK(r.number(t["holdBack"], "model.retraining.holdBack", 0.05, 0.5, rt.holdBack));
      UMBRA_CHECK(r.string(t["trainer"], "model.retraining.trainer", rt.trainer));
      UMBRA_CHECK(r.string(t["spool"], "model.retraining.spool", rt.spool));
      if (!rt.spool.empty() && !rt.trainer.empty())
        return r.error(
            "model.retraining.spool",
            "excludes model.retraining.trainer (the trainer sidecar, or a child process)");
    }
  }
  return c;
}

}  // namespace

Result<OperatorConfig> parseConfig(const std::string& yaml, const std::string& origin) {
  const Reader reader(origin);
  try {
    return parseRoot(YAML::Load(yaml), reader);
  } catch (const YAML::Exception& e) {
    return Error::config(origin + ":" + std::to_string(e.mark.line + 1) +
                         ": invalid YAML: " + e.msg);
  }
}

Result<OperatorConfig> loadConfig(const std::string& path) {
  UMBRA_TRY(const std::string text, readFile(path));
  return parseConfig(text, path);
}

}  // namespace umbra::config
