// fidelity Mirror end to end: the umbra-operator binary, umbra-sim playing KubeVirt, the nodes and
// Istio's mirroring (from the real VirtualService CRD and the objects the operator applies), and
// Prometheus. A placement of a running VM behind a Service gets its shadows' egress fence, their
// Services and the mirroring VirtualService; the shadows run the mirrored share of the VM's
// load; a SIGKILL makes no twin; everything goes with the shadows. A VirtualService of the user's
// on the host is respected: the placement falls back to Synthetic probes, as its spec allows.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "api/shadow_placement.h"
#include "integration/operator_fixture.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

class MirrorTest : public OperatorBinaryTest {
 protected:
  static void SetUpTestSuite() {
    OperatorBinaryTest::SetUpTestSuite();
    // Before umbra-sim starts: it watches VirtualServices when their API is served.
    const Status st = ControlPlane::instance().installCrds(
        {ControlPlane::thirdPartyDir() + "/istio/crds/virtualservices.networking.istio.io.yaml"});
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  // web: 4 vCPUs, half of them busy, running, behind Service web (port 80).
  void startWeb() {
    Json vm = haltedVm(ns_.name(), "web");
    vm["spec"]["runStrategy"] = "Always";
    vm["spec"]["template"]["spec"]["domain"]["cpu"]["cores"] = 4;
    vm["spec"]["template"]["spec"]["domain"]["resources"]["requests"]["cpu"] = "4";
    // Behind Istio's sidecar: its demand is requests of 10 ms of CPU each (200 a second).
    vm["spec"]["template"]["metadata"]["annotations"] = {
        {"umbra.io/sim-workload", "profile:steady:0.5"},
        {"sidecar.istio.io/inject", "true"},
        {"umbra.io/sim-requests", "10ms"}};
    ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm).ok());
    const Json service = {
        {"apiVersion", "v1"},
        {"kind", "Service"},
        {"metadata", {{"name", "web"}}},
        {"spec",
         {{"selector", {{"app", "web"}}},
          {"ports", Json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}})}}}};
    ASSERT_TRUE(admin_->create(kube::resources::services(), ns_.name(), service).ok());
    ASSERT_TRUE(eventually(
        [&] {
          return admin_->get(api::virtualMachineInstances(), {ns_.name(), "web"})
                     .valueOr(Json::object())
                     .value("status", Json::object())
                     .value("phase", "") == "Running";
        },
        60s))
        << simLog();
  }
  void applyPlacement(const std::string& mirroring) {
    const std::string file = modelDir() + "/placement.yaml";
    std::ofstream(file) << "apiVersion: umbra.io/v1alpha1\nkind: ShadowPlacement\n"
                        << "metadata: {name: web}\nspec:\n"
                        << "  target: {kind: VirtualMachine, name: web}\n  mode: Recommend\n"
                        << "  candidates: {count: 2, nodeSelector: {umbra.test/group: "
                        << ns_.name() << "}}\n"
                        << "  shadow: {fidelity: Mirror, mirroring: " << mirroring << "}\n"
                        << "  observation: {duration: 40s, interval: 5s, maxExtensions: 0}\n";
    const auto r =
        runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " apply -f " + file);
    ASSERT_EQ(r.exitCode, 0) << r.output;
  }
  // The names of this placement's mirroring objects of type `t`.
  std::vector<std::string> mirroring(const kube::ResourceType& t) {
    kube::ListOptions o;
    o.labelSelector = "umbra.io/placement=web,umbra.io/role=mirror";
    std::vector<std::string> names;
    if (auto l = admin_->list(t, ns_.name(), o); l.ok())
      for (const auto& i : (*l)["items"])
        names.push_back(i["metadata"].value("name", ""));
    return names;
  }
  size_t mirroringObjects() {
    return mirroring(kube::resources::services()).size() +
           mirroring(kube::resources::networkPolicies()).size() +
           mirroring(api::virtualServices()).size();
  }
  Json condition(const std::string& type) {
    auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
    if (sp.ok())
      for (const auto& c : (*sp).value("status", Json::object()).value("conditions", Json::array()))
        if (c.value("type", "") == type)
          return c;
    return Json::object();
  }
  // Busy cores of `vmi` over the last 15 s, from Prometheus.
  double busyCores(const std::string& vmi) {
    return promQuery("sum(rate(kubevirt_vmi_cpu_usage_seconds_total{name=\"" + vmi + "\"}[15s]))");
  }
};

TEST_F(MirrorTest, ShadowsRunTheMirroredShareAndTheMeshObjectsGoWithThem) {
  const std::string config = startSimulatedCluster({{"a", 0.3}, {"b", 0.05}, {"c", 0.5}}, true);
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  startWeb();
  applyPlacement("{percentage: 20}");

  // The fence, one Service per shadow, the VirtualService mirroring 20 % to each.
  ASSERT_TRUE(eventually([&] { return mirroringObjects() == 4; }, 60s))
      << mirroringObjects() << " " << phase() << "\n"
      << logTail();
  const auto shadowVmis = shadows();
  ASSERT_EQ(shadowVmis.size(), 2u);
  const Json vs =
      admin_->get(api::virtualServices(), {ns_.name(), "web-mirror"}).valueOr(Json::object());
  ASSERT_TRUE(vs.contains("spec")) << "the VirtualService is named web-mirror";
  EXPECT_EQ(vs["spec"]["hosts"], Json::array({"web"}));
  EXPECT_EQ(vs["spec"]["http"][0]["route"][0]["destination"]["host"], "web");
  ASSERT_EQ(vs["spec"]["http"][0]["mirrors"].size(), 2u);
  EXPECT_EQ(vs["spec"]["http"][0]["mirrors"][0]["percentage"]["value"], 20.0);
  EXPECT_EQ(vs["metadata"]["ownerReferences"].size(), 2u) << "owned by both shadows";
  for (const auto& s : shadowVmis) {
    EXPECT_EQ(s["metadata"]["labels"].value(api::FidelityLabel, ""), "Mirror");
    EXPECT_EQ(s["metadata"]["annotations"].value("sidecar.istio.io/inject", ""), "true");
  }
  const Json np = admin_->get(kube::resources::networkPolicies(), {ns_.name(), "web-shadow-egress"})
                      .valueOr(Json::object());
  EXPECT_EQ(np.value("spec", Json::object()).value("policyTypes", Json::array()),
            Json::array({"Egress"}));
  EXPECT_EQ(condition("Mirroring").value("status", ""), "True") << condition("Mirroring").dump();

  // Killed while the shadows run: the restarted operator applies the same objects, no twin.
  op->signal(SIGKILL);
  op->wait(10);
  op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(mirroring(kube::resources::services()).size(), 2u);
  EXPECT_EQ(mirroring(api::virtualServices()), std::vector<std::string>{"web-mirror"});
  EXPECT_EQ(shadows().size(), 2u);

  // Each shadow runs 20 % of web's requests: a fifth of web's busy cores (2 of 4), where a
  // Passive shadow would idle.
  const std::string shadow = shadowVmis[0]["metadata"].value("name", "");
  double mirrored = 0, web = 0;
  EXPECT_TRUE(eventually(
      [&] {
        mirrored = busyCores(shadow);
        web = busyCores("web");
        return web > 1.5 && std::abs(mirrored - 0.2 * web) < 0.12;
      },
      40s))
      << "shadow " << mirrored << " cores, web " << web << "\n"
      << simLog();
  // What the mesh reports: the shadow's sidecar sees a fifth of web's requests, each as costly
  // as web's (10 ms), and their latency on its own node and vCPU.
  const auto requestRate = [&](const std::string& workload) {
    return promQuery("sum(rate(istio_requests_total{destination_workload=\"" + workload +
                     "\"}[15s]))");
  };
  double shadowRate = 0, webRate = 0;
  EXPECT_TRUE(eventually(
      [&] {
        shadowRate = requestRate(shadow);
        webRate = requestRate("web");
        return webRate > 150 && std::abs(shadowRate - 0.2 * webRate) < 0.06 * webRate;
      },
      30s))
      << "shadow " << shadowRate << " requests/s, web " << webRate;
  const double p95 = promQuery(
      "histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{"
      "destination_workload=\"" +
      shadow + "\"}[15s])))");
  EXPECT_GT(p95, 10) << "at least a request's own 10 ms";
  EXPECT_LT(p95, 1000);

  // Decided: the shadows go, and with them (the garbage collector) every mirroring object.
  ASSERT_TRUE(eventually([&] { return phase() == "Recommended" || phase() == "Failed"; }, 120s))
      << phase() << "\n"
      << logTail();
  EXPECT_EQ(phase(), "Recommended") << logTail();
  EXPECT_TRUE(eventually([&] { return shadows().empty() && mirroringObjects() == 0; }, 60s))
      << shadows().size() << " shadows, " << mirroringObjects() << " mirroring objects left";
  EXPECT_TRUE(admin_->get(kube::resources::services(), {ns_.name(), "web"}).ok())
      << "the user's Service stays";
}

TEST_F(MirrorTest, AUsersVirtualServiceOnTheHostIsRespectedAndTheFallbackProbesSynthetic) {
  const std::string config = startSimulatedCluster({{"a", 0.3}, {"b", 0.05}}, true);
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  startWeb();
  const Json canary = {
      {"apiVersion", "networking.istio.io/v1"},
      {"kind", "VirtualService"},
      {"metadata", {{"name", "web-canary"}}},
      {"spec",
       {{"hosts", Json::array({"web.default.svc.cluster.local", "web"})},
        {"http",
         Json::array({{{"route", Json::array({{{"destination", {{"host", "web"}}}}})}}})}}}};
  ASSERT_TRUE(admin_->create(api::virtualServices(), ns_.name(), canary).ok());
  applyPlacement("{fallback: Synthetic}");

  ASSERT_TRUE(eventually([&] { return shadows().size() == 2; }, 60s)) << phase() << "\n"
                                                                      << logTail();
  for (const auto& s : shadows())
    EXPECT_EQ(s["metadata"]["labels"].value(api::FidelityLabel, ""), "Synthetic");
  // The pass after the shadows' records the fallback (the first pass creates shadows only).
  EXPECT_TRUE(eventually([&] { return !condition("Mirroring").empty(); }, 30s)) << logTail();
  const Json c = condition("Mirroring");
  EXPECT_EQ(c.value("status", ""), "False") << c.dump();
  EXPECT_EQ(c.value("reason", ""), "HostRouted") << c.dump();
  EXPECT_NE(c.value("message", "").find("VirtualService " + ns_.name() + "/web-canary"),
            std::string::npos)
      << c.dump();
  const auto events = [&] {
    return runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() +
                      " get events --field-selector reason=MirrorUnavailable -o name")
        .output;
  };
  EXPECT_TRUE(eventually([&] { return !events().empty(); }, 10s)) << "a Warning Event says why";
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(mirroringObjects(), 0u) << "no mirroring objects for Synthetic shadows";
  const Json after =
      admin_->get(api::virtualServices(), {ns_.name(), "web-canary"}).valueOr(Json::object());
  EXPECT_EQ(after.value("spec", Json::object()), canary["spec"]) << "the user's routing unchanged";
  ASSERT_TRUE(admin_->remove(api::shadowPlacements(), {ns_.name(), "web"}).ok());
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 60s));
}

}  // namespace
}  // namespace umbra::testing
