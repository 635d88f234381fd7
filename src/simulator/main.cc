// umbra-sim: plays KubeVirt and the nodes against a real API server, and exports the metrics
// virt-handler and node-exporter would. Flags and wiring only; see docs/simulation.md.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "cli_flags/cli_flags.h"
#include "common/log.h"
#include "exposition/health_server.h"
#include "kube/config.h"
#include "kube/rest_client.h"
#include "kube_core/quantity.h"
#include "runtime/event_loop.h"
#include "sim/files.h"
#include "simulator/kubevirt_sim.h"
#include "simulator/virt_api.h"

namespace {

using namespace umbra;

int fail(const std::string& message) {
  log::error(message);
  return 1;
}

// A Go duration ("2s", "500ms") of at least `min`, for CLI11.
CLI::Validator duration(std::chrono::milliseconds min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        const auto d = kube::parseDuration(text);
        if (!d)
          return "not a duration (like 2s, 500ms): \"" + text + "\"";
        if (*d < min)
          return "must be at least " + kube::formatDuration(min);
        return "";
      },
      "DURATION");
}

std::chrono::milliseconds durationOf(const std::string& text) {
  return *kube::parseDuration(text);  // checked by the validator
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"umbra-sim: plays KubeVirt's controllers and nodes against a real API server",
               "umbra-sim"};
  cli_flags::addVersion(app, "umbra-sim");
  std::string kubeconfig, context, clusterFile, metricsAddr = "127.0.0.1:9101", tracesDir;
  std::string bootDelay = "2s", migrationDelay = "2s", tickText = "500ms";
  std::string logFormat = "text", logLevel = "info", virtApiAddr;
  simulator::VirtApiOptions virtApi;
  simulator::SimulatorOptions options;
  options.seed = 1;
  options.traceSpeed = 1;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig (default $KUBECONFIG, else in-cluster)");
  app.add_option("--context", context, "kubeconfig context");
  app.add_option("--cluster", clusterFile, "cluster description (examples/clusters/*.yaml)")
      ->required();
  app.add_option("--metrics-addr", metricsAddr, "where to serve /metrics and /healthz")
      ->capture_default_str();
  app.add_option("--traces", tracesDir, "real utilisation traces to replay");
  app.add_option("--seed", options.seed, "random seed")->capture_default_str();
  app.add_option("--trace-speed", options.traceSpeed, "demand clock speed relative to real time")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            return text.empty() || *end != '\0' || !(v > 0) || v > 1e6
                       ? "must be a number in (0, 1e6], got \"" + text + "\""
                       : "";
          },
          "SPEED"))
      ->capture_default_str();
  app.add_option("--boot-delay", bootDelay, "Scheduled -> Running")
      ->check(duration(std::chrono::milliseconds(0)))
      ->capture_default_str();
  app.add_option("--migration-delay", migrationDelay,
                 "a migration's creation to its first byte (Scheduling .. TargetReady)")
      ->check(duration(std::chrono::milliseconds(0)))
      ->capture_default_str();
  app.add_option("--migration-speed", options.migrationSpeed,
                 "simulated transfer seconds per real second (the transfer itself follows the "
                 "guest's memory, dirty rate and the link)")
      ->check(CLI::Range(1e-3, 1e6))
      ->capture_default_str();
  app.add_option("--tick", tickText, "simulation step in real time")
      ->check(duration(std::chrono::milliseconds(10)))
      ->capture_default_str();
  app.add_option("--virt-api-addr", virtApiAddr,
                 "serve KubeVirt's subresource API (start, stop, migrate, pause, unpause) on "
                 "host:port behind an APIService, as virt-api does; needs the API server's "
                 "aggregation layer. Port 0 picks one. Default: not served");
  app.add_option("--virt-api-service", virtApi.serviceName,
                 "name of the Service the APIServices point at")
      ->capture_default_str();
  app.add_option("--virt-api-namespace", virtApi.serviceNamespace,
                 "namespace of that Service (created if missing)")
      ->capture_default_str();
  app.add_option("--log-format", logFormat, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", logLevel, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  if (const int code = cli_flags::parse(app, argc, argv); code >= 0)
    return code;
  log::Format format = log::Format::Text;
  log::Level level = log::Level::Info;
  log::parseFormat(logFormat, format);
  log::parseLevel(logLevel, level);
  log::configure(format, level);
  options.bootDelay = durationOf(bootDelay);
  options.migrationDelay = durationOf(migrationDelay);
  const std::chrono::milliseconds tick = durationOf(tickText);
  auto cluster = sim::loadCluster(clusterFile);
  if (!cluster.ok())
    return fail(cluster.error().message);
  std::optional<sim::TraceSet> traces;
  if (!tracesDir.empty()) {
    auto loaded = sim::loadTraces(tracesDir);
    if (!loaded.ok())
      return fail(loaded.error().message);
    traces = std::move(loaded).value();
    log::info("traces loaded",
              {{"dir", tracesDir}, {"series", std::to_string(traces->series.size())}});
  }
  for (const auto& n : cluster->nodes) {
    if (!n.background.trace.empty() && !traces)
      return fail(clusterFile + ": node " + n.name + ": background.trace needs --traces");
  }
  if (traces) {
    if (auto st = sim::checkTraces(*cluster, *traces, clusterFile); !st.ok())
      return fail(st.error().message);
  }

  auto cfg = kube::loadDefault(kubeconfig, context);
  if (!cfg.ok())
    return fail(cfg.error().message);
  auto client = kube::RestClient::fromConfig(*cfg);
  if (!client.ok())
    return fail(client.error().message);

  simulator::KubeVirtSimulator simulator(**client, *cluster, traces ? &*traces : nullptr, options);
  if (auto st = simulator.start(); !st.ok())
    return fail(st.error().message);
  std::string error;
  auto server = exposition::HealthServer::start(
      metricsAddr, [] { return true; }, error, {{"/metrics", [&] { return simulator.metrics(); }}},
      "--metrics-addr");
  if (!server)
    return fail(error);
  std::unique_ptr<simulator::VirtApiServer> virtApiServer;
  if (!virtApiAddr.empty()) {
    virtApi.address = virtApiAddr;
    auto started = simulator::VirtApiServer::start(**client, virtApi);
    if (!started.ok())
      return fail("--virt-api-addr: " + started.error().message);
    virtApiServer = std::move(started).value();
    // The VMs keep running meanwhile: the loop below starts once the API server proxies to us.
    if (auto st = virtApiServer->waitAvailable(std::chrono::seconds(60)); !st.ok())
      return fail(st.error().message);
    log::info(
        "virt-api available through the API server",
        {{"group", "subresources.kubevirt.io"}, {"port", std::to_string(virtApiServer->port())}});
  }
  log::info("umbra-sim running", {{"cluster", clusterFile},
                                  {"metrics", "http://" + metricsAddr + "/metrics"},
                                  {"traceSpeed", std::to_string(options.traceSpeed)}});

  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  runtime::EventLoop loop;
  loop.handleShutdownSignals([&](int signal) {
    log::info("shutting down", {{"signal", std::to_string(signal)}});
    const std::lock_guard<std::mutex> lock(mutex);
    stop = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mutex);
  while (!stop) {
    lock.unlock();
    simulator.tick();
    lock.lock();
    cv.wait_for(lock, tick, [&] { return stop; });
  }
  virtApiServer.reset();  // stops serving and removes the APIServices
  // Nodes stay: like kubelets that went away, they turn NotReady once their leases expire.
  log::info("stopped", {{"runningVmis", std::to_string(simulator.runningVmis())}});
  return 0;
}
