#include "sim/requests.h"

#include <algorithm>
#include <cmath>

namespace umbra::sim {
namespace {

// The regularized lower incomplete gamma function P(a, x) (series for x < a + 1, else Lentz's
// continued fraction for Q = 1 - P).
double gammaP(double a, double x) {
  if (x <= 0)
    return 0;
  const double lg = std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 500 && std::abs(term) > 1e-14 * std::abs(sum); ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return std::clamp(sum * std::exp(-x + a * std::log(x) - lg), 0.0, 1.0);
  }
  constexpr double Tiny = 1e-300;
  double b = x + 1 - a, c = 1 / Tiny, d = 1 / b, h = d;
  for (int i = 1; i < 500; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = std::abs(d) < Tiny ? Tiny : d;
    c = b + an / c;
    c = std::abs(c) < Tiny ? Tiny : c;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-14)
      break;
  }
  return std::clamp(1 - std::exp(-x + a * std::log(x) - lg) * h, 0.0, 1.0);
}

}  // namespace

double erlangC(int servers, double offered) {
  const int k = std::max(1, servers);
  if (offered <= 0)
    return 0;
  if (offered >= k)
    return 1;
  // Erlang B by its recursion, then C = B / (1 - rho (1 - B)).
  double b = 1;
  for (int i = 1; i <= k; ++i)
    b = offered * b / (i + offered * b);
  const double rho = offered / k;
  return b / (1 - rho * (1 - b));
}

LatencyDistribution::LatencyDistribution(const RequestLoad& load, const RequestModel& model)
    : model_(model) {
  const int k = std::max(1, load.servers);
  const double capacity = k * load.serviceRate;
  meanService_ = load.serviceRate > 0 ? 1 / load.serviceRate : 0;
  if (load.arrivalRate <= 0)
    return;
  if (load.serviceRate <= 0 || load.arrivalRate >= capacity) {
    saturated_ = true;
    served_ = capacity;
    return;
  }
  served_ = load.arrivalRate;
  wait_ = erlangC(k, load.arrivalRate / load.serviceRate);
  // Allen-Cunneen: the M/M/k wait times (1 + cv^2) / 2; the conditional wait stays exponential.
  waitRate_ = (capacity - load.arrivalRate) * 2 / (1 + model_.serviceCv2);
}

double LatencyDistribution::meanSeconds() const {
  if (saturated_)
    return SaturatedSeconds;
  return meanService_ + (waitRate_ > 0 ? wait_ / waitRate_ : 0);
}

double LatencyDistribution::cdf(double t) const {
  if (t <= 0)
    return 0;
  if (saturated_)
    return t >= SaturatedSeconds ? 1 : 0;
  if (meanService_ <= 0)
    return 1;
  // Service ~ Gamma(shape 1/cv^2, mean meanService_); wait ~ 0 w.p. 1 - wait_, else Exp(waitRate_).
  const double shape = 1 / std::max(1e-3, model_.serviceCv2);
  const double scale = meanService_ / shape;
  const auto service = [&](double x) { return x <= 0 ? 0.0 : gammaP(shape, x / scale); };
  double p = (1 - wait_) * service(t);
  if (wait_ > 0) {
    // P(S + W <= t | W > 0) = E[F_S(t - W)], W ~ Exp(waitRate_): the mean over the wait's
    // quantiles at the midpoints of Steps equal slices of probability (each weighs 1 / Steps, so
    // the mass is exact and the result monotonic in t).
    constexpr int Steps = 400;
    double integral = 0;
    for (int i = 0; i < Steps; ++i) {
      const double w = -std::log(1 - (i + 0.5) / Steps) / waitRate_;
      if (w >= t)
        break;  // the quantiles grow: the rest waits longer than t
      integral += service(t - w) / Steps;
    }
    p += wait_ * integral;
  }
  return std::clamp(p, 0.0, 1.0);
}

double LatencyDistribution::quantile(double q) const {
  if (saturated_)
    return SaturatedSeconds;
  double lo = 0, hi = std::max(1e-6, meanSeconds());
  while (cdf(hi) < q && hi < 1e6)
    hi *= 2;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (cdf(mid) < q ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace umbra::sim
