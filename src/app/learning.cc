#include "app/learning.h"

#include <atomic>
#include <filesystem>

#include "common/files.h"
#include "common/log.h"
#include "model/co_runners.h"
#include "model/lstm_net.h"

namespace umbra::app {

using kube::Json;

// Times every forecast into umbra_forecast_duration_seconds.
class Learning::TimedForecaster final : public model::Forecaster {
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
  void prefetch(const std::vector<std::string>& nodes, SystemTime end) override {
    inner_.prefetch(nodes, end);
  }

 private:
  model::Forecaster& inner_;
  exposition::OperatorMetrics& metrics_;
};

namespace {

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

// The nodes' histories as the VMIs on them now would have made them (model/co_runners.h), from
// every VMI's CPU use over the same window; left as they are, with one warning per process, when
// the VMI series cannot be read (a cluster without virt-handler's metrics).
void toCoRunners(telemetry::PrometheusSource& prometheus,
                 std::map<std::string, std::vector<double>>& histories, SystemTime from,
                 SystemTime to, std::chrono::seconds step) {
  static std::atomic<bool> warned{false};
  auto vmis = prometheus.vmiCpuHistory(from, to, step);
  if (!vmis.ok()) {
    if (!warned.exchange(true))
      log::warn("node histories stay as the nodes report them", {{"why", vmis.error().message}});
    return;
  }
  model::toCoRunnerHistories(histories, *vmis);
}

// Node CPU utilisation at 300 s from Prometheus, enough for the LSTM's window and season; with
// `coRunners` (model.nodeHistory), as the VMIs on the node now would have made it.
model::NodeHistory nodeHistory(telemetry::PrometheusSource& prometheus, int periodSteps,
                               bool coRunners) {
  return [&prometheus, periodSteps, coRunners](const std::string& node,
                                               SystemTime end) -> Result<std::vector<double>> {
    const auto step = std::chrono::seconds(300);
    const auto to = std::chrono::time_point_cast<std::chrono::seconds>(end);
    const auto from = to - step * (std::max(periodSteps, 288) + 48);
    UMBRA_TRY(auto frames, prometheus.history(telemetry::Scope::Node, "", {node}, from, to, step,
                                              {"node_cpu_utilization"}));
    auto series = model::seriesFromFrames(frames, "node_cpu_utilization");
    if (series.empty())
      return Error::make(ErrorKind::NotFound, "node " + node + ": no node_cpu_utilization history");
    std::map<std::string, std::vector<double>> histories = {
        {node, std::move(series.front().values)}};
    if (coRunners)
      toCoRunners(prometheus, histories, from, to, step);
    return std::move(histories[node]);
  };
}

// The same for many nodes in one query (ranking every feasible node before probing).
model::NodeHistories nodeHistories(telemetry::PrometheusSource& prometheus, int periodSteps,
                                   bool coRunners) {
  return [&prometheus, periodSteps, coRunners](
             const std::vector<std::string>& nodes,
             SystemTime end) -> Result<std::map<std::string, std::vector<double>>> {
    const auto step = std::chrono::seconds(300);
    const auto to = std::chrono::time_point_cast<std::chrono::seconds>(end);
    const auto from = to - step * (std::max(periodSteps, 288) + 48);
    UMBRA_TRY(auto frames, prometheus.history(telemetry::Scope::Node, "", nodes, from, to, step,
                                              {"node_cpu_utilization"}));
    std::map<std::string, std::vector<double>> out;
    for (auto& s : model::seriesFromFrames(frames, "node_cpu_utilization"))
      out[s.id] = std::move(s.values);
    if (coRunners)
      toCoRunners(prometheus, out, from, to, step);
    return out;
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

// The node histories a retraining round fits on (`model.retraining.history`).
model::HistoryReader historyReader(telemetry::PrometheusSource& prometheus,
                                   std::chrono::milliseconds history) {
  return [&prometheus, history]() -> Result<std::vector<model::EvalSeries>> {
    const auto end =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    UMBRA_TRY(auto frames,
              prometheus.history(telemetry::Scope::Node, "", {},
                                 end - std::chrono::duration_cast<std::chrono::seconds>(history),
                                 end, std::chrono::seconds(300), {"node_cpu_utilization"}));
    return model::seriesFromFrames(frames, "node_cpu_utilization");
  };
}

std::string workDirOf(const std::string& modelPath) {
  const std::string dir = std::filesystem::path(modelPath).parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace

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
    UMBRA_TRY(std::string password, readFile(p.passwordFile));
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

Learning::Learning(const config::OperatorConfig& config, telemetry::PrometheusSource& prometheus,
                   exposition::OperatorMetrics& metrics)
    : config_(config),
      metrics_(metrics),
      learned_(loadModels(config, metrics),
               nodeHistory(prometheus, config.retraining.period, config.coRunnerHistory)),
      timed_(std::make_unique<TimedForecaster>(learned_, metrics)),
      outcomes_(prometheus, learned_, config.outcomesPath, config.outcomeWindow, config.outcomeP95,
                [&metrics](const std::string& result) { metrics.outcomeRecorded(result); }),
      trainerProcess_(
          config.retraining.spool.empty()
              ? std::unique_ptr<model::TrainerProcess>(std::make_unique<model::ChildTrainer>(
                    config.retraining.trainer, workDirOf(config.modelPath)))
              : std::make_unique<model::SpoolTrainer>(config.retraining.spool)) {
  learned_.setNodeHistories(
      nodeHistories(prometheus, config.retraining.period, config.coRunnerHistory));
  metrics_.modelInfo(learned_.name());
  auto options = retrainOptions(config);
  options.train = trainerProcess_->trainer();
  retrainer_ = std::make_unique<model::Retrainer>(
      std::move(options), historyReader(prometheus, config.retraining.history), learned_,
      [this](const model::RetrainReport& r) {
        log::info("retraining round", {{"demand", r.demand},
                                       {"contention", r.contention},
                                       {"seconds", std::to_string(r.seconds)},
                                       {"detail", r.message}});
        metrics_.retrained("demand", r.demand);
        metrics_.retrained("contention", r.contention);
        if (r.demand == "promoted" || r.contention == "promoted")
          metrics_.modelInfo(learned_.name());
        if (r.demand == "promoted" || r.demand == "kept")
          metrics_.modelValidationError("mase",
                                        r.demand == "promoted" ? r.challengerMase : r.championMase);
      });
}

Learning::~Learning() {
  stop();
}

std::shared_ptr<const model::ForecastModels> Learning::models() const {
  return learned_.models();
}

model::Forecaster& Learning::forecaster() {
  return *timed_;
}

void Learning::start() {
  if (!config_.retraining.enabled)
    return;
  log::info(
      "retraining in another process",
      {{"every",
        std::to_string(
            std::chrono::duration_cast<std::chrono::minutes>(config_.retrainingInterval).count()) +
            "m"},
       {"trainer", trainerProcess_->describe()}});
  retrainer_->start();
}

void Learning::stop() {
  trainerProcess_->cancel();  // a training in progress ends now, and its files are removed
  retrainer_->stop();  // a round in progress finishes (its files are written whole or not at all)
  outcomes_.stop();
}

void Learning::phaseChanged(const controller::PlacementInput& in, api::Phase from,
                            const api::ShadowPlacementStatus& status, SystemTime at) {
  log::info("placement phase changed", {{"placement", in.key()},
                                        {"from", api::toString(from)},
                                        {"to", api::toString(status.phase)},
                                        {"reason", status.reason}});
  if (!api::isTerminal(status.phase) || !in.settings)
    return;
  const std::string target = in.ns + "/" + in.settings->targetName;
  if (status.phase == api::Phase::Placed)
    outcomes_.placed(target, status.selectedNode, at);
  else
    learned_.forget(target);  // nothing was placed: no outcome to measure
  metrics_.placementFinished(
      api::toString(status.phase),
      in.created ? std::chrono::duration<double>(at - *in.created).count() : 0);
}

void Learning::observationExtended(const controller::PlacementInput&) {
  metrics_.observationExtended();
}

}  // namespace umbra::app
