// umbra-sim's pure parts: which workload a VMI becomes, and the exposition.
#include <gtest/gtest.h>

#include "api/shadow_placement.h"
#include "placement/shadow.h"
#include "simulator/exposition.h"
#include "simulator/mesh.h"
#include "simulator/workloads.h"

namespace umbra::simulator {
namespace {

using nlohmann::json;

json vmi(json annotations, json labels = json::object(), const json& extraSpec = json::object()) {
  json spec = {{"domain",
                {{"cpu", {{"cores", 2}, {"sockets", 2}}},
                 {"memory", {{"guest", "4Gi"}}},
                 {"resources", {{"limits", {{"cpu", "500m"}}}}}}}};
  spec.update(extraSpec);
  return {{"metadata",
           {{"name", "vm"}, {"namespace", "ns"}, {"annotations", annotations}, {"labels", labels}}},
          {"spec", spec}};
}

sim::TraceSet traces() {
  sim::TraceSet set;
  sim::Trace t;
  t.id = "bitbrains_rnd_001";
  t.cpu = {0.5f};
  t.memory = {0.5f};
  t.disk = {0};
  t.network = {0};
  t.observed = {1};
  set.series[t.id] = t;
  return set;
}

TEST(WorkloadOfTest, SizeComesFromTheDomain) {
  std::string warning;
  const auto w = workloadOf(vmi(json::object()), {}, nullptr, 1, warning);
  EXPECT_EQ(w.id, "ns/vm");
  EXPECT_EQ(w.vcpus, 4);
  EXPECT_EQ(w.memoryBytes, 4.0 * 1024 * 1024 * 1024);
  EXPECT_EQ(w.cpuLimit, 0.5);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Profile) << "no traces: a steady load";
  EXPECT_TRUE(warning.empty());
}

TEST(WorkloadOfTest, AnnotationsChooseTheDemand) {
  const sim::TraceSet set = traces();
  std::string warning;
  auto w =
      workloadOf(vmi({{WorkloadAnnotation, "trace:bitbrains_rnd_001@600"}}), {}, &set, 1, warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Trace);
  EXPECT_EQ(w.source.trace, &set.series.at("bitbrains_rnd_001"));
  EXPECT_EQ(w.source.traceOffset, 600);
  w = workloadOf(vmi({{WorkloadAnnotation, "profile:diurnal:0.4"}}), {}, &set, 1, warning);
  EXPECT_EQ(w.source.profile, "diurnal");
  EXPECT_EQ(w.source.level, 0.4);
  w = workloadOf(vmi({{MirrorOfAnnotation, "web"}, {MirrorPercentageAnnotation, "10"}}), {}, &set,
                 1, warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Mirror);
  ASSERT_EQ(w.source.mirrors.size(), 1u);
  EXPECT_EQ(w.source.mirrors[0].of, "ns/web");
  EXPECT_DOUBLE_EQ(w.source.mirrors[0].fraction, 0.1);
  EXPECT_TRUE(warning.empty());
  w = workloadOf(vmi(json::object()), {}, &set, 1, warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Trace) << "with traces, a VM replays one by default";
  EXPECT_LT(w.dirtyBytesPerSecond, 0) << "by default the physics' rate per busy core";
  w = workloadOf(vmi({{DirtyRateAnnotation, "100Gi"}}), {}, &set, 1, warning);
  EXPECT_EQ(w.dirtyBytesPerSecond, 100.0 * 1024 * 1024 * 1024);
  EXPECT_TRUE(warning.empty());
  w = workloadOf(vmi({{DirtyRateAnnotation, "fast"}}), {}, &set, 1, warning);
  EXPECT_LT(w.dirtyBytesPerSecond, 0);
  EXPECT_EQ(warning, "umbra.io/sim-dirty-rate: \"fast\" is not a quantity of bytes per second");
}

TEST(WorkloadOfTest, BadAnnotationsFallBackAndSaySo) {
  const sim::TraceSet set = traces();
  std::string warning;
  auto w = workloadOf(vmi({{WorkloadAnnotation, "profile:wavy:2"}}), {}, &set, 1, warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Trace);
  EXPECT_NE(warning.find("is not trace:<id>"), std::string::npos) << warning;
  warning.clear();
  w = workloadOf(vmi({{WorkloadAnnotation, "trace:nope"}}), {}, &set, 1, warning);
  EXPECT_EQ(warning, "umbra.io/sim-workload: no trace nope");
  warning.clear();
  w = workloadOf(vmi({{ClassAnnotation, "noisy"}}), {}, &set, 1, warning);
  EXPECT_EQ(w.interferenceClass, "neutral");
  EXPECT_EQ(warning, "umbra.io/sim-class: unknown interference class \"noisy\"");
}

TEST(WorkloadOfTest, ShadowsRunTheirCloudInitLoadOrIdle) {
  std::string warning;
  const json shadowLabels = {{"umbra.io/role", "shadow"}};
  auto w = workloadOf(vmi(json::object(), shadowLabels), {}, nullptr, 1, warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Idle) << "Passive";
  api::SyntheticLoad load;
  load.profile = "spiky";
  load.cpuPercent = 70;
  const json volumes =
      json::array({{{"name", "cloudinit"},
                    {"cloudInitNoCloud", {{"userData", placement::syntheticUserData(load)}}}}});
  w = workloadOf(vmi(json::object(), shadowLabels, {{"volumes", volumes}}), {}, nullptr, 1,
                 warning);
  EXPECT_EQ(w.source.kind, sim::SourceKind::Probe) << "Synthetic: the guest runs the probe";
  EXPECT_EQ(w.source.profile, "spiky");
  EXPECT_DOUBLE_EQ(w.source.level, 0.7);
}

json service(const std::string& ns, const std::string& name, const json& selector) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", {{"selector", selector}}}};
}

TEST(MeshTest, MirrorsCopyTheirShareOfTheRoutesRequestsToTheVmisBehindTheirHost) {
  const std::vector<json> services = {
      service("ns", "web", {{"app", "web"}}), service("ns", "web-mirror", {{"mirror", "s1"}}),
      service("other", "old", {{"mirror", "s2"}}), service("ns", "external", json::object())};
  const std::vector<MeshEndpoint> vmis = {{"ns/web-0", "ns", {{"app", "web"}}},
                                          {"ns/web-1", "ns", {{"app", "web"}}},
                                          {"ns/s1", "ns", {{"mirror", "s1"}}},
                                          {"other/s2", "other", {{"mirror", "s2"}}}};
  const json vs = {
      {"metadata", {{"name", "web"}, {"namespace", "ns"}}},
      {"spec",
       {{"http",
         json::array(
             {{{"route", json::array({{{"destination", {{"host", "web"}}}}})},
               {"mirrors",
                json::array({{{"destination", {{"host", "web-mirror.ns.svc.cluster.local"}}},
                              {"percentage", {{"value", 10}}}},
                             {{"destination", {{"host", "old.other"}}}},  // absent: 100 %
                             {{"destination", {{"host", "external"}}},
                              {"percentage", {{"value", 20}}}}})}}})}}}};
  const auto m = mirroredRequests({vs}, services, vmis);
  ASSERT_EQ(m.size(), 2u);
  ASSERT_EQ(m.at("ns/s1").size(), 2u) << "both VMIs behind the route";
  EXPECT_EQ(m.at("ns/s1")[0].of, "ns/web-0");
  EXPECT_DOUBLE_EQ(m.at("ns/s1")[0].fraction, 0.1);
  EXPECT_EQ(m.at("ns/s1")[1].of, "ns/web-1");
  EXPECT_DOUBLE_EQ(m.at("other/s2")[0].fraction, 1.0);
  // The older single mirror, and a mirror turned off with value 0.
  json legacy = vs;
  legacy["spec"]["http"][0].erase("mirrors");
  legacy["spec"]["http"][0]["mirror"] = {{"host", "web-mirror"}};
  legacy["spec"]["http"][0]["mirrorPercentage"] = {{"value", 5}};
  EXPECT_DOUBLE_EQ(mirroredRequests({legacy}, services, vmis).at("ns/s1")[0].fraction, 0.05);
  legacy["spec"]["http"][0]["mirrorPercentage"]["value"] = 0;
  EXPECT_TRUE(mirroredRequests({legacy}, services, vmis).empty());
}

TEST(ExpositionTest, KubeVirtAndNodeExporterNamesAndLabels) {
  sim::ClusterSpec c;
  sim::NodeSpec n;
  n.name = "node-a";
  n.cpuCores = 2;
  n.memoryBytes = 8.0 * 1024 * 1024 * 1024;
  c.nodes.push_back(n);
  sim::Simulation s(c, 1);
  sim::WorkloadSpec w;
  w.id = "ns/web";
  w.vcpus = 2;
  ASSERT_TRUE(s.addWorkload(w, "node-a").ok());
  s.step(10);
  const std::string text =
      renderMetrics(s, {{"ns/web", {"ns", "web", "Running", {{"kubevirt.io/domain", "web"}}}}});
  const std::string delay =
      std::string("kubevirt_vmi_vcpu_delay_seconds_total{name=\"web\",namespace=\"ns\",") +
      "node=\"node-a\",kubernetes_vmi_label_kubevirt_io_domain=\"web\",id=\"1\"} ";
  for (const std::string& want :
       std::vector<std::string>{delay, "# TYPE kubevirt_vmi_vcpu_delay_seconds_total counter\n",
                                "node_cpu_seconds_total{node=\"node-a\",cpu=\"1\",mode=\"idle\"} ",
                                "node_memory_MemAvailable_bytes{node=\"node-a\"} ",
                                "node_pressure_cpu_waiting_seconds_total{node=\"node-a\"} "}) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
  // A serving VMI (Istio's sidecar): Istio's request count and duration histogram.
  sim::WorkloadSpec api;
  api.id = "ns/api";
  api.requests = sim::RequestModel{};
  ASSERT_TRUE(s.addWorkload(api, "node-a").ok());
  s.step(10);
  const std::string served = renderMetrics(s, {{"ns/api", {"ns", "api", "Running", {}}}});
  const std::string labels =
      "reporter=\"destination\",destination_workload=\"api\",destination_workload_namespace="
      "\"ns\",request_protocol=\"http\",response_code=\"200\"";
  for (const std::string& want : std::vector<std::string>{
           "# TYPE istio_requests_total counter\n", "istio_requests_total{" + labels + "} ",
           "# TYPE istio_request_duration_milliseconds histogram\n",
           "istio_request_duration_milliseconds_bucket{" + labels + ",le=\"0.5\"} ",
           "istio_request_duration_milliseconds_bucket{" + labels + ",le=\"3600000\"} ",
           "istio_request_duration_milliseconds_bucket{" + labels + ",le=\"+Inf\"} ",
           "istio_request_duration_milliseconds_count{" + labels + "} "})
    EXPECT_NE(served.find(want), std::string::npos) << want << "\n" << served;
  EXPECT_EQ(text.find("istio_requests_total{"), std::string::npos) << "web has no sidecar";
  EXPECT_EQ(vmiLabelName("app.kubernetes.io/name-x"),
            "kubernetes_vmi_label_app_kubernetes_io_name_x");
}

}  // namespace
}  // namespace umbra::simulator
