#include "offline/scaling_bench.h"

#include <algorithm>
#include <random>

namespace umbra::offline {

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
