// InstancetypeTrial end to end: the umbra-operator binary, umbra-sim playing KubeVirt, the nodes
// and Istio's mirroring, and Prometheus. A running VM of type u1.xlarge (a tenth busy) behind a
// Service; a trial of u1.xlarge and u1.large exploring neighbours, mode Apply: one shadow per type
// with the type's vCPUs, the mirroring objects, the measurements at full load in status, the next
// smaller size (u1.medium) refused for the memory the VM uses, the cheapest type meeting the SLO
// (u1.large) set on the VM, and everything gone with the shadows. A SIGKILL mid-trial makes no
// twin.
#include <signal.h>

#include <fstream>
#include <iostream>

#include "api/instancetype_trial.h"
#include "integration/operator_fixture.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

class TrialTest : public OperatorBinaryTest {
 protected:
  static void SetUpTestSuite() {
    OperatorBinaryTest::SetUpTestSuite();
    const Status st = ControlPlane::instance().installCrds(
        {ControlPlane::thirdPartyDir() + "/istio/crds/virtualservices.networking.istio.io.yaml"});
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  std::string kubectl(const std::string& args) {
    return runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " " + args +
                      " 2>&1")
        .output;
  }
  // shop: u1.xlarge (4 vCPUs, 16 GiB), a tenth busy with requests of 10 ms (40 a second; 5.4 GiB
  // in use), behind Service shop.
  void startShop() {
    ASSERT_EQ(
        runCommand(ControlPlane::instance().kubectl() + " apply -f " + ControlPlane::sourceDir() +
                   "/examples/kubevirt/common-instancetypes-u1.yaml")
            .exitCode,
        0);
    Json vm = haltedVm(ns_.name(), "shop");
    vm["spec"]["runStrategy"] = "Always";
    vm["spec"]["instancetype"] = {{"name", "u1.xlarge"}};
    Json& domain = vm["spec"]["template"]["spec"]["domain"];
    domain.erase("cpu");
    domain.erase("resources");
    domain.erase("memory");
    vm["spec"]["template"]["metadata"]["labels"]["app"] = "shop";
    vm["spec"]["template"]["metadata"]["annotations"] = {
        {"umbra.io/sim-workload", "profile:steady:0.1"},
        {"sidecar.istio.io/inject", "true"},
        {"umbra.io/sim-requests", "10ms"}};
    auto created = admin_->create(api::virtualMachines(), ns_.name(), vm);
    ASSERT_TRUE(created.ok()) << created.error().message;
    const Json service = {
        {"apiVersion", "v1"},
        {"kind", "Service"},
        {"metadata", {{"name", "shop"}}},
        {"spec",
         {{"selector", {{"app", "shop"}}},
          {"ports", Json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}})}}}};
    ASSERT_TRUE(admin_->create(kube::resources::services(), ns_.name(), service).ok());
    ASSERT_TRUE(eventually(
        [&] {
          return admin_->get(api::virtualMachineInstances(), {ns_.name(), "shop"})
                     .valueOr(Json::object())
                     .value("status", Json::object())
                     .value("phase", "") == "Running";
        },
        60s))
        << simLog();
  }
  Json trial() {
    return admin_->get(api::instancetypeTrials(), {ns_.name(), "shop"}).valueOr(Json::object());
  }
  Json status() { return trial().value("status", Json::object()); }
  std::vector<std::string> trialShadows() {
    kube::ListOptions o;
    o.labelSelector = "umbra.io/trial=shop,umbra.io/role=shadow";
    std::vector<std::string> names;
    if (auto l = admin_->list(api::virtualMachineInstances(), ns_.name(), o); l.ok())
      for (const auto& i : (*l)["items"])
        if (!i["metadata"].contains("deletionTimestamp"))
          names.push_back(i["metadata"].value("name", ""));
    return names;
  }
  size_t mirroringObjects() {
    kube::ListOptions o;
    o.labelSelector = "umbra.io/trial=shop,umbra.io/role=mirror";
    size_t n = 0;
    for (const auto* t : {&kube::resources::services(), &kube::resources::networkPolicies(),
                          &api::virtualServices()})
      if (auto l = admin_->list(*t, ns_.name(), o); l.ok())
        n += (*l)["items"].size();
    return n;
  }
  Json candidate(const std::string& name) {
    for (const auto& c : status().value("candidates", Json::array()))
      if (c.value("name", "") == name)
        return c;
    return Json::object();
  }
};

TEST_F(TrialTest, ShadowsOfEachTypeAreMeasuredAndTheCheapestMeetingTheSloIsApplied) {
  const std::string config = startSimulatedCluster({{"a", 0.1}, {"b", 0.1}}, true);
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  startShop();
  const std::string file = modelDir() + "/trial.yaml";
  std::ofstream(file) << "apiVersion: umbra.io/v1alpha1\nkind: InstancetypeTrial\n"
                      << "metadata: {name: shop}\nspec:\n  target: {name: shop}\n"
                      << "  candidates: [{name: u1.xlarge}, {name: u1.large}]\n"
                      << "  explore: {neighbours: true}\n  slo: {p95Latency: 100ms}\n"
                      << "  mirroring: {percentage: 10}\n  observation: {duration: 60s}\n"
                      << "  mode: Apply\n";
  const std::string applied = kubectl("apply -f " + file);
  ASSERT_NE(applied.find("instancetypetrial.umbra.io/shop created"), std::string::npos) << applied;

  // One shadow per type with the type's vCPUs at 10 % of a core each; the fence, their Services
  // and the VirtualService.
  ASSERT_TRUE(
      eventually([&] { return trialShadows().size() == 2 && mirroringObjects() == 4; }, 60s))
      << trialShadows().size() << " shadows, " << mirroringObjects() << " objects\n"
      << logTail();
  const Json large = admin_->get(api::virtualMachineInstances(), {ns_.name(), "shop-u1-large"})
                         .valueOr(Json::object());
  ASSERT_TRUE(large.contains("spec")) << "the u1.large shadow is named shop-u1-large";
  EXPECT_EQ(large["spec"]["domain"]["cpu"]["sockets"], 2);
  EXPECT_EQ(large["spec"]["domain"]["resources"]["limits"]["cpu"], "200m");
  const Json vs = admin_->get(api::virtualServices(), {ns_.name(), "shop-trial-mirror"})
                      .valueOr(Json::object());
  ASSERT_TRUE(vs.contains("spec")) << "the VirtualService is shop-trial-mirror";
  EXPECT_EQ(vs["spec"]["http"][0]["mirrors"].size(), 2u);
  EXPECT_EQ(vs["spec"]["http"][0]["mirrors"][0]["percentage"]["value"], 10.0);
  EXPECT_EQ(status().value("phase", ""), "Running");
  const std::string get = kubectl("get itt");
  for (const char* column : {"TARGET", "PHASE", "CURRENT", "RECOMMENDED"})
    EXPECT_NE(get.find(column), std::string::npos) << get;

  // Killed while they serve: the restarted operator makes no twin.
  std::this_thread::sleep_for(10s);
  op->signal(SIGKILL);
  op->wait(10);
  op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  std::this_thread::sleep_for(5s);
  EXPECT_LE(trialShadows().size(), 2u);
  kube::ListOptions all;
  all.labelSelector = "umbra.io/trial=shop,umbra.io/role=shadow";
  EXPECT_LE(admin_->list(api::virtualMachineInstances(), ns_.name(), all)
                .valueOr(Json::object())
                .value("items", Json::array())
                .size(),
            2u);

  // Measured at full load: both meet the SLO, u1.large is cheaper; its next smaller size,
  // u1.medium, has less memory than the VM uses and is not tried.
  ASSERT_TRUE(eventually(
      [&] {
        const std::string p = status().value("phase", "");
        return p == "Completed" || p == "Failed";
      },
      240s))
      << status().dump(1) << "\n"
      << logTail();
  const Json st = status();
  ASSERT_EQ(st.value("phase", ""), "Completed") << st.dump(1);
  // The figures, for the log: each candidate at full load.
  for (const auto& c : st.value("candidates", Json::array()))
    std::cout << "[trial] " << c.dump() << "\n";
  const Json xlarge = candidate("u1.xlarge");
  EXPECT_EQ(xlarge.value("state", ""), "Measured") << xlarge.dump();
  EXPECT_GT(xlarge.value("requestsPerSecond", 0.0), 30) << "40 a second at full load";
  EXPECT_LT(xlarge.value("requestsPerSecond", 0.0), 50);
  EXPECT_GT(xlarge.value("p95Ms", 0.0), 10) << "at least a request's own 10 ms";
  // 4 mirrored requests a second: 240 in the first minute, too few for a p95; 480 after another.
  EXPECT_EQ(xlarge.value("extensions", 0), 1) << xlarge.dump();
  EXPECT_EQ(xlarge.value("confidence", 0.0), 1.0) << xlarge.dump();
  const Json largeRow = candidate("u1.large");
  EXPECT_EQ(largeRow.value("state", ""), "Measured") << largeRow.dump();
  EXPECT_GT(largeRow.value("utilisation", 0.0), 0.1) << "0.4 cores of 2";
  EXPECT_LT(largeRow.value("utilisation", 0.0), 0.35);
  EXPECT_LT(xlarge.value("utilisation", 1.0), largeRow.value("utilisation", 0.0))
      << "four vCPUs share the same load";
  const Json medium = candidate("u1.medium");
  EXPECT_TRUE(medium.value("explored", false)) << st.dump(1);
  EXPECT_EQ(medium.value("state", ""), "Dropped") << medium.dump();
  EXPECT_NE(medium.value("reason", "").find("GiB in use"), std::string::npos) << medium.dump();
  EXPECT_GT(st.value("memoryInUseGiB", 0.0), 4.5) << "a third of 16 GiB and more";
  EXPECT_EQ(st["recommendation"].value("name", ""), "u1.large") << st.dump(1);
  EXPECT_EQ(st.value("current", Json::object()).value("name", ""), "u1.xlarge");
  std::cout << "[trial] shadows' cost: " << st.value("shadowCostPercent", -1.0)
            << " % of the VM's over the trial\n";
  EXPECT_GT(st.value("shadowCostPercent", 0.0), 0);

  // Applied: the VM has the recommended type; the shadows and, with them, the mirroring objects go.
  EXPECT_TRUE(eventually(
      [&] {
        return admin_->get(api::virtualMachines(), {ns_.name(), "shop"})
                   .valueOr(Json::object())
                   .value("spec", Json::object())
                   .value("instancetype", Json::object())
                   .value("name", "") == "u1.large";
      },
      30s))
      << logTail();
  EXPECT_TRUE(eventually([&] { return status().value("applied", false); }, 30s));
  // u1.large has half u1.xlarge's vCPUs: KubeVirt cannot unplug them, the VM asks for a restart.
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& c : admin_->get(api::virtualMachines(), {ns_.name(), "shop"})
                                 .valueOr(Json::object())
                                 .value("status", Json::object())
                                 .value("conditions", Json::array()))
          if (c.value("type", "") == "RestartRequired" && c.value("status", "") == "True")
            return true;
        return false;
      },
      30s))
      << simLog();
  EXPECT_TRUE(eventually([&] { return trialShadows().empty() && mirroringObjects() == 0; }, 60s))
      << trialShadows().size() << " shadows, " << mirroringObjects() << " mirroring objects left";
  const std::string events = kubectl(
      "get events --field-selector involvedObject.name=shop,involvedObject.kind=InstancetypeTrial "
      "-o custom-columns=R:.reason --no-headers");
  for (const char* reason : {"Started", "ObservationExtended", "CandidateMeasured",
                             "CandidateAdded", "Recommended", "Applied"})
    EXPECT_NE(events.find(reason), std::string::npos) << reason << " in\n" << events;
  EXPECT_TRUE(admin_->get(kube::resources::services(), {ns_.name(), "shop"}).ok())
      << "the user's Service stays";
}

}  // namespace
}  // namespace umbra::testing
