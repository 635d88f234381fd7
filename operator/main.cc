// umbra-operator: flags and wiring only. The reconciler lives in src/controller.
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "common/log.h"
#include "config/config.h"
#include "controller/shadow_placement_reconciler.h"
#include "controller/status.h"
#include "exposition/health_server.h"
#include "exposition/operator_metrics.h"
#include "flags.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/rest_client.h"
#include "model/forecaster.h"
#include "model/lstm_net.h"
#include "model/model_forecaster.h"
#include "model/retrainer.h"
#include "outcomes.h"
#include "runtime/event_loop.h"
#include "runtime/leader_election.h"
#include "runtime/time_format.h"
#include "telemetry/prometheus_source.h"
#include "trainer.h"

namespace {

using namespace umbra;
using kube::Json;
using kube::ObjectPtr;

int fatal(const std::string& message) {
  log::error(message);
  return 1;
}

std::string identity() {
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host) - 1);
  std::mt19937_64 rng(std::random_device{}());
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08llx",
                static_cast<unsigned long long>(rng() & 0xffffffffu));
  return std::string(host) + "_" + suffix;
}

std::string phaseOf(const ObjectPtr& o) {
  return o ? (*o).value("status", Json::object()).value("phase", "") : "";
}

// Waits for the first shutdown signal.
class ShutdownLatch {
 public:
  void trigger(int code) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) {
      done_ = true;
      code_ = code;
    }
    cv_.notify_all();
  }
  int wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    return code_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  int code_ = 0;
};

// Times every forecast into umbra_forecast_duration_seconds.
class TimedForecaster final : public model::Forecaster {
 public:
  TimedForecaster(model::Forecaster& inner, exposition::OperatorMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}
  Result<model::Forecast> forecast(const telemetry::CandidateTelemetry& observed,
                                   const model::TargetProfile& target) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = inner_.forecast(observed, target);
    metrics_.forecastDuration(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return f;
  }
  std::string name() const override { return inner_.name(); }

 private:
  model::Forecaster& inner_;
  exposition::OperatorMetrics& metrics_;
};

Result<std::unique_ptr<telemetry::PrometheusSource>> prometheusSource(
    const config::PrometheusSettings& p, exposition::OperatorMetrics& metrics) {
  telemetry::PrometheusOptions o;
  o.connection.url = p.url;
  o.connection.timeout = p.timeout;
  o.connection.bearerTokenFile = p.bearerTokenFile;
  o.connection.username = p.username;
  o.connection.caFile = p.caFile;
  o.connection.insecureSkipVerify = p.insecureSkipVerify;
  if (!p.passwordFile.empty()) {
    UMBRA_TRY(std::string password, kube::readFile(p.passwordFile));
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
      password.pop_back();
    o.connection.password = password;
  }
  o.catalog = p.catalog;
  UMBRA_TRY(auto source, telemetry::PrometheusSource::create(std::move(o)));
  source->client().setObserver(
      [&metrics](const std::string& endpoint, const std::string& outcome, double s) {
        metrics.prometheusQuery(endpoint, outcome, s);
      });
  return source;
}

// The trained models from their files; a missing or mismatched file falls back to a baseline (the
// last value for demand, the prior for contention) with the reason, which status.model shows.
std::shared_ptr<const model::ForecastModels> loadModels(const config::OperatorConfig& cfg,
                                                        exposition::OperatorMetrics& metrics) {
  auto m = std::make_shared<model::ForecastModels>();
  auto lstm = model::LstmNet::load(cfg.modelPath, 6);
  if (lstm.ok()) {
    m->demandName = (*lstm)->displayName();
    const auto meta = Json::parse((*lstm)->metadata(), nullptr, false);
    if (meta.is_object() && meta.contains("validation"))
      metrics.modelValidationError("pinball_loss", meta["validation"].value("pinballLoss", 0.0));
    m->demand = std::shared_ptr<const model::SeriesMethod>(std::move(*lstm));
  } else {
    m->demand = model::lastValue();
    m->demandName = "baseline/last-value";
    m->fallbacks.push_back("demand: " + lstm.error().message);
  }
  auto contention = model::ContentionMap::load(cfg.contentionModelPath);
  if (contention.ok()) {
    m->contention = *contention;
  } else {
    m->fallbacks.push_back("contention: " + contention.error().message);
  }
  for (const auto& f : m->fallbacks)
    log::warn("the forecaster falls back to a baseline", {{"why", f}});
  return m;
}

// Node CPU utilisation at 300 s from Prometheus, enough for the LSTM's window and season.
model::NodeHistory nodeHistory(telemetry::PrometheusSource& prometheus, int periodSteps) {
  return [&prometheus, periodSteps](const std::string& node,
                                    SystemTime end) -> Result<std::vector<double>> {
    const auto step = std::chrono::seconds(300);
    const auto to = std::chrono::time_point_cast<std::chrono::seconds>(end);
    UMBRA_TRY(auto frames, prometheus.history(telemetry::Scope::Node, "", {node},
                                              to - step * (std::max(periodSteps, 288) + 48), to,
                                              step, {"node_cpu_utilization"}));
    auto series = model::seriesFromFrames(frames, "node_cpu_utilization");
    if (series.empty())
      return Error::make(ErrorKind::NotFound, "node " + node + ": no node_cpu_utilization history");
    return std::move(series.front().values);
  };
}

model::RetrainOptions retrainOptions(const config::OperatorConfig& cfg) {
  model::RetrainOptions o;
  o.interval = cfg.retrainingInterval;
  o.holdBackFraction = cfg.retraining.holdBack;
  o.lstm.maxEpochs = cfg.retraining.epochs;
  o.lstm.stepsPerEpoch = cfg.retraining.stepsPerEpoch;
  o.lstm.batch = cfg.retraining.batch;
  o.lstm.hidden = cfg.retraining.hidden;
  o.lstm.period = cfg.retraining.period;
  o.lstm.threads = 1;  // reconciles keep the other core
  o.modelPath = cfg.modelPath;
  o.contentionPath = cfg.contentionModelPath;
  o.outcomesPath = cfg.outcomesPath;
  return o;
}

// cpprestsdk's pool defaults to 40 threads; a few serve the operator's connections (at most 24
// requests in flight, plus its watches) with fewer context switches: bench-controller measured
// 17 % less operator CPU per placement with 4 than with 40, and no change in latency.
constexpr size_t HttpIoThreads = 4;

int run(const op::Flags& flags) {
  auto cfg = flags.config.empty() ? Result<config::OperatorConfig>(config::OperatorConfig{})
                                  : config::loadConfig(flags.config);
  if (!cfg.ok())
    return fatal(cfg.error().message);
  if (flags.printCatalog) {
    std::fputs(cfg->prometheus.catalog.toYaml().c_str(), stdout);
    return 0;
  }
  if (flags.maxConcurrentPlacements > 0)
    cfg->maxConcurrentPlacements = flags.maxConcurrentPlacements;

  auto cluster = kube::loadDefault(flags.kubeconfig, flags.context);
  if (!cluster.ok())
    return fatal(cluster.error().message);
  if (const Status pool = kube::setHttpIoThreads(HttpIoThreads); !pool.ok())
    return fatal(pool.error().message);
  auto rest = kube::RestClient::fromConfig(*cluster);
  if (!rest.ok())
    return fatal(rest.error().message);
  kube::RestClient& client = **rest;
  auto version = client.send({"GET", "/version", {}, "", "", false});
  if (!version.ok())
    return fatal("cannot reach the API server: " + version.error().message);

  std::string error;
  auto metrics = exposition::OperatorMetrics::create(flags.metricsBindAddress, error);
  if (!metrics)
    return fatal(error);
  client.setObserver([&m = *metrics](const std::string& verb, int code, double s) {
    m.apiRequest(verb, code, s);
  });

  runtime::EventLoop loop;
  ShutdownLatch latch;
  loop.handleShutdownSignals([&](int sig) {
    log::info("shutdown signal received, draining", {{"signal", std::to_string(sig)}});
    latch.trigger(0);
  });
  // While new placements' first passes are under way, one worker at a time takes follow-up work
  // (status, finalizer, Events): a burst's shadows do not queue behind those writes at the API
  // server.
  runtime::WorkQueueOptions queueOptions;
  queueOptions.normalSlotsWhileUrgent = 1;
  runtime::WorkQueue queue(loop, queueOptions);
  queue.setMetrics(&metrics->queue());

  auto prometheus = prometheusSource(cfg->prometheus, *metrics);
  if (!prometheus.ok())
    return fatal(prometheus.error().message);
  model::ModelForecaster learned(loadModels(*cfg, *metrics),
                                 nodeHistory(**prometheus, cfg->retraining.period));
  TimedForecaster forecaster(learned, *metrics);
  metrics->modelInfo(forecaster.name());
  op::OutcomeRecorder outcomes(**prometheus, learned, cfg->outcomesPath, cfg->outcomeWindow,
                               *metrics);
  op::ChildTrainer childTrainer(cfg->retraining.trainer,
                                std::filesystem::path(cfg->modelPath).parent_path().string().empty()
                                    ? "."
                                    : std::filesystem::path(cfg->modelPath).parent_path().string());
  auto retrainOpts = retrainOptions(*cfg);
  retrainOpts.train = childTrainer.trainer();
  model::Retrainer retrainer(
      std::move(retrainOpts),
      [&prom = **prometheus,
       history = cfg->retraining.history]() -> Result<std::vector<model::EvalSeries>> {
        const auto end =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        UMBRA_TRY(auto frames,
                  prom.history(telemetry::Scope::Node, "", {},
                               end - std::chrono::duration_cast<std::chrono::seconds>(history), end,
                               std::chrono::seconds(300), {"node_cpu_utilization"}));
        return model::seriesFromFrames(frames, "node_cpu_utilization");
      },
      learned,
      [&](const model::RetrainReport& r) {
        log::info("retraining round", {{"demand", r.demand},
                                       {"contention", r.contention},
                                       {"seconds", std::to_string(r.seconds)},
                                       {"detail", r.message}});
        metrics->retrained("demand", r.demand);
        metrics->retrained("contention", r.contention);
        if (r.demand == "promoted" || r.contention == "promoted")
          metrics->modelInfo(learned.name());
        if (r.demand == "promoted" || r.demand == "kept")
          metrics->modelValidationError("mase",
                                        r.demand == "promoted" ? r.challengerMase : r.championMase);
      });

  // Informers: placements in the watch scope; what occupies nodes cluster-wide.
  // New placements go first: a burst of them waits on nothing but their first pass.
  const auto enqueue = [&queue](const ObjectPtr& o) {
    queue.add(kube::keyOf(*o), controller::ShadowPlacementReconciler::awaitsShadows(*o)
                                   ? runtime::WorkQueue::Priority::High
                                   : runtime::WorkQueue::Priority::Normal);
  };
  kube::Informer placements(
      client, {umbra::api::shadowPlacements(), flags.ns},
      {enqueue,
       [&](const ObjectPtr& old, const ObjectPtr& now) {
         const std::string from = phaseOf(old), to = phaseOf(now);
         if (from != to) {
           log::info("placement phase changed", {{"placement", kube::keyOf(*now)},
                                                 {"from", from},
                                                 {"to", to},
                                                 {"reason", (*now)["status"].value("reason", "")}});
           const std::string target = (*now)["metadata"].value("namespace", "") + "/" +
                                      (*now)["spec"]["target"].value("name", "");
           if (to == "Placed") {
             outcomes.placed(target, (*now)["status"].value("selectedNode", ""),
                             std::chrono::system_clock::now());
           } else if (controller::isTerminal(to)) {
             learned.forget(target);  // nothing was placed: no outcome to measure
           }
           if (controller::isTerminal(to)) {
             const auto created =
                 runtime::parseTime((*now)["metadata"].value("creationTimestamp", ""));
             metrics->placementFinished(to, created
                                                ? std::chrono::duration<double>(
                                                      std::chrono::system_clock::now() - *created)
                                                      .count()
                                                : 0);
           }
         }
         if ((*now).value("status", Json::object()).value("extensions", 0) >
             (*old).value("status", Json::object()).value("extensions", 0)) {
           metrics->observationExtended();
         }
         enqueue(now);
       },
       enqueue},
      std::chrono::minutes(10));
  // A change to a shadow or a target wakes the placements it concerns.
  const auto wakeOwners = [&](const ObjectPtr& o) {
    const std::string shadowOf = controller::ShadowPlacementReconciler::placementKeyOfShadow(*o);
    if (!shadowOf.empty()) {
      queue.add(shadowOf);
      return;
    }
    const std::string ns = (*o)["metadata"].value("namespace", "");
    const std::string name = (*o)["metadata"].value("name", "");
    for (const auto& sp : placements.store().byNamespace(ns)) {
      if ((*sp)["spec"]["target"].value("name", "") == name)
        queue.add(kube::keyOf(*sp));
    }
  };
  kube::Informer vmis(
      client, {umbra::api::virtualMachineInstances(), ""},
      {wakeOwners, [&](const ObjectPtr&, const ObjectPtr& n) { wakeOwners(n); }, wakeOwners});
  kube::Informer vms(
      client, {umbra::api::virtualMachines(), flags.ns},
      {wakeOwners, [&](const ObjectPtr&, const ObjectPtr& n) { wakeOwners(n); }, wakeOwners});
  kube::Informer nodes(client, {kube::resources::nodes(), ""}, {});
  kube::Informer pods(client, {kube::resources::pods(), ""}, {});
  for (auto* i : {&placements, &vmis, &vms, &nodes, &pods})
    i->start();

  const std::string me = identity();
  runtime::EventRecorder events(client, "umbra-operator", me);
  controller::ShadowPlacementReconciler reconciler(
      {client,
       {placements.store(), vmis.store(), vms.store(), nodes.store(), pods.store()},
       **prometheus,
       forecaster,
       events,
       RealClock::instance(),
       *cfg});
  runtime::Controller controller(
      "shadowplacement", queue,
      [&](const std::string& key) {
        auto r = reconciler.reconcile(key);
        metrics->reconciled(r.ok() ? "success" : toString(r.error().kind));
        // Keep the shadow gauge current.
        metrics->shadowsActive(vmis.store().countByLabel(umbra::api::RoleLabel, "shadow"));
        return r;
      },
      flags.workers);

  const auto startWork = [&] {
    controller.start();
    if (cfg->retraining.enabled) {
      log::info("retraining every interval in a child process",
                {{"trainer", childTrainer.binary()}});
      retrainer.start();
    }
  };

  auto health = exposition::HealthServer::start(
      flags.healthProbeBindAddress,
      [&] {
        return placements.hasSynced() && vmis.hasSynced() && vms.hasSynced() && nodes.hasSynced() &&
               pods.hasSynced();
      },
      error);
  if (!health)
    return fatal(error);

  for (auto* i : {&placements, &vmis, &vms, &nodes, &pods}) {
    if (!i->waitForSync(std::chrono::minutes(2))) {
      return fatal("caches did not sync within 2 minutes (" + i->reflector().lastResourceVersion() +
                   ")");
    }
  }
  log::info("umbra-operator started", {{"identity", me},
                                       {"apiserver", cluster->server},
                                       {"server version", (*version).value("gitVersion", "")},
                                       {"namespace", flags.ns.empty() ? "<all>" : flags.ns},
                                       {"prometheus", cfg->prometheus.url}});
  std::thread elector;
  auto cancelElection = std::make_shared<Cancellation>();
  runtime::LeaderElector leader(client,
                                {flags.leaderElectionNamespace, flags.leaderElectionId, me});
  if (flags.leaderElect) {
    elector = std::thread([&] {
      leader.run(
          cancelElection, [&] { startWork(); },
          [&] { latch.trigger(cancelElection->cancelled() ? 0 : 1); });
    });
  } else {
    startWork();
  }
  const int code = latch.wait();
  controller.stop();      // in-flight reconciles finish; nothing new starts
  childTrainer.cancel();  // a training child in progress ends now, and its files are removed
  retrainer.stop();  // a round in progress finishes (its files are written whole or not at all)
  outcomes.stop();
  cancelElection->cancel();
  if (elector.joinable())
    elector.join();  // releases the lease
  for (auto* i : {&placements, &vmis, &vms, &nodes, &pods})
    i->stop();
  log::info("umbra-operator stopped", {{"exit code", std::to_string(code)}});
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = op::parseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "umbra-operator: %s\n", flags.error().message.c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(op::usage().c_str(), stdout);
    return 0;
  }
  log::Format format;
  log::Level level;
  if (!log::parseFormat(flags->logFormat, format)) {
    std::fprintf(stderr, "umbra-operator: --log-format: \"%s\" is not text or json\n",
                 flags->logFormat.c_str());
    return 2;
  }
  if (!log::parseLevel(flags->logLevel, level)) {
    std::fprintf(stderr, "umbra-operator: --log-level: \"%s\" is not debug, info, warn or error\n",
                 flags->logLevel.c_str());
    return 2;
  }
  log::configure(format, level);
  return run(*flags);
}
