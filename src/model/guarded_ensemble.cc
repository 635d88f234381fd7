// The forecast engine's per-series guard over its members (guarded_ensemble.h).
#include "model/guarded_ensemble.h"

#include <algorithm>
#include <cmath>

namespace umbra::model {
namespace {

// The members' medians at one series' validation origins: per scored point, its horizon step,
// the actual and one forecast per member.
struct Validation {
  std::vector<size_t> step;
  std::vector<double> actual;
  std::vector<double> forecasts;  // [point * members + member]

  double blend(size_t point, const std::vector<double>& w) const {
    double v = 0;
    for (size_t m = 0; m < w.size(); ++m)
      v += w[m] * forecasts[point * w.size() + m];
    return std::clamp(v, 0.0, 1.0);
  }
  double loss(const std::vector<double>& w, size_t from = 0,
              size_t to = static_cast<size_t>(-1)) const {
    double sum = 0;
    for (size_t k = from; k < std::min(to, actual.size()); ++k)
      sum += std::abs(actual[k] - blend(k, w));
    return sum;
  }
  // The first point of the newer half: an origin's points stay together.
  size_t middle = 0;
};

size_t argmin(const std::vector<double>& v) {
  return static_cast<size_t>(std::min_element(v.begin(), v.end()) - v.begin());
}

// The blend with the least summed loss relative to each series' best (every series counts once,
// whatever its scale; a series whose best is exact counts 1 for every blend).
std::vector<double> leastRegret(const std::vector<std::vector<double>>& grid,
                                const std::vector<std::vector<double>>& losses) {
  std::vector<double> regret(grid.size(), 0.0);
  for (const auto& l : losses) {
    if (l.empty())
      continue;
    const double best = *std::min_element(l.begin(), l.end());
    for (size_t g = 0; g < grid.size(); ++g)
      regret[g] += best > 0 ? l[g] / best : 1.0;
  }
  return grid[argmin(regret)];
}

std::vector<double> shrunk(const std::vector<double>& own, const std::vector<double>& global,
                           double lambda) {
  std::vector<double> w(own.size());
  for (size_t m = 0; m < own.size(); ++m)
    w[m] = (1 - lambda) * own[m] + lambda * global[m];
  return w;
}

}  // namespace

double nestedShrinkage(const std::vector<std::vector<double>>& grid,
                       const std::vector<std::vector<double>>& older,
                       const std::vector<std::vector<double>>& newer,
                       const std::function<double(size_t, const std::vector<double>&)>& newerLoss,
                       const std::vector<double>& lambdas) {
  if (grid.empty() || lambdas.empty())
    return 0;
  const std::vector<double> global = leastRegret(grid, older);
  std::vector<double> score(lambdas.size(), 0.0);
  bool any = false;
  for (size_t i = 0; i < older.size(); ++i) {
    if (older[i].empty() || i >= newer.size() || newer[i].empty())
      continue;
    const double best = *std::min_element(newer[i].begin(), newer[i].end());
    if (best <= 0)
      continue;
    any = true;
    const std::vector<double>& own = grid[argmin(older[i])];
    for (size_t l = 0; l < lambdas.size(); ++l)
      score[l] += newerLoss(i, shrunk(own, global, lambdas[l])) / best;
  }
  return any ? lambdas[argmin(score)] : 0;
}

std::vector<std::vector<double>> weightGrid(size_t members, double step) {
  std::vector<std::vector<double>> out;
  if (members == 0)
    return out;
  const int units = std::max(1, static_cast<int>(std::lround(1.0 / step)));
  std::vector<int> parts(members, 0);
  // Every composition of `units` into `members` non-negative parts.
  const auto recurse = [&](auto& self, size_t m, int left) -> void {
    if (m + 1 == members) {
      parts[m] = left;
      std::vector<double> w(members);
      for (size_t k = 0; k < members; ++k)
        w[k] = static_cast<double>(parts[k]) / units;
      out.push_back(std::move(w));
      return;
    }
    for (int p = 0; p <= left; ++p) {
      parts[m] = p;
      self(self, m + 1, left - p);
    }
  };
  recurse(recurse, 0, units);
  return out;
}

GuardedEnsemble::GuardedEnsemble(std::vector<SeriesMethod*> members, bool fitMembers,
                                 GuardOptions options)
    : members_(std::move(members)), fitMembers_(fitMembers), o_(options) {}

Status GuardedEnsemble::fit(const std::vector<TrainSeries>& train, int horizon) {
  if (members_.empty())
    return Error::make(ErrorKind::Invalid, "guarded-ensemble: no members");
  if (fitMembers_) {
    for (SeriesMethod* m : members_)
      UMBRA_CHECK(m->fit(train, horizon));
  }
  horizon_ = horizon;
  const size_t M = members_.size();
  const auto H = static_cast<size_t>(horizon);
  const auto grid = weightGrid(M, o_.gridStep);
  std::vector<Validation> val(train.size());
  std::vector<std::vector<double>> losses(train.size()), older(train.size()), newer(train.size());
  for (size_t i = 0; i < train.size(); ++i) {
    const auto& s = train[i];
    const size_t n = s.values.size();
    const auto start = std::max<size_t>(
        2, static_cast<size_t>((1.0 - o_.validationFraction) * static_cast<double>(n)));
    Validation& v = val[i];
    bool split = false;
    for (size_t origin = start - 1; origin + H < n;
         origin += std::max<size_t>(1, o_.originStride)) {
      const std::span<const double> history(s.values.data(), origin + 1);
      if (!split && origin + 1 >= start + (n - start) / 2) {
        v.middle = v.actual.size();
        split = true;
      }
      std::vector<QuantileForecast> f;
      f.reserve(M);
      for (const SeriesMethod* m : members_)
        f.push_back(m->predict(i, history, horizon));
      for (size_t h = 0; h < H; ++h) {
        const size_t t = origin + 1 + h;
        if (!s.observed.empty() && !s.observed[t])
          continue;
        v.step.push_back(h);
        v.actual.push_back(s.values[t]);
        for (size_t m = 0; m < M; ++m)
          v.forecasts.push_back(h < f[m].p50.size() ? f[m].p50[h] : history.back());
      }
    }
    if (v.actual.size() < o_.minPoints)
      continue;
    losses[i].resize(grid.size());
    for (size_t g = 0; g < grid.size(); ++g)
      losses[i][g] = v.loss(grid[g]);
    if (o_.shrinkToGlobal && v.middle > 0 && v.middle < v.actual.size()) {
      older[i].resize(grid.size());
      newer[i].resize(grid.size());
      for (size_t g = 0; g < grid.size(); ++g) {
        older[i][g] = v.loss(grid[g], 0, v.middle);
        newer[i][g] = losses[i][g] - older[i][g];
      }
    }
  }
  // The weights for series fit() did not see.
  global_ = leastRegret(grid, losses);
  shrinkage_ = 0;
  if (o_.shrinkToGlobal)
    shrinkage_ = nestedShrinkage(
        grid, older, newer,
        [&](size_t i, const std::vector<double>& w) { return val[i].loss(w, val[i].middle); },
        {0.0, 0.25, 0.5, 0.75, 1.0});
  weights_.assign(train.size(), {});
  margin_.assign(train.size(), std::vector<double>(H, 0.0));
  for (size_t i = 0; i < train.size(); ++i) {
    const Validation& v = val[i];
    weights_[i] =
        losses[i].empty() ? global_ : shrunk(grid[argmin(losses[i])], global_, shrinkage_);
    std::vector<std::vector<double>> errors(H);
    for (size_t k = 0; k < v.actual.size(); ++k)
      errors[v.step[k]].push_back(v.actual[k] - v.blend(k, weights_[i]));
    for (size_t h = 0; h < H; ++h)
      margin_[i][h] = std::max(0.0, quantileOf(std::move(errors[h]), 0.9));
    if (v.actual.empty())
      margin_[i].clear();  // nothing measured: the members' own offsets
  }
  return okStatus();
}

QuantileForecast GuardedEnsemble::predict(size_t index, std::span<const double> history,
                                          int horizon) const {
  QuantileForecast out;
  const auto H = static_cast<size_t>(horizon);
  const double last = history.empty() ? 0 : history.back();
  if (global_.empty() || history.empty()) {  // not fitted
    out.p50.assign(H, last);
    out.p90.assign(H, last);
    return out;
  }
  const bool known = index < weights_.size();
  const std::vector<double>& w = known ? weights_[index] : global_;
  out.p50.assign(H, 0.0);
  std::vector<double> offset(H, 0.0);
  for (size_t m = 0; m < members_.size(); ++m) {
    if (w[m] <= 0)
      continue;
    const QuantileForecast f = members_[m]->predict(index, history, horizon);
    for (size_t h = 0; h < H; ++h) {
      const double p50 = h < f.p50.size() ? f.p50[h] : last;
      const double p90 = h < f.p90.size() ? f.p90[h] : p50;
      out.p50[h] += w[m] * p50;
      offset[h] += w[m] * std::max(0.0, p90 - p50);
    }
  }
  out.p90.resize(H);
  for (size_t h = 0; h < H; ++h) {
    out.p50[h] = std::clamp(out.p50[h], 0.0, 1.0);
    const bool measured = known && h < margin_[index].size();
    out.p90[h] =
        std::clamp(out.p50[h] + (measured ? margin_[index][h] : offset[h]), out.p50[h], 1.0);
  }
  return out;
}

}  // namespace umbra::model
