#include "offline/scaling_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace umbra::offline {

std::string compactNumber(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

namespace {

// One stretch of a step served by one allocation.
struct Segment {
  double seconds, allocated, serving;
};

}  // namespace

ScalingRun simulateScaling(const ScalingTarget& t, scaling::Scaler& scaler, double step) {
  ScalingRun run;
  const auto& r = t.resource;
  const size_t n = t.demand.size();
  if (t.split == 0 || t.split >= n)
    return run;
  // The first decision, on the history, takes effect at once (the scaler is switched on with it).
  const auto forecastAt = [&](size_t decisionStep) -> const scaling::DemandForecast* {
    const size_t k = decisionStep + 1 - t.split;
    return k < t.forecasts.size() ? &t.forecasts[k] : nullptr;
  };
  double alloc = r.quantize(t.initial);
  alloc = r.quantize(scaler.decide(
      {std::span<const double>(t.demand.data(), t.split), alloc, forecastAt(t.split - 1)}));
  double previous = alloc;
  enum class Change { None, Up, Cut } change = Change::None;
  for (size_t s = t.split; s < n; ++s) {
    const double d = t.demand[s];
    std::vector<Segment> segs;
    if (change == Change::Up && r.upSeconds > 0)
      segs = {{std::min(r.upSeconds, step), previous, previous},
              {step - std::min(r.upSeconds, step), alloc, alloc}};
    else if (change == Change::Cut && r.cutRestartSeconds > 0)
      segs = {{std::min(r.cutRestartSeconds, step), alloc, 0},
              {step - std::min(r.cutRestartSeconds, step), alloc, alloc}};
    else
      segs = {{step, alloc, alloc}};
    for (const auto& g : segs) {
      if (g.seconds <= 0)
        continue;
      const double used = std::min(d, g.serving);
      run.underSeconds += d > g.serving + 1e-12 ? g.seconds : 0;
      run.allocatedIntegral += g.allocated * g.seconds;
      run.slackIntegral += std::max(g.allocated - used, 0.0) * g.seconds;
      run.shortfallIntegral += std::max(d - g.serving, 0.0) * g.seconds;
    }
    run.demandIntegral += d * step;
    run.seconds += step;
    // The decision at the end of step s.
    const double wanted = r.quantize(
        scaler.decide({std::span<const double>(t.demand.data(), s + 1), alloc, forecastAt(s)}));
    change = Change::None;
    if (std::abs(wanted - alloc) > 1e-9 * std::max(1.0, alloc)) {
      ++run.actions;
      change = wanted > alloc ? Change::Up : Change::Cut;
      previous = alloc;
      alloc = wanted;
    }
    run.allocation.push_back(alloc);
    if (const auto* u = dynamic_cast<const scaling::UmbraPolicy*>(&scaler))
      run.alarmStarted.push_back(u->last().anomaly.started ? 1 : 0);
  }
  return run;
}

std::vector<ScalerSetting> scalerSettings() {
  std::vector<ScalerSetting> out = {{"static", "static", 0, true}};
  for (const double v : {0.5, 0.6, 0.7, 0.8, 0.9})
    out.push_back({"reactive", "reactive target=" + compactNumber(v), v, v == 0.8});
  for (const double v : {0.0, 0.15, 0.3, 0.5})
    out.push_back({"vpa", "vpa margin=" + compactNumber(v), v, v == 0.15});
  for (const double v : {0.0, 0.1, 0.25, 0.5})
    out.push_back({"autopilot", "autopilot margin=" + compactNumber(v), v, v == 0.1});
  for (const double v : {0.0025, 0.005, 0.01, 0.02, 0.05, 0.1})
    out.push_back({"umbra", "umbra under-share=" + compactNumber(v), v, v == 0.01});
  // Its second knob, at the default under-share.
  for (const double v : {0.9, 0.8, 0.7, 0.6})
    out.push_back({"umbra", "umbra target-util=" + compactNumber(v), -v, false});
  out.push_back({"oracle", "oracle", 0, true});
  return out;
}

std::unique_ptr<scaling::Scaler> makeScaler(const ScalerSetting& s, const ScalingTarget& t,
                                            const scaling::PolicyOptions& policy,
                                            double stepSeconds) {
  if (s.scaler == "static")
    return scaling::staticScaler(t.initial);
  if (s.scaler == "reactive") {
    scaling::ReactiveOptions o;
    o.target = s.value;
    return scaling::reactiveScaler(o);
  }
  if (s.scaler == "vpa") {
    scaling::VpaOptions o;
    o.stepSeconds = stepSeconds;
    o.histogramMax = t.resource.max;
    o.margin = s.value;
    return scaling::vpaScaler(o);
  }
  if (s.scaler == "autopilot") {
    scaling::AutopilotOptions o;
    o.stepSeconds = stepSeconds;
    o.histogramMax = t.resource.max;
    o.margin = s.value;
    return scaling::autopilotScaler(o);
  }
  if (s.scaler == "umbra") {
    auto p = policy;
    if (s.value > 0)
      p.targetUnderShare = s.value;
    else
      p.targetUtilisation = -s.value;
    return std::make_unique<scaling::UmbraPolicy>(p);
  }
  const int cutLookahead = t.resource.cutRestartSeconds > 0 ? policy.restartCutWindowSteps : 2;
  return scaling::oracleScaler(t.demand, policy.leadSteps, cutLookahead);
}

double underAtSlack(std::vector<std::pair<double, double>> points, double slack) {
  std::sort(points.begin(), points.end());
  std::vector<std::pair<double, double>> curve;
  for (const auto& p : points)
    if (curve.empty() || p.second < curve.back().second)
      curve.push_back(p);
  for (size_t i = 0; i + 1 < curve.size(); ++i) {
    const auto [s0, u0] = curve[i];
    const auto [s1, u1] = curve[i + 1];
    if (slack >= s0 && slack <= s1)
      return s1 > s0 ? u0 + (u1 - u0) * (slack - s0) / (s1 - s0) : std::min(u0, u1);
  }
  if (curve.size() == 1 && std::abs(curve[0].first - slack) < 1e-9)
    return curve[0].second;
  return std::nan("");
}

namespace {

constexpr double GiB = 1024.0 * 1024 * 1024;

ScalingTarget scaled(const std::string& id, const std::vector<double>& values, size_t split,
                     const std::vector<scaling::DemandForecast>& forecasts, double scale) {
  ScalingTarget t;
  t.id = id;
  t.split = split;
  for (const double v : values)
    t.demand.push_back(v * scale);
  for (const auto& d : forecasts) {
    scaling::DemandForecast x = d;
    for (auto& v : x.p50)
      v *= scale;
    for (auto& v : x.p90)
      v *= scale;
    t.forecasts.push_back(std::move(x));
  }
  return t;
}

}  // namespace

std::optional<ScalingTarget> vcpuTarget(const sim::Trace& trace, const std::vector<double>& values,
                                        size_t split,
                                        const std::vector<scaling::DemandForecast>& forecasts) {
  ScalingTarget t = scaled(trace.id, values, split, forecasts, trace.cpuCores);
  t.resource = {1, 1, std::max(1.0, std::ceil(trace.cpuCores)), 45, 90};
  t.initial = t.resource.max;
  return t;
}

std::optional<ScalingTarget> memoryTarget(const sim::Trace& trace,
                                          const std::vector<double>& values, size_t split,
                                          const std::vector<scaling::DemandForecast>& forecasts) {
  ScalingTarget t = scaled(trace.id, values, split, forecasts, trace.memoryBytes);
  const double step = 0.25 * GiB;
  const double max = std::ceil(trace.memoryBytes / step) * step;
  t.resource = {step, std::min(1 * GiB, max), max, 45, 0};
  t.initial = max;
  return t;
}

std::optional<ScalingTarget> poolTarget(const std::string& id, const std::vector<double>& values,
                                        size_t split,
                                        const std::vector<scaling::DemandForecast>& forecasts) {
  std::vector<double> train(values.begin(), values.begin() + static_cast<long>(split));
  if (train.empty())
    return std::nullopt;
  std::sort(train.begin(), train.end());
  const double p99 = train[static_cast<size_t>(0.99 * static_cast<double>(train.size() - 1))];
  if (p99 < 0.01)
    return std::nullopt;
  const double scale = 8 / p99;
  ScalingTarget t = scaled(id, values, split, forecasts, scale);
  t.resource = {1, 1, std::ceil(scale), 90, 0};
  double peak = 0;
  for (size_t k = 0; k < split; ++k)
    peak = std::max(peak, t.demand[k]);
  t.initial = t.resource.quantize(peak);
  return t;
}

std::vector<Surge> injectSurges(std::vector<double>& v, size_t from, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> amplitude(0.2, 0.5);
  std::uniform_int_distribution<size_t> duration(6, 36), gap(144, 720);
  std::vector<Surge> out;
  size_t s = from + gap(rng);
  while (true) {
    const size_t len = duration(rng);
    if (s + len > v.size())
      break;
    const double a = amplitude(rng);
    double lift = 0;
    for (size_t i = s; i < s + len; ++i)
      lift += std::min(1.0, v[i] + a) - v[i];
    if (lift / static_cast<double>(len) >= 0.1) {
      for (size_t i = s; i < s + len; ++i)
        v[i] = std::min(1.0, v[i] + a);
      out.push_back({s, s + len, a});
    }
    s += len + gap(rng);
  }
  return out;
}

DetectionScore scoreDetection(const std::vector<Surge>& surges,
                              const std::vector<uint8_t>& alarmStarted, size_t split) {
  DetectionScore d;
  d.surges = static_cast<int>(surges.size());
  std::vector<bool> found(surges.size(), false);
  for (size_t k = 0; k < alarmStarted.size(); ++k) {
    if (alarmStarted[k] == 0)
      continue;
    const size_t step = split + k;
    const auto it = std::find_if(surges.begin(), surges.end(),
                                 [&](const Surge& s) { return step >= s.start && step < s.end; });
    if (it == surges.end()) {
      ++d.falseAlarms;
      continue;
    }
    const auto i = static_cast<size_t>(it - surges.begin());
    if (!found[i]) {
      found[i] = true;
      ++d.detected;
      d.delaySum += static_cast<double>(step - it->start);
    }
  }
  return d;
}

}  // namespace umbra::offline
