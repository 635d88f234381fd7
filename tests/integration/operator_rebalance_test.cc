// RebalancePolicies end to end: the umbra-operator binary, umbra-sim playing KubeVirt (migrations
// through KubeVirt's phases, taking transfer time) and the nodes, and Prometheus. A VM with a
// companion shadow whose host a replayed surge loads is migrated to a quieter host and its
// companion re-placed off it; a VM that cannot be live-migrated stays with a condition; the
// operator is SIGKILLed mid-migration and starts no second one.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "api/rebalance_policy.h"
#include "api/shadow_placement.h"
#include "integration/operator_fixture.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

class RebalanceTest : public OperatorBinaryTest {
 protected:
  // a VM preferring node a, labelled for the policy; `extra` merged into its template spec.
  Json vm(const std::string& name, int cores, const std::string& workload, bool selected,
          const Json& extra = Json::object()) {
    Json spec = {
        {"affinity",
         {{"nodeAffinity",
           {{"preferredDuringSchedulingIgnoredDuringExecution",
             Json::array({{{"weight", 100},
                           {"preference",
                            {{"matchExpressions",
                              Json::array({{{"key", "kubernetes.io/hostname"},
                                            {"operator", "In"},
                                            {"values", Json::array({node("a")})}}})}}}}})}}}}},
        {"domain",
         {{"cpu", {{"cores", cores}}},
          {"memory", {{"guest", "2Gi"}}},
          {"devices",
           {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
        {"volumes",
         Json::array({{{"name", "root"},
                       {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}};
    spec.update(extra);
    Json labels = selected ? Json{{"rebalance", "on"}} : Json::object();
    return {{"apiVersion", "kubevirt.io/v1"},
            {"kind", "VirtualMachine"},
            {"metadata", {{"name", name}, {"namespace", ns_.name()}, {"labels", labels}}},
            {"spec",
             {{"runStrategy", "Always"},
              {"template",
               {{"metadata", {{"annotations", {{"umbra.io/sim-workload", workload}}}}},
                {"spec", spec}}}}}};
  }
  Json get(const kube::ResourceType& t, const std::string& name) {
    return admin_->get(t, {ns_.name(), name}).valueOr(Json::object());
  }
  Json status() { return get(api::rebalancePolicies(), "web").value("status", Json::object()); }
  std::string nodeOf(const std::string& vmi) {
    return get(api::virtualMachineInstances(), vmi)
        .value("status", Json::object())
        .value("nodeName", "");
  }
  std::vector<Json> migrationsOf(const std::string& vmi) {
    std::vector<Json> out;
    auto list = admin_->list(api::migrations(), ns_.name(), {});
    if (list.ok())
      for (const auto& m : (*list)["items"])
        if (m["spec"].value("vmiName", "") == vmi)
          out.push_back(m);
    return out;
  }
  std::string describe() {
    return runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() +
                      " describe rebalancepolicy web")
        .output;
  }
};

TEST_F(RebalanceTest, ASurgedHostsVmMovesWithItsCompanionAPinnedVmStaysAndSigkillMakesNoTwin) {
  // The surge: a machine trace held high (0.95 of the noisy VM's 6 vCPUs), replayed from its
  // first slot when the VM starts.
  const std::string traces = modelDir() + "/traces";
  std::filesystem::create_directories(traces);
  {
    std::ofstream csv(traces + "/surge.csv");
    csv << "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
    for (int slot = 0; slot < 200; ++slot)
      csv << "surge," << slot * 300 << "," << (slot % 7 == 0 ? 0.9 : 0.95) << ",0.3,0,0\n";
  }
  // Migrations take a few seconds through KubeVirt's phases: the operator is killed in one.
  const std::string config = startSimulatedCluster(
      {{"a", 0.05}, {"b", 0.05}, {"c", 0.3}}, false, "",
      {"--traces", traces, "--trace-speed", "60", "--migration-delay", "12s"});
  auto op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();

  // web (1 of its 2 vCPUs busy) and db (bridged to the pod network: not live-migratable) on a.
  ASSERT_TRUE(
      admin_->create(api::virtualMachines(), ns_.name(), vm("web", 2, "profile:steady:0.5", true))
          .ok());
  const Json bridged = {
      {"networks", Json::array({{{"name", "default"}, {"pod", Json::object()}}})}};
  Json db = vm("db", 1, "profile:steady:0.5", true, bridged);
  db["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"] =
      Json::array({{{"name", "default"}, {"bridge", Json::object()}}});
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), db).ok());
  ASSERT_TRUE(
      eventually([&] { return nodeOf("web") == node("a") && nodeOf("db") == node("a"); }, 60s))
      << nodeOf("web") << " " << nodeOf("db") << "\n"
      << simLog();

  // kubectl apply of the policy: a pass every 5 s, 30 s of sustained load, companions.
  const std::string file = modelDir() + "/policy.yaml";
  std::ofstream(file) << R"(apiVersion: umbra.io/v1alpha1
kind: RebalancePolicy
metadata: {name: web}
spec:
  selector: {matchLabels: {rebalance: "on"}}
  interval: 5s
  sustainedWindow: 30s
  horizon: 1m
  history: 10m
  budget: {maxInFlight: 2, minInterval: 1h}
  companions: {enabled: true}
)";
  const auto applied =
      runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " apply -f " + file);
  ASSERT_EQ(applied.exitCode, 0) << applied.output;

  // Companions on the quietest other host; db pinned with its reason; the policy Ready.
  const std::string webCompanion = "web-companion";
  ASSERT_TRUE(eventually(
      [&] {
        const Json c = get(api::virtualMachineInstances(), webCompanion);
        return c.contains("metadata") && nodeOf(webCompanion) == node("b");
      },
      60s))
      << status().dump() << "\n"
      << logTail();
  const Json companion = get(api::virtualMachineInstances(), webCompanion);
  EXPECT_EQ(companion["metadata"]["labels"].value(api::RoleLabel, ""), "shadow");
  EXPECT_EQ(companion["metadata"]["ownerReferences"][0].value("kind", ""), "RebalancePolicy");
  for (const auto& v : companion["spec"]["volumes"])
    EXPECT_TRUE(v.contains("containerDisk") || v.contains("cloudInitNoCloud")) << v.dump();
  ASSERT_TRUE(eventually(
      [&] {
        const Json st = status();
        std::string pinned, ready;
        int64_t observed = -1;
        for (const auto& c : st.value("conditions", Json::array())) {
          if (c.value("type", "") == "VMsPinned")
            pinned = c.value("status", "") + c.value("message", "");
          if (c.value("type", "") == "Ready") {
            ready = c.value("status", "");
            observed = c.value("observedGeneration", int64_t{-1});
          }
        }
        return ready == "True" && observed == 1 &&
               pinned.find("db: cannot migrate VMI") != std::string::npos;
      },
      60s))
      << status().dump() << "\n"
      << logTail();
  EXPECT_EQ(status().value("overloaded", -1), 0) << "no surge yet";
  // The quiet level has lasted a whole sustained window on every host (the first minute's rates
  // are not yet the nodes' steady ones): the surge is then judged on what follows it alone.
  ASSERT_TRUE(eventually(
      [&] {
        const Json hosts = status().value("hosts", Json::array());
        bool quiet = hosts.size() == 3;
        for (const auto& h : hosts)
          quiet = quiet && std::stod(h.value("sustained", "1")) < 0.5;
        return quiet;
      },
      120s))
      << status().dump();
  std::cout << "[rebalance] hosts before the surge: "
            << status().value("hosts", Json::array()).dump() << "\n";
  EXPECT_TRUE(migrationsOf("web").empty());

  // The surge on a.
  ASSERT_TRUE(
      admin_->create(api::virtualMachines(), ns_.name(), vm("noisy", 6, "trace:surge", false))
          .ok());
  const auto surged = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return nodeOf("noisy") == node("a"); }, 60s)) << simLog();

  // The migration of web appears; the operator is SIGKILLed while it runs, and started again.
  std::string migration;
  ASSERT_TRUE(eventually(
      [&] {
        const auto ms = migrationsOf("web");
        if (ms.empty())
          return false;
        migration = ms[0]["metadata"].value("name", "");
        return true;
      },
      180s))
      << status().dump() << "\n"
      << logTail();
  const double decidedAfter =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - surged).count();
  const std::string evidence = get(api::migrations(), migration)
                                   .value("metadata", Json::object())
                                   .value("annotations", Json::object())
                                   .value(api::RebalanceReasonAnnotation, "");
  std::cout << "[rebalance] " << migration << ": " << evidence << "\n"
            << "[rebalance] hosts then: " << status().value("hosts", Json::array()).dump() << "\n";
  const std::string phaseAtKill =
      get(api::migrations(), migration).value("status", Json::object()).value("phase", "");
  op->signal(SIGKILL);
  op->wait(10);
  EXPECT_NE(phaseAtKill, "Succeeded") << "the kill should land mid-migration";
  op = startOperator(config);
  ASSERT_TRUE(ready()) << logTail();

  // Succeeded, web on a quieter host, its companion off web's host and off a.
  ASSERT_TRUE(eventually(
      [&] {
        return get(api::migrations(), migration)
                   .value("status", Json::object())
                   .value("phase", "") == "Succeeded";
      },
      120s))
      << get(api::migrations(), migration).dump() << "\n"
      << simLog();
  const std::string to = nodeOf("web");
  EXPECT_TRUE(to == node("b") || to == node("c")) << to;
  EXPECT_EQ(get(api::migrations(), migration)["spec"]["addedNodeSelector"].value(
                "kubernetes.io/hostname", ""),
            to);
  ASSERT_TRUE(eventually(
      [&] {
        const std::string at = nodeOf(webCompanion);
        return !at.empty() && at != to && at != node("a");
      },
      90s))
      << nodeOf(webCompanion) << "\n"
      << status().dump();
  ASSERT_TRUE(eventually(
      [&] {
        const Json outcomes = status().value("outcomes", Json::array());
        return !outcomes.empty() && outcomes[0].value("migration", "") == migration &&
               outcomes[0].value("phase", "") == "Succeeded";
      },
      60s))
      << status().dump();
  const std::string described = describe();
  EXPECT_NE(described.find("Migrating"), std::string::npos) << described;
  EXPECT_NE(described.find("Migrated"), std::string::npos) << described;
  EXPECT_NE(described.find("NotLiveMigratable"), std::string::npos) << described;
  const auto columns = runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() +
                                  " get rebalancepolicy web");
  EXPECT_NE(columns.output.find("LAST MOVE"), std::string::npos) << columns.output;
  EXPECT_NE(columns.output.find("web " + node("a") + "->" + to + " Succeeded"), std::string::npos)
      << columns.output;

  // a stays loaded (noisy and db), but nothing else there may move: no second migration of web
  // (within its hour), none of db, ever.
  std::this_thread::sleep_for(20s);
  EXPECT_EQ(migrationsOf("web").size(), 1u);
  EXPECT_TRUE(migrationsOf("db").empty());
  EXPECT_EQ(nodeOf("db"), node("a"));
  std::cout << "[rebalance] migration created " << decidedAfter << " s after the surge VM"
            << " was created; web " << node("a") << " -> " << to << ", its companion on "
            << nodeOf(webCompanion) << "\n";

  // Deleting the policy takes its companions (garbage collection is the controller-manager's).
  ASSERT_EQ(runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() +
                       " delete rebalancepolicy web")
                .exitCode,
            0);
  EXPECT_TRUE(eventually(
      [&] {
        return !admin_->get(api::virtualMachineInstances(), {ns_.name(), webCompanion}).ok();
      },
      60s));
}

}  // namespace
}  // namespace umbra::testing
