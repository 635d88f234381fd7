// umbra train, umbra train-contention.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "kube_core/quantity.h"
#include "model/contention_map.h"
#include "model/lstm_net.h"
#include "model/series_file.h"
#include "offline/sim_outcomes.h"
#include "sim/files.h"
#include "telemetry/prometheus_source.h"

namespace umbra::cli {

using nlohmann::json;

int train(const TrainFlags& f) {
  std::vector<model::TrainSeries> series;
  std::string range;
  if (!f.series.empty()) {
    auto read = model::readTrainSeries(f.series);
    if (!read.ok())
      return fail(read.error().message);
    series = std::move(*read);
    range = "series " + f.series + ": " + std::to_string(series.size()) + " series";
  } else if (!f.traces.empty()) {
    auto set = sim::loadTraces(f.traces);
    if (!set.ok())
      return fail(set.error().message);
    if (f.traceHalf != "all")
      keepHalf(*set, f.traceHalf);
    for (auto& s : seriesOf(*set, "cpu", 0))
      series.push_back({std::move(s.values), std::move(s.observed)});
    range = "traces " + f.traces + (f.traceHalf != "all" ? " (half " + f.traceHalf + ")" : "") +
            ": " + std::to_string(series.size()) + " series (cpu)";
  } else {
    const std::string& text = f.window;
    // Prometheus-style days ("7d") besides Go durations ("168h").
    std::optional<std::chrono::milliseconds> window;
    if (!text.empty() && text.back() == 'd' &&
        text.find_first_not_of("0123456789") == text.size() - 1)
      window = std::chrono::hours(24) * std::stoi(text.substr(0, text.size() - 1));
    else
      window = kube::parseDuration(text);
    if (!window || *window < std::chrono::hours(6))
      return fail("--window: \"" + text + "\" is not a duration of at least 6h (e.g. 7d, 36h)");
    telemetry::PrometheusOptions o;
    o.connection.url = f.prometheus;
    o.connection.timeout = std::chrono::seconds(60);
    auto source = telemetry::PrometheusSource::create(o);
    if (!source.ok())
      return fail(source.error().message);
    const auto end =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    const auto start = end - std::chrono::duration_cast<std::chrono::seconds>(*window);
    auto nodes =
        (*source)->history(telemetry::Scope::Node, "", {}, start, end, std::chrono::seconds(300));
    if (!nodes.ok())
      return fail(nodes.error().message);
    for (auto& e : model::seriesFromFrames(*nodes, "node_cpu_utilization"))
      series.push_back({std::move(e.values), std::move(e.observed)});
    range = "prometheus " + o.connection.url + ": " + std::to_string(series.size()) +
            " nodes, node_cpu_utilization over " + text;
  }
  if (series.empty())
    return fail("no series to train on");
  model::LstmOptions lo;
  lo.maxEpochs = f.epochs;
  lo.seed = static_cast<uint64_t>(f.seed);
  lo.batch = f.batch;
  lo.stepsPerEpoch = f.stepsPerEpoch;
  lo.hidden = f.hidden;
  lo.window = f.windowSteps;
  lo.period = f.periodSteps;
  lo.threads = f.threads;
  if (!f.trainingRange.empty())
    range = f.trainingRange;
  model::LstmMethod lstm(lo);
  lstm.onEpoch(printEpoch);
  lstm.setTrainingRange(range);
  std::fprintf(stderr, "[train] %s\n", range.c_str());
  if (auto st = lstm.fit(series, f.horizonSteps); !st.ok()) {
    fail(st.error().message);
    // 3: the data cannot train a model (too short), as opposed to 1: something broke.
    return st.error().kind == ErrorKind::Invalid ? 3 : 1;
  }
  if (auto st = lstm.save(f.out); !st.ok())
    return fail(st.error().message);
  std::fprintf(stderr, "[train] wrote %s\n", f.out.c_str());
  std::printf("%s\n", lstm.metadata().c_str());
  return 0;
}

// Simulated outcomes at each background load (plus recorded ones), the learned mapping judged
// against the prior on the newest 20 % of each, then refitted on all and written.
int trainContention(const TrainContentionFlags& f) {
  auto inputs = simInputs(f.traces, f.cluster, f.traceHalf);
  if (!inputs.ok())
    return fail(inputs.error().message);
  const sim::TraceSet* traces = &inputs->traces;
  const sim::ClusterSpec* cluster = &inputs->cluster;
  std::shared_ptr<const model::SeriesMethod> demand = model::lastValue();
  std::string demandName = "baseline/last-value";
  if (!f.demandModel.empty()) {
    auto lstm = model::LstmNet::load(f.demandModel, 6);
    if (!lstm.ok())
      return fail(lstm.error().message);
    demand = std::shared_ptr<const model::SeriesMethod>(std::move(*lstm));
    demandName = "lstm " + f.demandModel;
  }
  // One block of outcomes per background load and interference multiple, then the recorded ones;
  // each block's newest 20 % (they are time-ordered) judges the mapping fitted on the rest.
  std::vector<std::vector<model::Outcome>> blocks;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& level :
       contentionLevels(*cluster, f.utilisation, f.interferenceScale, static_cast<size_t>(f.count),
                        f.worlds, static_cast<uint64_t>(f.seed))) {
    model::SimOutcomeOptions so;
    so.outcomes = level.outcomes;
    so.utilisation = level.load / 100.0;
    so.seed = level.seed;
    so.window = f.windowSteps;
    so.observeSeconds = f.observeSeconds;
    so.shadowCpuFraction = f.shadowCpuFraction;
    so.p95 = f.statistic == "p95";
    so.coRunnerHistory = f.nodeHistory == "co-runners";
    so.churnEverySeconds = f.churnEverySeconds;
    so.churnLifetimeSeconds = f.churnLifetimeSeconds;
    const std::string churn = f.churnEverySeconds > 0
                                  ? "; a passer-by every " + std::to_string(f.churnEverySeconds) +
                                        " s for " + std::to_string(f.churnLifetimeSeconds) + " s"
                                  : "";
    std::fprintf(
        stderr,
        "[contention] simulating %zu placements on %s at %d %% utilisation, interference "
        "%g (x%g), seed %llu (demand: %s on the %s history; outcome: the %s over %d steps of "
        "300 s%s)\n",
        so.outcomes, f.cluster.c_str(), level.load, level.cluster.physics.interference, level.scale,
        static_cast<unsigned long long>(so.seed), demandName.c_str(), f.nodeHistory.c_str(),
        f.statistic.c_str(), f.windowSteps, churn.c_str());
    auto simulated = model::simulateOutcomes(level.cluster, *traces, *demand, so);
    if (!simulated.ok())
      return fail(simulated.error().message);
    blocks.push_back(std::move(*simulated));
  }
  const double simSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!f.outcomes.empty()) {
    auto recorded = model::readOutcomes(f.outcomes);
    if (!recorded.ok())
      return fail(recorded.error().message);
    blocks.push_back(std::move(*recorded));
  }
  const JudgedOutcomes split = splitForJudging(blocks);
  const auto &fitPart = split.fit, &judgePart = split.judge, &all = split.all;
  if (!f.saveOutcomes.empty()) {
    const std::string path = f.saveOutcomes;
    std::remove(path.c_str());
    for (const auto& o : all)
      if (auto st = model::appendOutcome(path, o); !st.ok())
        return fail(st.error().message);
  }
  auto learned = model::ContentionMap::fit(fitPart);
  if (!learned.ok())
    return fail(learned.error().message);
  const model::ContentionMap prior = model::ContentionMap::prior();
  const auto stealStats = [&](const model::ContentionMap& m) {
    double mae = 0, covered = 0;
    for (const auto& o : judgePart) {
      const auto q = m.predict(o.inputs);
      mae += std::abs(q.p50.cpuContention - o.actual.cpuContention);
      covered += o.actual.cpuContention <= q.p90.cpuContention + 1e-12 ? 1 : 0;
    }
    const double n = static_cast<double>(std::max<size_t>(1, judgePart.size()));
    return std::make_pair(mae / n, covered / n);
  };
  const auto [lMae, lCov] = stealStats(*learned);
  const auto [pMae, pCov] = stealStats(prior);
  json report = {
      {"outcomes", all.size()},
      {"simulatedSeconds", simSeconds},
      {"judged", judgePart.size()},
      {"learned",
       {{"loss", learned->loss(judgePart)}, {"stealMae", lMae}, {"stealP90Coverage", lCov}}},
      {"prior", {{"loss", prior.loss(judgePart)}, {"stealMae", pMae}, {"stealP90Coverage", pCov}}}};
  std::fprintf(stderr,
               "[contention] %zu outcomes in %.1f s; on the newest fifth of each load (%zu): loss "
               "%.4f (prior %.4f), steal MAE %.4f (prior %.4f), steal p90 coverage %.3f (prior "
               "%.3f)\n",
               all.size(), simSeconds, judgePart.size(), learned->loss(judgePart),
               prior.loss(judgePart), lMae, pMae, lCov, pCov);
  auto fitted = model::ContentionMap::fit(all);
  if (!fitted.ok())
    return fail(fitted.error().message);
  const auto& v = fitted->shadowTermsVerdict();
  report["shadowTerms"] = {{"kept", v.kept},
                           {"judgedBy", v.judgedBy},
                           {"with", v.with},
                           {"without", v.without},
                           {"judged", v.judged}};
  std::fprintf(stderr,
               "[contention] the shadow's terms %s: on the newest fifth of the decisions (%zu), %s "
               "%.4f with them, %.4f without\n",
               v.kept ? "kept" : "left out", v.judged, v.judgedBy.c_str(), v.with, v.without);
  if (auto st = fitted->save(f.out); !st.ok())
    return fail(st.error().message);
  std::fprintf(stderr, "[contention] wrote %s\n", f.out.c_str());
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace umbra::cli
