// umbra: the offline tools.
//   umbra train --traces DIR | --prometheus URL [--window 7d] | --series FILE --out model.pt
//   umbra train-contention --traces DIR --cluster FILE [--demand-model model.pt] --out FILE.json
//   umbra bench forecast --traces DIR [--horizon-steps 6] [--json out.json] ...
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "api/quantity.h"
#include "model/contention_map.h"
#include "model/evaluation.h"
#include "model/lstm.h"
#include "model/placement_bench.h"
#include "model/series_file.h"
#include "model/sim_outcomes.h"
#include "sim/files.h"
#include "telemetry/prometheus_source.h"

namespace {

using namespace umbra;
using nlohmann::json;

int usage() {
  std::fputs(
      "usage:\n"
      "  umbra train (--traces DIR | --prometheus URL [--window 7d] | --series FILE.json)\n"
      "              --out model.pt [--horizon-steps 6] [--epochs 12] [--seed 1] [--batch 1024]\n"
      "              [--steps-per-epoch 40] [--hidden 32] [--window-steps 24]\n"
      "              [--period-steps 288] [--threads 2] [--training-range TEXT]\n"
      "  umbra train-contention --traces DIR --cluster FILE --out contention.json\n"
      "              [--demand-model model.pt] [--outcomes recorded.jsonl] [--count 600]\n"
      "              [--utilisation 50] [--seed 1] [--save-outcomes FILE.jsonl]\n"
      "  umbra bench forecast --traces DIR [--horizon-steps 6] [--json out.json]\n"
      "              [--origin-stride 6] [--target cpu|memory|both] [--series-limit N]\n"
      "              [--export-series FILE.csv] [--forecasts FILE.csv] [--epochs 12]\n"
      "  umbra bench placement --traces DIR --cluster FILE [--utilisation 15,25]\n"
      "              [--interference both|on|off] [--arrivals 48] [--seed 1] [--json out.json]\n"
      "              [--demand-model model.pt] [--contention-model contention.json]\n"
      "              [--oracle-lookahead-hours 24]\n",
      stderr);
  return 2;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "umbra: %s\n", message.c_str());
  return 1;
}

// --name value pairs after the subcommand; unknown names are errors.
Result<std::map<std::string, std::string>> options(int argc, char** argv, int from,
                                                   const std::vector<std::string>& known) {
  std::map<std::string, std::string> out;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0)
      return Error::config("unexpected argument \"" + a + "\"");
    a = a.substr(2);
    std::string value;
    if (const auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Error::config("flag --" + a + " needs a value");
    }
    if (std::find(known.begin(), known.end(), a) == known.end())
      return Error::config("unknown flag --" + a);
    out[a] = value;
  }
  return out;
}

Result<int> intFlag(const std::map<std::string, std::string>& f, const std::string& name, int def,
                    int lo, int hi) {
  const auto it = f.find(name);
  if (it == f.end())
    return def;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < lo || v > hi)
    return Error::config("--" + name + ": \"" + it->second + "\" is not a number in " +
                         std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int>(v);
}

// Series of one utilisation column (cpu or memory), skipping series without data in it.
std::vector<model::EvalSeries> seriesOf(const sim::TraceSet& set, const std::string& target,
                                        int limit) {
  std::vector<model::EvalSeries> out;
  for (const auto& [id, t] : set.series) {
    const auto& column = target == "memory" ? t.memory : t.cpu;
    model::EvalSeries s{id, {}, t.observed};
    s.values.assign(column.begin(), column.end());
    double lo = 1e9, hi = -1e9;
    for (const double v : s.values) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (s.values.size() < size_t{3} * 288 || hi <= 0)
      continue;  // too short for a daily season, or an absent column (all zero)
    for (double& v : s.values)
      v = std::clamp(v, 0.0, 1.0);
    out.push_back(std::move(s));
    if (limit > 0 && static_cast<int>(out.size()) >= limit)
      break;
  }
  return out;
}

// --traces and --cluster, loaded and checked against each other.
struct SimInputs {
  sim::TraceSet traces;
  sim::ClusterSpec cluster;
};
Result<SimInputs> simInputs(const std::map<std::string, std::string>& f) {
  UMBRA_TRY(auto traces, sim::loadTraces(f.at("traces")));
  UMBRA_TRY(auto cluster, sim::loadCluster(f.at("cluster")));
  UMBRA_CHECK(sim::checkTraces(cluster, traces, f.at("cluster")));
  return SimInputs{std::move(traces), std::move(cluster)};
}

void printEpoch(const model::EpochReport& e) {
  std::fprintf(stderr,
               "[train] epoch %2d  loss %.4f  validation loss %.4f  validation MAE vs no-change "
               "%.3f  %.0f s (ETA %.0f s)\n",
               e.epoch, e.trainLoss, e.validationLoss, e.validationMase, e.seconds, e.etaSeconds);
}

int train(int argc, char** argv) {
  auto f = options(argc, argv, 2,
                   {"traces", "prometheus", "series", "window", "out", "horizon-steps", "epochs",
                    "seed", "batch", "steps-per-epoch", "hidden", "window-steps", "period-steps",
                    "threads", "training-range"});
  if (!f.ok())
    return fail(f.error().message);
  if (f->count("out") == 0 || f->count("traces") + f->count("prometheus") + f->count("series") != 1)
    return usage();
  auto horizon = intFlag(*f, "horizon-steps", 6, 1, 48);
  auto epochs = intFlag(*f, "epochs", model::LstmOptions{}.maxEpochs, 1, 1000);
  auto seed = intFlag(*f, "seed", 1, 0, 1 << 30);
  auto batch = intFlag(*f, "batch", model::LstmOptions{}.batch, 1, 1 << 16);
  auto steps = intFlag(*f, "steps-per-epoch", model::LstmOptions{}.stepsPerEpoch, 1, 1 << 20);
  auto hidden = intFlag(*f, "hidden", model::LstmOptions{}.hidden, 1, 1024);
  auto windowSteps =
      intFlag(*f, "window-steps", model::LstmOptions{}.window, model::LstmShape::SkipSteps, 4096);
  auto period = intFlag(*f, "period-steps", model::LstmOptions{}.period, 1, 100000);
  auto threads = intFlag(*f, "threads", model::LstmOptions{}.threads, 1, 256);
  for (const auto* r :
       {&horizon, &epochs, &seed, &batch, &steps, &hidden, &windowSteps, &period, &threads})
    if (!r->ok())
      return fail(r->error().message);
  std::vector<model::TrainSeries> series;
  std::string range;
  if (f->count("series")) {
    auto read = model::readTrainSeries(f->at("series"));
    if (!read.ok())
      return fail(read.error().message);
    series = std::move(*read);
    range = "series " + f->at("series") + ": " + std::to_string(series.size()) + " series";
  } else if (f->count("traces")) {
    auto set = sim::loadTraces(f->at("traces"));
    if (!set.ok())
      return fail(set.error().message);
    for (auto& s : seriesOf(*set, "cpu", 0))
      series.push_back({std::move(s.values), std::move(s.observed)});
    range = "traces " + f->at("traces") + ": " + std::to_string(series.size()) + " series (cpu)";
  } else {
    const std::string text = f->count("window") ? f->at("window") : "7d";
    // Prometheus-style days ("7d") besides Go durations ("168h").
    std::optional<std::chrono::milliseconds> window;
    if (!text.empty() && text.back() == 'd' &&
        text.find_first_not_of("0123456789") == text.size() - 1)
      window = std::chrono::hours(24) * std::stoi(text.substr(0, text.size() - 1));
    else
      window = api::parseDuration(text);
    if (!window || *window < std::chrono::hours(6))
      return fail("--window: \"" + text + "\" is not a duration of at least 6h (e.g. 7d, 36h)");
    telemetry::PrometheusOptions o;
    o.connection.url = f->at("prometheus");
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
  lo.maxEpochs = *epochs;
  lo.seed = static_cast<uint64_t>(*seed);
  lo.batch = *batch;
  lo.stepsPerEpoch = *steps;
  lo.hidden = *hidden;
  lo.window = *windowSteps;
  lo.period = *period;
  lo.threads = *threads;
  if (f->count("training-range"))
    range = f->at("training-range");
  model::LstmMethod lstm(lo);
  lstm.onEpoch(printEpoch);
  lstm.setTrainingRange(range);
  std::fprintf(stderr, "[train] %s\n", range.c_str());
  if (auto st = lstm.fit(series, *horizon); !st.ok()) {
    fail(st.error().message);
    // 3: the data cannot train a model (too short), as opposed to 1: something broke.
    return st.error().kind == ErrorKind::Invalid ? 3 : 1;
  }
  if (auto st = lstm.save(f->at("out")); !st.ok())
    return fail(st.error().message);
  std::fprintf(stderr, "[train] wrote %s\n", f->at("out").c_str());
  std::printf("%s\n", lstm.metadata().c_str());
  return 0;
}

// Simulated outcomes (plus recorded ones), the learned mapping judged against the prior on the
// newest 20 %, then refitted on all and written.
int trainContention(int argc, char** argv) {
  auto f = options(argc, argv, 2,
                   {"traces", "cluster", "out", "demand-model", "outcomes", "count", "utilisation",
                    "seed", "save-outcomes"});
  if (!f.ok())
    return fail(f.error().message);
  if (!f->count("out") || !f->count("traces") || !f->count("cluster"))
    return usage();
  auto count = intFlag(*f, "count", 600, model::ContentionMap::MinOutcomes + 5, 1000000);
  auto util = intFlag(*f, "utilisation", 50, 1, 95);
  auto seed = intFlag(*f, "seed", 1, 0, 1 << 30);
  for (const auto* r : {&count, &util, &seed})
    if (!r->ok())
      return fail(r->error().message);
  auto inputs = simInputs(*f);
  if (!inputs.ok())
    return fail(inputs.error().message);
  const sim::TraceSet* traces = &inputs->traces;
  const sim::ClusterSpec* cluster = &inputs->cluster;
  std::shared_ptr<const model::SeriesMethod> demand = model::lastValue();
  std::string demandName = "baseline/last-value";
  if (f->count("demand-model")) {
    auto lstm = model::LstmNet::load(f->at("demand-model"), 6);
    if (!lstm.ok())
      return fail(lstm.error().message);
    demand = std::shared_ptr<const model::SeriesMethod>(std::move(*lstm));
    demandName = "lstm " + f->at("demand-model");
  }
  model::SimOutcomeOptions so;
  so.outcomes = static_cast<size_t>(*count);
  so.utilisation = *util / 100.0;
  so.seed = static_cast<uint64_t>(*seed);
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr,
               "[contention] simulating %zu placements on %s at %d %% utilisation (demand: %s)\n",
               so.outcomes, f->at("cluster").c_str(), *util, demandName.c_str());
  auto outcomes = model::simulateOutcomes(*cluster, *traces, *demand, so);
  if (!outcomes.ok())
    return fail(outcomes.error().message);
  const double simSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (f->count("outcomes")) {
    auto recorded = model::readOutcomes(f->at("outcomes"));
    if (!recorded.ok())
      return fail(recorded.error().message);
    outcomes->insert(outcomes->end(), recorded->begin(), recorded->end());
  }
  if (f->count("save-outcomes")) {
    const std::string path = f->at("save-outcomes");
    std::remove(path.c_str());
    for (const auto& o : *outcomes)
      if (auto st = model::appendOutcome(path, o); !st.ok())
        return fail(st.error().message);
  }
  // Time-ordered: the newest 20 % judge.
  const size_t judge = outcomes->size() / 5;
  const std::vector<model::Outcome> fitPart(outcomes->begin(),
                                            outcomes->end() - static_cast<std::ptrdiff_t>(judge));
  const std::vector<model::Outcome> judgePart(outcomes->end() - static_cast<std::ptrdiff_t>(judge),
                                              outcomes->end());
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
      {"outcomes", outcomes->size()},
      {"simulatedSeconds", simSeconds},
      {"judged", judgePart.size()},
      {"learned",
       {{"loss", learned->loss(judgePart)}, {"stealMae", lMae}, {"stealP90Coverage", lCov}}},
      {"prior", {{"loss", prior.loss(judgePart)}, {"stealMae", pMae}, {"stealP90Coverage", pCov}}}};
  std::fprintf(
      stderr,
      "[contention] %zu outcomes in %.1f s; on the newest %zu: loss %.4f (prior %.4f), steal MAE "
      "%.4f (prior %.4f), steal p90 coverage %.3f (prior %.3f)\n",
      outcomes->size(), simSeconds, judgePart.size(), learned->loss(judgePart),
      prior.loss(judgePart), lMae, pMae, lCov, pCov);
  auto all = model::ContentionMap::fit(*outcomes);
  if (!all.ok())
    return fail(all.error().message);
  if (auto st = all->save(f->at("out")); !st.ok())
    return fail(st.error().message);
  std::fprintf(stderr, "[contention] wrote %s\n", f->at("out").c_str());
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

json reportJson(const model::MethodReport& r) {
  json perSeries = json::array();
  for (const double m : r.perSeriesMase)
    perSeries.push_back(std::isnan(m) ? json(nullptr) : json(m));
  return {{"method", r.method},
          {"mase", r.mase},
          {"smape", r.smape},
          {"mae", r.mae},
          {"p90Coverage", r.coverage},
          {"trainSeconds", r.trainSeconds},
          {"inferenceMicrosPerWindow", r.inferenceMicros},
          {"seriesScored", r.series},
          {"points", r.points},
          {"perSeriesMase", perSeries}};
}

int benchForecast(int argc, char** argv) {
  auto f = options(argc, argv, 3,
                   {"traces", "horizon-steps", "json", "origin-stride", "target", "series-limit",
                    "export-series", "forecasts", "epochs"});
  if (!f.ok())
    return fail(f.error().message);
  if (f->count("traces") == 0)
    return usage();
  auto horizon = intFlag(*f, "horizon-steps", 6, 1, 48);
  auto stride = intFlag(*f, "origin-stride", 6, 1, 10000);
  auto limit = intFlag(*f, "series-limit", 0, 0, 1000000);
  auto epochs = intFlag(*f, "epochs", model::LstmOptions{}.maxEpochs, 1, 1000);
  for (const auto* r : {&horizon, &stride, &limit, &epochs})
    if (!r->ok())
      return fail(r->error().message);
  const std::string target = f->count("target") ? f->at("target") : "both";
  if (target != "cpu" && target != "memory" && target != "both")
    return fail("--target: \"" + target + "\" is not cpu, memory or both");
  auto set = sim::loadTraces(f->at("traces"));
  if (!set.ok())
    return fail(set.error().message);
  model::EvalOptions eo;
  eo.horizon = *horizon;
  eo.originStride = *stride;
  json out = {{"traces", f->at("traces")},
              {"horizonSteps", eo.horizon},
              {"stepSeconds", 300},
              {"period", eo.period},
              {"trainFraction", eo.trainFraction},
              {"originStride", eo.originStride},
              {"clamp", {0, 1}},
              {"targets", json::object()}};
  std::ofstream exported, forecasts;
  if (f->count("export-series")) {
    exported.open(f->at("export-series"));
    exported << "target,series_id,index,value,observed\n";
  }
  if (f->count("forecasts")) {
    forecasts.open(f->at("forecasts"));
    forecasts << "target,series_id,method,origin,step,actual,p50,p90\n";
  }
  for (const std::string t : {"cpu", "memory"}) {
    if (target != "both" && target != t)
      continue;
    const auto series = seriesOf(*set, t, *limit);
    if (series.empty())
      continue;
    std::fprintf(stderr, "[bench] %s: %zu series, horizon %d steps, origins every %d steps\n",
                 t.c_str(), series.size(), eo.horizon, eo.originStride);
    auto last = model::lastValue();
    auto snaive = model::seasonalNaive(eo.period);
    auto hw = model::holtWinters(eo.period);
    auto ar = model::linearAutoregressive(12, eo.period);
    model::LstmOptions lo;
    lo.maxEpochs = *epochs;
    model::LstmMethod lstm(lo);
    lstm.onEpoch(printEpoch);
    const std::vector<model::SeriesMethod*> methods = {last.get(), snaive.get(), hw.get(), ar.get(),
                                                       &lstm};
    const auto reports = model::evaluate(series, methods, eo);
    json section = {{"series", series.size()}, {"ids", json::array()}, {"methods", json::array()}};
    for (const auto& s : series)
      section["ids"].push_back(s.id);
    std::printf("%s utilisation, %zu series, horizon %d x 300 s, origins every %d steps\n",
                t.c_str(), series.size(), eo.horizon, eo.originStride);
    std::printf("  %-16s %8s %8s %8s %9s %10s %12s\n", "method", "MASE", "sMAPE", "MAE", "p90 cov.",
                "train s", "infer us/win");
    for (const auto& r : reports) {
      std::printf("  %-16s %8.4f %8.4f %8.4f %9.3f %10.1f %12.1f\n", r.method.c_str(), r.mase,
                  r.smape, r.mae, r.coverage, r.trainSeconds, r.inferenceMicros);
      section["methods"].push_back(reportJson(r));
    }
    out["targets"][t] = section;
    if (exported.is_open()) {
      for (const auto& s : series)
        for (size_t i = 0; i < s.values.size(); ++i)
          exported << t << ',' << s.id << ',' << i << ',' << s.values[i] << ','
                   << (s.observed.empty() ? 1 : static_cast<int>(s.observed[i])) << '\n';
    }
    if (forecasts.is_open()) {
      // Two days of the evaluation part of the first three series, every method, at the last step.
      for (size_t i = 0; i < std::min<size_t>(3, series.size()); ++i) {
        const auto& s = series[i];
        const auto split =
            static_cast<size_t>(eo.trainFraction * static_cast<double>(s.values.size()));
        for (size_t origin = split;
             origin + static_cast<size_t>(eo.horizon) < std::min(s.values.size(), split + 576);
             ++origin) {
          for (const auto* m : methods) {
            const auto fc =
                m->predict(i, std::span<const double>(s.values.data(), origin + 1), eo.horizon);
            const size_t k = static_cast<size_t>(eo.horizon) - 1;
            forecasts << t << ',' << s.id << ',' << m->name() << ',' << origin << ',' << eo.horizon
                      << ',' << s.values[origin + 1 + k] << ',' << std::clamp(fc.p50[k], 0.0, 1.0)
                      << ',' << std::clamp(fc.p90[k], 0.0, 1.0) << '\n';
          }
        }
      }
    }
  }
  if (f->count("json")) {
    const std::string path = f->at("json");
    std::ofstream(path + ".tmp") << out.dump(1) << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
    std::fprintf(stderr, "[bench] wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace

// Placement quality: every placer on the same simulated cluster, arrivals and seed, at each
// utilisation, with the hidden interference on and off. Markdown on stdout, JSON with every VM.
int benchPlacement(int argc, char** argv) {
  auto f = options(argc, argv, 3,
                   {"traces", "cluster", "seed", "json", "utilisation", "arrivals", "demand-model",
                    "contention-model", "oracle-lookahead-hours", "interference"});
  if (!f.ok())
    return fail(f.error().message);
  if (!f->count("traces") || !f->count("cluster"))
    return usage();
  auto seed = intFlag(*f, "seed", 1, 0, 1 << 30);
  auto arrivals = intFlag(*f, "arrivals", 48, 1, 10000);
  auto lookahead = intFlag(*f, "oracle-lookahead-hours", 24, 1, 240);
  for (const auto* r : {&seed, &arrivals, &lookahead})
    if (!r->ok())
      return fail(r->error().message);
  std::vector<int> levels;
  {
    std::string text = f->count("utilisation") ? f->at("utilisation") : "15,25";
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) {
      char* end = nullptr;
      const long v = std::strtol(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || v < 1 || v > 95)
        return fail("--utilisation: \"" + text + "\" is not a list of percentages in 1..95");
      levels.push_back(static_cast<int>(v));
    }
  }
  const std::string interference = f->count("interference") ? f->at("interference") : "both";
  std::vector<bool> interferenceModes;
  if (interference == "both" || interference == "on")
    interferenceModes.push_back(true);
  if (interference == "both" || interference == "off")
    interferenceModes.push_back(false);
  if (interferenceModes.empty())
    return fail("--interference: \"" + interference + "\" is not one of both, on, off");
  auto inputs = simInputs(*f);
  if (!inputs.ok())
    return fail(inputs.error().message);
  const sim::TraceSet* traces = &inputs->traces;
  const sim::ClusterSpec* cluster = &inputs->cluster;
  auto models = std::make_shared<model::ForecastModels>();
  models->demand = model::lastValue();
  models->demandName = "baseline/last-value";
  if (f->count("demand-model")) {
    auto lstm = model::LstmNet::load(f->at("demand-model"), 6);
    if (!lstm.ok())
      return fail(lstm.error().message);
    models->demandName = (*lstm)->displayName();
    models->demand = std::shared_ptr<const model::SeriesMethod>(std::move(*lstm));
  }
  if (f->count("contention-model")) {
    auto map = model::ContentionMap::load(f->at("contention-model"));
    if (!map.ok())
      return fail(map.error().message);
    models->contention = *map;
  }
  json out = {{"cluster", f->at("cluster")},
              {"traces", f->at("traces")},
              {"seed", *seed},
              {"model", models->name()},
              {"runs", json::array()}};
  std::printf("# Placement benchmark: %s, seed %d, %d arrivals, model %s\n\n",
              f->at("cluster").c_str(), *seed, *arrivals, models->name().c_str());
  for (const int level : levels) {
    for (const bool on : interferenceModes) {
      model::PlacementBenchOptions o;
      o.utilisation = level / 100.0;
      o.interference = on;
      o.arrivals = static_cast<size_t>(*arrivals);
      o.oracleLookaheadSeconds = *lookahead * 3600.0;
      o.seed = static_cast<uint64_t>(*seed);
      const auto t0 = std::chrono::steady_clock::now();
      auto report =
          model::runPlacementBench(*cluster, *traces, models, o, [&](const std::string& placer) {
            std::fprintf(
                stderr, "[placement] %d %% %s: %s done (%.0f s)\n", level,
                on ? "interference on" : "interference off", placer.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          });
      if (!report.ok())
        return fail(report.error().message);
      std::printf("## Background %d %% (reached %.1f %% mean node CPU), hidden interference %s\n\n",
                  level, 100 * report->utilisation, on ? "on" : "off");
      std::printf(
          "| placer | mean p95 steal | mean steal | p95 of all 5-min steal | minutes over SLO "
          "(steal > 10 %%) | p95 iowait | node CPU imbalance (sd) | shadow CPU-h %% | shadow "
          "memory-h %% | decision latency (sim s) | decision compute (ms) |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
      json run = {{"utilisation", level},
                  {"reached", report->utilisation},
                  {"interference", on},
                  {"placers", json::array()}};
      const model::PlacerResult* la = nullptr;
      const model::PlacerResult* um = nullptr;
      const model::PlacerResult* orc = nullptr;
      for (const auto& r : report->placers) {
        std::printf(
            "| %s | %.4f | %.4f | %.4f | %.0f | %.4f | %.4f | %.3f | %.3f | %.0f | %.1f |\n",
            r.placer.c_str(), r.meanP95Steal, r.meanSteal, r.p95AllSteal, r.minutesOverSlo,
            r.p95IoWait, r.imbalance, 100 * r.shadowCpuShare, 100 * r.shadowMemoryShare,
            r.decisionSeconds, 1000 * r.computeSeconds);
        json vms = json::array();
        for (const auto& v : r.vms)
          vms.push_back({{"id", v.id},
                         {"node", v.node},
                         {"vcpus", v.vcpus},
                         {"meanSteal", v.meanSteal},
                         {"p95Steal", v.p95Steal},
                         {"minutesOverSlo", v.minutesOverSlo},
                         {"p95IoWait", v.p95IoWait}});
        run["placers"].push_back({{"placer", r.placer},
                                  {"meanP95Steal", r.meanP95Steal},
                                  {"meanSteal", r.meanSteal},
                                  {"p95AllSteal", r.p95AllSteal},
                                  {"minutesOverSlo", r.minutesOverSlo},
                                  {"p95IoWait", r.p95IoWait},
                                  {"imbalance", r.imbalance},
                                  {"shadowCpuShare", r.shadowCpuShare},
                                  {"shadowMemoryShare", r.shadowMemoryShare},
                                  {"decisionSeconds", r.decisionSeconds},
                                  {"computeSeconds", r.computeSeconds},
                                  {"extensions", r.extensions},
                                  {"vms", vms}});
        if (r.placer == "load-aware")
          la = &r;
        if (r.placer == "umbra")
          um = &r;
        if (r.placer == "oracle")
          orc = &r;
      }
      if (la && um && orc) {
        const double ratio = la->meanP95Steal > 0 ? um->meanP95Steal / la->meanP95Steal : 0;
        const double gap = la->meanP95Steal - orc->meanP95Steal;
        const double closed = gap > 1e-9 ? (la->meanP95Steal - um->meanP95Steal) / gap : 0;
        std::printf(
            "\nUmbra vs load-aware, mean p95 steal: %.3f x (target <= 0.7 with "
            "interference on, <= 1 off); gap to the oracle closed: %.0f %% (target >= 60 "
            "%%); shadow cost %.2f %% of CPU-hours (target <= 2 %%); %.2f observation "
            "extensions per placement\n\n",
            ratio, 100 * closed, 100 * um->shadowCpuShare, um->extensions);
        run["umbraVsLoadAware"] = ratio;
        run["gapClosed"] = closed;
      }
      out["runs"].push_back(std::move(run));
      std::fflush(stdout);
    }
  }
  if (f->count("json")) {
    std::ofstream file(f->at("json"));
    file << out.dump(1) << "\n";
    if (!file)
      return fail(f->at("json") + ": cannot write");
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  const std::string cmd = argv[1];
  if (cmd == "train")
    return train(argc, argv);
  if (cmd == "train-contention")
    return trainContention(argc, argv);
  if (cmd == "bench" && argc >= 3 && std::string(argv[2]) == "forecast")
    return benchForecast(argc, argv);
  if (cmd == "bench" && argc >= 3 && std::string(argv[2]) == "placement")
    return benchPlacement(argc, argv);
  if (cmd == "-h" || cmd == "--help") {
    usage();
    return 0;
  }
  std::fprintf(stderr, "umbra: unknown command \"%s\"\n", cmd.c_str());
  return usage();
}
