// The umbra-operator binary end to end: a real control plane with KubeVirt's CRDs, umbra-sim
// playing KubeVirt and the nodes (the shadows boot on simulated nodes whose background load sets
// their contention), and a real Prometheus scraping the simulator's KubeVirt- and
// node-exporter-named series. The operator is SIGKILLed mid-observation and restarted; the
// placement completes with no duplicate and no orphaned shadow, and the simulator starts the VM
// where the operator put it; /metrics passes promtool.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api/predictive_scaler.h"
#include "api/shadow_placement.h"
#include "fakes/tiny_lstm.h"
#include "harness/process.h"
#include "harness/prometheus_server.h"
#include "integration/common.h"
#include "integration/kubevirt_fixture.h"
#include "model/contention_map.h"
#include "training/lstm.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

class OperatorBinaryTest : public KubeVirtFixture {
 protected:
  void SetUp() override {
    KubeVirtFixture::SetUp();
    log_ = ControlPlane::instance().dir() + "/operator-" + ns_.name() + ".log";
  }
  std::unique_ptr<ChildProcess> startOperator(const std::string& configPath) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{
            UMBRA_OPERATOR_BINARY, "--kubeconfig=" + ControlPlane::instance().kubeconfig(),
            "--config=" + configPath, "--namespace=" + ns_.name(), "--leader-elect",
            "--leader-election-namespace=" + ns_.name(),
            "--metrics-bind-address=127.0.0.1:" + std::to_string(metricsPort_),
            "--health-probe-bind-address=127.0.0.1:" + std::to_string(healthPort_),
            "--log-format=json"},
        log_);
  }
  std::string phase() {
    auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
    return sp.ok() ? (*sp).value("status", Json::object()).value("phase", "") : "<gone>";
  }
  std::string logTail() { return runCommand("tail -n 30 " + log_).output; }
  std::string scrapeMetrics() {
    return runCommand("curl -fsS http://127.0.0.1:" + std::to_string(metricsPort_) + "/metrics")
        .output;
  }
  // A temporary directory for model files, removed with the fixture.
  std::string modelDir() {
    if (modelDir_.empty()) {
      char tmpl[] = "/tmp/umbra-models.XXXXXX";
      modelDir_ = ::mkdtemp(tmpl);
    }
    return modelDir_;
  }

  // umbra-sim plays KubeVirt and the nodes (8 cores and 32Gi each, with `levels` their
  // background CPU load; labelled umbra.test/group=<namespace> when `grouped`), Prometheus
  // scrapes its KubeVirt and node-exporter series, and the operator's config points there. All
  // torn down with the fixture, nodes included.
  std::string startSimulatedCluster(const std::vector<std::pair<std::string, double>>& levels,
                                    bool grouped, const std::string& extraConfig = "",
                                    const std::vector<std::string>& extraSimArgs = {}) {
    const std::string dir = modelDir();
    std::ofstream cluster(dir + "/cluster.yaml");
    // Exact counters (measurementNoise 0): the tests compare readings with the ground truth.
    cluster << "name: " << ns_.name()
            << "\nphysics: {interference: 0, noise: 0.02, measurementNoise: 0}\nnodes:\n";
    for (const auto& [n, level] : levels) {
      cluster << "  - {name: " << node(n) << ", cpu: 8, memory: 32Gi, labels: {"
              << (grouped ? "umbra.test/group: " + ns_.name() : "") << "}, background: "
              << "{profile: steady, level: " << level << ", memory: 0.2}}\n";
    }
    cluster.close();
    const int simPort = freePort();
    std::vector<std::string> simArgs = {UMBRA_SIM_BINARY,
                                        "--kubeconfig",
                                        ControlPlane::instance().kubeconfig(),
                                        "--cluster",
                                        dir + "/cluster.yaml",
                                        "--metrics-addr",
                                        "127.0.0.1:" + std::to_string(simPort),
                                        "--boot-delay",
                                        "1s",
                                        "--tick",
                                        "200ms",
                                        "--log-level",
                                        "warn"};
    simArgs.insert(simArgs.end(), extraSimArgs.begin(), extraSimArgs.end());
    sim_ = std::make_unique<ChildProcess>(simArgs, dir + "/umbra-sim.log");
    EXPECT_TRUE(eventually(
        [&] {
          return admin_->get(kube::resources::nodes(), {"", node(levels.back().first)}).ok();
        },
        30s))
        << simLog();
    prometheus_ = std::make_unique<PrometheusServer>();
    const Status scraping = prometheus_->startScraping("127.0.0.1:" + std::to_string(simPort));
    EXPECT_TRUE(scraping.ok()) << (scraping.ok() ? "" : scraping.error().message);
    std::string configPath = dir + "/umbra.yaml";
    std::ofstream(configPath) << "prometheus: {url: \"" << prometheus_->url()
                              << "\", rateWindow: 5s}\n"
                              << extraConfig;
    return configPath;
  }
  // An instant query's single value, or NaN.
  double promQuery(const std::string& expr) {
    const auto r = runCommand("curl -fsS " + prometheus_->url() +
                              "/api/v1/query --data-urlencode 'query=" + expr + "'");
    try {
      const Json body = Json::parse(r.output);
      const Json& result = body["data"]["result"];
      if (result.size() == 1)
        return std::stod(result[0]["value"][1].get<std::string>());
    } catch (const std::exception&) {
    }
    ADD_FAILURE() << expr << ": " << r.output;
    return std::nan("");
  }
  std::string simLog() { return runCommand("tail -n 30 " + modelDir() + "/umbra-sim.log").output; }
  bool ready() {
    return eventually(
        [&] {
          return runCommand("curl -fsS http://127.0.0.1:" + std::to_string(healthPort_) + "/readyz")
                     .output == "ok";
        },
        30s);
  }
  // The common start of the binary's scenarios: three nodes (b the quietest), the simulator and
  // Prometheus, the operator, and the "web" VM with its placement, until it is Observing.
  void startObservingWeb(std::string& configPath, std::unique_ptr<ChildProcess>& op,
                         std::chrono::steady_clock::time_point& created,
                         const std::string& extraConfig = "",
                         const std::vector<std::pair<std::string, double>>& levels = {
                             {"a", 0.85}, {"b", 0.05}, {"c", 0.92}}) {
    configPath = startSimulatedCluster(levels, true, extraConfig);
    op = startOperator(configPath);
    ASSERT_TRUE(ready()) << logTail();
    ASSERT_TRUE(
        admin_->create(api::virtualMachines(), ns_.name(), haltedVm(ns_.name(), "web")).ok());
    ASSERT_TRUE(admin_
                    ->create(api::shadowPlacements(), ns_.name(),
                             placementFor(ns_.name(), "web", "VirtualMachine", "web", ns_.name()))
                    .ok());
    created = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return phase() == "Observing"; }, 30s)) << phase() << "\n"
                                                                         << logTail();
  }
  void TearDown() override {
    if (sim_) {
      sim_->signal(SIGTERM);
      EXPECT_EQ(sim_->wait(20), 0) << simLog();
    }
    prometheus_.reset();
    if (!modelDir_.empty())
      std::filesystem::remove_all(modelDir_);
    KubeVirtFixture::TearDown();  // the simulator's nodes
  }
  std::string modelDir_;

  std::string log_;
  int metricsPort_ = freePort();
  int healthPort_ = freePort();
  std::unique_ptr<ChildProcess> sim_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(OperatorBinaryTest, SigkillMidObservationThenRestartCompletesThePlacement) {
  std::string configPath;
  std::unique_ptr<ChildProcess> op;
  std::chrono::steady_clock::time_point created;
  ASSERT_NO_FATAL_FAILURE(startObservingWeb(configPath, op, created));
  std::set<std::string> uids;
  for (const auto& s : shadows())
    uids.insert(s["metadata"]["uid"]);
  ASSERT_EQ(uids.size(), 3u);

  op->signal(SIGKILL);
  EXPECT_EQ(op->wait(10), -1) << "killed, not exited";
  op = startOperator(configPath);  // takes over the lease once the dead leader's expires

  ASSERT_TRUE(eventually([&] { return phase() == "Placed"; }, 60s)) << phase() << "\n" << logTail();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - created).count();
  std::fprintf(stderr,
               "[operator] create -> Placed in %.1f s (observation 10 s, with a SIGKILL and a 15 s "
               "lease takeover)\n",
               seconds);
  auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
  EXPECT_EQ((*sp)["status"]["selectedNode"], node("b")) << (*sp)["status"].dump();
  // Every candidate was probed by a shadow the simulator ran.
  EXPECT_EQ((*sp)["status"]["candidates"].size(), 3u) << (*sp)["status"].dump();
  EXPECT_EQ((*sp)["status"]["moves"][0]["node"], node("b")) << (*sp)["status"].dump();
  // The simulator started the VM where the operator put it.
  EXPECT_TRUE(eventually(
      [&] {
        auto vmi = admin_->get(api::virtualMachineInstances(), {ns_.name(), "web"});
        const Json status = vmi.ok() ? (*vmi).value("status", Json::object()) : Json::object();
        return status.value("phase", "") == "Running" && status.value("nodeName", "") == node("b");
      },
      30s))
      << simLog();
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 20s)) << "no shadow may remain";

  const auto printed =
      runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " get sp");
  EXPECT_NE(printed.output.find("Placed"), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find(node("b")), std::string::npos) << printed.output;

  const std::string metricsFile =
      ControlPlane::instance().dir() + "/metrics-" + ns_.name() + ".txt";
  ASSERT_EQ(runCommand("curl -fsS -o " + metricsFile +
                       " http://127.0.0.1:" + std::to_string(metricsPort_) + "/metrics")
                .exitCode,
            0);
  const auto lint = runCommand("promtool check metrics < " + metricsFile);
  EXPECT_EQ(lint.exitCode, 0) << lint.output;
  const auto body = runCommand("cat " + metricsFile).output;
  EXPECT_NE(body.find("umbra_placements_total{result=\"Placed\"} 1"), std::string::npos) << body;
  EXPECT_NE(body.find("workqueue_adds_total"), std::string::npos);
  EXPECT_NE(body.find("rest_client_requests_total"), std::string::npos);

  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0) << logTail();
  auto lease = admin_->get(kube::resources::leases(), {ns_.name(), "umbra-operator"});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "") << "a clean shutdown releases the lease";
}

// Issue 20's end to end: a VM and a pool replay a ramp (a trace the simulator plays 60 times
// faster than real time: 150 s flat, 150 s rising from 10 % to 90 % of 4 vCPUs' worth, then
// flat); their PredictiveScalers (Apply, a pass every 5 s) hotplug sockets and add replicas. The
// VM's first scale-up comes while its demand is still below what it has (ahead of the ramp); the
// operator is SIGKILLed just after it and restarted: no change is made twice (one hotplug
// migration per socket step, one Event per step).
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
  // Each socket step: one ScaledUp Event and one hotplug migration.
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
  EXPECT_EQ(hotplugs, steps.size()) << events.output;
  EXPECT_GE(steps.size(), 1u);
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

TEST_F(OperatorBinaryTest, ExamplesArePlacedWithinObservationPlus30Seconds) {
  // Not grouped: the example's placement may use any node. Equal in size, the first three by
  // name are the candidates; c is the quiet one.
  const std::string configPath =
      startSimulatedCluster({{"a", 0.80}, {"b", 0.88}, {"c", 0.05}, {"d", 0.90}}, false);
  auto op = startOperator(configPath);
  ASSERT_TRUE(ready()) << logTail();

  const auto kubectl = ControlPlane::instance().kubectl() + " -n " + ns_.name();
  const auto applied =
      runCommand(kubectl + " apply -f " + ControlPlane::sourceDir() + "/examples/");
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
  const auto start = std::chrono::steady_clock::now();
  const auto placedPhase = [&] {
    auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web-1"});
    return sp.ok() && (*sp).value("status", Json::object()).value("phase", "") == "Placed";
  };
  // The example observes for 2m: Placed must follow within 30 s of that.
  ASSERT_TRUE(eventually(placedPhase, 150s))
      << admin_->get(api::shadowPlacements(), {ns_.name(), "web-1"})->dump() << "\n"
      << logTail();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[examples] kubectl apply -> Placed in %.1f s (observation 120 s)\n",
               seconds);
  EXPECT_LT(seconds, 150.0) << "observation (120 s) + 30 s";
  auto vm = admin_->get(api::virtualMachines(), {ns_.name(), "web-1"});
  EXPECT_EQ(
      (*admin_->get(api::shadowPlacements(), {ns_.name(), "web-1"}))["status"]["selectedNode"],
      node("c"));
  EXPECT_EQ((*vm)["spec"]["runStrategy"], "Always");
  auto vmi = admin_->get(api::virtualMachineInstances(), {ns_.name(), "web-1"});
  EXPECT_EQ((*vmi)["status"].value("nodeName", ""), node("c")) << "Placed: it runs there";
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 20s));
  const auto wide = runCommand(kubectl + " get sp -o wide");
  std::fprintf(stderr, "%s", wide.output.c_str());
  EXPECT_NE(wide.output.find("Placed"), std::string::npos);
  EXPECT_NE(wide.output.find(node("c")), std::string::npos);
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
}

TEST_F(OperatorBinaryTest, PrometheusDownMidObservationIsReportedAndThePlacementRecovers) {
  std::string configPath;
  std::unique_ptr<ChildProcess> op;
  std::chrono::steady_clock::time_point created;
  ASSERT_NO_FATAL_FAILURE(startObservingWeb(configPath, op, created));
  prometheus_->pause();
  const auto metricsCondition = [&] {
    auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
    for (const auto& c : (*sp)["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == "MetricsAvailable")
        return c;
    }
    return Json::object();
  };
  ASSERT_TRUE(eventually([&] { return metricsCondition().value("status", "") == "False"; }, 60s))
      << phase() << "\n"
      << logTail();
  const Json down = metricsCondition();
  EXPECT_EQ(down["reason"], "TelemetryUnavailable");
  const std::string message = down.value("message", "");
  EXPECT_NE(message.find(prometheus_->url()), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(phase(), "Observing") << "no decision without telemetry";
  EXPECT_EQ(shadows().size(), 3u) << "the shadows stay while waiting";

  ASSERT_TRUE(prometheus_->resume().ok());
  ASSERT_TRUE(eventually([&] { return phase() == "Placed"; }, 60s)) << phase() << "\n" << logTail();
  EXPECT_EQ(metricsCondition()["status"], "True");
  auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
  EXPECT_EQ((*sp)["status"]["selectedNode"], node("b")) << (*sp)["status"].dump();
  const auto body =
      runCommand("curl -fsS http://127.0.0.1:" + std::to_string(metricsPort_) + "/metrics").output;
  // The first read of a window asks which label holds the node name (an instant query), so the
  // outage shows on that endpoint; either way it is counted as a network failure.
  EXPECT_TRUE(
      body.find("umbra_prometheus_requests_total{endpoint=\"query\",outcome=\"network\"}") !=
          std::string::npos ||
      body.find("umbra_prometheus_requests_total{endpoint=\"query_range\",outcome=\"network\"}") !=
          std::string::npos)
      << body;
  EXPECT_NE(
      body.find("umbra_prometheus_requests_total{endpoint=\"query_range\",outcome=\"success\"}"),
      std::string::npos);
  const std::string count = "umbra_forecast_duration_seconds_count ";
  const auto forecasts = body.find(count);
  ASSERT_NE(forecasts, std::string::npos) << body;
  EXPECT_GE(std::stod(body.substr(forecasts + count.size())), 3.0)
      << "one forecast per candidate at least";
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 20s));
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
}

TEST_F(OperatorBinaryTest, BadInputIsOneLineAndExitsNonZero) {
  const auto run = [](const std::string& args) {
    return runCommand(std::string(UMBRA_OPERATOR_BINARY) + " " + args);
  };
  const auto flag = run("--frobnicate");
  EXPECT_EQ(flag.exitCode, 2);
  EXPECT_EQ(flag.output, "umbra-operator: unknown flag --frobnicate (see --help)\n");
  const auto config =
      run("--kubeconfig=" + ControlPlane::instance().kubeconfig() + " --config=/nonexistent.yaml");
  EXPECT_EQ(config.exitCode, 1);
  EXPECT_NE(config.output.find("/nonexistent.yaml: No such file or directory"), std::string::npos)
      << config.output;
  const std::string bad = ControlPlane::instance().dir() + "/bad-" + ns_.name() + ".yaml";
  std::ofstream(bad) << "shadows: {count: 0}\n";
  const auto range =
      run("--kubeconfig=" + ControlPlane::instance().kubeconfig() + " --config=" + bad);
  EXPECT_EQ(range.exitCode, 1);
  EXPECT_NE(range.output.find(bad + ": shadows.count: must be 1..10, got 0"), std::string::npos)
      << range.output;
  std::ofstream(bad) << "prometheus:\n  catalog:\n    cpu_stael: {query: x}\n";
  const auto feature =
      run("--kubeconfig=" + ControlPlane::instance().kubeconfig() + " --config=" + bad);
  EXPECT_EQ(feature.exitCode, 1);
  EXPECT_NE(feature.output.find(bad + ": prometheus.catalog.cpu_stael: unknown feature (known: "
                                      "cpu_steal, probe_loss, cpu_wait,"),
            std::string::npos)
      << feature.output;
  std::ofstream(bad) << "prometheus:\n  tls: {caFile: /nonexistent/ca.crt}\n";
  const auto ca = run("--kubeconfig=" + ControlPlane::instance().kubeconfig() + " --config=" + bad);
  EXPECT_EQ(ca.exitCode, 1);
  EXPECT_NE(ca.output.find("prometheus CA file /nonexistent/ca.crt: cannot be read"),
            std::string::npos)
      << ca.output;
  // The catalog in effect, overrides applied, as YAML.
  std::ofstream(bad) << "prometheus:\n  rateWindow: 2m\n  catalog:\n    node_cpu_utilization:\n"
                        "      query: 1 - avg by (node) (rate(node_cpu_seconds_total{mode=\"idle\","
                        "instance=~\"$nodes\"}[$window]))\n";
  const auto printed = run("--config=" + bad + " --print-catalog");
  EXPECT_EQ(printed.exitCode, 0) << printed.output;
  EXPECT_NE(printed.output.find("rateWindow: 120s"), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("instance=~\"$nodes\""), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("name: cpu_steal"), std::string::npos);
  const auto kc = run("--kubeconfig=/nonexistent/kubeconfig");
  EXPECT_EQ(kc.exitCode, 1);
  EXPECT_NE(kc.output.find("/nonexistent/kubeconfig: No such file or directory"),
            std::string::npos);
}

TEST_F(OperatorBinaryTest, TrainedModelsDecideAndThePlacedVmsOutcomeIsRecorded) {
  const std::string dir = modelDir();
  // A tiny LSTM (the operator expects a 6-step horizon) and a contention mapping learned from
  // outcomes in which the VM's steal follows its probe's.
  model::LstmOptions lo = tinyLstm();
  lo.stepsPerEpoch = 10;
  lo.maxEpochs = 2;
  lo.patience = 3;
  lo.learningRate = model::LstmOptions{}.learningRate;
  std::vector<model::TrainSeries> train(2);
  for (size_t i = 0; i < train.size(); ++i)
    for (int t = 0; t < 24 * 20; ++t)
      train[i].values.push_back(0.4 + 0.2 * std::sin(2 * M_PI * t / 24.0 + static_cast<double>(i)));
  model::LstmMethod lstm(lo);
  ASSERT_TRUE(lstm.fit(train, 6).ok());
  ASSERT_TRUE(lstm.save(dir + "/model.pt").ok());
  std::vector<model::Outcome> outcomes;
  for (int i = 0; i < 60; ++i) {
    model::Outcome o;
    o.time = i;
    o.inputs.shadowSteal = 0.005 * (i % 30);
    o.inputs.nodeUtilNow = o.inputs.nodeUtilP50 = o.inputs.nodeUtilP90 = 0.5;
    o.actual.cpuContention = 0.01 + 1.2 * o.inputs.shadowSteal + 0.002 * (i % 3);
    outcomes.push_back(o);
  }
  auto map = model::ContentionMap::fit(outcomes);
  ASSERT_TRUE(map.ok());
  ASSERT_TRUE(map->save(dir + "/contention.json").ok());
  std::string configPath;
  std::unique_ptr<ChildProcess> op;
  std::chrono::steady_clock::time_point created;
  // Busy nodes, b the least: the VM meets some steal wherever it goes.
  ASSERT_NO_FATAL_FAILURE(
      startObservingWeb(configPath, op, created,
                        "model: {path: " + dir + "/model.pt, contentionPath: " + dir +
                            "/contention.json, outcomesPath: " + dir +
                            "/outcomes.jsonl, outcomeWindow: 10s, retraining: {enabled: false}}\n",
                        {{"a", 0.97}, {"b", 0.75}, {"c", 0.99}}));
  ASSERT_TRUE(eventually([&] { return phase() == "Placed"; }, 60s)) << phase() << "\n" << logTail();
  auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
  const Json status = (*sp)["status"];
  const std::string modelName = status.value("model", "");
  EXPECT_EQ(modelName.rfind("lstm/lstm-", 0), 0u) << modelName;
  EXPECT_NE(modelName.find(" + contention/learned(60 outcomes)"), std::string::npos) << modelName;
  EXPECT_EQ(modelName.find("fallback"), std::string::npos) << modelName;
  EXPECT_EQ(status.value("selectedNode", ""), node("b")) << status.dump();
  // Ten seconds after the placement, the VM's steal is recorded beside the decision's inputs.
  const std::string path = dir + "/outcomes.jsonl";
  ASSERT_TRUE(eventually(
      [&] {
        auto r = model::readOutcomes(path);
        return r.ok() && !r->empty();
      },
      45s))
      << logTail();
  auto recorded = model::readOutcomes(path);
  ASSERT_TRUE(recorded.ok()) << recorded.error().message;
  ASSERT_EQ(recorded->size(), 1u);
  const model::Outcome& o = recorded->front();
  EXPECT_EQ(o.source, "operator");
  EXPECT_EQ(o.target, ns_.name() + "/web");
  EXPECT_EQ(o.node, node("b"));
  // Both against the simulator's ground truth, as Prometheus recorded it: the VM's steal (steady
  // load: now as over the window) and the steal node b's probe met while it observed.
  const double vmSteal = promQuery("umbra_sim_vmi_steal_ratio{name=\"web\"}");
  const double probeSteal = promQuery("avg_over_time(umbra_sim_vmi_steal_ratio{name=\"web-shadow-" +
                                      node("b") + "\"}[10m])");
  std::fprintf(stderr, "[outcome] VM steal %.4f (truth %.4f), probe steal %.4f (truth %.4f)\n",
               o.actual.cpuContention, vmSteal, o.inputs.shadowSteal, probeSteal);
  EXPECT_GT(vmSteal, 0.005) << "the scenario must give the VM some steal to measure";
  EXPECT_NEAR(o.actual.cpuContention, vmSteal, 0.005 + 0.25 * vmSteal);
  EXPECT_NEAR(o.inputs.shadowSteal, probeSteal, 0.005 + 0.25 * probeSteal) << "node b's probe";
  EXPECT_GT(o.inputs.cpuShare, 0) << "the node's size is known";
  EXPECT_NE(scrapeMetrics().find("umbra_outcomes_recorded_total{result=\"recorded\"} 1"),
            std::string::npos);
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
}

TEST_F(OperatorBinaryTest, RetrainingPromotesAChallengerOnlyWhenItScoresBetter) {
  // Three days of 15 s node CPU counters with a two-hour cycle, backfilled into Prometheus.
  const int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                              .count() /
                          60 * 60 -
                      600;
  std::ostringstream om;
  om << "# TYPE node_cpu_seconds counter\n";
  for (const char* n : {"n1", "n2"}) {
    double idle = 0;
    for (int64_t t = end - int64_t{3} * 86400; t <= end; t += 15) {
      const double busy = 0.4 + 0.3 * std::sin(2 * M_PI * static_cast<double>(t % 7200) / 7200.0);
      idle += 15 * (1 - busy);
      om << "node_cpu_seconds_total{node=\"" << n << "\",cpu=\"0\",mode=\"idle\"} " << idle << " "
         << t << "\n";
    }
  }
  om << "# EOF\n";
  prometheus_ = std::make_unique<PrometheusServer>();
  ASSERT_TRUE(prometheus_->start(om.str()).ok());
  const std::string dir = modelDir();
  const std::string configPath = dir + "/umbra.yaml";
  std::ofstream(configPath) << "prometheus: {url: \"" << prometheus_->url() << "\"}\n"
                            << "retrainingInterval: 3s\n"
                            << "model: {path: " << dir << "/model.pt, contentionPath: " << dir
                            << "/contention.json, outcomesPath: " << dir
                            << "/outcomes.jsonl, retraining: {history: 48h, epochs: 6, "
                               "stepsPerEpoch: 25, batch: 64, hidden: 8, period: 24, trainer: "
                            << UMBRA_CLI_BINARY << "}}\n";
  auto op = startOperator(configPath);
  ASSERT_TRUE(ready()) << logTail();
  // The operator runs the LSTM in plain C++ and trains in a child: LibTorch is never loaded.
  EXPECT_EQ(runCommand("grep -c libtorch /proc/" + std::to_string(op->pid()) + "/maps").output,
            "0\n");
  const std::string before = scrapeMetrics();
  EXPECT_NE(before.find("umbra_model_info{version=\"baseline/last-value + contention/prior "
                        "(fallback: demand: " +
                        dir + "/model.pt: no such model file; contention: " + dir +
                        "/contention.json: no such contention model file)\"} 1"),
            std::string::npos)
      << before;
  // The first round: a trained LSTM beats the last value on a cycling load, so it is promoted.
  ASSERT_TRUE(eventually(
      [&] {
        return scrapeMetrics().find(
                   "umbra_model_retraining_total{model=\"demand\",result=\"promoted\"} 1") !=
               std::string::npos;
      },
      90s))
      << scrapeMetrics() << logTail();
  auto saved = model::LstmNet::load(dir + "/model.pt", 6);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  std::string after = scrapeMetrics();
  EXPECT_NE(after.find("umbra_model_info{version=\"lstm/lstm-"), std::string::npos) << after;
  EXPECT_NE(after.find("umbra_model_validation_error{metric=\"mase\"}"), std::string::npos);
  EXPECT_NE(after.find("umbra_model_retraining_total{model=\"contention\",result=\"skipped\"}"),
            std::string::npos)
      << "no outcomes recorded yet";
  // Later rounds read a slightly shifted window, so a challenger may or may not win; whatever
  // happens, every round must follow the rule: promoted only with a strictly lower MASE.
  ASSERT_TRUE(eventually(
      [&] {
        return runCommand("grep -c '\"retraining round\"' " + log_)
                   .output.find_first_of("3456789") == 0;
      },
      120s))
      << logTail();
  std::ifstream log(log_);
  const std::regex round(
      R"re("demand":"(promoted|kept)".*challenger MASE ([0-9.]+) vs champion \(.*\) ([0-9.]+);)re");
  int rounds = 0;
  for (std::string line; std::getline(log, line);) {
    std::smatch m;
    if (line.find("\"retraining round\"") == std::string::npos ||
        !std::regex_search(line, m, round))
      continue;
    ++rounds;
    const double challenger = std::stod(m[2]), champion = std::stod(m[3]);
    if (m[1] == "promoted")
      EXPECT_LT(challenger, champion) << line;
    else
      EXPECT_GE(challenger, champion) << line;
  }
  EXPECT_GE(rounds, 3);
  // The model in use is the one on disk.
  auto onDisk = model::LstmNet::load(dir + "/model.pt", 6);
  ASSERT_TRUE(onDisk.ok()) << onDisk.error().message;
  const auto meta = Json::parse((*onDisk)->metadata());
  EXPECT_NE(scrapeMetrics().find("umbra_model_info{version=\"lstm/" +
                                 meta["version"].get<std::string>() + " + contention/prior"),
            std::string::npos)
      << scrapeMetrics();
  // The training children logged their epochs through the operator.
  EXPECT_NE(runCommand("grep -c 'retraining: trainer' " + log_).output, "0\n") << logTail();
  // Shutdown during a round (one runs every 3 s) ends its trainer child too: no process and no
  // file is left behind.
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(30), 0);
  EXPECT_EQ(runCommand("pgrep -f -- '[-]-series " + dir + "/' | wc -l").output, "0\n");
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
    EXPECT_EQ(e.path().filename().string().find(".retrain-"), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace umbra::testing
