// ShadowPools end to end: the umbra-operator binary, umbra-sim serving KubeVirt's subresource API
// behind a real APIService, and Prometheus. Dormant shadows paused on reserved hosts, a replayed
// surge activating one through the API server's proxy (and the Service selecting it), a SIGKILL of
// the operator mid-activation, a LoadNotice growing the pool before its window, and an idle pool
// shrinking.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "api/shadow_placement.h"
#include "api/shadow_pool.h"
#include "integration/operator_fixture.h"
#include "kube_core/time.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

using kube::resources::apiServices;

class ShadowPoolTest : public OperatorBinaryTest {
 protected:
  // A cluster of a and b (the workload's) and r (labelled to be reserved), umbra-sim replaying
  // `trace` (one utilisation value per 300 s slot, `speed` times faster) and serving virt-api.
  std::string startCluster(const std::vector<double>& trace, int speed = 60) {
    const std::string traces = modelDir() + "/traces";
    std::filesystem::create_directories(traces);
    std::ofstream csv(traces + "/load.csv");
    csv << "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
    for (size_t slot = 0; slot < trace.size(); ++slot)
      csv << "load," << slot * 300 << "," << trace[slot] << ",0.3,0,0\n";
    csv.close();
    nodeLabels_["r"] = "umbra.test/reserve: " + ns_.name();
    const std::string config =
        startSimulatedCluster({{"a", 0.05}, {"b", 0.05}, {"r", 0.05}}, false, "",
                              {"--traces", traces, "--trace-speed", std::to_string(speed),
                               "--virt-api-addr", "127.0.0.1:0"});
    EXPECT_TRUE(eventually(
        [&] {
          auto s = admin_->get(apiServices(), {"", "v1.subresources.kubevirt.io"});
          if (!s.ok())
            return false;
          for (const auto& c :
               (*s).value("status", Json::object()).value("conditions", Json::array()))
            if (c.value("type", "") == "Available")
              return c.value("status", "") == "True";
          return false;
        },
        60s))
        << simLog();
    return config;
  }
  // The workload's template: 2 vCPUs, its demand 4 vCPUs times the trace (shared by the VMIs the
  // Service selects).
  static Json workloadTemplate() {
    return {
        {"metadata",
         {{"labels", {{"app", "web"}}},
          {"annotations",
           {{"umbra.io/sim-workload", "trace:load"}, {"umbra.io/sim-demand-vcpus", "4"}}}}},
        {"spec",
         {{"domain",
           {{"cpu", {{"sockets", 1}, {"cores", 2}}},
            {"memory", {{"guest", "2Gi"}}},
            {"devices",
             {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
          {"volumes",
           Json::array({{{"name", "root"},
                         {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}}}};
  }
  void createWorkload() {
    ASSERT_TRUE(
        admin_
            ->create(kube::ResourceType{"", "v1", "services", "Service", true}, ns_.name(),
                     {{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", "web"}, {"namespace", ns_.name()}}},
                      {"spec",
                       {{"selector", {{"app", "web"}}}, {"ports", Json::array({{{"port", 80}}})}}}})
            .ok());
    ASSERT_TRUE(
        admin_
            ->create(api::virtualMachines(), ns_.name(),
                     {{"apiVersion", "kubevirt.io/v1"},
                      {"kind", "VirtualMachine"},
                      {"metadata", {{"name", "web"}, {"namespace", ns_.name()}}},
                      {"spec", {{"runStrategy", "Always"}, {"template", workloadTemplate()}}}})
            .ok());
  }
  // kubectl apply of the pool: 1 to 3 shadows, paused, a pass every 5 s, idle after 20 s.
  void applyPool(int minShadows = 1) {
    Json pool = {{"apiVersion", "umbra.io/v1alpha1"},
                 {"kind", "ShadowPool"},
                 {"metadata", {{"name", "web"}}},
                 {"spec",
                  {{"workload",
                    {{"template", workloadTemplate()},
                     {"serviceLabel", {{"key", "app"}, {"value", "web"}}}}},
                   {"dormant", {{"state", "Paused"}}},
                   {"minShadows", minShadows},
                   {"maxShadows", 3},
                   {"trigger", {{"threshold", "0.8"}}},
                   {"interval", "5s"},
                   {"horizon", "30s"},
                   {"history", "10m"},
                   {"idleAfter", "20s"},
                   {"reservedHosts", {{"nodeSelector", {{"umbra.test/reserve", ns_.name()}}}}}}}};
    const std::string file = modelDir() + "/pool.yaml";
    std::ofstream(file) << pool.dump();
    const auto r =
        runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " apply -f " + file);
    ASSERT_EQ(r.exitCode, 0) << r.output;
  }
  Json get(const kube::ResourceType& t, const std::string& name) {
    auto r = admin_->get(t, {ns_.name(), name});
    return r.ok() ? *r : Json();
  }
  Json poolStatus() { return get(api::shadowPools(), "web").value("status", Json::object()); }
  // The pool's shadow VMs.
  std::vector<Json> shadowVms() {
    kube::ListOptions o;
    o.labelSelector = std::string(api::ShadowPoolLabel) + "=web";
    auto l = admin_->list(api::virtualMachines(), ns_.name(), o);
    std::vector<Json> out;
    if (l.ok())
      for (const auto& vm : (*l)["items"])
        if (!vm["metadata"].contains("deletionTimestamp"))
          out.push_back(vm);
    return out;
  }
  bool pausedVmi(const Json& vmi) {
    for (const auto& c : vmi.value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == "Paused" && c.value("status", "") == "True")
        return true;
    return false;
  }
  // Shadows whose VMI runs paused (dormant), and those the Service selects (their VMI has its
  // label and runs unpaused).
  int dormant() {
    int n = 0;
    for (const auto& vm : shadowVms()) {
      const Json vmi = get(api::virtualMachineInstances(), vm["metadata"].value("name", ""));
      n += !vmi.is_null() && vmi.value("status", Json::object()).value("phase", "") == "Running" &&
           pausedVmi(vmi);
    }
    return n;
  }
  int serving() {
    int n = 0;
    for (const auto& vm : shadowVms()) {
      const Json vmi = get(api::virtualMachineInstances(), vm["metadata"].value("name", ""));
      n += !vmi.is_null() &&
           vmi["metadata"].value("labels", Json::object()).value("app", "") == "web" &&
           !pausedVmi(vmi);
    }
    return n;
  }
  std::string events() {
    return runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() +
                      " get events.events.k8s.io --field-selector regarding.name=web -o "
                      "custom-columns=REASON:.reason,NOTE:.note --no-headers")
        .output;
  }
};

TEST_F(ShadowPoolTest, PausedShadowsOnReservedHostsActivateOnASurgeSurviveSigkillAndShrink) {
  // At 120 times real time (2.5 s a slot): 2 min low (0.2 of 4 vCPUs on the 2 of web:
  // utilisation 0.4), a 90 s ramp to 0.95 (web alone would need 3.8 vCPUs), 90 s there, a 90 s
  // ramp down, then low. (A sudden jump would be held in reserve for the whole history window:
  // the ramp keeps the shrink within the test's time.)
  std::vector<double> trace;
  for (int slot = 0; slot < 400; ++slot) {
    const double up = std::clamp((slot - 48) / 36.0, 0.0, 1.0);
    const double down = std::clamp((slot - 120) / 36.0, 0.0, 1.0);
    trace.push_back(0.2 + 0.75 * (up - down));
  }
  const std::string config = startCluster(trace, 120);
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  const auto simStart = std::chrono::steady_clock::now();
  applyPool();

  // The reserved node is labelled and tainted; the shadow starts paused there.
  const std::string reserved = node("r");
  ASSERT_TRUE(eventually(
      [&] {
        const Json n = admin_->get(kube::resources::nodes(), {"", reserved}).valueOr(Json());
        bool tainted = false;
        for (const auto& t : n.value("spec", Json::object()).value("taints", Json::array()))
          tainted |= t.value("key", "") == api::ReservedTaintKey &&
                     t.value("value", "") == ns_.name() + ".web";
        return tainted &&
               n["metadata"]["labels"].value(api::ReservedForLabel, "") == ns_.name() + ".web";
      },
      30s))
      << logTail();
  createWorkload();
  ASSERT_TRUE(eventually([&] { return dormant() >= 1; }, 60s)) << poolStatus().dump() << logTail();
  for (const auto& vm : shadowVms()) {
    const Json vmi = get(api::virtualMachineInstances(), vm["metadata"].value("name", ""));
    EXPECT_EQ(vmi["status"].value("nodeName", ""), reserved) << "shadows run on reserved hosts";
    EXPECT_FALSE(vmi["metadata"]["labels"].contains("app")) << "a dormant shadow gets no traffic";
    EXPECT_EQ(vm["metadata"]["ownerReferences"][0].value("kind", ""), "ShadowPool");
  }
  ASSERT_TRUE(eventually(
      [&] {
        return get(api::virtualMachineInstances(), "web")
                   .value("status", Json::object())
                   .value("phase", "") == "Running";
      },
      30s));
  EXPECT_NE(get(api::virtualMachineInstances(), "web")["status"].value("nodeName", ""), reserved)
      << "the taint keeps the workload's own VMs off the reserved host";
  ASSERT_TRUE(eventually(
      [&] {
        const Json st = poolStatus();
        for (const auto& c : st.value("conditions", Json::array()))
          if (c.value("type", "") == "Ready")
            return c.value("status", "") == "True" &&
                   c.value("observedGeneration", 0) ==
                       get(api::shadowPools(), "web")["metadata"].value("generation", 0);
        return false;
      },
      60s))
      << poolStatus().dump();
  const auto cols =
      runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " get spool web");
  EXPECT_NE(cols.output.find("DORMANT"), std::string::npos) << cols.output;

  // The surge: the first shadow activated is caught the moment it is marked, and the operator
  // SIGKILLed there.
  std::string marked, markedAt;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& vm : shadowVms()) {
          const Json a = vm["metadata"].value("annotations", Json::object());
          if (a.contains(api::ActivationStartedAnnotation)) {
            marked = vm["metadata"].value("name", "");
            markedAt = a.value(api::ActivationStartedAnnotation, "");
            return true;
          }
        }
        return false;
      },
      240s))
      << poolStatus().dump() << logTail();
  op->signal(SIGKILL);
  op->wait(10);
  const double surgeSeen =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - simStart).count();
  const Json atKill = get(api::virtualMachineInstances(), marked);
  std::cout << "[ figure ] activation began " << surgeSeen << " s after the simulator started "
            << "(the ramp begins at 120 s); SIGKILLed with " << marked << " "
            << (pausedVmi(atKill) ? "still paused" : "unpaused") << ", "
            << (atKill["metadata"]["labels"].contains("app") ? "labelled" : "not labelled")
            << std::endl;
  const size_t before = shadowVms().size();
  op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  // The restart finishes that activation: the same shadow, the same mark, serving.
  ASSERT_TRUE(eventually(
      [&] {
        const Json vm = get(api::virtualMachines(), marked);
        const Json vmi = get(api::virtualMachineInstances(), marked);
        return vm["metadata"]
                       .value("annotations", Json::object())
                       .value(api::ActivationStartedAnnotation, "") == markedAt &&
               vm["metadata"]["annotations"].contains(api::ServingSinceAnnotation) &&
               vmi["metadata"]["labels"].value("app", "") == "web" && !pausedVmi(vmi);
      },
      60s))
      << get(api::virtualMachines(), marked).dump() << logTail();
  const Json last = poolStatus().value("lastActivation", Json::object());
  ASSERT_TRUE(eventually(
      [&] {
        return poolStatus()
            .value("lastActivation", Json::object())
            .contains("timeToServingSeconds");
      },
      30s))
      << poolStatus().dump();
  std::cout << "[ figure ] lastActivation " << poolStatus()["lastActivation"].dump() << "\n";
  // The Service selects it, and the pool refills.
  EXPECT_TRUE(eventually([&] { return dormant() >= 1; }, 60s)) << poolStatus().dump();
  std::set<std::string> names;
  for (const auto& vm : shadowVms())
    names.insert(vm["metadata"].value("name", ""));
  EXPECT_LE(names.size(), 3u) << "never more than maxShadows";
  EXPECT_GE(names.size(), before);
  EXPECT_NE(events().find("Activated"), std::string::npos) << events();
  // Two serving VMIs still run at 0.95 of their vCPUs: a second activation, without a kill.
  ASSERT_TRUE(eventually(
      [&] { return poolStatus().value("cost", Json::object()).value("activations", 0) >= 2; }, 90s))
      << poolStatus().dump() << "\n"
      << events();
  EXPECT_NE(poolStatus()["lastActivation"].value("shadow", ""), marked);
  std::cout << "[ figure ] second activation (no kill) " << poolStatus()["lastActivation"].dump()
            << std::endl;

  // After the ramp down the trigger stays low: the active shadows go back to
  // sleep one per idleAfter, and the surplus dormant shadows go.
  ASSERT_TRUE(eventually([&] { return serving() == 0; }, 360s)) << poolStatus().dump() << logTail();
  EXPECT_NE(events().find("Deactivated"), std::string::npos) << events();
  const size_t peak = std::max(names.size(), shadowVms().size());
  ASSERT_TRUE(eventually([&] { return shadowVms().size() < peak; }, 120s))
      << "an idle pool shrinks: " << poolStatus().dump();
  std::cout << "[ figure ] shadows at the peak " << peak << ", after idling " << shadowVms().size()
            << "\n";
  std::cout << "[ figure ] newest activation " << poolStatus()["lastActivation"].dump()
            << "\n[ figure ] cost " << poolStatus()["cost"].dump() << "\n";
  // Every shadow is owned by the pool; deleting the pool takes them away (garbage collection).
  ASSERT_TRUE(admin_->remove(api::shadowPools(), {ns_.name(), "web"}).ok());
  EXPECT_TRUE(eventually([&] { return shadowVms().empty(); }, 60s)) << "no orphaned shadow";
}

TEST_F(ShadowPoolTest, ALoadNoticeGrowsThePoolBeforeItsWindowAndTheSurplusGoesAfter) {
  const std::string config = startCluster(std::vector<double>(200, 0.2));
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();
  applyPool();
  createWorkload();
  ASSERT_TRUE(eventually([&] { return dormant() == 1; }, 60s)) << poolStatus().dump() << logTail();
  // Announced: 10 vCPUs busy from 50 s from now, for 30 s; the pool grows from 30 s before.
  const auto now = std::chrono::system_clock::now();
  const auto start = now + 50s, end = now + 80s;
  const std::string file = modelDir() + "/notice.yaml";
  std::ofstream(file) << "apiVersion: umbra.io/v1alpha1\nkind: LoadNotice\n"
                         "metadata: {name: launch}\nspec:\n  pool: web\n  start: \""
                      << kube::formatTime(start) << "\"\n  end: \"" << kube::formatTime(end)
                      << "\"\n  leadTime: 30s\n  expectedLoad: {vcpus: 10}\n"
                         "  reason: product launch\n";
  const auto applied =
      runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " apply -f " + file);
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
  const auto phase = [&] {
    return get(api::loadNotices(), "launch").value("status", Json::object()).value("phase", "");
  };
  EXPECT_TRUE(eventually([&] { return phase() == "Scheduled"; }, 15s)) << phase();
  EXPECT_EQ(dormant(), 1) << "nothing grows before the lead time";
  // Grown to maxShadows before the window opens.
  ASSERT_TRUE(eventually([&] { return dormant() == 3; }, 45s)) << poolStatus().dump() << "\n"
                                                               << logTail();
  const auto grownAt = std::chrono::system_clock::now();
  EXPECT_LT(grownAt, start) << "the pool is ready before the announced window";
  EXPECT_EQ(phase(), "Active");
  std::cout << "[ figure ] 3 paused shadows held "
            << std::chrono::duration<double>(start - grownAt).count()
            << " s before the announced window\n";
  EXPECT_NE(events().find("NoticeApplied"), std::string::npos) << events();
  // After the window the surplus goes, one per idleAfter (20 s).
  ASSERT_TRUE(eventually([&] { return phase() == "Expired"; }, 60s)) << phase();
  ASSERT_TRUE(eventually([&] { return shadowVms().size() == 1; }, 90s))
      << poolStatus().dump() << "\n"
      << events();
  EXPECT_NE(events().find("ShadowDecommissioned"), std::string::npos) << events();
}

}  // namespace
}  // namespace umbra::testing
