// The operator's autoscaling controllers end to end (the umbra-operator binary, umbra-sim,
// Prometheus): PredictiveScalers of a VM and a pool ahead of a replayed ramp, and ShadowPools
// (dormant shadows on reserved hosts, activation through KubeVirt's subresource API on a replayed
// surge, LoadNotices, shrinking when idle), each surviving a SIGKILL of the operator.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "api/predictive_scaler.h"
#include "api/shadow_placement.h"
#include "integration/operator_fixture.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

TEST_F(OperatorBinaryTest, ScalersScaleAVmAndAPoolAheadOfARampAndSurviveSigkill) {
  const std::string traces = modelDir() + "/traces";
  std::filesystem::create_directories(traces);
  {
    std::ofstream csv(traces + "/ramp.csv");
    csv << "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
    for (int slot = 0; slot < 200; ++slot) {
      const double u = slot < 30 ? 0.1 : slot < 60 ? 0.1 + 0.8 * (slot - 30) / 30.0 : 0.9;
      csv << "ramp," << slot * 300 << "," << u << ",0.3,0,0\n";
    }
  }
  const std::string configPath = startSimulatedCluster({{"a", 0.05}, {"b", 0.05}}, false, "",
                                                       {"--traces", traces, "--trace-speed", "60"});
  auto op = startOperator(configPath);
  ASSERT_TRUE(ready()) << logTail();
  Json tmpl = {
      {"metadata",
       {{"labels", {{"app", "ramp"}}},
        {"annotations",
         {{"umbra.io/sim-workload", "trace:ramp"}, {"umbra.io/sim-demand-vcpus", "4"}}}}},
      {"spec",
       {{"domain",
         {{"cpu", {{"sockets", 1}, {"cores", 1}}},
          {"memory", {{"guest", "1Gi"}}},
          {"devices",
           {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})},
            {"interfaces",
             Json::array({{{"name", "default"}, {"masquerade", Json::object()}}})}}}}},
        {"networks", Json::array({{{"name", "default"}, {"pod", Json::object()}}})},
        {"volumes",
         Json::array({{{"name", "root"},
                       {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}}}};
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachines(), ns_.name(),
                           {{"apiVersion", "kubevirt.io/v1"},
                            {"kind", "VirtualMachine"},
                            {"metadata", {{"name", "ramp"}, {"namespace", ns_.name()}}},
                            {"spec", {{"runStrategy", "Always"}, {"template", tmpl}}}})
                  .ok());
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachinePools(), ns_.name(),
                           {{"apiVersion", "pool.kubevirt.io/v1beta1"},
                            {"kind", "VirtualMachinePool"},
                            {"metadata", {{"name", "shop"}, {"namespace", ns_.name()}}},
                            {"spec",
                             {{"replicas", 1},
                              {"selector", {{"matchLabels", {{"app", "ramp"}}}}},
                              {"virtualMachineTemplate",
                               {{"metadata", {{"labels", {{"app", "ramp"}}}}},
                                {"spec", {{"runStrategy", "Always"}, {"template", tmpl}}}}}}}})
                  .ok());
  const auto kubectl = ControlPlane::instance().kubectl() + " -n " + ns_.name();
  const std::string scalers = modelDir() + "/scalers.yaml";
  std::ofstream(scalers) << "apiVersion: umbra.io/v1alpha1\nkind: PredictiveScaler\n"
                            "metadata: {name: ramp}\nspec:\n"
                            "  target: {kind: VirtualMachine, name: ramp}\n  mode: Apply\n"
                            "  interval: 5s\n  history: 10m\n  leadTime: 15s\n"
                            "  vertical: {cpu: {minSockets: 1, maxSockets: 4}}\n---\n"
                            "apiVersion: umbra.io/v1alpha1\nkind: PredictiveScaler\n"
                            "metadata: {name: shop}\nspec:\n"
                            "  target: {kind: VirtualMachinePool, name: shop}\n  mode: Apply\n"
                            "  interval: 5s\n  history: 10m\n  leadTime: 15s\n"
                            "  horizontal: {minReplicas: 1, maxReplicas: 5}\n";
  const auto applied = runCommand(kubectl + " apply -f " + scalers);
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
  const auto scaler = [&](const std::string& name) {
    auto s = admin_->get(api::predictiveScalers(), {ns_.name(), name});
    return s.ok() ? *s : Json::object();
  };
  const auto sockets = [&] {
    auto vm = admin_->get(api::virtualMachines(), {ns_.name(), "ramp"});
    return vm.ok() ? (*vm)["spec"]["template"]["spec"]["domain"]["cpu"].value("sockets", 1) : 0;
  };
  // Forecasting (24 passes of history) and status with conditions before the ramp.
  ASSERT_TRUE(eventually(
      [&] {
        const Json st = scaler("ramp").value("status", Json::object());
        return st.value("forecast", Json::object()).value("model", "").starts_with("guarded");
      },
      150s))
      << scaler("ramp").dump() << "\n"
      << logTail();
  Json readyCondition;
  for (const auto& c :
       scaler("ramp").value("status", Json::object()).value("conditions", Json::array()))
    if (c["type"] == "Ready")
      readyCondition = c;
  EXPECT_EQ(readyCondition.value("status", ""), "True") << scaler("ramp").dump();
  EXPECT_EQ(readyCondition.value("observedGeneration", 0), 1);
  EXPECT_EQ(sockets(), 1) << "nothing to do while the demand is flat";
  // The first scale-ups, and the demand their passes saw (the VM's in cores on one vCPU, the
  // pool's in replicas' worth on one replica).
  double demandAtAction = -1, poolDemandAtAction = -1;
  const auto firstScaleUp = [&](const std::string& name, const char* field, double& seen) {
    if (seen >= 0)
      return true;
    const Json st = scaler(name).value("status", Json::object());
    if (st.value("lastAction", Json::object()).value("action", "") != "ScaleUp")
      return false;
    seen = std::stod(st.value("demand", Json::object()).value(field, std::string("-1")));
    return true;
  };
  ASSERT_TRUE(eventually(
      [&] {
        const bool vm = firstScaleUp("ramp", "cpuCores", demandAtAction);
        const bool pool = firstScaleUp("shop", "replicas", poolDemandAtAction);
        return vm && pool;
      },
      200s))
      << scaler("ramp").dump() << "\n"
      << scaler("shop").dump() << "\n"
      << logTail();
  std::fprintf(stderr, "[scaler] the pool's first scale-up with %.2f replicas' worth on 1\n",
               poolDemandAtAction);
  EXPECT_LT(poolDemandAtAction, 1.0) << "the pool too scaled ahead";
  const std::string firstTo = scaler("ramp")
                                  .value("status", Json::object())
                                  .value("lastAction", Json::object())
                                  .value("to", "");
  std::fprintf(stderr, "[scaler] first scale-up to %s with demand %.2f cores on 1 vCPU\n",
               firstTo.c_str(), demandAtAction);
  EXPECT_LT(demandAtAction, 1.0) << "scaled ahead: the demand had not reached the one vCPU yet";
  // SIGKILL just after it, and a restart: the scaling carries on, nothing twice.
  op->signal(SIGKILL);
  EXPECT_NE(op->wait(10), 0);
  op = startOperator(configPath);
  ASSERT_TRUE(ready()) << logTail();
  ASSERT_TRUE(eventually([&] { return sockets() == 4; }, 240s)) << scaler("ramp").dump() << "\n"
                                                                << logTail();
  ASSERT_TRUE(eventually(
      [&] {
        auto vmi = admin_->get(api::virtualMachineInstances(), {ns_.name(), "ramp"});
        return vmi.ok() && (*vmi)["status"]["currentCPUTopology"].value("sockets", 0) == 4;
      },
      60s))
      << "KubeVirt (the simulator) made it effective";
  // Each socket step: one hotplug migration and (but for a lost one) one ScaledUp Event.
  const auto events =
      runCommand(kubectl +
                 " get events.events.k8s.io --field-selector reason=ScaledUp,"
                 "regarding.name=ramp -o jsonpath='{range .items[*]}{.note}{\"\\n\"}{end}'");
  std::set<std::string> steps;
  int scaledUp = 0;
  std::istringstream lines(events.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) {
      ++scaledUp;
      steps.insert(line.substr(0, line.find(':')));
    }
  EXPECT_EQ(static_cast<size_t>(scaledUp), steps.size()) << "no step twice:\n" << events.output;
  auto migrations = admin_->list(api::migrations(), ns_.name(), {});
  ASSERT_TRUE(migrations.ok());
  size_t hotplugs = 0;
  for (const auto& m : (*migrations)["items"])
    hotplugs += m["spec"].value("vmiName", "") == "ramp" ? 1 : 0;
  // One hotplug migration per socket added (1 -> 4), none twice. An Event is posted after its
  // step, asynchronously: the one of the step the SIGKILL followed may be lost with the process
  // (Events are best effort, as client-go's broadcaster's), so the Events may be one short.
  EXPECT_EQ(hotplugs, 3u) << events.output;
  EXPECT_LE(steps.size(), hotplugs) << events.output;
  EXPECT_GE(steps.size() + 1, hotplugs) << events.output;
  // The pool grew with its share of the ramp.
  EXPECT_TRUE(eventually(
      [&] {
        auto p = admin_->get(api::virtualMachinePools(), {ns_.name(), "shop"});
        return p.ok() && (*p)["spec"].value("replicas", 0) >= 3;
      },
      60s))
      << scaler("shop").dump();
  const auto wide = runCommand(kubectl + " get psc -o wide");
  std::fprintf(stderr, "%s", wide.output.c_str());
  EXPECT_NE(wide.output.find("ScaleUp"), std::string::npos) << wide.output;
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
}

}  // namespace
}  // namespace umbra::testing
