// umbra bench scaling: proactive scaling against its peers and a clairvoyant oracle, replaying the
// traces' demand (vertical: vCPUs and memory of single VMs; horizontal: pools whose demand is a
// trace scaled to several replicas), on the natural traces and on traces with labelled surges.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/bench_scaling.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "model/guarded_ensemble.h"
#include "model/lstm_net.h"
#include "model/model_forecaster.h"
#include "offline/scaling_bench.h"
#include "scaling/pattern.h"
#include "sim/files.h"

namespace umbra::cli {

using nlohmann::json;

namespace {

// A network trained for a longer horizon, read for the first steps only (the LSTM file's horizon
// is fixed; the scaler looks `leadSteps` ahead).
class FirstSteps final : public model::SeriesMethod {
 public:
  FirstSteps(model::SeriesMethod& inner, int innerHorizon) : inner_(inner), h_(innerHorizon) {}
  std::string name() const override { return inner_.name(); }
  Status fit(const std::vector<model::TrainSeries>& train, int) override {
    return inner_.fit(train, h_);
  }
  model::QuantileForecast predict(size_t index, std::span<const double> history,
                                  int horizon) const override {
    auto f = inner_.predict(index, history, h_);
    f.p50.resize(static_cast<size_t>(horizon));
    f.p90.resize(static_cast<size_t>(horizon));
    return f;
  }

 private:
  model::SeriesMethod& inner_;
  int h_;
};

struct Totals {
  double seconds = 0, under = 0, allocated = 0, slack = 0, shortfall = 0, demand = 0;
  int actions = 0, targets = 0;
  void add(const offline::ScalingRun& r) {
    seconds += r.seconds;
    under += r.underSeconds;
    allocated += r.allocatedIntegral;
    slack += r.slackIntegral;
    shortfall += r.shortfallIntegral;
    demand += r.demandIntegral;
    actions += r.actions;
    ++targets;
  }
  json report() const {
    const double days = seconds / 86400;
    return {{"targets", targets},
            {"underMinutesPerDay", days > 0 ? under / 60 / days : 0},
            {"slackPercent", allocated > 0 ? 100 * slack / allocated : 0},
            {"shortfallPercent", demand > 0 ? 100 * shortfall / demand : 0},
            {"actionsPerHour", seconds > 0 ? actions / (seconds / 3600) : 0}};
  }
};

// One setting of one scaler: every scaler is run at several settings of its main knob, so that
// they are compared at equal slack (on their trade-off curves), not at one chosen point each.
const std::vector<std::string> ScalerNames = {"static",    "reactive", "vpa",
                                              "autopilot", "umbra",    "oracle"};

}  // namespace

// Per series, per decision step from split - 1 on: the engine's p50/p90 (utilisation fractions)
// for the next `lead` steps. Two threads, a share of the series each.
Forecasts forecastAll(const model::SeriesMethod& engine, const std::vector<model::EvalSeries>& s,
                      const std::vector<size_t>& splits, int lead, int threads) {
  Forecasts out(s.size());
  const auto work = [&](size_t first) {
    for (size_t i = first; i < s.size(); i += static_cast<size_t>(threads)) {
      const auto& v = s[i].values;
      for (size_t t = splits[i] - 1; t + 1 < v.size(); ++t) {
        const auto f = engine.predict(i, std::span<const double>(v.data(), t + 1), lead);
        scaling::DemandForecast d;
        for (int h = 0; h < lead; ++h) {
          const double p50 = std::clamp(f.p50[static_cast<size_t>(h)], 0.0, 1.0);
          d.p50.push_back(p50);
          d.p90.push_back(std::clamp(f.p90[static_cast<size_t>(h)], p50, 1.0));
        }
        out[i].push_back(std::move(d));
      }
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k)
    pool.emplace_back(work, static_cast<size_t>(k));
  for (auto& t : pool)
    t.join();
  return out;
}

int benchScaling(const BenchScalingFlags& f) {
  auto set = sim::loadTraces(f.traces);
  if (!set.ok())
    return fail(set.error().message);
  const int lead = 2;  // 10 minutes: a hotplug migration or a cold start, and the step after it
  // The forecasts reach further: the surge detector judges an excursion's later steps against
  // the forecast made before it began.
  const int forecastSteps = 6;
  const double trainFraction = model::EvalOptions{}.trainFraction;
  json out = {{"traces", f.traces}, {"stepSeconds", StepSeconds}, {"trainFraction", trainFraction},
              {"leadSteps", lead},  {"surgeSeed", f.seed},        {"kinds", json::object()}};
  std::ofstream plot;
  if (!f.plotSeries.empty()) {
    plot.open(f.plotSeries);
    plot << "kind,series_id,step,demand";
    for (const auto& n : ScalerNames)
      plot << ',' << n;
    plot << '\n';
  }
  // Forecasts per column and variant ("natural", "surges").
  std::map<std::string, std::vector<model::EvalSeries>> series;
  std::map<std::string, Forecasts> forecasts;
  std::map<std::string, std::vector<std::vector<offline::Surge>>> surges;
  std::map<std::string, std::vector<size_t>> splits;
  json patterns = json::object();
  for (const std::string column : {"cpu", "memory"}) {
    SkippedSeries skipped;
    auto s = seriesOf(*set, column, f.seriesLimit, &skipped);
    std::fprintf(stderr, "[bench] %s: %zu series; skipped %s\n", column.c_str(), s.size(),
                 skipped.describe().c_str());
    if (s.empty())
      return fail(f.traces + ": no " + column + " series long enough to benchmark");
    auto& sp = splits[column];
    for (const auto& x : s)
      sp.push_back(static_cast<size_t>(trainFraction * static_cast<double>(x.values.size())));
    // Patterns found on the training parts.
    int daily = 0, weekly = 0;
    for (size_t i = 0; i < s.size(); ++i)
      for (const auto& p : scaling::detectPeriods(
               std::span<const double>(s[i].values.data(), sp[i]), StepSeconds)) {
        daily += p.seconds == 86400 ? 1 : 0;
        weekly += p.seconds == 7 * 86400 ? 1 : 0;
      }
    patterns[column] = {{"series", s.size()}, {"daily", daily}, {"weekly", weekly}};
    // The engine, fitted on the training parts (the LSTM from --networks when there).
    auto last = model::lastValue();
    auto hw = model::holtWinters(288);
    auto ar = model::linearAutoregressive(12, 288);
    auto median = model::recentMedian(36);
    model::LstmOptions lo;
    lo.maxEpochs = f.epochs;
    model::LstmMethod lstm(lo);
    lstm.onEpoch(printEpoch);
    const int lstmHorizon = 6;
    const std::string saved = f.networks.empty() ? ""
                                                 : f.networks + "/lstm-" + column + "-" +
                                                       std::to_string(lstmHorizon) + ".json";
    std::shared_ptr<model::SeriesMethod> reused;
    if (!saved.empty() && std::filesystem::exists(saved)) {
      auto net = model::LstmNet::load(saved, lstmHorizon);
      if (!net.ok())
        return fail(net.error().message);
      const auto meta = json::parse((*net)->metadata(), nullptr, false);
      const size_t trainedOn = meta.is_object() ? meta.value("trainSeries", size_t{0}) : 0;
      if (trainedOn != s.size())
        return fail(saved + ": trained on " + std::to_string(trainedOn) + " series, this run has " +
                    std::to_string(s.size()) +
                    " (other traces?); remove it or use another --networks folder");
      reused = std::shared_ptr<model::SeriesMethod>(std::move(*net));
      std::fprintf(stderr, "[bench] %s: the LSTM from %s\n", column.c_str(), saved.c_str());
    }
    model::FrozenMethod frozen(reused);
    model::SeriesMethod& network = reused ? static_cast<model::SeriesMethod&>(frozen) : lstm;
    FirstSteps firstSteps(network, lstmHorizon);
    model::GuardedEnsemble engine({&firstSteps, ar.get(), median.get(), last.get(), hw.get()},
                                  true);
    model::EvalOptions eo;
    eo.horizon = forecastSteps;
    if (auto st = engine.fit(model::trainingParts(s, eo), forecastSteps); !st.ok())
      return fail(st.error().message);
    if (!reused && !saved.empty())
      if (auto st = lstm.save(saved); !st.ok())
        return fail(st.error().message);
    std::fprintf(stderr, "[bench] %s: forecasting %zu series at every step\n", column.c_str(),
                 s.size());
    forecasts[column] = forecastAll(engine, s, sp, forecastSteps, f.threads);
    if (column == "cpu") {
      // The same series with labelled surges in their evaluation parts.
      auto surged = s;
      auto& labels = surges["cpu"];
      for (size_t i = 0; i < surged.size(); ++i)
        labels.push_back(offline::injectSurges(surged[i].values, sp[i], f.seed + i));
      std::fprintf(stderr, "[bench] cpu with surges: forecasting\n");
      forecasts["cpu+surges"] = forecastAll(engine, surged, sp, forecastSteps, f.threads);
      series["cpu+surges"] = std::move(surged);
    }
    series[column] = std::move(s);
  }
  out["patterns"] = patterns;
  out["detection"] = detectionSweep(series["cpu+surges"], forecasts["cpu+surges"], splits["cpu"],
                                    surges["cpu"], scaling::AnomalyOptions{});
  scaling::PolicyOptions basePolicy;
  basePolicy.leadSteps = lead;
  // Each kind: which series and forecasts, how a fraction becomes the resource's units.
  struct Kind {
    std::string name, column;
  };
  const std::vector<Kind> kinds = {{"vcpu", "cpu"},
                                   {"memory", "memory"},
                                   {"pool", "cpu"},
                                   {"vcpu+surges", "cpu+surges"},
                                   {"pool+surges", "cpu+surges"}};
  std::printf(
      "Scaling, %s: evaluation = the newest %.0f %% of each series, decisions every %.0f s\n",
      f.traces.c_str(), 100 * (1 - trainFraction), StepSeconds);
  for (const auto& kind : kinds) {
    const auto& ss = series[kind.column];
    const auto& fc = forecasts[kind.column];
    const auto& sp = splits[kind.column == "memory" ? "memory" : "cpu"];
    const auto all = offline::scalerSettings();
    std::vector<Totals> totals(all.size());
    offline::DetectionScore detection;
    int used = 0;
    for (size_t i = 0; i < ss.size(); ++i) {
      const auto& trace = set->series.at(ss[i].id);
      std::optional<offline::ScalingTarget> target =
          kind.name.starts_with("vcpu") ? offline::vcpuTarget(trace, ss[i].values, sp[i], fc[i])
          : kind.name == "memory"       ? offline::memoryTarget(trace, ss[i].values, sp[i], fc[i])
                                        : offline::poolTarget(ss[i].id, ss[i].values, sp[i], fc[i]);
      if (!target)
        continue;  // an idle series is no pool's demand
      const offline::ScalingTarget& t = *target;
      ++used;
      auto policy = basePolicy;
      policy.cutsRestart = t.resource.cutRestartSeconds > 0;
      // A surge is worth the aggressive strategy from a tenth of the most the target may have.
      policy.anomaly.minExcess = 0.1 * t.resource.max;
      std::vector<offline::ScalingRun> runs(all.size());
      for (size_t k = 0; k < all.size(); ++k) {
        auto scaler = offline::makeScaler(all[k], t, policy, StepSeconds);
        runs[k] = offline::simulateScaling(t, *scaler, StepSeconds);
        totals[k].add(runs[k]);
      }
      const auto byDefault = [&](const std::string& scaler) -> const offline::ScalingRun& {
        for (size_t k = 0; k < all.size(); ++k)
          if (all[k].scaler == scaler && all[k].isDefault)
            return runs[k];
        return runs.front();
      };
      if (kind.name.ends_with("+surges")) {
        const auto d =
            offline::scoreDetection(surges["cpu"][i], byDefault("umbra").alarmStarted, t.split);
        detection.surges += d.surges;
        detection.detected += d.detected;
        detection.falseAlarms += d.falseAlarms;
        detection.delaySum += d.delaySum;
      }
      if (plot.is_open() && i < 3)
        for (size_t k = 0; k < byDefault("umbra").allocation.size() && k < 576; ++k) {
          plot << kind.name << ',' << t.id << ',' << k << ',' << t.demand[t.split + k];
          for (const auto& n : ScalerNames)
            plot << ',' << (k == 0 ? t.initial : byDefault(n).allocation[k - 1]);
          plot << '\n';
        }
    }
    json section = {{"targets", used}, {"settings", json::array()}};
    std::printf("\n%s: %d targets\n  %-30s %14s %8s %11s %12s\n", kind.name.c_str(), used,
                "scaler (* default)", "under min/day", "slack %", "shortfall %", "actions/h");
    std::map<std::string, std::vector<std::pair<double, double>>> curves;
    for (size_t k = 0; k < all.size(); ++k) {
      json r = totals[k].report();
      r["scaler"] = all[k].scaler;
      r["setting"] = all[k].label;
      r["default"] = all[k].isDefault;
      section["settings"].push_back(r);
      curves[all[k].scaler].emplace_back(r["slackPercent"].get<double>(),
                                         r["underMinutesPerDay"].get<double>());
      std::printf("  %-30s %14.1f %8.1f %11.3f %12.3f\n",
                  (all[k].label + (all[k].isDefault ? " *" : "")).c_str(),
                  r["underMinutesPerDay"].get<double>(), r["slackPercent"].get<double>(),
                  r["shortfallPercent"].get<double>(), r["actionsPerHour"].get<double>());
    }
    compareAtEqualSlack(section, curves);
    if (kind.name.ends_with("+surges")) {
      const int alarms = detection.detected + detection.falseAlarms;
      const double days = totals.front().seconds / 86400;
      section["detection"] = {
          {"surges", detection.surges},
          {"detected", detection.detected},
          {"falseAlarms", detection.falseAlarms},
          {"falseAlarmsPerDay", days > 0 ? detection.falseAlarms / days : 0},
          {"precision", alarms > 0 ? static_cast<double>(detection.detected) / alarms : 0},
          {"recall",
           detection.surges > 0 ? static_cast<double>(detection.detected) / detection.surges : 0},
          {"meanDelaySteps", detection.detected > 0 ? detection.delaySum / detection.detected : 0}};
      std::printf(
          "  surges (umbra's default detector): %d, detected %d, false alarms %d, "
          "precision %.3f, recall %.3f, mean delay %.2f steps\n",
          detection.surges, detection.detected, detection.falseAlarms,
          section["detection"]["precision"].get<double>(),
          section["detection"]["recall"].get<double>(),
          section["detection"]["meanDelaySteps"].get<double>());
    }
    out["kinds"][kind.name] = section;
  }
  std::printf(
      "\npatterns on the training parts: cpu %d/%zu daily, %d weekly; memory %d/%zu daily, "
      "%d weekly\n",
      patterns["cpu"]["daily"].get<int>(), series["cpu"].size(),
      patterns["cpu"]["weekly"].get<int>(), patterns["memory"]["daily"].get<int>(),
      series["memory"].size(), patterns["memory"]["weekly"].get<int>());
  return finishReport(f.json, out);
}

}  // namespace umbra::cli
