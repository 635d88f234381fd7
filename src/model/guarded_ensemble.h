#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "model/series_forecast.h"

namespace umbra::model {

struct GuardOptions {
  // The newest part of every training series the weights are chosen on (the LSTM's early-stopping
  // part, which it does not train on).
  double validationFraction = 0.15;
  size_t originStride = 3;  // validation origins every N steps
  double gridStep = 0.1;    // member weights are multiples of this, summing to 1
  // A series with fewer scored validation points than this takes the weights chosen for all.
  size_t minPoints = 60;
  // Shrink every series' weights toward the all-series weights, w = (1 - λ)·own + λ·global, with λ
  // chosen by nested validation inside the validation part (weights chosen on its older half,
  // scored on its newer half; the λ with the least summed relative loss, the smaller on a tie), so
  // that a series whose validation part misleads its own choice leans on what is right for most.
  bool shrinkToGlobal = false;
};

// The forecast engine's guard: a per-series convex blend of member forecasts (the global network,
// the per-series linear AR, the last value), the weights chosen per series on the newest part of
// its training data, so that no series is left to a member that is worse there. The median is the
// blend of the members' medians, clamped to [0, 1]; the 90th percentile is the median plus the
// 90th percentile of the blend's own errors on that validation part, per horizon step (split
// conformal). A series fit() did not see (an index past its training series) takes the weights
// that are best over all series and the blend of the members' own p90 offsets.
//
// Members are fitted by fit() unless `fitMembers` is false (the benchmark fits and scores them
// first, as rows of their own).
class GuardedEnsemble final : public SeriesMethod {
 public:
  GuardedEnsemble(std::vector<SeriesMethod*> members, bool fitMembers, GuardOptions options = {});

  std::string name() const override {
    return o_.shrinkToGlobal ? "guarded-ensemble-shrunk" : "guarded-ensemble";
  }
  Status fit(const std::vector<TrainSeries>& train, int horizon) override;
  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override;

  // What fit() chose, per series (one weight per member) and for unseen series.
  const std::vector<std::vector<double>>& weights() const { return weights_; }
  const std::vector<double>& globalWeights() const { return global_; }
  // The λ fit() chose (0 without shrinkToGlobal, or when the nested validation had no series).
  double shrinkage() const { return shrinkage_; }

 private:
  std::vector<SeriesMethod*> members_;
  bool fitMembers_;
  GuardOptions o_;
  int horizon_ = 0;
  std::vector<std::vector<double>> weights_;  // [series][member]
  std::vector<std::vector<double>> margin_;   // [series][step]: p90 - p50
  std::vector<double> global_;
  double shrinkage_ = 0;
};

// The λ a nested validation picks from `lambdas` (the smallest on a tie). Per series, `older[g]`
// and `newer[g]` are the losses of grid blend g on the older and newer half of its validation part,
// and `newerLoss(i, w)` the newer half's loss of any blend w; series whose newer half is all exact
// are left out.
double nestedShrinkage(const std::vector<std::vector<double>>& grid,
                       const std::vector<std::vector<double>>& older,
                       const std::vector<std::vector<double>>& newer,
                       const std::function<double(size_t, const std::vector<double>&)>& newerLoss,
                       const std::vector<double>& lambdas);

// Every convex combination of `members` weights in multiples of `step` (the guard's grid).
std::vector<std::vector<double>> weightGrid(size_t members, double step);

}  // namespace umbra::model
