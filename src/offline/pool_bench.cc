#include "offline/pool_bench.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "scaling/pattern.h"

namespace umbra::offline {

namespace {

int need(double demand, double utilisation) {
  return std::max(1, static_cast<int>(std::ceil(demand / utilisation - 1e-9)));
}

}  // namespace

const char* toString(PoolStrategy s) {
  switch (s) {
    case PoolStrategy::Reactive: return "reactive";
    case PoolStrategy::StaticWarmPool: return "static-warm-pool";
    case PoolStrategy::CapacityBuffer: return "capacity-buffer";
    case PoolStrategy::Umbra: return "umbra";
    case PoolStrategy::Oracle: return "oracle";
  }
  return "";
}

PoolRun simulatePool(const PoolTarget& t, PoolStrategy strategy, const PoolBenchOptions& o) {
  PoolRun run;
  std::mt19937_64 rng(o.seed);
  // Lognormal cold starts with KubeVirt CI's p50 and p95.
  const double mu = std::log(o.coldStartP50);
  const double sigma = (std::log(o.coldStartP95) - mu) / 1.6448536;
  std::normal_distribution<double> normal(mu, sigma);
  // The training part's needs: what the static pool and the buffer are sized from.
  int peak = 1;
  double meanNeed = 0;
  for (size_t k = 0; k < t.split; ++k) {
    peak = std::max(peak, need(t.demand[k], o.utilisation));
    meanNeed += need(t.demand[k], o.utilisation);
  }
  meanNeed /= std::max<size_t>(1, t.split);
  const int buffer = std::max(1, static_cast<int>(std::ceil(0.2 * meanNeed)));
  // Umbra: the rise a step can bring, learned on the training part (in VMs).
  const int riseVms =
      o.riseQuantile > 0
          ? static_cast<int>(
                std::ceil(scaling::riseQuantile(std::span<const double>(t.demand.data(), t.split),
                                                1, o.riseQuantile) /
                              o.utilisation -
                          1e-9))
          : 0;
  // spec.maxShadows: what the workload needs at its full capacity (it cannot demand more).
  const int maxShadows = std::max(peak, need(t.maxDemand, o.utilisation));
  // The step each surge covers, and whether it was announced.
  std::vector<int> announcedAt(t.demand.size(), -1);
  for (size_t s = 0; s < t.surges.size(); ++s)
    if (t.announced[s])
      for (size_t k = t.surges[s].start; k < t.surges[s].end && k < t.demand.size(); ++k)
        announcedAt[k] = static_cast<int>(s);

  int serving = need(t.demand[t.split - 1], o.utilisation);
  int dormant = 0;
  int idleFor = 0;
  // What Umbra expects for step j, as the controller's `expected`: the highest p90 of the
  // forecast made before it over the horizon, or the peak a LoadNotice announces from
  // `horizonSteps` before its surge to its end (the developer announces the surge's peak demand),
  // whichever is higher. The reserve and a round of activations both read it.
  const auto umbraExpects = [&](size_t j) {
    double expected = 0;
    if (j - t.split < t.forecasts.size()) {
      const auto& f = t.forecasts[j - t.split];
      for (size_t h = 0; h < f.p90.size() && h < static_cast<size_t>(o.horizonSteps); ++h)
        expected = std::max(expected, f.p90[h]);
    }
    for (size_t s = 0; s < t.surges.size(); ++s) {
      if (!t.announced[s])
        continue;
      const Surge& g = t.surges[s];
      if (j + static_cast<size_t>(o.horizonSteps) >= g.start && j < g.end) {
        for (size_t i = g.start; i < g.end && i < t.demand.size(); ++i)
          expected = std::max(expected, t.demand[i]);
      }
    }
    return expected;
  };
  // The reserve each strategy holds at the end of step k (for step k + 1).
  const auto reserve = [&](size_t k) -> int {
    switch (strategy) {
      case PoolStrategy::Reactive: return 0;
      case PoolStrategy::StaticWarmPool: return std::max(0, peak - serving);
      case PoolStrategy::CapacityBuffer: return buffer;
      case PoolStrategy::Oracle: {
        const size_t next = std::min(k + 1, t.demand.size() - 1);
        return std::max(0, need(t.demand[next], o.utilisation) - serving);
      }
      case PoolStrategy::Umbra: {
        if (k + 1 - t.split >= t.forecasts.size())
          return o.minShadows;  // after the last step: nothing left to serve
        const double expected = umbraExpects(k + 1);
        const int wanted = need(expected, o.utilisation) - serving;
        return std::clamp(std::max({o.minShadows, wanted, riseVms}), 0, maxShadows);
      }
    }
    return 0;
  };
  dormant = reserve(t.split - 1);
  run.created += dormant;
  for (size_t k = t.split; k < t.demand.size(); ++k) {
    const int needed = need(t.demand[k], o.utilisation);
    run.seconds += o.stepSeconds;
    if (needed > serving) {
      // A surge, served in rounds as the controller does: each round activates what the trigger
      // shows (utilisation saturates at 1: at most 1/threshold of what serves) and, for Umbra, the
      // history's rise and the forecast's deficit; dormant shadows first (activation), cold starts
      // for the rest; the next round after the slowest of this one serves and an interval. The
      // oracle activates exactly what is missing at once.
      int fromPool = 0, cold = 0;
      double at = 0, ready = 0;
      int lastRound = 0;
      while (serving < needed) {
        const double u = std::min(1.0, t.demand[k] / serving);
        int round =
            std::max(1, static_cast<int>(std::ceil(u * serving / o.utilisation - serving - 1e-9)));
        if (strategy == PoolStrategy::Umbra) {
          const int deficit = need(umbraExpects(k), o.utilisation) - serving;
          round = std::max({round, riseVms, deficit, 2 * lastRound});
        }
        if (strategy == PoolStrategy::Oracle)
          round = needed - serving;
        lastRound = round;  // what was asked (Umbra doubles it in the next round)
        // The round serves what is missing; what it asks beyond that (the controller activates
        // it, or cold-starts it where no dormant shadow is left) runs unneeded until the scale-in
        // after idleSteps: counted as active surplus, not as capacity serving later rises (which
        // would only help the strategy that overshoots).
        const int missing = needed - serving;
        const int served = std::min(round, missing);
        const int a = std::min(served, dormant);
        const int c = served - a;
        const int overshoot = std::clamp(round - missing, 0, std::max(0, maxShadows - needed));
        run.surplusActiveHours += overshoot * o.idleSteps * o.stepSeconds / 3600;
        double slowest = a > 0 ? o.activationSeconds : 0;
        for (int j = 0; j < c; ++j)
          slowest = std::max(slowest, std::exp(normal(rng)));
        run.unmetVmMinutes += (needed - serving) * slowest / 60;
        dormant -= a;
        fromPool += a;
        cold += c;
        serving += a + c;
        ready = at + slowest;
        at = ready + o.roundIntervalSeconds;
      }
      run.surges += 1;
      run.timeToCapacity.push_back(ready);
      if (cold == 0) {
        run.servedFromPool += 1;
        run.poolTimeToCapacity.push_back(ready);
      }
      if (announcedAt[k] >= 0) {
        run.announcedSurges += 1;
        run.announcedServed += cold == 0 ? 1 : 0;
      }
      run.coldStarts += cold;
      run.created += cold;
      idleFor = 0;
    } else if (needed < serving) {
      // Scale in after idleSteps below the need: the surplus goes dormant (deleted without a
      // pool).
      if (++idleFor >= o.idleSteps) {
        const int surplus = serving - needed;
        serving = needed;
        idleFor = 0;
        if (strategy == PoolStrategy::Reactive)
          run.decommissioned += surplus;
        else
          dormant += surplus;
      }
    } else {
      idleFor = 0;
    }
    // The reserve for the next step: refills are created (a cold start, done within the step),
    // surplus dormant shadows decommissioned.
    const int want = reserve(k);
    if (dormant < want) {
      run.created += want - dormant;
      dormant = want;
    } else if (dormant > want) {
      run.decommissioned += dormant - want;
      dormant = want;
    }
    run.heldShadowHours += dormant * o.stepSeconds / 3600;
    run.surplusActiveHours += std::max(0, serving - needed) * o.stepSeconds / 3600;
  }
  return run;
}

}  // namespace umbra::offline
