#include <gtest/gtest.h>

#include "api/shadow_placement.h"
#include "config/config.h"
#include "kube_core/quantity.h"

namespace umbra {
namespace {

using api::Json;
using namespace std::chrono_literals;

TEST(Quantity, ParsesKubernetesSuffixes) {
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("2"), 2);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("500m"), 0.5);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("4Gi"), 4.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("1.5G"), 1.5e9);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("1e3"), 1000);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("128Mi"), 128.0 * 1024 * 1024);
  EXPECT_FALSE(kube::parseQuantity("").has_value());
  EXPECT_FALSE(kube::parseQuantity("4 GB").has_value());
  EXPECT_FALSE(kube::parseQuantity("Gi").has_value());
  EXPECT_FALSE(kube::parseQuantity("-1").has_value());
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("+2"), 2);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity(".5"), 0.5);
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("2E"), 2e18) << "exa, not an exponent";
  EXPECT_DOUBLE_EQ(*kube::parseQuantity("25e-2"), 0.25);
  // What std::strtod would take but a Kubernetes quantity is not.
  for (const char* bad : {"inf", "nan", "infinity", "0x10", "0x1p3", " 5", "5 ", "1e", "1e+",
                          "1e99999", "1.2.3", ".", "1Kib", "1e3Mi"})
    EXPECT_FALSE(kube::parseQuantity(bad).has_value()) << bad;
  EXPECT_EQ(kube::formatMilliCpu(0.02), "20m");
  EXPECT_EQ(kube::formatMilliCpu(0.0101), "11m") << "rounded up";
  EXPECT_EQ(kube::formatMebibytes(81.92 * 1024 * 1024), "82Mi");
}

TEST(Duration, ParsesGoDurations) {
  EXPECT_EQ(*kube::parseDuration("5m"), 5min);
  EXPECT_EQ(*kube::parseDuration("1h30m"), 90min);
  EXPECT_EQ(*kube::parseDuration("1.5s"), 1500ms);
  EXPECT_EQ(*kube::parseDuration("250ms"), 250ms);
  EXPECT_FALSE(kube::parseDuration("5 minutes").has_value());
  EXPECT_FALSE(kube::parseDuration("5").has_value());
  EXPECT_FALSE(kube::parseDuration("-5s").has_value());
  EXPECT_EQ(*kube::parseDuration("0"), 0ms) << "as Go";
  EXPECT_EQ(*kube::parseDuration("1m30s"), 90s);
  EXPECT_EQ(*kube::parseDuration("1500us"), 2ms) << "rounded to milliseconds";
  EXPECT_EQ(*kube::parseDuration("2\xc2\xb5s"), 0ms);
  EXPECT_EQ(*kube::parseDuration(".5h"), 30min);
  // What std::strtod would take but Go's ParseDuration does not, and totals past Go's limit.
  for (const char* bad : {"infh", "nanh", "1e3s", "0x10s", " 5s", "5s ", "5S", "s", ".s", "5ss",
                          "+5s", "1.2.3s", "3000000h", "99999999999999999999h"})
    EXPECT_FALSE(kube::parseDuration(bad).has_value()) << bad;
  EXPECT_EQ(kube::formatDuration(90min), "1h30m");
  EXPECT_EQ(kube::formatDuration(15s), "15s");
  EXPECT_EQ(kube::formatDuration(1500ms), "1500ms");
}

Json placement(Json spec) {
  return {{"apiVersion", "umbra.io/v1alpha1"},
          {"kind", "ShadowPlacement"},
          {"metadata", {{"name", "web"}, {"namespace", "prod"}, {"uid", "u-1"}}},
          {"spec", std::move(spec)}};
}

TEST(Settings, OperatorDefaultsFillWhatTheSpecLeavesOut) {
  api::PlacementDefaults d;
  d.candidateCount = 4;
  d.observationDuration = 2min;
  auto s = api::settingsFrom(
      placement({{"target", {{"kind", "VirtualMachine"}, {"name", "web-1"}}}}), d);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->targetName, "web-1");
  EXPECT_EQ(s->mode, api::Mode::Apply);
  EXPECT_EQ(s->candidateCount, 4);
  EXPECT_DOUBLE_EQ(s->cpuFraction, 0.01);
  EXPECT_DOUBLE_EQ(s->memoryFraction, 0.02);
  EXPECT_EQ(s->observationDuration, 2min);
  EXPECT_EQ(s->observationInterval, 15s);
  EXPECT_EQ(s->fidelity, api::Fidelity::Passive);
  EXPECT_DOUBLE_EQ(s->weights.cpu, 0.4);
}

TEST(Settings, TheSpecOverridesTheDefaults) {
  auto s = api::settingsFrom(
      placement(
          {{"target", {{"kind", "VirtualMachineInstance"}, {"name", "db"}}},
           {"mode", "Recommend"},
           {"candidates", {{"count", 5}, {"nodeSelector", {{"zone", "a"}}}}},
           {"shadow",
            {{"cpuFraction", 0.05},
             {"fidelity", "Synthetic"},
             {"syntheticLoad", {{"profile", "spiky"}, {"cpuPercent", 80}}}}},
           {"observation", {{"duration", "90s"}, {"interval", "5s"}, {"maxExtensions", 0}}},
           {"scoring", {{"weights", {{"cpu", 1}, {"memory", 0}, {"disk", 0}, {"network", 0}}}}}}),
      {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->targetKind, api::TargetKind::VirtualMachineInstance);
  EXPECT_EQ(s->mode, api::Mode::Recommend);
  EXPECT_EQ(s->candidateCount, 5);
  EXPECT_EQ(s->nodeSelector.at("zone"), "a");
  EXPECT_DOUBLE_EQ(s->cpuFraction, 0.05);
  EXPECT_EQ(s->fidelity, api::Fidelity::Synthetic);
  EXPECT_EQ(s->load.profile, "spiky");
  EXPECT_EQ(s->load.cpuPercent, 80);
  EXPECT_EQ(s->observationDuration, 90s);
  EXPECT_EQ(s->maxExtensions, 0);
  EXPECT_DOUBLE_EQ(s->weights.memory, 0);
}

TEST(Settings, TheCostCapIsOptional) {
  const Json target = {{"kind", "VirtualMachine"}, {"name", "web-1"}};
  EXPECT_FALSE(api::settingsFrom(placement({{"target", target}}), {})->maxCostPerHour);
  const auto s = api::settingsFrom(
      placement({{"target", target}, {"constraints", {{"maxCostPerHour", 0.25}}}}), {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_DOUBLE_EQ(*s->maxCostPerHour, 0.25);
}

TEST(Settings, MirrorTakesItsShareFromTheSpecElseTheOperator) {
  const Json target = {{"kind", "VirtualMachine"}, {"name", "web-1"}};
  api::PlacementDefaults d;
  d.mirroringPercentage = 7;
  auto s =
      api::settingsFrom(placement({{"target", target}, {"shadow", {{"fidelity", "Mirror"}}}}), d);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->fidelity, api::Fidelity::Mirror);
  EXPECT_DOUBLE_EQ(s->mirroring.percentage, 7);
  EXPECT_FALSE(s->mirroring.fallbackSynthetic);
  s = api::settingsFrom(
      placement(
          {{"target", target},
           {"shadow",
            {{"fidelity", "Mirror"},
             {"mirroring", {{"percentage", 25}, {"service", "web"}, {"fallback", "Synthetic"}}}}}}),
      d);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_DOUBLE_EQ(s->mirroring.percentage, 25);
  EXPECT_EQ(s->mirroring.service, "web");
  EXPECT_TRUE(s->mirroring.fallbackSynthetic);
}

TEST(Settings, WhatTheSchemaCannotCatchIsATerminalErrorNamingTheField) {
  const auto bad = [](Json spec, const std::string& field) {
    auto s = api::settingsFrom(placement(std::move(spec)), {});
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.error().is(ErrorKind::Terminal));
    EXPECT_EQ(s.error().message.rfind("prod/web: " + field, 0), 0u) << s.error().message;
  };
  const Json target = {{"kind", "VirtualMachine"}, {"name", "web-1"}};
  bad({{"target", {{"kind", "Pod"}, {"name", "x"}}}}, "spec.target.kind");
  bad({{"target", target}, {"shadow", {{"fidelity", "Mirrored"}}}}, "spec.shadow.fidelity");
  bad({{"target", target},
       {"shadow", {{"fidelity", "Mirror"}, {"mirroring", {{"percentage", 0}}}}}},
      "spec.shadow.mirroring.percentage");
  bad({{"target", target},
       {"shadow", {{"fidelity", "Mirror"}, {"mirroring", {{"fallback", "Passive"}}}}}},
      "spec.shadow.mirroring.fallback");
  bad({{"target", target}, {"observation", {{"duration", "soon"}}}}, "spec.observation.duration");
  bad({{"target", target}, {"observation", {{"duration", "10s"}, {"interval", "1m"}}}},
      "spec.observation.interval");
  bad({{"target", target}, {"candidates", {{"count", 0}}}}, "spec.candidates.count");
}

TEST(Settings, ASpecBeyondTheOperatorsLimitsIsRefusedNamingFieldAndLimit) {
  const Json target = {{"kind", "VirtualMachine"}, {"name", "web-1"}};
  const auto message = [&](Json spec) {
    auto s = api::settingsFrom(placement(std::move(spec)), {});
    return s.ok() ? std::string("accepted") : s.error().message;
  };
  EXPECT_EQ(message({{"target", target}, {"observation", {{"duration", "24h"}}}}),
            "prod/web: spec.observation.duration: 24h exceeds the operator's limit 2h "
            "(limits.observationDuration)");
  EXPECT_EQ(message({{"target", target}, {"observation", {{"maxExtensions", 10}}}}),
            "prod/web: spec.observation.maxExtensions: 10 exceeds the operator's limit 3 "
            "(limits.extensions)");
  EXPECT_EQ(
      message({{"target", target}, {"candidates", {{"count", 6}}}}),
      "prod/web: spec.candidates.count: 6 exceeds the operator's limit 5 (limits.candidates)");
  EXPECT_EQ(message({{"target", target}, {"observation", {{"duration", "2h"}}}}), "accepted");
}

TEST(Config, LimitsAreReadAndBoundTheDefaults) {
  auto c = config::parseConfig(
      "limits: {observationDuration: 30m, extensions: 1, candidates: 4, "
      "concurrentPlacementsPerNamespace: 2, deadlineGrace: 10m}\n"
      "observation: {maxExtensions: 1}\n",
      "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->placement.limits.observationDuration, 30min);
  EXPECT_EQ(c->placement.limits.extensions, 1);
  EXPECT_EQ(c->placement.limits.candidates, 4);
  EXPECT_EQ(c->concurrentPlacementsPerNamespace, 2);
  EXPECT_EQ(c->deadlineGrace, 10min);
  EXPECT_EQ(config::parseConfig("", "umbra.yaml")->concurrentPlacementsPerNamespace, 5);
  EXPECT_EQ(config::parseConfig("limits: {extensions: 1}\n", "umbra.yaml").error().message,
            "umbra.yaml: observation.maxExtensions: exceeds limits.extensions (1)");
  EXPECT_EQ(config::parseConfig("limits: {tenants: 3}\n", "umbra.yaml").ok(), false);
}

TEST(Config, RetrainingGoesToTheSidecarSpoolOrAChildNotBoth) {
  auto c = config::parseConfig("model: {retraining: {spool: /var/lib/umbra/train-spool}}\n",
                               "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->retraining.spool, "/var/lib/umbra/train-spool");
  EXPECT_EQ(config::parseConfig("model: {retraining: {spool: /s, trainer: /usr/bin/umbra}}\n",
                                "umbra.yaml")
                .error()
                .message,
            "umbra.yaml: model.retraining.spool: excludes model.retraining.trainer (the trainer "
            "sidecar, or a child process)");
}

TEST(Config, EmptyFileMeansTheDesignDefaults) {
  auto c = config::parseConfig("", "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->placement.candidateCount, 3);
  EXPECT_DOUBLE_EQ(c->placement.cpuFraction, 0.01);
  EXPECT_DOUBLE_EQ(c->placement.memoryFraction, 0.02);
  EXPECT_EQ(c->retrainingInterval, std::chrono::hours(24));
}

TEST(ConfigTest, ImageMemoryFloorsReplaceTheDefaultsAndBadOnesNameTheField) {
  auto c = config::parseConfig("shadows:\n  imageMemoryFloors: {ubuntu: 1Gi}\n", "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->placement.imageMemoryFloors.size(), 1u);
  EXPECT_EQ(c->placement.imageMemoryFloors.at("ubuntu"), 1024.0 * 1024 * 1024);
  auto bad = config::parseConfig("shadows:\n  imageMemoryFloors: {fedora: lots}\n", "umbra.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("shadows.imageMemoryFloors.fedora"), std::string::npos)
      << bad.error().message;
  EXPECT_EQ(config::parseConfig("", "umbra.yaml")->placement.imageMemoryFloors.count("fedora"), 1u);
}

TEST(Config, NodePricesAreReadAndANegativeOneIsRefusedNamingIt) {
  auto c = config::parseConfig("nodePrices: {label: pool, perHour: {spot: 0.1, ondemand: 0.4}}\n",
                               "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->placement.nodePrices.label, "pool");
  EXPECT_DOUBLE_EQ(c->placement.nodePrices.perHour.at("ondemand"), 0.4);
  const auto bad = config::parseConfig("nodePrices: {perHour: {spot: -1}}\n", "umbra.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("umbra.yaml: nodePrices.perHour.spot"), std::string::npos)
      << bad.error().message;
}

TEST(Config, MirroringPercentageAndTheMeshNamespaceAreReadAndChecked) {
  auto c = config::parseConfig("mirroringPercentage: 25\nmesh: {namespace: mesh}\n", "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_DOUBLE_EQ(c->placement.mirroringPercentage, 25);
  EXPECT_EQ(c->placement.meshNamespace, "mesh");
  const auto defaults = config::parseConfig("", "umbra.yaml");
  EXPECT_DOUBLE_EQ(defaults->placement.mirroringPercentage, 10);  // the design's default
  EXPECT_EQ(defaults->placement.meshNamespace, "istio-system");
  EXPECT_FALSE(defaults->outcomeP95) << "outcomes are means over their window by default";
  EXPECT_TRUE(defaults->coRunnerHistory) << "node histories are rebuilt from the VMIs by default";
  const auto bad = config::parseConfig("mirroringPercentage: 150\n", "umbra.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("umbra.yaml: mirroringPercentage"), std::string::npos)
      << bad.error().message;
}

TEST(Config, OverridesAreRead) {
  auto c = config::parseConfig(R"(
shadows: {count: 5, cpuFraction: 0.02, cpuFloor: 20m, memoryFloor: 256Mi, probeImage: img:1}
observation: {duration: 2m, interval: 10s, minConfidence: 0.8, maxExtensions: 1}
scoring: {weights: {cpu: 1, memory: 0, disk: 0, network: 0}}
retrainingInterval: 12h
maxConcurrentPlacements: 4
prometheus: {url: "http://prom:9090"}
model:
  path: /models/m.pt
  contentionPath: /models/c.json
  outcomesPath: /models/o.jsonl
  outcomeWindow: 10m
  outcomeStatistic: p95
  nodeHistory: node
  retraining: {enabled: false, history: 72h, epochs: 3, stepsPerEpoch: 5, batch: 32, hidden: 4, period: 24, holdBack: 0.3}
)",
                               "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->placement.candidateCount, 5);
  EXPECT_DOUBLE_EQ(c->placement.cpuFloorCores, 0.02);
  EXPECT_DOUBLE_EQ(c->placement.memoryFloorBytes, 256.0 * 1024 * 1024);
  EXPECT_EQ(c->placement.probeImage, "img:1");
  EXPECT_EQ(c->placement.observationDuration, 2min);
  EXPECT_DOUBLE_EQ(c->placement.weights.cpu, 1);
  EXPECT_EQ(c->retrainingInterval, std::chrono::hours(12));
  EXPECT_EQ(c->maxConcurrentPlacements, 4);
  EXPECT_EQ(c->prometheus.url, "http://prom:9090");
  EXPECT_EQ(c->modelPath, "/models/m.pt");
  EXPECT_EQ(c->contentionModelPath, "/models/c.json");
  EXPECT_EQ(c->outcomesPath, "/models/o.jsonl");
  EXPECT_EQ(c->outcomeWindow, 10min);
  EXPECT_TRUE(c->outcomeP95);
  EXPECT_FALSE(c->coRunnerHistory);
  EXPECT_FALSE(c->retraining.enabled);
  EXPECT_EQ(c->retraining.history, std::chrono::hours(72));
  EXPECT_EQ(c->retraining.epochs, 3);
  EXPECT_EQ(c->retraining.stepsPerEpoch, 5);
  EXPECT_EQ(c->retraining.batch, 32);
  EXPECT_EQ(c->retraining.hidden, 4);
  EXPECT_EQ(c->retraining.period, 24);
  EXPECT_DOUBLE_EQ(c->retraining.holdBack, 0.3);
}

TEST(Config, PrometheusConnectionAndCatalogOverrides) {
  auto c = config::parseConfig(R"(
prometheus:
  url: https://thanos-querier.openshift-monitoring.svc:9091
  rateWindow: 2m
  nodeLabel: instance
  timeout: 30s
  bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  tls: {caFile: /etc/prometheus-ca/service-ca.crt, insecureSkipVerify: false}
  catalog:
    node_cpu_utilization:
      query: 1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle",instance=~"$nodes"}[$window]))
    node_pressure_io: {required: true, scale: 2}
)",
                               "umbra.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const auto& p = c->prometheus;
  EXPECT_EQ(p.url, "https://thanos-querier.openshift-monitoring.svc:9091");
  EXPECT_EQ(p.catalog.rateWindow, std::chrono::minutes(2));
  EXPECT_EQ(p.catalog.nodeLabel, "instance");
  EXPECT_EQ(config::OperatorConfig{}.prometheus.catalog.nodeLabel, "auto");
  EXPECT_EQ(p.timeout, std::chrono::seconds(30));
  EXPECT_EQ(p.bearerTokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(p.caFile, "/etc/prometheus-ca/service-ca.crt");
  const auto& f = p.catalog.features;
  const auto util = static_cast<size_t>(p.catalog.index("node_cpu_utilization"));
  EXPECT_NE(f[util].query.find("instance=~\"$nodes\""), std::string::npos);
  EXPECT_EQ(f[util].series, "node_cpu_seconds_total") << "what is not overridden stays";
  const auto io = static_cast<size_t>(p.catalog.index("node_pressure_io"));
  EXPECT_TRUE(f[io].required);
  EXPECT_DOUBLE_EQ(f[io].scale, 2);
  EXPECT_EQ(p.catalog.names(), telemetry::MetricCatalog::defaults().names())
      << "order and names are the model's schema";
}

TEST(Config, BadInputNamesFileAndField) {
  const auto bad = [](const std::string& yaml, const std::string& expected) {
    auto c = config::parseConfig(yaml, "umbra.yaml");
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_TRUE(c.error().is(ErrorKind::Config));
    EXPECT_EQ(c.error().message, expected);
  };
  bad("shadows: {count: 0}", "umbra.yaml: shadows.count: must be 1..10, got 0");
  bad("model: {retraining: {epochs: 0}}",
      "umbra.yaml: model.retraining.epochs: must be 1..1000, got 0");
  bad("model: {retraining: {holdBack: 0.9}}",
      "umbra.yaml: model.retraining.holdBack: must be in [0.05, 0.5], got 0.9");
  bad("model: {outcomeWindow: soon}",
      "umbra.yaml: model.outcomeWindow: \"soon\" is not a duration (e.g. 90s, 5m, 24h)");
  bad("model: {outcomeStatistic: max}",
      "umbra.yaml: model.outcomeStatistic: must be mean or p95, got \"max\"");
  bad("model: {nodeHistory: vms}",
      "umbra.yaml: model.nodeHistory: must be coRunners or node, got \"vms\"");
  bad("model: {retrain: {}}", "umbra.yaml: model.retrain: unknown field");
  bad("shadows: {count: many}", "umbra.yaml: shadows.count: must be an integer, got \"many\"");
  bad("shadows: {cout: 3}", "umbra.yaml: shadows.cout: unknown field");
  bad("shadowz: {}", "umbra.yaml: shadowz: unknown field");
  bad("shadows: {memoryFloor: lots}",
      "umbra.yaml: shadows.memoryFloor: \"lots\" is not a positive quantity (e.g. 10m, 128Mi)");
  bad("observation: {duration: 5 minutes}",
      "umbra.yaml: observation.duration: \"5 minutes\" is not a duration (e.g. 90s, 5m, 24h)");
  bad("observation: {minConfidence: 2}",
      "umbra.yaml: observation.minConfidence: must be in [0, 1], got 2");
  bad("prometheus: {nodeLabel: node-name}",
      "umbra.yaml: prometheus.nodeLabel: must be auto or a Prometheus label name (node, instance, "
      "...), got \"node-name\"");
  bad("prometheus: {probeReference: 0}",
      "umbra.yaml: prometheus.probeReference: must be in [0.001, 1000], got 0");
  bad("prometheus: {url: prom:9090}",
      "umbra.yaml: prometheus.url: \"prom:9090\" is not an http(s) URL");
  bad("scoring: {weights: {cpu: 0, memory: 0, disk: 0, network: 0}}",
      "umbra.yaml: scoring.weights: at least one weight must be positive");
  bad("prometheus: {basicAuth: {username: u}}",
      "umbra.yaml: prometheus.basicAuth: needs both username and passwordFile");
  bad("prometheus: {bearerTokenFile: /t, basicAuth: {username: u, passwordFile: /p}}",
      "umbra.yaml: prometheus: bearerTokenFile and basicAuth are mutually exclusive");
  bad("prometheus: {tls: {insecureSkipVerify: maybe}}",
      "umbra.yaml: prometheus.tls.insecureSkipVerify: must be true or false");
  bad("prometheus: {catalog: {cpu_steal: {qery: x}}}",
      "umbra.yaml: prometheus.catalog.cpu_steal.qery: unknown field");
  bad("prometheus: {catalog: {node_cpu_steal: {scale: 0}}}",
      "umbra.yaml: prometheus.catalog.node_cpu_steal.scale: must be positive (the feature is "
      "divided by it)");
  auto yaml = config::parseConfig("shadows: [unclosed", "umbra.yaml");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.error().message.rfind("umbra.yaml:1: invalid YAML", 0), 0u)
      << yaml.error().message;
  auto missing = config::loadConfig("/nonexistent/umbra.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "/nonexistent/umbra.yaml: No such file or directory");
}

}  // namespace
}  // namespace umbra
