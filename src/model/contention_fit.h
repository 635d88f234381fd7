#pragma once
// Internal to the contention mapping (contention_map.cc, contention_posterior.cc): the linear
// quantile regression both use, and the CPU posterior's fitting, prediction and file form.
#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/result.h"
#include "model/contention_map.h"

namespace umbra::model {

namespace contention_fit {

using Features = std::array<double, ContentionMap::MaxFeatures>;
using Weights = std::array<double, ContentionMap::MaxFeatures + 1>;

// The head's mean and standard deviation of each feature over x (1 for a constant one).
void standardise(ContentionMap::Head& h, const std::vector<Features>& x);
// w[0] + sum w[j + 1] x standardised f[j].
double apply(const ContentionMap::Head& h, const Features& f, const Weights& w);
// Linear quantile regression by full-batch Adam on the pinball loss (standardised features).
Weights fitQuantile(const std::vector<Features>& x, const std::vector<double>& y,
                    const ContentionMap::Head& h, double q);

}  // namespace contention_fit

struct PosteriorAccess {
  // Fits the prior (the node's forecast alone) and the variances, after the CPU head.
  static void fit(ContentionMap& map, const std::vector<Outcome>& outcomes);
  static std::optional<CpuPosterior> posterior(const ContentionMap& map,
                                               const ContentionInputs& in);
  static nlohmann::json toJson(const ContentionMap& map);
  // Reads the "cpuPosterior" object of a file; absent in older files (then none).
  static Status fromJson(ContentionMap& map, const nlohmann::json& doc);
};

}  // namespace umbra::model
