// umbra-sim: plays KubeVirt and the nodes against a real API server, and exports the metrics
// virt-handler and node-exporter would. Flags and wiring only; see docs/simulation.md.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "api/quantity.h"
#include "common/log.h"
#include "exposition/health_server.h"
#include "kube/config.h"
#include "kube/rest_client.h"
#include "runtime/event_loop.h"
#include "sim/files.h"
#include "simulator/kubevirt_sim.h"

namespace {

using namespace umbra;

constexpr const char* Usage =
    "usage: umbra-sim --cluster FILE [flags]\n"
    "  --kubeconfig PATH        kubeconfig (default $KUBECONFIG, else in-cluster)\n"
    "  --context NAME           kubeconfig context\n"
    "  --cluster FILE           cluster description (examples/clusters/*.yaml)\n"
    "  --metrics-addr HOST:PORT where to serve /metrics and /healthz (default 127.0.0.1:9101)\n"
    "  --traces DIR             real utilisation traces to replay (../shared/data/traces)\n"
    "  --seed N                 random seed (default 1)\n"
    "  --trace-speed X          demand clock speed relative to real time (default 1)\n"
    "  --boot-delay D           Scheduled -> Running (default 2s)\n"
    "  --migration-delay D      migration duration (default 2s)\n"
    "  --tick D                 simulation step in real time (default 500ms)\n"
    "  --log-format text|json   (default text)\n"
    "  --log-level L            debug|info|warn|error (default info)\n";

int fail(const std::string& message) {
  log::error(message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"kubeconfig", ""},
                                              {"context", ""},
                                              {"cluster", ""},
                                              {"metrics-addr", "127.0.0.1:9101"},
                                              {"traces", ""},
                                              {"seed", "1"},
                                              {"trace-speed", "1"},
                                              {"boot-delay", "2s"},
                                              {"migration-delay", "2s"},
                                              {"tick", "500ms"},
                                              {"log-format", "text"},
                                              {"log-level", "info"}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(Usage, stdout);
      return 0;
    }
    std::string value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "umbra-sim: %s needs a value\n%s", a.c_str(), Usage);
      return 2;
    }
    if (!a.starts_with("--") || !flags.count(a.substr(2))) {
      std::fprintf(stderr, "umbra-sim: unknown flag %s\n%s", a.c_str(), Usage);
      return 2;
    }
    flags[a.substr(2)] = value;
  }
  log::Format format;
  log::Level level;
  if (!log::parseFormat(flags["log-format"], format) ||
      !log::parseLevel(flags["log-level"], level)) {
    std::fprintf(stderr,
                 "umbra-sim: --log-format must be text|json, --log-level debug|info|warn|error\n");
    return 2;
  }
  log::configure(format, level);
  if (flags["cluster"].empty()) {
    std::fprintf(stderr, "umbra-sim: --cluster is required\n%s", Usage);
    return 2;
  }
  simulator::SimulatorOptions options;
  char* end = nullptr;
  options.seed = std::strtoull(flags["seed"].c_str(), &end, 10);
  if (*end != '\0')
    return fail("--seed: not a number: \"" + flags["seed"] + "\"");
  options.traceSpeed = std::strtod(flags["trace-speed"].c_str(), &end);
  if (*end != '\0' || !(options.traceSpeed > 0) || options.traceSpeed > 1e6)
    return fail("--trace-speed: must be a number in (0, 1e6], got \"" + flags["trace-speed"] +
                "\"");
  std::chrono::milliseconds tick{};
  for (auto [name, out] :
       {std::pair{"boot-delay", &options.bootDelay},
        std::pair{"migration-delay", &options.migrationDelay}, std::pair{"tick", &tick}}) {
    const auto d = api::parseDuration(flags[name]);
    if (!d)
      return fail(std::string("--") + name + ": not a duration (like 2s, 500ms): \"" + flags[name] +
                  "\"");
    *out = *d;
  }
  if (tick < std::chrono::milliseconds(10))
    return fail("--tick: must be at least 10ms");

  auto cluster = sim::loadCluster(flags["cluster"]);
  if (!cluster.ok())
    return fail(cluster.error().message);
  std::optional<sim::TraceSet> traces;
  if (!flags["traces"].empty()) {
    auto loaded = sim::loadTraces(flags["traces"]);
    if (!loaded.ok())
      return fail(loaded.error().message);
    traces = std::move(loaded).value();
    log::info("traces loaded",
              {{"dir", flags["traces"]}, {"series", std::to_string(traces->series.size())}});
  }
  for (const auto& n : cluster->nodes) {
    if (!n.background.trace.empty() && !traces)
      return fail(flags["cluster"] + ": node " + n.name + ": background.trace needs --traces");
  }
  if (traces) {
    if (auto st = sim::checkTraces(*cluster, *traces, flags["cluster"]); !st.ok())
      return fail(st.error().message);
  }

  auto cfg = kube::loadDefault(flags["kubeconfig"], flags["context"]);
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
      flags["metrics-addr"], [] { return true; }, error,
      {{"/metrics", [&] { return simulator.metrics(); }}}, "--metrics-addr");
  if (!server)
    return fail(error);
  log::info("umbra-sim running", {{"cluster", flags["cluster"]},
                                  {"metrics", "http://" + flags["metrics-addr"] + "/metrics"},
                                  {"traceSpeed", flags["trace-speed"]}});

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
  // Nodes stay: like kubelets that went away, they turn NotReady once their leases expire.
  log::info("stopped", {{"runningVmis", std::to_string(simulator.runningVmis())}});
  return 0;
}
