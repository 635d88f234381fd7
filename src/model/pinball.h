#pragma once
// The pinball (quantile) loss of one prediction: what the contention mapping's quantile regression
// minimises and what judges it.

namespace umbra::model {

inline double pinball(double actual, double predicted, double q) {
  const double d = actual - predicted;
  return d >= 0 ? q * d : (q - 1) * d;
}

}  // namespace umbra::model
