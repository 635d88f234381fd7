#pragma once

// The umbra-operator binary against a real control plane with KubeVirt's CRDs, umbra-sim playing
// KubeVirt and the nodes, and a real Prometheus scraping the simulator: the fixture the operator
// end-to-end binaries share (integration_operator, integration_operator_autoscaling).
#include <signal.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "harness/process.h"
#include "harness/prometheus_server.h"
#include "harness/test_objects.h"
#include "integration/common.h"
#include "integration/kubevirt_fixture.h"

namespace umbra::testing {

using kube::Json;
using namespace std::chrono_literals;

class OperatorBinaryTest : public KubeVirtFixture {
 protected:
  void SetUp() override {
    KubeVirtFixture::SetUp();
    log_ = ControlPlane::instance().dir() + "/operator-" + ns_.name() + ".log";
  }
  // The metrics and health ports are free when chosen, but another test binary running beside
  // this one (ctest -j) may take one before the operator binds it: the operator then exits naming
  // the address, and it is started again on new ports (at most three times).
  // `kubeconfig` and `leaseNamespace` default to the admin's and the test's namespace.
  std::unique_ptr<ChildProcess> startOperator(const std::string& configPath,
                                              const std::string& kubeconfig = "",
                                              const std::string& leaseNamespace = "") {
    for (int attempt = 1;; ++attempt) {
      const auto logged = std::filesystem::exists(log_) ? std::filesystem::file_size(log_) : 0;
      auto op = std::make_unique<ChildProcess>(
          std::vector<std::string>{
              UMBRA_OPERATOR_BINARY,
              "--kubeconfig=" +
                  (kubeconfig.empty() ? ControlPlane::instance().kubeconfig() : kubeconfig),
              "--config=" + configPath, "--namespace=" + ns_.name(), "--leader-elect",
              "--leader-election-namespace=" +
                  (leaseNamespace.empty() ? ns_.name() : leaseNamespace),
              "--metrics-bind-address=127.0.0.1:" + std::to_string(metricsPort_),
              "--metrics-secure",  // as the chart runs it
              "--health-probe-bind-address=127.0.0.1:" + std::to_string(healthPort_),
              "--log-format=json"},
          log_);
      eventually(
          [&] {
            return !op->running() || runCommand("curl -fsS http://127.0.0.1:" +
                                                std::to_string(healthPort_) + "/healthz")
                                             .exitCode == 0;
          },
          30s);
      std::string tail;
      if (std::ifstream in(log_); in) {
        in.seekg(static_cast<std::streamoff>(logged));
        tail.assign(std::istreambuf_iterator<char>(in), {});
      }
      if (attempt == 3 || op->running() || tail.find("Address already in use") == std::string::npos)
        return op;
      metricsPort_ = freePort();
      healthPort_ = freePort();
    }
  }
  std::string phase() {
    auto sp = admin_->get(api::shadowPlacements(), {ns_.name(), "web"});
    return sp.ok() ? (*sp).value("status", Json::object()).value("phase", "") : "<gone>";
  }
  std::string logTail() { return runCommand("tail -n 30 " + log_).output; }
  // /metrics as a scraper: HTTPS (self-signed) with a bearer token the API server authorizes
  // ("admin"); "user" has no right to /metrics, "" sends none. The text on 200, else
  // "HTTP <code>: <body>".
  std::string scrapeMetrics(const std::string& who = "admin") {
    const std::string auth =
        who.empty() ? ""
                    : " -H 'Authorization: Bearer " + ControlPlane::instance().token(who) + "'";
    const auto r = runCommand("curl -sk -w '\\n%{http_code}'" + auth +
                              " https://127.0.0.1:" + std::to_string(metricsPort_) + "/metrics");
    const auto nl = r.output.rfind('\n');
    const std::string code = nl == std::string::npos ? r.output : r.output.substr(nl + 1);
    const std::string body = nl == std::string::npos ? "" : r.output.substr(0, nl);
    return code == "200" ? body : "HTTP " + code + ": " + body;
  }
  // The operator's config for the retraining scenarios: rounds every 3 s on a small network,
  // files in `dir`, the trainer given by `trainer` ("trainer: BINARY" or "spool: DIR").
  std::string retrainingConfig(const std::string& dir, const std::string& trainer) {
    std::ostringstream c;
    c << "prometheus: {url: \"" << prometheus_->url() << "\"}\n"
      << "retrainingInterval: 3s\n"
      << "model: {path: " << dir << "/model.pt, contentionPath: " << dir
      << "/contention.json, outcomesPath: " << dir
      << "/outcomes.jsonl, retraining: {history: 48h, epochs: 6, stepsPerEpoch: 25, batch: 64, "
         "hidden: 8, period: 24, "
      << trainer << "}}\n";
    return c.str();
  }
  // The retraining scenarios' first round promotes its challenger within 90 s.
  bool firstRoundPromoted() {
    return eventually(
        [&] {
          return scrapeMetrics().find(
                     "umbra_model_retraining_total{model=\"demand\",result=\"promoted\"} 1") !=
                 std::string::npos;
        },
        90s);
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
      std::string labels = grouped ? "umbra.test/group: " + ns_.name() : "";
      if (const auto extra = nodeLabels_.find(n); extra != nodeLabels_.end())
        labels += (labels.empty() ? "" : ", ") + extra->second;
      cluster << "  - {name: " << node(n) << ", cpu: 8, memory: 32Gi, labels: {" << labels
              << "}, background: "
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
  // `expr` evaluated now, or at `atUnixSeconds` when given.
  double promQuery(const std::string& expr, std::optional<int64_t> atUnixSeconds = std::nullopt) {
    const auto r = runCommand(
        "curl -fsS " + prometheus_->url() + "/api/v1/query --data-urlencode 'query=" + expr + "'" +
        (atUnixSeconds ? " --data-urlencode time=" + std::to_string(*atUnixSeconds) : ""));
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
  // Extra node labels ("key: value") by the short name startSimulatedCluster() is given.
  std::map<std::string, std::string> nodeLabels_;

  std::string log_;
  int metricsPort_ = freePort();
  int healthPort_ = freePort();
  std::unique_ptr<ChildProcess> sim_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

}  // namespace umbra::testing
