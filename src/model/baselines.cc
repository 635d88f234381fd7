// The baselines of the demand forecast: last value, seasonal naive, additive Holt-Winters and a
// direct linear autoregression. Local: fitted per series on its training part.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "model/series_forecast.h"

namespace umbra::model {
namespace {

// In-sample h-step errors are measured at most this many origins per series.
constexpr size_t MaxResidualOrigins = 1500;

// Shared by the baselines: p90 = p50 + the 90th percentile of in-sample errors (actual - p50) at
// each horizon step, measured on the training part by `pointForecast`.
class LocalMethod : public SeriesMethod {
 public:
  Status fit(const std::vector<TrainSeries>& train, int horizon) override {
    margin_.assign(train.size(), std::vector<double>(static_cast<size_t>(horizon), 0.0));
    prepare(train);
    for (size_t i = 0; i < train.size(); ++i) {
      const auto& s = train[i];
      const size_t n = s.values.size();
      const size_t first = std::min(n, warmup());
      if (n < first + static_cast<size_t>(horizon) + 1)
        continue;
      const size_t origins = n - first - static_cast<size_t>(horizon);
      const size_t stride = std::max<size_t>(1, origins / MaxResidualOrigins);
      std::vector<std::vector<double>> errors(static_cast<size_t>(horizon));
      for (size_t o = first; o + static_cast<size_t>(horizon) < n; o += stride) {
        const std::span<const double> history(s.values.data(), o + 1);
        const std::vector<double> f = pointForecast(i, history, horizon);
        for (int h = 0; h < horizon; ++h) {
          const size_t t = o + 1 + static_cast<size_t>(h);
          if (s.observed.empty() || s.observed[t])
            errors[static_cast<size_t>(h)].push_back(s.values[t] - f[static_cast<size_t>(h)]);
        }
      }
      for (int h = 0; h < horizon; ++h)
        margin_[i][static_cast<size_t>(h)] =
            std::max(0.0, quantileOf(errors[static_cast<size_t>(h)], 0.9));
    }
    return okStatus();
  }

  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override {
    QuantileForecast out;
    out.p50 = pointForecast(index, history, horizon);
    out.p90 = out.p50;
    for (int h = 0; h < horizon; ++h) {
      const double m = index < margin_.size() ? margin_[index][static_cast<size_t>(h)] : 0.0;
      out.p90[static_cast<size_t>(h)] += m;
    }
    return out;
  }

 protected:
  virtual void prepare(const std::vector<TrainSeries>& /*train*/) {}
  virtual size_t warmup() const { return 1; }
  virtual std::vector<double> pointForecast(size_t index, std::span<const double> history,
                                            int horizon) const = 0;

 private:
  std::vector<std::vector<double>> margin_;
};

class LastValue final : public LocalMethod {
 public:
  std::string name() const override { return "last-value"; }

 protected:
  std::vector<double> pointForecast(size_t, std::span<const double> history,
                                    int horizon) const override {
    return std::vector<double>(static_cast<size_t>(horizon), history.empty() ? 0 : history.back());
  }
};

class SeasonalNaive final : public LocalMethod {
 public:
  explicit SeasonalNaive(int period) : period_(static_cast<size_t>(period)) {}
  std::string name() const override { return "seasonal-naive"; }

 protected:
  size_t warmup() const override { return period_; }
  std::vector<double> pointForecast(size_t, std::span<const double> history,
                                    int horizon) const override {
    std::vector<double> out(static_cast<size_t>(horizon));
    const size_t n = history.size();
    for (size_t h = 1; h <= out.size(); ++h) {
      // y[n-1+h-period], or the newest value while the series is younger than a season
      const size_t back = period_ - ((h - 1) % period_);
      out[h - 1] = n >= back ? history[n - back] : (n ? history.back() : 0);
    }
    return out;
  }

 private:
  size_t period_;
};

// The median of the newest `steps` values, for every step ahead: a level that spikes do not move
// (what an L1 score rewards on bursty or mostly idle series, where the last value persists a
// spike).
class RecentMedian final : public LocalMethod {
 public:
  explicit RecentMedian(int steps) : steps_(static_cast<size_t>(std::max(1, steps))) {}
  std::string name() const override { return "recent-median"; }

 protected:
  std::vector<double> pointForecast(size_t, std::span<const double> history,
                                    int horizon) const override {
    if (history.empty())
      return std::vector<double>(static_cast<size_t>(horizon), 0.0);
    const size_t k = std::min(steps_, history.size());
    std::vector<double> w(history.end() - static_cast<std::ptrdiff_t>(k), history.end());
    std::nth_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(k / 2), w.end());
    double m = w[k / 2];
    if (k % 2 == 0) {  // the mean of the two middle values
      const double lower =
          *std::max_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(k / 2));
      m = (m + lower) / 2;
    }
    return std::vector<double>(static_cast<size_t>(horizon), m);
  }

 private:
  size_t steps_;
};

// Additive Holt-Winters: the state after filtering a history, and its h-step forecast.
struct HwParams {
  double alpha = 0.2, beta = 0.01, gamma = 0.1;
};

struct HwState {
  double level = 0, trend = 0;
  std::vector<double> season;  // by phase t % period
  size_t t = 0;                // observations filtered
};

HwState hwFilter(std::span<const double> y, size_t period, const HwParams& p, double* sse) {
  HwState s;
  s.season.assign(period, 0.0);
  if (y.size() < 2 * period) {
    s.level = y.empty() ? 0 : y.back();
    s.t = y.size();
    return s;
  }
  double m1 = 0, m2 = 0;
  for (size_t i = 0; i < period; ++i) {
    m1 += y[i];
    m2 += y[period + i];
  }
  m1 /= static_cast<double>(period);
  m2 /= static_cast<double>(period);
  s.level = m1;
  s.trend = (m2 - m1) / static_cast<double>(period);
  for (size_t i = 0; i < period; ++i)
    s.season[i] = y[i] - m1;
  for (size_t t = period; t < y.size(); ++t) {
    const size_t phase = t % period;
    const double forecast = s.level + s.trend + s.season[phase];
    if (sse != nullptr)
      *sse += (y[t] - forecast) * (y[t] - forecast);
    const double previous = s.level;
    s.level = p.alpha * (y[t] - s.season[phase]) + (1 - p.alpha) * (s.level + s.trend);
    s.trend = p.beta * (s.level - previous) + (1 - p.beta) * s.trend;
    s.season[phase] = p.gamma * (y[t] - s.level) + (1 - p.gamma) * s.season[phase];
  }
  s.t = y.size();
  return s;
}

class HoltWinters final : public LocalMethod {
 public:
  explicit HoltWinters(int period) : period_(static_cast<size_t>(period)) {}
  std::string name() const override { return "holt-winters"; }

 protected:
  size_t warmup() const override { return 2 * period_; }
  void prepare(const std::vector<TrainSeries>& train) override {
    params_.assign(train.size(), HwParams{});
    for (size_t i = 0; i < train.size(); ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (const double a : {0.05, 0.2, 0.5, 0.8}) {
        for (const double b : {0.0, 0.01, 0.1}) {
          for (const double g : {0.01, 0.1, 0.3}) {
            double sse = 0;
            hwFilter(train[i].values, period_, {a, b, g}, &sse);
            if (sse < best) {
              best = sse;
              params_[i] = {a, b, g};
            }
          }
        }
      }
    }
  }
  std::vector<double> pointForecast(size_t index, std::span<const double> history,
                                    int horizon) const override {
    const HwParams p = index < params_.size() ? params_[index] : HwParams{};
    const HwState s = hwFilter(history, period_, p, nullptr);
    std::vector<double> out(static_cast<size_t>(horizon));
    for (size_t h = 1; h <= out.size(); ++h) {
      const size_t phase = (s.t + h - 1) % period_;
      out[h - 1] = s.level + static_cast<double>(h) * s.trend + s.season[phase];
    }
    return out;
  }

 private:
  size_t period_;
  std::vector<HwParams> params_;
};

// Solves (A + ridge I) x = b by Gaussian elimination with partial pivoting; A is n x n row-major.
std::vector<double> solve(std::vector<double> a, std::vector<double> b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    a[i * n + i] += 1e-6;
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[pivot * n + c]))
        pivot = r;
    }
    if (std::abs(a[pivot * n + c]) < 1e-15)
      continue;
    for (size_t k = 0; k < n; ++k)
      std::swap(a[c * n + k], a[pivot * n + k]);
    std::swap(b[c], b[pivot]);
    for (size_t r = 0; r < n; ++r) {
      if (r == c)
        continue;
      const double f = a[r * n + c] / a[c * n + c];
      for (size_t k = c; k < n; ++k)
        a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    x[i] = std::abs(a[i * n + i]) < 1e-15 ? 0 : b[i] / a[i * n + i];
  return x;
}

// y[t+h] ~ c + sum_k w_k y[t-k] (k < lags) + s * y[t+h-period]: one least-squares fit per h.
class LinearAr final : public LocalMethod {
 public:
  LinearAr(int lags, int period)
      : lags_(static_cast<size_t>(lags)), period_(static_cast<size_t>(period)) {}
  std::string name() const override { return "linear-ar"; }

 protected:
  size_t warmup() const override { return std::max(lags_, period_); }
  void prepare(const std::vector<TrainSeries>& train) override {
    const size_t d = lags_ + 2;
    coef_.assign(train.size(), {});
    for (size_t i = 0; i < train.size(); ++i) {
      const auto& y = train[i].values;
      coef_[i].assign(horizon_, std::vector<double>(d, 0.0));
      for (size_t h = 1; h <= horizon_; ++h) {
        std::vector<double> ata(d * d, 0.0), atb(d, 0.0), x(d);
        for (size_t t = warmup(); t + h < y.size(); ++t) {
          if (!train[i].observed.empty() && !train[i].observed[t + h])
            continue;
          features(std::span<const double>(y.data(), t + 1), h, x);
          for (size_t r = 0; r < d; ++r) {
            atb[r] += x[r] * y[t + h];
            for (size_t c = 0; c < d; ++c)
              ata[r * d + c] += x[r] * x[c];
          }
        }
        coef_[i][h - 1] = solve(ata, atb, d);
      }
    }
  }
  std::vector<double> pointForecast(size_t index, std::span<const double> history,
                                    int horizon) const override {
    std::vector<double> out(static_cast<size_t>(horizon), history.empty() ? 0 : history.back());
    if (index >= coef_.size() || history.size() < warmup())
      return out;
    std::vector<double> x(lags_ + 2);
    for (size_t h = 1; h <= out.size() && h <= horizon_; ++h) {
      features(history, h, x);
      out[h - 1] = std::inner_product(x.begin(), x.end(), coef_[index][h - 1].begin(), 0.0);
    }
    return out;
  }

 public:
  Status fit(const std::vector<TrainSeries>& train, int horizon) override {
    horizon_ = static_cast<size_t>(horizon);
    return LocalMethod::fit(train, horizon);
  }

 private:
  void features(std::span<const double> y, size_t h, std::vector<double>& x) const {
    const size_t n = y.size();
    x[0] = 1;
    for (size_t k = 0; k < lags_; ++k)
      x[1 + k] = y[n - 1 - k];
    x[lags_ + 1] = y[n - 1 + h - period_];
  }
  size_t lags_, period_;
  size_t horizon_ = 1;
  std::vector<std::vector<std::vector<double>>> coef_;
};

}  // namespace

std::unique_ptr<SeriesMethod> lastValue() {
  return std::make_unique<LastValue>();
}
std::unique_ptr<SeriesMethod> seasonalNaive(int period) {
  return std::make_unique<SeasonalNaive>(period);
}
std::unique_ptr<SeriesMethod> recentMedian(int steps) {
  return std::make_unique<RecentMedian>(steps);
}
std::unique_ptr<SeriesMethod> holtWinters(int period) {
  return std::make_unique<HoltWinters>(period);
}
std::unique_ptr<SeriesMethod> linearAutoregressive(int lags, int period) {
  return std::make_unique<LinearAr>(lags, period);
}

double quantileOf(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double percentileOf(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double maseScale(const TrainSeries& train, int period) {
  const auto& y = train.values;
  const auto scale = [&](size_t lag) {
    double sum = 0;
    size_t n = 0;
    for (size_t t = lag; t < y.size(); ++t) {
      if (!train.observed.empty() && (!train.observed[t] || !train.observed[t - lag]))
        continue;
      sum += std::abs(y[t] - y[t - lag]);
      ++n;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  };
  const double seasonal = scale(static_cast<size_t>(period));
  return seasonal > 1e-12 ? seasonal : scale(1);
}

}  // namespace umbra::model
