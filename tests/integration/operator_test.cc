// The umbra-operator binary end to end: a real control plane with KubeVirt's CRDs, a real
// Prometheus scraping an exporter of KubeVirt- and node-exporter-named series, and the KubeVirt
// stand-in. The operator is SIGKILLed mid-observation and restarted; the placement completes with
// no duplicate and no orphaned shadow; /metrics passes promtool.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api/shadow_placement.h"
#include "fakes/tiny_lstm.h"
#include "harness/kubevirt_standin.h"
#include "harness/process.h"
#include "harness/prometheus_server.h"
#include "integration/common.h"
#include "integration/kubevirt_fixture.h"
#include "model/contention_map.h"
#include "model/lstm.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

// Serves /metrics from a file rewritten twice a second with counters growing at fixed rates.
class Exporter {
 public:
  Exporter(std::string ns, std::map<std::string, double> stealByNode, std::string placement = "web")
      : ns_(std::move(ns)), steal_(std::move(stealByNode)), placement_(std::move(placement)) {
    char tmpl[] = "/tmp/umbra-exporter.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = freePort();
    write(0);
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(port_),
                                 "--bind", "127.0.0.1", "--directory", dir_},
        dir_ + "/server.log");
    writer_ = std::thread([this] {
      double t = 0;
      while (!stop_) {
        std::this_thread::sleep_for(500ms);
        t += 0.5;
        write(t);
      }
    });
  }
  ~Exporter() {
    stop_ = true;
    writer_.join();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void write(double t) {
    std::ostringstream m;
    // The target itself once placed (what the outcome recorder measures): 4 % steal.
    m << "kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"" << ns_ << "\",name=\"" << placement_
      << "\",id=\"0\"} " << 0.04 * t << "\n";
    m << "kubevirt_vmi_vcpu_seconds_total{namespace=\"" << ns_ << "\",name=\"" << placement_
      << "\",id=\"0\",state=\"running\"} " << 0.96 * t << "\n";
    for (const auto& [node, steal] : steal_) {
      m << "kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"" << ns_ << "\",name=\"" << placement_
        << "-shadow-" << node << "\",node=\"" << node << "\",id=\"0\"} " << steal * t << "\n";
      m << "kubevirt_vmi_vcpu_seconds_total{namespace=\"" << ns_ << "\",name=\"" << placement_
        << "-shadow-" << node << "\",node=\"" << node << "\",id=\"0\",state=\"running\"} "
        << (1 - steal) * t << "\n";
      m << "node_cpu_seconds_total{node=\"" << node << "\",cpu=\"0\",mode=\"idle\"} " << 0.5 * t
        << "\n";
      m << "node_cpu_seconds_total{node=\"" << node << "\",cpu=\"0\",mode=\"iowait\"} " << 0.01 * t
        << "\n";
      m << "node_pressure_memory_waiting_seconds_total{node=\"" << node << "\"} " << 0.0 * t
        << "\n";
    }
    std::ofstream(dir_ + "/metrics.tmp") << m.str();
    std::filesystem::rename(dir_ + "/metrics.tmp", dir_ + "/metrics");
  }
  std::string ns_;
  std::map<std::string, double> steal_;
  std::string placement_;
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> server_;
  std::thread writer_;
  std::atomic<bool> stop_{false};
};

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

  // Exporter, Prometheus scraping it, the operator's config, and KubeVirt's part (start every
  // VMI the operator creates); all torn down with the fixture.
  std::string startTelemetryAndKubeVirt(std::map<std::string, double> stealByNode,
                                        const std::string& placement,
                                        const std::string& extraConfig = "") {
    exporter_ = std::make_unique<Exporter>(ns_.name(), std::move(stealByNode), placement);
    prometheus_ = std::make_unique<PrometheusServer>();
    const Status st = prometheus_->startScraping(exporter_->target());
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
    std::string configPath =
        ControlPlane::instance().dir() + "/umbra-" + placement + "-" + ns_.name() + ".yaml";
    std::ofstream(configPath) << "prometheus: {url: \"" << prometheus_->url()
                              << "\", rateWindow: 5s}\n"
                              << extraConfig;
    kubevirt_ = std::thread([this] {
      while (!stopKubevirt_) {
        (void)standin_->runPendingVmis(ns_.name());
        std::this_thread::sleep_for(200ms);
      }
    });
    return configPath;
  }
  bool ready() {
    return eventually(
        [&] {
          return runCommand("curl -fsS http://127.0.0.1:" + std::to_string(healthPort_) + "/readyz")
                     .output == "ok";
        },
        30s);
  }
  // The common start of the binary's scenarios: three nodes (b the quietest), telemetry and
  // KubeVirt's part, the operator, and the "web" VM with its placement, until it is Observing.
  void startObservingWeb(std::string& configPath, std::unique_ptr<ChildProcess>& op,
                         std::chrono::steady_clock::time_point& created,
                         const std::string& extraConfig = "") {
    for (const char* n : {"a", "b", "c"}) {
      ASSERT_TRUE(
          standin_->createNode(node(n), "16", "64Gi", {{"umbra.test/group", ns_.name()}}).ok());
    }
    configPath = startTelemetryAndKubeVirt(
        {{node("a"), 0.15}, {node("b"), 0.01}, {node("c"), 0.30}}, "web", extraConfig);
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
    stopKubevirt_ = true;
    if (kubevirt_.joinable())
      kubevirt_.join();
    prometheus_.reset();
    exporter_.reset();
    if (!modelDir_.empty())
      std::filesystem::remove_all(modelDir_);
  }
  std::string modelDir_;

  std::string log_;
  int metricsPort_ = freePort();
  int healthPort_ = freePort();
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::thread kubevirt_;
  std::atomic<bool> stopKubevirt_{false};
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
  auto vm = admin_->get(api::virtualMachines(), {ns_.name(), "web"});
  EXPECT_EQ((*vm)["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"], node("b"));
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

TEST_F(OperatorBinaryTest, ExamplesArePlacedWithinObservationPlus30Seconds) {
  for (const char* n : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(standin_->createNode(node(n), "16", "64Gi", {}).ok());
  }
  const std::string configPath = startTelemetryAndKubeVirt(
      {{node("a"), 0.20}, {node("b"), 0.12}, {node("c"), 0.02}, {node("d"), 0.30}}, "web-1");
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
  EXPECT_EQ((*vm)["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"], node("c"));
  EXPECT_EQ((*vm)["spec"]["runStrategy"], "Always");
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 20s));
  const auto wide = runCommand(kubectl + " get sp -o wide");
  std::fprintf(stderr, "%s", wide.output.c_str());
  EXPECT_NE(wide.output.find("Placed"), std::string::npos);
  EXPECT_NE(wide.output.find(node("c")), std::string::npos);
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
}

// The whole loop with umbra-sim playing KubeVirt and the nodes (no stand-in, no fake exporter):
// the shadows boot on the simulated nodes, Prometheus scrapes the simulator's KubeVirt and
// node-exporter series, the physics decide which node is quiet, and the simulator starts the VM
// where the operator put it.
TEST_F(OperatorBinaryTest, WithUmbraSimTheVmRunsOnTheQuietestNode) {
  const std::string dir = modelDir();
  std::ofstream cluster(dir + "/cluster.yaml");
  cluster << "name: operator-test\nphysics: {interference: 0, noise: 0.02}\nnodes:\n";
  for (const auto& [n, level] :
       std::vector<std::pair<std::string, double>>{{"a", 0.85}, {"b", 0.05}, {"c", 0.92}}) {
    cluster << "  - {name: " << node(n)
            << ", cpu: 8, memory: 32Gi, labels: {umbra.test/group: " << ns_.name()
            << "}, background: {profile: steady, level: " << level << ", memory: 0.2}}\n";
  }
  cluster.close();
  const int simPort = freePort();
  ChildProcess sim(
      {UMBRA_SIM_BINARY, "--kubeconfig", ControlPlane::instance().kubeconfig(), "--cluster",
       dir + "/cluster.yaml", "--metrics-addr", "127.0.0.1:" + std::to_string(simPort),
       "--boot-delay", "1s", "--tick", "200ms", "--log-level", "warn"},
      dir + "/umbra-sim.log");
  ASSERT_TRUE(eventually(
      [&] {
        auto n = admin_->get(kube::resources::nodes(), {"", node("b")});
        return n.ok();
      },
      30s))
      << runCommand("cat " + dir + "/umbra-sim.log").output;
  prometheus_ = std::make_unique<PrometheusServer>();
  const Status scraping = prometheus_->startScraping("127.0.0.1:" + std::to_string(simPort));
  ASSERT_TRUE(scraping.ok()) << scraping.error().message;
  const std::string configPath = dir + "/umbra.yaml";
  std::ofstream(configPath) << "prometheus: {url: \"" << prometheus_->url()
                            << "\", rateWindow: 5s}\n";
  auto op = startOperator(configPath);
  ASSERT_TRUE(ready()) << logTail();
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), haltedVm(ns_.name(), "web")).ok());
  ASSERT_TRUE(admin_
                  ->create(api::shadowPlacements(), ns_.name(),
                           placementFor(ns_.name(), "web", "VirtualMachine", "web", ns_.name()))
                  .ok());
  ASSERT_TRUE(eventually([&] { return phase() == "Placed"; }, 90s))
      << admin_->get(api::shadowPlacements(), {ns_.name(), "web"})->dump() << "\n"
      << logTail();
  auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
  EXPECT_EQ((*sp)["status"]["selectedNode"], node("b")) << (*sp)["status"].dump();
  // Every candidate was probed by a shadow the simulator ran.
  EXPECT_EQ((*sp)["status"]["candidates"].size(), 3u) << (*sp)["status"].dump();
  // The simulator started the VM where the operator put it.
  ASSERT_TRUE(eventually(
      [&] {
        auto vmi = admin_->get(api::virtualMachineInstances(), {ns_.name(), "web"});
        const Json status = vmi.ok() ? (*vmi).value("status", Json::object()) : Json::object();
        return status.value("phase", "") == "Running" && status.value("nodeName", "") == node("b");
      },
      30s))
      << runCommand("cat " + dir + "/umbra-sim.log").output;
  EXPECT_TRUE(eventually([&] { return shadows().empty(); }, 20s)) << "no shadow may remain";
  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(20), 0);
  sim.signal(SIGTERM);
  EXPECT_EQ(sim.wait(20), 0);
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
  EXPECT_NE(
      body.find("umbra_prometheus_requests_total{endpoint=\"query_range\",outcome=\"network\"}"),
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
                                      "cpu_steal, cpu_wait,"),
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
  ASSERT_NO_FATAL_FAILURE(startObservingWeb(
      configPath, op, created,
      "model: {path: " + dir + "/model.pt, contentionPath: " + dir +
          "/contention.json, outcomesPath: " + dir +
          "/outcomes.jsonl, outcomeWindow: 10s, retraining: {enabled: false}}\n"));
  ASSERT_TRUE(eventually([&] { return phase() == "Placed"; }, 60s)) << phase() << "\n" << logTail();
  auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
  const Json status = (*sp)["status"];
  const std::string modelName = status.value("model", "");
  EXPECT_EQ(modelName.rfind("lstm/lstm-", 0), 0u) << modelName;
  EXPECT_NE(modelName.find(" + contention/learned(60 outcomes)"), std::string::npos) << modelName;
  EXPECT_EQ(modelName.find("fallback"), std::string::npos) << modelName;
  EXPECT_EQ(status.value("selectedNode", ""), node("b")) << status.dump();
  // Ten seconds after the placement, the VM's steal (4 %) is recorded beside the decision's inputs.
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
  EXPECT_NEAR(o.actual.cpuContention, 0.04, 0.01);
  EXPECT_NEAR(o.inputs.shadowSteal, 0.01, 0.005) << "node b's probe";
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
