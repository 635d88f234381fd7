// umbra-sim end to end: the binary against a real control plane with KubeVirt's CRDs, scraped by
// a real Prometheus. One simulator for the suite (its nodes are cluster-scoped); each test works
// in its own namespace.
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "api/shadow_placement.h"
#include "harness/openapi_validator.h"
#include "harness/process.h"
#include "harness/prometheus_server.h"
#include "integration/common.h"
#include "placement/shadow.h"
#include "telemetry/prometheus_source.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

const std::string ClusterFile =
    ControlPlane::sourceDir() + "/tests/integration/testdata/sim-cluster.yaml";

class SimulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status st = ControlPlane::instance().installAllCrds();
    ASSERT_TRUE(st.ok()) << st.error().message;
    // Istio's VirtualService: umbra-sim plays the mesh's mirroring when it is served.
    const Status istio = ControlPlane::instance().installCrds(
        {ControlPlane::thirdPartyDir() + "/istio/crds/virtualservices.networking.istio.io.yaml"});
    ASSERT_TRUE(istio.ok()) << istio.error().message;
    port_ = freePort();
    log_ = ControlPlane::instance().dir() + "/umbra-sim.log";
    sim_ = new ChildProcess(
        {UMBRA_SIM_BINARY, "--kubeconfig", ControlPlane::instance().kubeconfig(), "--cluster",
         ClusterFile, "--metrics-addr", "127.0.0.1:" + std::to_string(port_), "--boot-delay",
         "300ms", "--migration-delay", "300ms", "--migration-speed", "100", "--tick", "100ms"},
        log_);
    ASSERT_TRUE(eventually(
        [] { return metrics().find("node_cpu_seconds_total") != std::string::npos; }, 60s))
        << runCommand("cat " + log_).output;
  }
  static void TearDownTestSuite() {
    if (sim_) {
      sim_->signal(SIGTERM);
      EXPECT_EQ(sim_->wait(20), 0) << "umbra-sim shuts down cleanly on SIGTERM";
      delete sim_;
      sim_ = nullptr;
    }
  }
  void SetUp() override {
    admin_ = ControlPlane::instance().adminClient();
    auto schema = KubeVirtSchema::load(ControlPlane::thirdPartyDir() + "/kubevirt/swagger.json");
    ASSERT_TRUE(schema.ok());
    schema_ = std::make_unique<KubeVirtSchema>(std::move(schema).value());
  }
  // Every VMI the simulator wrote still validates against KubeVirt's schema.
  void TearDown() override {
    auto list = admin_->list(api::virtualMachineInstances(), ns_.name(), {});
    ASSERT_TRUE(list.ok());
    for (Json vmi : (*list)["items"]) {
      vmi["apiVersion"] = "kubevirt.io/v1";
      vmi["kind"] = "VirtualMachineInstance";
      const auto errors = schema_->validate(vmi);
      EXPECT_TRUE(errors.empty()) << vmi["metadata"]["name"] << ": " << errors.front();
    }
  }

  // An instant query's samples by their `name` label (VMI series) or `node` label (node series).
  static std::map<std::string, double> promQuery(const PrometheusServer& prometheus,
                                                 const std::string& promql) {
    const auto r = runCommand("curl -fsS " + prometheus.url() +
                              "/api/v1/query --data-urlencode 'query=" + promql + "'");
    const Json doc = Json::parse(r.output, nullptr, false);
    std::map<std::string, double> out;
    if (doc.is_discarded() || doc.value("status", "") != "success")
      return out;
    for (const auto& s : doc["data"]["result"]) {
      const Json& m = s["metric"];
      out[m.value("name", m.value("node", ""))] = std::stod(s["value"][1].get<std::string>());
    }
    return out;
  }
  // Umbra's reader on `prometheus`, with 5 s rate windows (scrapes are 1 s apart here).
  static std::unique_ptr<telemetry::PrometheusSource> readerOf(const PrometheusServer& prometheus) {
    telemetry::PrometheusOptions o;
    o.connection.url = prometheus.url();
    o.catalog.rateWindow = 5s;
    auto source = telemetry::PrometheusSource::create(o);
    EXPECT_TRUE(source.ok()) << source.error().message;
    return source.ok() ? std::move(source).value() : nullptr;
  }

  static std::string metrics() {
    return runCommand("curl -fsS http://127.0.0.1:" + std::to_string(port_) + "/metrics").output;
  }

  static Json vmSpec(const Json& nodeSelector) {
    Json spec = {
        {"domain",
         {{"cpu", {{"cores", 2}}},
          {"memory", {{"guest", "2Gi"}}},
          {"resources", {{"requests", {{"cpu", "2"}, {"memory", "2Gi"}}}}},
          {"devices",
           {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
        {"volumes",
         Json::array({{{"name", "root"},
                       {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}};
    if (!nodeSelector.empty())
      spec["nodeSelector"] = nodeSelector;
    return spec;
  }
  Json vmi(const std::string& name, const Json& nodeSelector,
           const std::string& load = "profile:steady:0.5") {
    return {{"apiVersion", "kubevirt.io/v1"},
            {"kind", "VirtualMachineInstance"},
            {"metadata",
             {{"name", name},
              {"namespace", ns_.name()},
              {"annotations", {{"umbra.io/sim-workload", load}}}}},
            {"spec", vmSpec(nodeSelector)}};
  }
  Json get(const kube::ResourceType& t, const std::string& name) {
    auto r = admin_->get(t, {ns_.name(), name});
    return r.ok() ? *r : Json();
  }
  std::string phaseOf(const kube::ResourceType& t, const std::string& name) {
    const Json o = get(t, name);
    return o.is_null() ? "<gone>" : o.value("status", Json::object()).value("phase", "");
  }
  // A VirtualMachineInstanceMigration of `vmiName`, to `node` when one is named.
  Json migration(const std::string& name, const std::string& vmiName,
                 const std::string& node = "") {
    Json m = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachineInstanceMigration"},
              {"metadata", {{"name", name}, {"namespace", ns_.name()}}},
              {"spec", {{"vmiName", vmiName}}}};
    if (!node.empty())
      m["spec"]["addedNodeSelector"] = {{"kubernetes.io/hostname", node}};
    return m;
  }
  bool runningOn(const std::string& name, std::string* node = nullptr) {
    const bool ok =
        eventually([&] { return phaseOf(api::virtualMachineInstances(), name) == "Running"; });
    if (node)
      *node = get(api::virtualMachineInstances(), name)["status"].value("nodeName", "");
    return ok;
  }

  static inline ChildProcess* sim_ = nullptr;
  static inline int port_ = 0;
  static inline std::string log_;
  TestNamespace ns_;
  std::unique_ptr<kube::KubeClient> admin_;
  std::unique_ptr<KubeVirtSchema> schema_;
};

TEST_F(SimulatorTest, NodesAreReadyWithHeartbeatsAndNoStartupTaint) {
  for (const char* name : {"sim-idle", "sim-busy", "sim-tiny"}) {
    auto node = admin_->get(kube::resources::nodes(), {"", name});
    ASSERT_TRUE(node.ok()) << name;
    EXPECT_EQ((*node)["metadata"]["labels"]["kubevirt.io/schedulable"], "true");
    bool ready = false;
    for (const auto& c : (*node)["status"]["conditions"])
      ready |= c["type"] == "Ready" && c["status"] == "True";
    EXPECT_TRUE(ready) << name;
    EXPECT_EQ((*node)["spec"].value("taints", Json::array()).size(), 0u) << name;
    EXPECT_TRUE(admin_->get(kube::resources::leases(), {"kube-node-lease", name}).ok()) << name;
  }
  const auto out =
      runCommand(ControlPlane::instance().kubectl() + " get nodes -l type=umbra-sim --no-headers");
  EXPECT_EQ(std::count(out.output.begin(), out.output.end(), '\n'), 3) << out.output;
  EXPECT_EQ(out.output.find("NotReady"), std::string::npos) << out.output;
}

TEST_F(SimulatorTest, AStartedVmGetsARunningVmiOnAFeasibleNodeAndHaltingRemovesIt) {
  const Json vm = {{"apiVersion", "kubevirt.io/v1"},
                   {"kind", "VirtualMachine"},
                   {"metadata", {{"name", "web"}, {"namespace", ns_.name()}}},
                   {"spec",
                    {{"runStrategy", "Always"},
                     {"template",
                      {{"metadata", {{"labels", {{"app", "web"}}}}},
                       {"spec", vmSpec({{"umbra.test/zone", "a"}})}}}}}};
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm).ok());
  std::string node;
  ASSERT_TRUE(runningOn("web", &node));
  EXPECT_TRUE(node == "sim-idle" || node == "sim-busy") << node << " is not in zone a";
  const Json created = get(api::virtualMachineInstances(), "web");
  EXPECT_EQ(created["metadata"]["labels"]["kubevirt.io/nodeName"], node);
  EXPECT_EQ(created["metadata"]["labels"]["app"], "web") << "the template's labels";
  EXPECT_EQ(created["metadata"]["ownerReferences"][0]["kind"], "VirtualMachine");
  EXPECT_TRUE(eventually([&] {
    return get(api::virtualMachines(), "web")
               .value("status", Json::object())
               .value("printableStatus", "") == "Running";
  }));
  EXPECT_TRUE(eventually([&] {
    return metrics().find("name=\"web\",namespace=\"" + ns_.name()) != std::string::npos;
  })) << "the running VMI is exported";
  ASSERT_TRUE(admin_
                  ->patch(api::virtualMachines(), {ns_.name(), "web"}, kube::PatchType::Merge,
                          {{"spec", {{"runStrategy", "Halted"}}}})
                  .ok());
  EXPECT_TRUE(
      eventually([&] { return phaseOf(api::virtualMachineInstances(), "web") == "<gone>"; }));
  EXPECT_TRUE(eventually([&] {
    return get(api::virtualMachines(), "web")["status"].value("printableStatus", "") == "Stopped";
  }));
}

TEST_F(SimulatorTest, RunStrategyOnceRunsOneVmiAndKeepsIt) {
  const Json vm = {
      {"apiVersion", "kubevirt.io/v1"},
      {"kind", "VirtualMachine"},
      {"metadata", {{"name", "once"}, {"namespace", ns_.name()}}},
      {"spec",
       {{"runStrategy", "Once"}, {"template", {{"spec", vmSpec({{"umbra.test/zone", "a"}})}}}}}};
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm).ok());
  ASSERT_TRUE(runningOn("once"));
  const std::string uid = get(api::virtualMachineInstances(), "once")["metadata"]["uid"];
  ASSERT_TRUE(eventually(
      [&] { return get(api::virtualMachines(), "once")["status"].value("created", false); }));
  std::this_thread::sleep_for(1s);  // several simulator ticks
  EXPECT_EQ(get(api::virtualMachineInstances(), "once")["metadata"]["uid"], uid)
      << "the same VMI, neither deleted nor replaced";
  EXPECT_EQ(phaseOf(api::virtualMachineInstances(), "once"), "Running");
}

TEST_F(SimulatorTest, StartStrategyPausedRunsPausedWithoutCpu) {
  Json paused = vmi("paused", {{"kubernetes.io/hostname", "sim-idle"}});
  paused["spec"]["startStrategy"] = "Paused";
  ASSERT_TRUE(admin_->create(api::virtualMachineInstances(), ns_.name(), paused).ok());
  ASSERT_TRUE(runningOn("paused"));
  bool pausedCondition = false;
  const Json running = get(api::virtualMachineInstances(), "paused");
  for (const auto& c : running["status"]["conditions"])
    pausedCondition |= c["type"] == "Paused" && c["status"] == "True";
  EXPECT_TRUE(pausedCondition) << running.dump();
  const std::string series =
      "kubevirt_vmi_cpu_usage_seconds_total{name=\"paused\",namespace=\"" + ns_.name() + "\"";
  ASSERT_TRUE(eventually([&] { return metrics().find(series) != std::string::npos; }));
  std::this_thread::sleep_for(500ms);
  const std::string text = metrics();
  const size_t at = text.find(series);
  const double used = std::stod(text.substr(text.find("} ", at) + 2));
  EXPECT_EQ(used, 0) << "a paused guest runs nothing";
}

TEST_F(SimulatorTest, AVmiWithAnImpossibleSelectorStaysPendingWithAReason) {
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("nowhere", {{"umbra.test/zone", "mars"}}))
                  .ok());
  ASSERT_TRUE(
      eventually([&] { return phaseOf(api::virtualMachineInstances(), "nowhere") == "Pending"; }));
  const Json st = get(api::virtualMachineInstances(), "nowhere")["status"];
  ASSERT_EQ(st["conditions"].size(), 1u);
  EXPECT_EQ(st["conditions"][0]["type"], "PodScheduled");
  EXPECT_EQ(st["conditions"][0]["status"], "False");
  EXPECT_EQ(st["conditions"][0]["reason"], "Unschedulable");
  EXPECT_NE(st["conditions"][0].value("message", "").find("0/3 nodes are available"),
            std::string::npos)
      << st["conditions"][0].dump();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(phaseOf(api::virtualMachineInstances(), "nowhere"), "Pending") << "and stays so";
  EXPECT_FALSE(get(api::virtualMachineInstances(), "nowhere")["status"].contains("nodeName"));
  // Too big for the only node its selector allows (1 core, 2 GiB).
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("too-big", {{"umbra.test/zone", "b"}}))
                  .ok());
  ASSERT_TRUE(
      eventually([&] { return phaseOf(api::virtualMachineInstances(), "too-big") == "Pending"; }));
}

TEST_F(SimulatorTest, VmisCreatedTogetherDoNotOvercommitANode) {
  // sim-tiny (1 core, 2 GiB) has room for one of these; both arrive in the same round.
  for (const char* name : {"first", "second"}) {
    Json v = vmi(name, {{"umbra.test/zone", "b"}});
    v["spec"]["domain"]["cpu"]["cores"] = 1;
    v["spec"]["domain"]["memory"]["guest"] = "512Mi";
    v["spec"]["domain"]["resources"]["requests"] = {{"cpu", "600m"}, {"memory", "512Mi"}};
    ASSERT_TRUE(admin_->create(api::virtualMachineInstances(), ns_.name(), v).ok());
  }
  const auto phases = [&] {
    return std::multiset<std::string>{phaseOf(api::virtualMachineInstances(), "first"),
                                      phaseOf(api::virtualMachineInstances(), "second")};
  };
  const std::multiset<std::string> oneEach = {"Pending", "Running"};
  ASSERT_TRUE(eventually([&] { return phases() == oneEach; }));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(phases(), oneEach) << "the second VMI must not land on the full node";
}

TEST_F(SimulatorTest, AMigrationWithAddedNodeSelectorMovesTheVmi) {
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("mover", {{"kubernetes.io/hostname", "sim-idle"}}))
                  .ok());
  ASSERT_TRUE(runningOn("mover"));
  // Like the operator: the pin is replaced... on a VMI that cannot be patched, so this VMI's own
  // selector (sim-idle) wins over addedNodeSelector and the migration cannot go anywhere else.
  ASSERT_TRUE(
      admin_->create(api::migrations(), ns_.name(), migration("pinned", "mover", "sim-busy")).ok());
  ASSERT_TRUE(eventually([&] { return phaseOf(api::migrations(), "pinned") == "Failed"; }));

  // A VMI selected by zone moves to the node addedNodeSelector names.
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("zoned", {{"umbra.test/zone", "a"}}))
                  .ok());
  std::string from;
  ASSERT_TRUE(runningOn("zoned", &from));
  const std::string to = from == "sim-idle" ? "sim-busy" : "sim-idle";
  ASSERT_TRUE(admin_->create(api::migrations(), ns_.name(), migration("move", "zoned", to)).ok());
  ASSERT_TRUE(eventually([&] { return phaseOf(api::migrations(), "move") == "Succeeded"; }))
      << get(api::migrations(), "move").dump();
  const Json moved = get(api::virtualMachineInstances(), "zoned");
  EXPECT_EQ(moved["status"]["nodeName"], to);
  EXPECT_EQ(moved["metadata"]["labels"]["kubevirt.io/nodeName"], to);
  EXPECT_EQ(moved["status"]["migrationState"]["sourceNode"], from);
  EXPECT_EQ(moved["status"]["migrationState"]["completed"], true);
  EXPECT_TRUE(eventually([&] {
    return metrics().find("name=\"zoned\",namespace=\"" + ns_.name() + "\",node=\"" + to) !=
           std::string::npos;
  })) << "its metrics follow it";
}

// A migration goes through KubeVirt's phases in order (recorded in phaseTransitionTimestamps, as
// virt-controller records them); a guest dirtying memory faster than the link carries it is
// aborted the way virt-handler's monitor aborts it, and stays where it was.
TEST_F(SimulatorTest, AMigrationGoesThroughKubeVirtsPhasesAndAGuestDirtyingTooFastIsAborted) {
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("calm", {{"umbra.test/zone", "a"}}))
                  .ok());
  std::string from;
  ASSERT_TRUE(runningOn("calm", &from));
  ASSERT_TRUE(admin_->create(api::migrations(), ns_.name(), migration("calm-move", "calm")).ok());
  ASSERT_TRUE(eventually([&] { return phaseOf(api::migrations(), "calm-move") == "Succeeded"; }))
      << get(api::migrations(), "calm-move").dump();
  const Json done = get(api::migrations(), "calm-move");
  std::vector<std::string> phases;
  for (const auto& p : done["status"]["phaseTransitionTimestamps"])
    phases.push_back(p.value("phase", ""));
  EXPECT_EQ(phases, (std::vector<std::string>{"Scheduling", "Scheduled", "PreparingTarget",
                                              "TargetReady", "Running", "Succeeded"}));
  EXPECT_TRUE(done["status"]["migrationState"].contains("startTimestamp"));
  EXPECT_NE(get(api::virtualMachineInstances(), "calm")["status"].value("nodeName", ""), from);

  // 100 GiB/s of dirty pages against a 10 Gbit/s link: no round ever shrinks, so the monitor's
  // progress timeout (150 s, 1.5 s at --migration-speed 100) aborts it.
  Json busy = vmi("dirty", {{"umbra.test/zone", "a"}});
  busy["metadata"]["annotations"]["umbra.io/sim-dirty-rate"] = "100Gi";
  ASSERT_TRUE(admin_->create(api::virtualMachineInstances(), ns_.name(), busy).ok());
  ASSERT_TRUE(runningOn("dirty", &from));
  ASSERT_TRUE(admin_->create(api::migrations(), ns_.name(), migration("dirty-move", "dirty")).ok());
  ASSERT_TRUE(eventually([&] { return phaseOf(api::migrations(), "dirty-move") == "Failed"; }))
      << get(api::migrations(), "dirty-move").dump() << "\n"
      << runCommand("grep 'migration scheduled' " + log_).output;
  const Json failed = get(api::migrations(), "dirty-move");
  EXPECT_EQ(failed["status"]["conditions"][0].value("message", ""),
            "Live migration stuck for 150 seconds and has been aborted");
  EXPECT_EQ(failed["status"]["migrationState"].value("failed", false), true);
  const Json stayed = get(api::virtualMachineInstances(), "dirty");
  EXPECT_EQ(stayed["status"].value("nodeName", ""), from) << "an aborted migration leaves it";
  EXPECT_EQ(stayed["status"]["migrationState"].value("failureReason", ""),
            "Live migration stuck for 150 seconds and has been aborted");
}

// API-NOTES.md sections 9 and 10: a VM's new sockets or guest memory reach its running VMI with
// a Hot*Change condition, a workload-update migration makes them effective (status), and a change
// that cannot be live sets RestartRequired on the VM instead.
TEST_F(SimulatorTest, CpuAndMemoryHotplugGoThroughAMigrationAndCutsRequireARestart) {
  Json tmpl = vmSpec({{"umbra.test/zone", "a"}});
  tmpl["domain"]["cpu"] = {{"sockets", 1}, {"cores", 1}};
  tmpl["domain"]["memory"] = {{"guest", "1Gi"}};
  tmpl["domain"]["resources"] = {{"requests", {{"memory", "1Gi"}}}};
  tmpl["domain"]["devices"]["interfaces"] =
      Json::array({{{"name", "default"}, {"masquerade", Json::object()}}});
  tmpl["networks"] = Json::array({{{"name", "default"}, {"pod", Json::object()}}});
  const Json vm = {{"apiVersion", "kubevirt.io/v1"},
                   {"kind", "VirtualMachine"},
                   {"metadata", {{"name", "grow"}, {"namespace", ns_.name()}}},
                   {"spec",
                    {{"runStrategy", "Always"},
                     {"template",
                      {{"metadata",
                        {{"annotations",
                          {{"umbra.io/sim-workload", "profile:steady:0.9"},
                           {"umbra.io/sim-demand-vcpus", "3"}}}}},
                       {"spec", tmpl}}}}}};
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm).ok());
  ASSERT_TRUE(runningOn("grow"));
  Json vmi = get(api::virtualMachineInstances(), "grow");
  EXPECT_EQ(vmi["spec"]["domain"]["cpu"]["maxSockets"], 4) << "sockets x maxHotplugRatio";
  EXPECT_EQ(vmi["spec"]["domain"]["memory"]["maxGuest"], "4096Mi") << "guest x 4";
  EXPECT_EQ(vmi["status"]["currentCPUTopology"]["sockets"], 1);
  EXPECT_EQ(vmi["status"]["memory"]["guestAtBoot"], "1Gi");
  const auto patchTemplate = [&](const Json& domain) {
    return admin_
        ->patch(api::virtualMachines(), {ns_.name(), "grow"}, kube::PatchType::Merge,
                {{"spec", {{"template", {{"spec", {{"domain", domain}}}}}}}})
        .ok();
  };
  const auto vmCondition = [&](const std::string& type) {
    for (const auto& c :
         get(api::virtualMachines(), "grow")["status"].value("conditions", Json::array()))
      if (c.value("type", "") == type && c.value("status", "") == "True")
        return c.value("message", "<none>");
    return std::string();
  };
  // CPU seconds per second the guest gets over 2 s (its demand is 0.9 x 3 vCPUs).
  const auto cpuRate = [&] {
    const auto counter = [&] {
      const std::string m = metrics();
      const std::string key = "kubevirt_vmi_cpu_usage_seconds_total{";
      for (size_t at = m.find(key); at != std::string::npos; at = m.find(key, at + 1)) {
        const size_t end = m.find('\n', at);
        const std::string line = m.substr(at, end - at);
        if (line.find("name=\"grow\",namespace=\"" + ns_.name()) != std::string::npos)
          return std::stod(line.substr(line.rfind(' ') + 1));
      }
      return -1.0;
    };
    const double a = counter();
    std::this_thread::sleep_for(2s);
    return (counter() - a) / 2;
  };
  EXPECT_TRUE(eventually([&] { return cpuRate() > 0; }));
  const double before = cpuRate();
  EXPECT_LT(before, 1.05) << "one vCPU serves at most one core";
  // Two more sockets: the VMI's spec at once, in effect after the migration.
  ASSERT_TRUE(patchTemplate({{"cpu", {{"sockets", 3}}}}));
  ASSERT_TRUE(eventually([&] {
    return get(api::virtualMachineInstances(), "grow")["spec"]["domain"]["cpu"]["sockets"] == 3;
  }));
  ASSERT_TRUE(eventually([&] {
    return get(api::virtualMachineInstances(), "grow")["status"]["currentCPUTopology"]["sockets"] ==
           3;
  })) << get(api::virtualMachineInstances(), "grow").dump();
  auto migrations = admin_->list(api::migrations(), ns_.name(), {});
  ASSERT_TRUE(migrations.ok());
  ASSERT_EQ((*migrations)["items"].size(), 1u);
  EXPECT_TRUE((*migrations)["items"][0]["metadata"]["name"].get<std::string>().starts_with(
      "kubevirt-workload-update-"));
  EXPECT_TRUE(eventually([&] {
    for (const auto& c : get(api::virtualMachineInstances(), "grow")["status"]["conditions"])
      if (c["type"] == "HotVCPUChange")
        return false;
    return true;
  })) << "the condition goes with the migration";
  EXPECT_TRUE(eventually([&] { return cpuRate() > 2.2; })) << "three vCPUs serve 2.7 cores";
  // Memory: 1Gi -> 2Gi, the same way.
  ASSERT_TRUE(patchTemplate({{"memory", {{"guest", "2Gi"}}}}));
  ASSERT_TRUE(eventually([&] {
    return get(api::virtualMachineInstances(), "grow")["status"]["memory"]["guestCurrent"] == "2Gi";
  })) << get(api::virtualMachineInstances(), "grow").dump();
  // Fewer sockets, or more than maxSockets: RestartRequired, the VMI keeps its vCPUs.
  ASSERT_TRUE(patchTemplate({{"cpu", {{"sockets", 2}}}}));
  EXPECT_TRUE(eventually([&] { return vmCondition("RestartRequired").find("fewer sockets") == 0; }))
      << get(api::virtualMachines(), "grow").dump();
  ASSERT_TRUE(patchTemplate({{"cpu", {{"sockets", 5}}}}));
  EXPECT_TRUE(eventually([&] {
    return vmCondition("RestartRequired").find("above the VMI's maxSockets 4") != std::string::npos;
  }));
  EXPECT_EQ(get(api::virtualMachineInstances(), "grow")["spec"]["domain"]["cpu"]["sockets"], 3);
  // Below the boot size: memory cannot shrink past what the guest booted with.
  ASSERT_TRUE(patchTemplate({{"cpu", {{"sockets", 3}}}, {"memory", {{"guest", "512Mi"}}}}));
  EXPECT_TRUE(eventually([&] {
    return vmCondition("RestartRequired").find("below its size at boot") != std::string::npos;
  }));
  // Back to what runs: nothing to restart for.
  ASSERT_TRUE(patchTemplate({{"memory", {{"guest", "2Gi"}}}}));
  EXPECT_TRUE(eventually([&] { return vmCondition("RestartRequired").empty(); }));
}

// API-NOTES.md section 11: a pool's VMs are <pool>-<n>, owned by it; its scale subresource scales
// it out (lowest free index) and in; status counts them for the scale subresource.
TEST_F(SimulatorTest, APoolCreatesItsVmsAndFollowsItsScaleSubresource) {
  Json tmpl = vmSpec({});
  tmpl["domain"]["cpu"] = {{"cores", 1}};
  const Json pool = {
      {"apiVersion", "pool.kubevirt.io/v1beta1"},
      {"kind", "VirtualMachinePool"},
      {"metadata", {{"name", "web"}, {"namespace", ns_.name()}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", {{"app", "web-pool"}}}}},
        {"virtualMachineTemplate",
         {{"metadata", {{"labels", {{"app", "web-pool"}}}}},
          {"spec",
           {{"runStrategy", "Always"},
            {"template",
             {{"metadata", {{"labels", {{"app", "web-pool"}}}}}, {"spec", tmpl}}}}}}}}}};
  ASSERT_TRUE(admin_->create(api::virtualMachinePools(), ns_.name(), pool).ok());
  ASSERT_TRUE(runningOn("web-0"));
  ASSERT_TRUE(runningOn("web-1"));
  const Json vm0 = get(api::virtualMachines(), "web-0");
  EXPECT_EQ(vm0["metadata"]["ownerReferences"][0]["kind"], "VirtualMachinePool");
  EXPECT_EQ(vm0["metadata"]["labels"]["kubevirt.io/vm-pool-revision-name"], "web-1");
  EXPECT_EQ(vm0["metadata"]["finalizers"][0], "pool.kubevirt.io/finalizer");
  const auto status = [&] {
    return get(api::virtualMachinePools(), "web").value("status", Json::object());
  };
  ASSERT_TRUE(eventually([&] { return status().value("readyReplicas", 0) == 2; }))
      << status().dump();
  EXPECT_EQ(status()["labelSelector"], "app=web-pool");
  // kubectl scale goes through /scale, which the API server maps to spec.replicas.
  const auto scale = [&](int n) {
    return runCommand(
        ControlPlane::instance().kubectl() + " -n " + ns_.name() +
        " scale virtualmachinepools.pool.kubevirt.io web --replicas=" + std::to_string(n));
  };
  auto out = scale(3);
  ASSERT_EQ(out.exitCode, 0) << out.output;
  ASSERT_TRUE(runningOn("web-2"));
  const auto sc = admin_->send(kube::HttpRequest{
      "GET",
      "/apis/pool.kubevirt.io/v1beta1/namespaces/" + ns_.name() + "/virtualmachinepools/web/scale",
      {},
      "",
      "",
      false});
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  EXPECT_EQ((*sc)["status"]["selector"], "app=web-pool");
  EXPECT_EQ((*sc)["spec"]["replicas"], 3);
  out = scale(1);
  ASSERT_EQ(out.exitCode, 0) << out.output;
  EXPECT_TRUE(eventually([&] {
    return get(api::virtualMachines(), "web-2").is_null() &&
           get(api::virtualMachines(), "web-1").is_null();
  })) << "scale-in removes the highest indexes; the pool's finalizer is released";
  EXPECT_TRUE(eventually([&] { return status().value("replicas", 0) == 1; }));
  EXPECT_FALSE(get(api::virtualMachines(), "web-0").is_null());
}

TEST_F(SimulatorTest, PrometheusSeesMoreDelayOnTheOverloadedNode) {
  for (const char* node : {"sim-idle", "sim-busy"}) {
    ASSERT_TRUE(admin_
                    ->create(api::virtualMachineInstances(), ns_.name(),
                             vmi(std::string("on-") + node, {{"kubernetes.io/hostname", node}}))
                    .ok());
  }
  ASSERT_TRUE(runningOn("on-sim-idle"));
  ASSERT_TRUE(runningOn("on-sim-busy"));
  PrometheusServer prometheus;
  ASSERT_TRUE(prometheus.startScraping("127.0.0.1:" + std::to_string(port_)).ok());
  const auto started = std::chrono::steady_clock::now();
  const auto query = [&](const std::string& promql) { return promQuery(prometheus, promql); };
  const auto steal = [&](const std::string& window) {
    return query("sum by (name) (rate(kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"" +
                 ns_.name() + "\"}[" + window + "]))");
  };
  std::map<std::string, double> delay;
  ASSERT_TRUE(eventually(
      [&] {
        delay = steal("1m");
        return delay.size() == 2;
      },
      30s))
      << "Prometheus answers the KubeVirt query";
  EXPECT_GT(delay["on-sim-busy"], 10 * delay["on-sim-idle"]);
  // rate() divides by the whole window: magnitudes need a window the series fills (scrapes are
  // 1 s apart here).
  std::this_thread::sleep_until(started + 13s);
  delay = steal("10s");
  EXPECT_GT(delay["on-sim-busy"], 0.3) << "a 2-vCPU VM at 50 % on an overloaded node waits";
  EXPECT_LT(delay["on-sim-idle"], 0.001) << "and on an idle node it does not";
  const auto util = query(
      "1 - avg by (node) (rate(node_cpu_seconds_total{mode=\"idle\",node=~\"sim-.*\"}[10s]))");
  ASSERT_EQ(util.size(), 3u) << "Prometheus answers the node-exporter query";
  EXPECT_GT(util.at("sim-busy"), 0.9);
  EXPECT_LT(util.at("sim-idle"), 0.5) << "a few VMs of this suite's tests on 16 cores";
  EXPECT_EQ(query("node_memory_MemAvailable_bytes{node=\"sim-idle\"}").size(), 1u);
  EXPECT_EQ(
      query("rate(node_pressure_cpu_waiting_seconds_total{node=\"sim-busy\"}[10s]) > 0.1").size(),
      1u);

  // Umbra's own reader: every feature of the default catalog is there, one query per feature.
  auto source = readerOf(prometheus);
  ASSERT_TRUE(source);
  const auto& catalog = source->catalog();
  const auto now = std::chrono::system_clock::now();
  auto observed = source->observe(
      {{ns_.name(), "on-sim-idle", "sim-idle"}, {ns_.name(), "on-sim-busy", "sim-busy"}},
      std::chrono::time_point_cast<std::chrono::seconds>(now - 12s),
      std::chrono::time_point_cast<std::chrono::seconds>(now), 2s);
  ASSERT_TRUE(observed.ok()) << observed.error().message;
  EXPECT_EQ(source->queriesIssued(), static_cast<int>(catalog.features.size()));
  for (const auto& c : *observed) {
    // These VMIs are no Synthetic shadows: they run no probe.
    ASSERT_EQ(c.notes.size(), 2u) << c.node;
    EXPECT_EQ(c.notes[0].rfind("probe_memory_speed: ", 0), 0u) << c.notes[0];
    EXPECT_EQ(c.notes[1].rfind("probe_alu_speed: ", 0), 0u) << c.notes[1];
    const auto& f = c.frame;
    for (size_t j = 0; j < f.cols(); ++j) {
      if (!f.columns[j].starts_with("probe_")) {
        EXPECT_TRUE(f.has(f.rows() - 1, j)) << c.node << " " << f.columns[j];
      }
    }
  }
  EXPECT_GT((*observed)[1].samples.back().cpuSteal, 10 * (*observed)[0].samples.back().cpuSteal);

  // The nodes alone (ranking before any shadow): one query per node feature for both, the node's
  // CPU pressure where a shadow's steal would be.
  const int before = source->queriesIssued();
  auto nodesOnly = source->observeNodes(
      {"sim-idle", "sim-busy"}, std::chrono::time_point_cast<std::chrono::seconds>(now - 12s),
      std::chrono::time_point_cast<std::chrono::seconds>(now), 2s);
  ASSERT_TRUE(nodesOnly.ok()) << nodesOnly.error().message;
  int nodeFeatures = 0;
  for (const auto& f : catalog.features)
    nodeFeatures += f.scope == telemetry::Scope::Node ? 1 : 0;
  EXPECT_EQ(source->queriesIssued() - before, nodeFeatures);
  ASSERT_EQ(nodesOnly->size(), 2u);
  EXPECT_EQ((*nodesOnly)[1].node, "sim-busy");
  EXPECT_FALSE((*nodesOnly)[1].fromShadow) << "read from the node alone";
  EXPECT_TRUE((*observed)[1].fromShadow);
  EXPECT_TRUE((*nodesOnly)[1].samples.back().present);
  EXPECT_GT((*nodesOnly)[1].samples.back().cpuSteal, 0.1) << "sim-busy's CPU pressure";
  EXPECT_LT((*nodesOnly)[0].samples.back().cpuSteal, 0.01);
}

// Shadows as the operator builds them (one vCPU, a CPU limit, Synthetic: the probe's cloud-init),
// read through the default catalog: a Passive shadow at 10m on an idle node is throttled by its
// own quota most of the time, which the guest counts as steal; Umbra's cpu_steal takes cAdvisor's
// throttled time out and reads ~0. A Synthetic shadow's probe reads the interference its node's
// co-runners cause (sim-busy: 95 % steady background, interference 0.2).
TEST_F(SimulatorTest, AThrottledShadowReadsNoStealOnAnIdleNodeAndItsProbeReadsInterference) {
  const auto shadow = [&](const std::string& name, const std::string& node, bool synthetic) {
    Json spec = vmSpec({{"kubernetes.io/hostname", node}});
    spec["domain"]["cpu"] = {{"cores", 1}};
    spec["domain"]["resources"] = {{"requests", {{"cpu", "10m"}, {"memory", "512Mi"}}},
                                   {"limits", {{"cpu", "10m"}, {"memory", "512Mi"}}}};
    spec["domain"]["memory"] = {{"guest", "512Mi"}};
    if (synthetic) {
      api::SyntheticLoad load;
      spec["domain"]["devices"]["disks"].push_back(
          {{"name", "cloudinit"}, {"disk", {{"bus", "virtio"}}}});
      spec["volumes"].push_back(
          {{"name", "cloudinit"},
           {"cloudInitNoCloud", {{"userData", placement::syntheticUserData(load, 0.01)}}}});
    }
    return Json{
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", "VirtualMachineInstance"},
        {"metadata",
         {{"name", name}, {"namespace", ns_.name()}, {"labels", {{"umbra.io/role", "shadow"}}}}},
        {"spec", spec}};
  };
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           shadow("passive-idle", "sim-idle", false))
                  .ok());
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           shadow("probe-busy", "sim-busy", true))
                  .ok());
  ASSERT_TRUE(runningOn("passive-idle"));
  ASSERT_TRUE(runningOn("probe-busy"));
  PrometheusServer prometheus;
  ASSERT_TRUE(prometheus.startScraping("127.0.0.1:" + std::to_string(port_)).ok());
  std::this_thread::sleep_for(14s);  // the 5 s rate windows filled
  auto source = readerOf(prometheus);
  ASSERT_TRUE(source);
  const auto now = std::chrono::system_clock::now();
  auto observed = source->observe(
      {{ns_.name(), "passive-idle", "sim-idle"}, {ns_.name(), "probe-busy", "sim-busy"}},
      std::chrono::time_point_cast<std::chrono::seconds>(now - 6s),
      std::chrono::time_point_cast<std::chrono::seconds>(now), 2s);
  ASSERT_TRUE(observed.ok()) << observed.error().message;
  const auto& idle = (*observed)[0];
  const auto& busy = (*observed)[1];
  const auto query = [&](const std::string& promql) {
    const auto r = promQuery(prometheus, promql);
    return r.empty() ? -1.0 : r.begin()->second;
  };
  const std::string sel = "{namespace=\"" + ns_.name() + "\",name=\"passive-idle\"}";
  const double guestSteal =
      query("sum(rate(kubevirt_vmi_vcpu_delay_seconds_total" + sel + "[5s])) / (sum(rate(" +
            "kubevirt_vmi_vcpu_delay_seconds_total" + sel + "[5s])) + sum(rate(" +
            "kubevirt_vmi_vcpu_seconds_total" + sel + "[5s])))");
  EXPECT_GT(guestSteal, 0.5) << "the guest's own steal: mostly its quota";
  ASSERT_FALSE(idle.samples.empty());
  EXPECT_TRUE(idle.samples.back().present);
  EXPECT_LT(idle.samples.back().cpuSteal, 0.02) << "Umbra's reading: no contention on sim-idle";
  EXPECT_GT(busy.samples.back().cpuSteal, 0.1) << "and q(0.95) = 0.16 on sim-busy";
  // The probe: absent for the Passive shadow, the node's interference for the Synthetic one.
  ASSERT_EQ(idle.notes.size(), 2u);
  EXPECT_EQ(idle.notes[0].rfind("probe_memory_speed: ", 0), 0u) << idle.notes[0];
  EXPECT_EQ(idle.notes[1].rfind("probe_alu_speed: ", 0), 0u) << idle.notes[1];
  EXPECT_TRUE(busy.notes.empty()) << busy.notes.front();
  const double truth = query("umbra_sim_vmi_interference_ratio{namespace=\"" + ns_.name() +
                             "\",name=\"probe-busy\"}");
  EXPECT_GT(truth, 0.1);
  const auto& last = busy.samples.back();
  EXPECT_NEAR(telemetry::probeLossOf(last.probeMemorySpeed, last.probeAluSpeed), truth, 0.03);
}

// The CPU seconds `vmi` has run so far, from the exposition (NaN without the series).
double cpuSeconds(const std::string& exposition, const std::string& vmi) {
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("kubevirt_vmi_cpu_usage_seconds_total{") &&
        line.find("name=\"" + vmi + "\"") != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return std::nan("");
}

TEST_F(SimulatorTest, AVirtualServicesMirrorGivesTheShadowItsShareOfTheTargetsRequests) {
  // web (2 vCPUs, 1 core busy) behind Service web; an idle shadow behind Service web-mirror.
  Json web = vmi("web", Json::object());
  web["metadata"]["labels"] = {{"app", "web"}};
  Json shadow = vmi("web-shadow", Json::object(), "idle");
  shadow["metadata"]["labels"] = {{"mirror", "web-shadow"}};
  ASSERT_TRUE(admin_->create(api::virtualMachineInstances(), ns_.name(), web).ok());
  ASSERT_TRUE(admin_->create(api::virtualMachineInstances(), ns_.name(), shadow).ok());
  for (const auto& [name, selector] : std::vector<std::pair<std::string, Json>>{
           {"web", {{"app", "web"}}}, {"web-mirror", {{"mirror", "web-shadow"}}}})
    ASSERT_TRUE(
        admin_
            ->create(kube::resources::services(), ns_.name(),
                     {{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", name}}},
                      {"spec", {{"selector", selector}, {"ports", Json::array({{{"port", 80}}})}}}})
            .ok());
  ASSERT_TRUE(runningOn("web"));
  ASSERT_TRUE(runningOn("web-shadow"));
  // Running in the API server a moment before the exporter lists them (seen on a loaded machine).
  ASSERT_TRUE(eventually([&] {
    const std::string m = metrics();
    return !std::isnan(cpuSeconds(m, "web")) && !std::isnan(cpuSeconds(m, "web-shadow"));
  })) << "both VMIs exported";
  // Busy cores over a 3 s window, from the counters.
  const auto busy = [&](const std::string& name) {
    const double before = cpuSeconds(metrics(), name);
    std::this_thread::sleep_for(3s);
    return (cpuSeconds(metrics(), name) - before) / 3;
  };
  const double idle = busy("web-shadow");
  EXPECT_LT(idle, 0.15) << "an idle guest";
  // The VirtualService: every request to web goes to web, and a copy of 50 % to web-mirror.
  const Json route = {
      {"apiVersion", "networking.istio.io/v1"},
      {"kind", "VirtualService"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"hosts", Json::array({"web"})},
        {"http", Json::array({{{"route", Json::array({{{"destination", {{"host", "web"}}}}})},
                               {"mirrors", Json::array({{{"destination", {{"host", "web-mirror"}}},
                                                         {"percentage", {{"value", 50}}}}})}}})}}}};
  ASSERT_TRUE(admin_->create(api::virtualServices(), ns_.name(), route).ok());
  double mirrored = 0;
  EXPECT_TRUE(eventually(
      [&] {
        mirrored = busy("web-shadow");
        return std::abs(mirrored - 0.5 * busy("web")) < 0.12;
      },
      30s))
      << "mirrored " << mirrored << " cores, web " << busy("web") << "\n"
      << runCommand("tail -n 20 " + log_).output;
  // The mirror removed: the shadow's own (idle) demand again.
  ASSERT_TRUE(admin_->remove(api::virtualServices(), {ns_.name(), "web"}, {}).ok());
  EXPECT_TRUE(eventually([&] { return busy("web-shadow") < 0.15; }, 30s));
}

TEST_F(SimulatorTest, TheExpositionPassesPromtool) {
  ASSERT_TRUE(admin_
                  ->create(api::virtualMachineInstances(), ns_.name(),
                           vmi("exported", {{"kubernetes.io/hostname", "sim-idle"}}))
                  .ok());
  ASSERT_TRUE(runningOn("exported"));
  ASSERT_TRUE(eventually([&] { return metrics().find("name=\"exported\"") != std::string::npos; }));
  const std::string file = ControlPlane::instance().dir() + "/sim-metrics.txt";
  std::ofstream(file) << metrics();
  // Exit 3 is lint findings only: KubeVirt's and node-exporter's real names
  // (node_memory_MemAvailable_bytes, kubernetes_vmi_label_kubevirt_io_nodeName) are not
  // snake_case and must stay as they are. A parse error exits 1.
  const auto r = runCommand("promtool check metrics < " + file);
  EXPECT_TRUE(r.exitCode == 0 || r.exitCode == 3) << r.output;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_NE(line.find("should be written in 'snake_case'"), std::string::npos) << line;
  }
}

TEST(SimulatorBadInputTest, BadFilesGiveOneLineErrorsNamingFileAndField) {
  const std::string dir = ControlPlane::instance().dir();
  std::ofstream(dir + "/bad-cluster.yaml") << "nodes:\n  - {name: a, cpu: 4, memory: lots}\n";
  std::ofstream(dir + "/trace-cluster.yaml")
      << "nodes:\n  - {name: a, cpu: 4, memory: 8Gi, background: {trace: nope, share: 0.5}}\n";
  const std::string sim =
      std::string(UMBRA_SIM_BINARY) + " --kubeconfig " + ControlPlane::instance().kubeconfig();
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"--cluster " + dir + "/bad-cluster.yaml",
       dir + "/bad-cluster.yaml: nodes[0].memory: must be a number or a quantity, got \"lots\""},
      {"--cluster " + dir + "/missing.yaml",
       dir + "/missing.yaml: cannot read: No such file or directory"},
      {"--cluster " + dir + "/trace-cluster.yaml", "node a: background.trace needs --traces"},
      {"--cluster " + ClusterFile + " --traces " + dir, dir + ": no *.csv.gz traces"},
  };
  for (const auto& c : cases) {
    const auto r = runCommand(sim + " " + c.args + " 2>&1");
    EXPECT_EQ(r.exitCode, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one line: " << r.output;
  }
  // A bad flag or flag value: one line naming it, exit 2 (as every Umbra binary).
  for (const auto& [args, expect] :
       {std::pair<std::string, std::string>{"--cluster " + ClusterFile + " --trace-speed fast",
                                            "--trace-speed: must be a number in (0, 1e6]"},
        {"--cluster " + ClusterFile + " --tick 5ms", "--tick: must be at least 10ms"},
        {"--cluster " + ClusterFile + " --frobnicate", "unknown flag --frobnicate"}}) {
    const auto r = runCommand(sim + " " + args + " 2>&1");
    EXPECT_EQ(r.exitCode, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one line: " << r.output;
  }
}

}  // namespace
}  // namespace umbra::testing
