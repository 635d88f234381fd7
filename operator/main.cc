// umbra-operator: flags and wiring only. The reconciler lives in src/controller, the controller
// machinery in src/runtime, the forecaster and what learns in src/app.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <mutex>

#include "app/learning.h"
#include "cli_flags/version.h"
#include "common/log.h"
#include "controller/pool_reconciler.h"
#include "controller/rebalance_reconciler.h"
#include "controller/scaler_reconciler.h"
#include "controller/shadow_placement_reconciler.h"
#include "controller/trial_reconciler.h"
#include "exposition/health_server.h"
#include "exposition/secure_metrics.h"
#include "flags.h"
#include "kube/config.h"
#include "kube/rest_client.h"
#include "runtime/controller_builder.h"
#include "runtime/event_loop.h"
#include "runtime/leader_election.h"
#include "runtime/shutdown_latch.h"

namespace {

using namespace umbra;

int fatal(const std::string& message) {
  log::error(message);
  return 1;
}

// cpprestsdk's pool defaults to 40 threads; 4 cost 17 % less CPU per placement (bench-controller).
constexpr size_t HttpIoThreads = 4;

Result<std::unique_ptr<kube::RestClient>> connect(const op::Flags& flags, std::string& server) {
  UMBRA_TRY(const auto cluster, kube::loadDefault(flags.kubeconfig, flags.context));
  UMBRA_CHECK(kube::setHttpIoThreads(HttpIoThreads));
  UMBRA_TRY(auto client, kube::RestClient::fromConfig(cluster));
  auto version = client->send({"GET", "/version", {}, "", "", false});
  if (!version.ok())
    return version.error().wrap("cannot reach the API server");
  server = cluster.server + " (" + version->value("gitVersion", "") + ")";
  return client;
}

// One instant query's value, summed over its series (Unavailable when it has none): what the
// pool and trial controllers read from Prometheus.
std::function<Result<double>(const std::string&)> instantQuery(
    telemetry::PrometheusSource& source) {
  return [&source](const std::string& promql) -> Result<double> {
    UMBRA_TRY(const auto r, source.client().query(promql));
    if (r.resultType == "scalar")
      return r.scalar;
    if (r.series.empty())
      return Error::make(ErrorKind::Unavailable, "no series for " + promql);
    double sum = 0;
    for (const auto& series : r.series)
      sum += series.points.empty() ? 0 : series.points.back().second;
    return sum;
  };
}

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
  std::string server, error;
  auto rest = connect(flags, server);
  if (!rest.ok())
    return fatal(rest.error().message);
  kube::RestClient& client = **rest;
  const bool metricsServed = flags.metricsBindAddress != "0" && !flags.metricsBindAddress.empty();
  auto metrics = exposition::OperatorMetrics::create(
      flags.metricsSecure ? std::string("0") : flags.metricsBindAddress, error);
  if (!metrics)
    return fatal(error);
  std::unique_ptr<exposition::TlsServer> secureMetrics;
  if (flags.metricsSecure && metricsServed) {
    auto served = exposition::serveSecureMetrics({flags.metricsBindAddress, flags.metricsCertDir},
                                                 client, [&m = *metrics] { return m.scrape(); });
    if (!served.ok())
      return fatal(served.error().message);
    secureMetrics = std::move(served).value();
  }
  metrics->buildInfo(cli_flags::Version);
  const auto countRequest = [&m = *metrics](const std::string& verb, int code, double s) {
    m.apiRequest(verb, code, s);
  };
  client.setObserver(countRequest);
  auto prometheus = app::prometheusSource(cfg->prometheus, *metrics);
  if (!prometheus.ok())
    return fatal(prometheus.error().message);
  app::Learning learning(*cfg, **prometheus, *metrics);

  runtime::EventLoop loop;
  runtime::ShutdownLatch latch;
  loop.handleShutdownSignals([&](int sig) {
    log::info("shutdown signal received, draining", {{"signal", std::to_string(sig)}});
    latch.trigger(0);
  });
  // While new placements' first passes are under way, one worker at a time takes follow-up work:
  // a burst's shadows do not queue behind status writes at the API server.
  runtime::WorkQueueOptions queueOptions;
  queueOptions.normalSlotsWhileUrgent = 1;
  auto placements =
      runtime::ControllerBuilder("shadowplacement", client)
          .forResource({api::shadowPlacements(), flags.ns}, controller::priorityOf)
          .owns({api::virtualMachineInstances(), ""})  // the shadows
          .owns({api::migrations(), flags.ns})         // the moves
          .watches({api::virtualMachineInstances(), ""}, controller::placementsOfTarget)
          .watches({api::virtualMachines(), flags.ns}, controller::placementsOfTarget)
          .reads({kube::resources::nodes(), ""})
          .reads({kube::resources::pods(), ""})
          .reads({api::clusterInstancetypes(), ""})
          .reads({api::instancetypes(), flags.ns})
          .workers(flags.workers)
          .queueOptions(queueOptions)
          .metrics(metrics.get(), &metrics->queue())
          .build(loop);
  const auto& vmis = placements->store(api::virtualMachineInstances());
  const std::string me = runtime::LeaderElector::defaultIdentity();
  runtime::EventRecorder events(client, "umbra-operator", me);
  controller::ShadowPlacementReconciler reconciler(
      {client,
       {placements->store(api::shadowPlacements()), vmis, placements->store(api::virtualMachines()),
        placements->store(kube::resources::nodes()), placements->store(kube::resources::pods()),
        placements->store(api::migrations()), placements->store(api::clusterInstancetypes()),
        placements->store(api::instancetypes())},
       **prometheus,
       learning.forecaster(),
       events,
       RealClock::instance(),
       *cfg,
       &learning});
  // PredictiveScalers, when their CRD is installed (an upgrade that kept the old CRDs runs
  // placements only, and says so); pools, when KubeVirt serves them.
  const auto served = [&](const kube::ResourceType& t) {
    auto r = client.send({"GET", t.groupVersionPath(), {}, "", "", false});
    if (!r.ok())
      return false;
    for (const auto& res : r->value("resources", kube::Json::array()))
      if (res.value("name", "") == t.resource)
        return true;
    return false;
  };
  std::unique_ptr<runtime::ManagedController> scalers;
  // The demand history every scaler and pool reads, shared (one query per feature per step).
  auto demandSource = controller::prometheusDemandHistory(**prometheus);
  controller::DemandCache demand(*demandSource, RealClock::instance());
  std::unique_ptr<controller::PredictiveScalerReconciler> scalerReconciler;
  const bool pools = served(api::virtualMachinePools());
  if (served(api::predictiveScalers())) {
    runtime::ControllerBuilder b("predictivescaler", client);
    b.forResource({api::predictiveScalers(), flags.ns})
        .watches({api::virtualMachines(), flags.ns}, controller::scalersOfTarget)
        .watches({api::virtualMachineInstances(), flags.ns}, controller::scalersOfTarget)
        .reads({api::migrations(), flags.ns})
        .workers(2)
        .metrics(metrics.get(), nullptr);
    if (pools)
      b.watches({api::virtualMachinePools(), flags.ns}, controller::scalersOfTarget);
    else
      log::info("pool.kubevirt.io/v1beta1 is not served: PredictiveScalers of pools will wait");
    scalers = b.build(loop);
    scalerReconciler =
        std::make_unique<controller::PredictiveScalerReconciler>(controller::ScalerDeps{
            client,
            {scalers->store(api::predictiveScalers()), scalers->store(api::virtualMachines()),
             scalers->store(api::virtualMachineInstances()), scalers->store(api::migrations()),
             pools ? &scalers->store(api::virtualMachinePools()) : nullptr},
            demand,
            events,
            RealClock::instance(),
            [&learning] { return learning.models(); }});
  } else {
    log::warn(
        "the PredictiveScaler CRD is not installed: the scaling controller is off "
        "(kubectl apply --server-side -f crds/predictivescalers.umbra.io.yaml)");
  }
  // ShadowPools (and their LoadNotices), when both CRDs are installed.
  std::unique_ptr<runtime::ManagedController> shadowPools;
  std::unique_ptr<controller::ShadowPoolReconciler> poolReconciler;
  if (served(api::shadowPools()) && served(api::loadNotices())) {
    runtime::ControllerBuilder b("shadowpool", client);
    b.forResource({api::shadowPools(), flags.ns})
        .watches({api::loadNotices(), flags.ns}, controller::poolsOfObject)
        .watches({api::virtualMachines(), flags.ns}, controller::poolsOfObject)
        .watches({api::virtualMachineInstances(), flags.ns}, controller::poolsOfObject)
        .watches({kube::resources::nodes(), ""}, controller::poolsOfObject)
        .workers(2)
        .metrics(metrics.get(), nullptr);
    if (pools)
      b.reads({api::virtualMachinePools(), flags.ns});
    shadowPools = b.build(loop);
    telemetry::PrometheusSource& source = **prometheus;
    poolReconciler = std::make_unique<controller::ShadowPoolReconciler>(controller::PoolDeps{
        client,
        {shadowPools->store(api::shadowPools()), shadowPools->store(api::loadNotices()),
         shadowPools->store(api::virtualMachines()),
         shadowPools->store(api::virtualMachineInstances()),
         shadowPools->store(kube::resources::nodes()),
         pools ? &shadowPools->store(api::virtualMachinePools()) : nullptr},
        demand,
        instantQuery(source),
        cfg->prometheus.catalog.rateWindow,
        events,
        RealClock::instance()});
  } else {
    log::warn(
        "the ShadowPool or LoadNotice CRD is not installed: the shadow pool controller is off "
        "(kubectl apply --server-side -f crds/)");
  }
  // RebalancePolicies, when their CRD is installed.
  std::unique_ptr<runtime::ManagedController> rebalancing;
  std::unique_ptr<controller::RebalancePolicyReconciler> rebalanceReconciler;
  if (served(api::rebalancePolicies())) {
    rebalancing = runtime::ControllerBuilder("rebalancepolicy", client)
                      .forResource({api::rebalancePolicies(), flags.ns})
                      .watches({api::virtualMachines(), flags.ns}, controller::policiesOfObject)
                      .watches({api::virtualMachineInstances(), ""}, controller::policiesOfObject)
                      .watches({api::migrations(), flags.ns}, controller::policiesOfObject)
                      .watches({kube::resources::podDisruptionBudgets(), flags.ns},
                               controller::policiesOfObject)
                      .reads({kube::resources::nodes(), ""})
                      .workers(2)
                      .metrics(metrics.get(), nullptr)
                      .build(loop);
    const auto& r = *rebalancing;
    telemetry::PrometheusSource& source = **prometheus;
    const std::string nodeLabel = cfg->prometheus.catalog.nodeLabel == "auto"
                                      ? std::string("node")
                                      : cfg->prometheus.catalog.nodeLabel;
    rebalanceReconciler =
        std::make_unique<controller::RebalancePolicyReconciler>(controller::RebalanceDeps{
            client,
            {r.store(api::rebalancePolicies()), r.store(api::virtualMachines()),
             r.store(api::virtualMachineInstances()), r.store(api::migrations()),
             r.store(kube::resources::nodes()), r.store(kube::resources::podDisruptionBudgets())},
            [&source](const std::string& promql, const std::string& label, SystemTime start,
                      SystemTime end,
                      std::chrono::seconds step) -> Result<controller::RangeSeries> {
              UMBRA_TRY(const auto q, source.client().queryRange(promql, start, end, step));
              controller::RangeSeries out;
              for (const auto& series : q.series) {
                auto key = series.labels.find(label);
                if (key == series.labels.end())
                  key = series.labels.find("instance");
                if (key != series.labels.end())
                  out.push_back({key->second, series.points});
              }
              return out;
            },
            cfg->prometheus.catalog.rateWindow,
            nodeLabel,
            events,
            RealClock::instance()});
  } else {
    log::warn(
        "the RebalancePolicy CRD is not installed: the rebalancing controller is off "
        "(kubectl apply --server-side -f crds/rebalancepolicies.umbra.io.yaml)");
  }
  // InstancetypeTrials, when their CRD is installed.
  std::unique_ptr<runtime::ManagedController> trials;
  std::unique_ptr<controller::InstancetypeTrialReconciler> trialReconciler;
  if (served(api::instancetypeTrials())) {
    trials = runtime::ControllerBuilder("instancetypetrial", client)
                 .forResource({api::instancetypeTrials(), flags.ns})
                 .owns({api::virtualMachineInstances(), flags.ns})  // the shadows
                 .watches({api::virtualMachines(), flags.ns}, controller::trialsOfObject)
                 .watches({api::virtualMachineInstances(), flags.ns}, controller::trialsOfObject)
                 .watches({api::clusterInstancetypes(), ""}, controller::trialsOfObject)
                 .watches({api::instancetypes(), flags.ns}, controller::trialsOfObject)
                 .workers(2)
                 .metrics(metrics.get(), nullptr)
                 .build(loop);
    const auto& t = *trials;
    trialReconciler = std::make_unique<controller::InstancetypeTrialReconciler>(
        controller::TrialDeps{client,
                              {t.store(api::instancetypeTrials()), t.store(api::virtualMachines()),
                               t.store(api::virtualMachineInstances()),
                               t.store(api::clusterInstancetypes()), t.store(api::instancetypes())},
                              instantQuery(**prometheus),
                              cfg->placement.instancetypePrices,
                              controller::TrialSettings{cfg->placement},
                              events,
                              RealClock::instance()});
  } else {
    log::warn(
        "the InstancetypeTrial CRD is not installed: the instancetype trial controller is off "
        "(kubectl apply --server-side -f crds/instancetypetrials.umbra.io.yaml)");
  }
  // The optional controllers, each with its reconciler.
  std::vector<std::pair<runtime::ManagedController*, runtime::ReconcileFn>> optional;
  if (scalers)
    optional.push_back(
        {scalers.get(), [&](const std::string& key) { return scalerReconciler->reconcile(key); }});
  if (shadowPools)
    optional.push_back({shadowPools.get(),
                        [&](const std::string& key) { return poolReconciler->reconcile(key); }});
  if (rebalancing)
    optional.push_back({rebalancing.get(), [&](const std::string& key) {
                          return rebalanceReconciler->reconcile(key);
                        }});
  if (trials)
    optional.push_back(
        {trials.get(), [&](const std::string& key) { return trialReconciler->reconcile(key); }});
  // The work starts on the leader elector's thread and stops on this one: both under one mutex,
  // so that a shutdown never races a start (stop() sees every thread start() made, and nothing
  // starts after shutdown began). Found by the TSan run.
  std::mutex workMutex;
  bool shuttingDown = false;
  const auto startWork = [&] {
    const std::lock_guard<std::mutex> lock(workMutex);
    if (shuttingDown)
      return;
    metrics->leading(true);
    placements->run([&](const std::string& key) {
      auto r = reconciler.reconcile(key);
      metrics->shadowsActive(vmis.countByLabel(api::RoleLabel, "shadow"));
      return r;
    });
    for (auto& [c, reconcile] : optional)
      c->run(reconcile);
    learning.start();
  };

  placements->startInformers();
  for (auto& [c, reconcile] : optional)
    c->startInformers();
  auto health = exposition::HealthServer::start(
      flags.healthProbeBindAddress,
      [&] {
        return placements->hasSynced() &&
               std::all_of(optional.begin(), optional.end(),
                           [](const auto& o) { return o.first->hasSynced(); });
      },
      error);
  if (!health)
    return fatal(error);
  if (std::string late; !placements->waitForSync(std::chrono::minutes(2), late))
    return fatal("caches did not sync within 2 minutes (" + late + ")");
  for (auto& [c, reconcile] : optional)
    if (std::string late; !c->waitForSync(std::chrono::minutes(2), late))
      return fatal("the " + c->name() + " controller's caches did not sync within 2 minutes (" +
                   late + ")");
  log::info("umbra-operator started", {{"identity", me},
                                       {"apiserver", server},
                                       {"namespace", flags.ns.empty() ? "<all>" : flags.ns},
                                       {"prometheus", cfg->prometheus.url}});
  const runtime::LeaderElectionConfig election{flags.leaderElectionNamespace,
                                               flags.leaderElectionId, me};
  // Its own connection, each request bounded by half the renew deadline.
  auto electionClient =
      kube::RestClient::fromConfig(runtime::LeaderElector::clientConfig(client.config(), election));
  if (!electionClient.ok())
    return fatal(electionClient.error().message);
  (*electionClient)->setObserver(countRequest);
  runtime::LeaderElector leader(**electionClient, election);
  if (flags.leaderElect)
    leader.start(startWork, [&] { latch.trigger(1); });
  else
    startWork();
  const int code = latch.wait();
  {
    const std::lock_guard<std::mutex> lock(workMutex);
    shuttingDown = true;
    placements->stop();  // in-flight reconciles finish, nothing new starts; then the informers
    for (auto& [c, reconcile] : optional)
      c->stop();
    learning.stop();
  }
  leader.stop();  // releases the lease (outside the lock: a start waiting on it returns first)
  log::info("umbra-operator stopped", {{"exit code", std::to_string(code)}});
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  int exitCode = -1;
  const op::Flags flags = op::parseFlags(argc, argv, exitCode);
  if (exitCode >= 0)
    return exitCode;
  log::Format format = log::Format::Text;
  log::Level level = log::Level::Info;
  log::parseFormat(flags.logFormat, format);  // both checked by the flag parser
  log::parseLevel(flags.logLevel, level);
  log::configure(format, level);
  return run(flags);
}
