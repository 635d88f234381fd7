// ContentionMap::fit: whether the CPU head keeps the shadow's own terms is judged on the newest
// fifth of the decisions (contention_map.h); the heads themselves are fitted in contention_map.cc.
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/contention_map.h"
#include "model/pinball.h"

namespace umbra::model {

namespace {

// The arrival an outcome belongs to: its target, without the "@node" that simulated outcomes add
// to tell one arrival's candidates apart.
std::string_view arrivalOf(const std::string& target) {
  return std::string_view(target).substr(0, target.find('@'));
}

// Consecutive outcomes of one arrival with one decision time are one decision (simulated outcomes
// come so; blocks at several loads may repeat the times, but not next to each other; the operator's
// two placements decided in the same second are two decisions).
std::vector<std::pair<size_t, size_t>> decisionsOf(const std::vector<Outcome>& outcomes) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome* first = out.empty() ? nullptr : &outcomes[out.back().first];
    if (first && outcomes[i].time == first->time &&
        arrivalOf(outcomes[i].target) == arrivalOf(first->target))
      out.back().second = i + 1;
    else
      out.push_back({i, i + 1});
  }
  return out;
}

}  // namespace

Result<ContentionMap> ContentionMap::fit(const std::vector<Outcome>& outcomes) {
  if (outcomes.size() < MinOutcomes) {
    return Error::make(ErrorKind::Invalid,
                       "contention mapping: " + std::to_string(outcomes.size()) +
                           " outcomes, need at least " + std::to_string(MinOutcomes));
  }
  // The newest fifth of the decisions (by time) judges whether the shadow's terms earn their place.
  const auto decisions = decisionsOf(outcomes);
  std::vector<int64_t> times;
  for (const auto& [from, to] : decisions)
    times.push_back(outcomes[from].time);
  std::sort(times.begin(), times.end());
  const int64_t judgeFrom =
      times[std::min(times.size() - 1, static_cast<size_t>(0.8 * static_cast<double>(times.size())))];
  std::vector<Outcome> older;
  std::vector<std::pair<size_t, size_t>> judged;
  size_t heldOut = 0;
  for (const auto& d : decisions) {
    if (outcomes[d.first].time >= judgeFrom) {
      judged.push_back(d);
      heldOut += d.second - d.first;
    } else {
      older.insert(older.end(), outcomes.begin() + static_cast<std::ptrdiff_t>(d.first),
                   outcomes.begin() + static_cast<std::ptrdiff_t>(d.second));
    }
  }
  ShadowTermsVerdict verdict;
  if (heldOut >= 5 && older.size() >= MinOutcomes) {
    const ContentionMap with = fitHeads(older, true), without = fitHeads(older, false);
    size_t ranked = 0;
    for (const auto& [from, to] : judged)
      ranked += to - from >= 2 ? 1 : 0;
    // Per held-out decision: the regret of choosing its lowest prediction.
    const auto regrets = [&](const ContentionMap& m) {
      std::vector<double> out;
      for (const auto& [from, to] : judged) {
        if (to - from < 2)
          continue;
        size_t chosen = from;
        double best = outcomes[from].actual.cpuContention, lowest = 1e300;
        for (size_t i = from; i < to; ++i) {
          best = std::min(best, outcomes[i].actual.cpuContention);
          const double p = m.predict(outcomes[i].inputs).p50.cpuContention;
          if (p < lowest) {
            lowest = p;
            chosen = i;
          }
        }
        out.push_back(outcomes[chosen].actual.cpuContention - best);
      }
      return out;
    };
    // Per held-out outcome: the CPU prediction's pinball loss (p50 and p90).
    const auto losses = [&](const ContentionMap& m) {
      std::vector<double> out;
      for (const auto& [from, to] : judged) {
        for (size_t i = from; i < to; ++i) {
          const double a = outcomes[i].actual.cpuContention;
          const ContentionQuantiles q = m.predict(outcomes[i].inputs);
          out.push_back(pinball(a, q.p50.cpuContention, 0.5) + pinball(a, q.p90.cpuContention, 0.9));
        }
      }
      return out;
    };
    const bool byRegret = ranked >= MinJudgedDecisions;
    const std::vector<double> a = byRegret ? regrets(with) : losses(with);
    const std::vector<double> b = byRegret ? regrets(without) : losses(without);
    // Paired: kept only if better by more than twice the standard error of the mean difference.
    double sumA = 0, sumB = 0, sumD = 0, sumDD = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      sumA += a[i];
      sumB += b[i];
      sumD += b[i] - a[i];
      sumDD += (b[i] - a[i]) * (b[i] - a[i]);
    }
    const double n = static_cast<double>(a.size());
    const double meanD = sumD / n;
    const double se = n > 1 ? std::sqrt(std::max(0.0, sumDD / n - meanD * meanD) / (n - 1)) : 0.0;
    verdict = {meanD > 0 && meanD > 2 * se, byRegret ? "regret" : "loss", sumA / n, sumB / n,
               a.size()};
  }
  ContentionMap map = fitHeads(outcomes, verdict.kept);
  map.verdict_ = verdict;
  // A reading of the node alone has no shadow's terms: it gets a CPU head fitted without them.
  if (verdict.kept)
    map.nodeCpuHead_ = fitHeads(outcomes, false).heads_[0];
  return map;
}

}  // namespace umbra::model
