#include "scaling/scalers.h"

#include <algorithm>
#include <cmath>

namespace umbra::scaling {

double Resource::quantize(double v) const {
  const double q = step > 0 ? std::ceil(v / step - 1e-9) * step : v;
  return std::clamp(q, min, max);
}

DecayingHistogram::DecayingHistogram(double max, double halfLifeSteps, int buckets)
    : max_(max > 0 ? max : 1),
      decay_(std::exp2(-1.0 / std::max(halfLifeSteps, 1e-9))),
      w_(static_cast<size_t>(std::max(buckets, 1)), 0.0) {}

void DecayingHistogram::add(double v) {
  // Older samples fade instead of the newest growing, so that the weights stay bounded.
  for (double& x : w_)
    x *= decay_;
  total_ *= decay_;
  const auto n = static_cast<double>(w_.size());
  const auto b = static_cast<size_t>(std::clamp(std::floor(v / max_ * n), 0.0, n - 1));
  w_[b] += 1;
  total_ += 1;
}

double DecayingHistogram::percentile(double q) const {
  if (total_ <= 0)
    return 0;
  double acc = 0;
  for (size_t b = 0; b < w_.size(); ++b) {
    acc += w_[b];
    if (acc >= q * total_ * (1 - 1e-12))
      return max_ * static_cast<double>(b + 1) / static_cast<double>(w_.size());
  }
  return max_;
}

namespace {

class Static final : public Scaler {
 public:
  explicit Static(double size) : size_(size) {}
  std::string name() const override { return "static"; }
  double decide(const Observation&) override { return size_; }

 private:
  double size_;
};

class Reactive final : public Scaler {
 public:
  explicit Reactive(ReactiveOptions o) : o_(o) {}
  std::string name() const override { return "reactive"; }
  double decide(const Observation& obs) override {
    if (obs.demand.empty() || obs.allocation <= 0)
      return obs.allocation;
    const double util = obs.demand.back() / obs.allocation;
    above_ = util > o_.target * (1 + o_.tolerance) ? above_ + 1 : 0;
    const double want = obs.allocation * util / o_.target;
    recent_.push_back(want);
    while (recent_.size() > static_cast<size_t>(std::max(o_.downWindowSteps, 1)))
      recent_.pop_front();
    if (above_ >= o_.upSteps)
      return std::max(want, obs.allocation);
    if (util < o_.target * (1 - o_.tolerance))
      return std::min(obs.allocation, *std::max_element(recent_.begin(), recent_.end()));
    return obs.allocation;
  }

 private:
  ReactiveOptions o_;
  int above_ = 0;
  std::deque<double> recent_;
};

// Feeds every sample not yet seen to `h`.
void catchUp(DecayingHistogram& h, size_t& seen, std::span<const double> demand) {
  for (; seen < demand.size(); ++seen)
    h.add(demand[seen]);
}

class Vpa final : public Scaler {
 public:
  explicit Vpa(VpaOptions o) : o_(o), h_(o.histogramMax, o.halfLifeSeconds / o.stepSeconds) {}
  std::string name() const override { return "vpa"; }
  double decide(const Observation& obs) override {
    catchUp(h_, seen_, obs.demand);
    const double m = 1 + o_.margin;
    const double target = h_.percentile(o_.targetPercentile) * m;
    const double lower = h_.percentile(o_.lowerPercentile) * m;
    const double upper = h_.percentile(o_.upperPercentile) * m;
    if (obs.allocation < lower || obs.allocation > upper)
      return target;
    return obs.allocation;
  }

 private:
  VpaOptions o_;
  DecayingHistogram h_;
  size_t seen_ = 0;
};

class Autopilot final : public Scaler {
 public:
  explicit Autopilot(AutopilotOptions o)
      : o_(o), h_(o.histogramMax, o.halfLifeSeconds / o.stepSeconds) {}
  std::string name() const override { return "autopilot"; }
  double decide(const Observation& obs) override {
    catchUp(h_, seen_, obs.demand);
    double s = 0;
    if (o_.percentile >= 1) {
      const auto window = static_cast<size_t>(o_.maxWindowSeconds / o_.stepSeconds);
      const size_t from = obs.demand.size() > window ? obs.demand.size() - window : 0;
      for (size_t i = from; i < obs.demand.size(); ++i)
        s = std::max(s, obs.demand[i]);
    } else {
      s = h_.percentile(o_.percentile);
    }
    return s * (1 + o_.margin);
  }

 private:
  AutopilotOptions o_;
  DecayingHistogram h_;
  size_t seen_ = 0;
};

class Oracle final : public Scaler {
 public:
  Oracle(std::vector<double> series, int lookahead, int cutLookahead)
      : series_(std::move(series)),
        lookahead_(std::max(lookahead, 1)),
        cutLookahead_(std::max(cutLookahead, 1)) {}
  std::string name() const override { return "oracle"; }
  double decide(const Observation& obs) override {
    const double need = ahead(obs.demand.size(), lookahead_);
    if (need >= obs.allocation)
      return need;
    return std::min(obs.allocation, ahead(obs.demand.size(), cutLookahead_));
  }

 private:
  double ahead(size_t now, int steps) const {
    double need = 0;
    for (size_t k = 0; k < static_cast<size_t>(steps) && now + k < series_.size(); ++k)
      need = std::max(need, series_[now + k]);
    return need;
  }
  std::vector<double> series_;
  int lookahead_, cutLookahead_;
};

}  // namespace

std::unique_ptr<Scaler> staticScaler(double size) {
  return std::make_unique<Static>(size);
}
std::unique_ptr<Scaler> reactiveScaler(ReactiveOptions o) {
  return std::make_unique<Reactive>(o);
}
std::unique_ptr<Scaler> vpaScaler(VpaOptions o) {
  return std::make_unique<Vpa>(o);
}
std::unique_ptr<Scaler> autopilotScaler(AutopilotOptions o) {
  return std::make_unique<Autopilot>(o);
}
std::unique_ptr<Scaler> oracleScaler(std::vector<double> series, int lookahead, int cutLookahead) {
  return std::make_unique<Oracle>(std::move(series), lookahead, cutLookahead);
}

UmbraPolicy::UmbraPolicy(PolicyOptions o)
    : o_(o), multiple_(o.initialMultiple), detector_(o.anomaly) {}

double UmbraPolicy::decide(const Observation& obs) {
  PolicyDecision d;
  const double now = obs.demand.empty() ? 0 : obs.demand.back();
  // What happened in the step just ended, against the previous decision's forecast.
  if (!previous_.p50.empty() && !obs.demand.empty()) {
    const double under = now > obs.allocation * o_.saturatedShare ? 1 : 0;
    if (feedback_)
      multiple_ =
          std::clamp(multiple_ + o_.gain * (under - o_.targetUnderShare), 0.0, o_.maxMultiple);
    d.anomaly = detector_.observe(now, previous_.p50, previous_.p90);
  }
  if (d.anomaly.alarm)
    holdLeft_ = o_.holdSteps;
  else if (holdLeft_ > 0)
    --holdLeft_;
  d.multiple = multiple_;
  double wish = 0;
  if (obs.forecast != nullptr && !obs.forecast->p50.empty()) {
    const size_t lead =
        std::min(obs.forecast->p50.size(), static_cast<size_t>(std::max(o_.leadSteps, 1)));
    for (size_t h = 0; h < lead; ++h) {
      const double p50 = obs.forecast->p50[h];
      const double spread = std::max(obs.forecast->p90[h] - p50, 0.0);
      wish = std::max({wish, p50 / o_.targetUtilisation, p50 + multiple_ * spread});
    }
    previous_ = *obs.forecast;
    d.reason = "forecast";
  } else {
    // No forecast (too little history): keep up with what is used.
    wish = now / o_.targetUtilisation;
    previous_ = {};
    d.reason = "no forecast: newest demand over the target utilisation";
  }
  if (d.anomaly.alarm || holdLeft_ > 0) {
    d.aggressive = true;
    wish = std::max(wish, now * o_.aggressiveFactor);
    d.reason = d.anomaly.alarm ? "surge detected" : "holding after a surge";
  }
  d.wish = wish;
  const auto window = static_cast<size_t>(
      std::max(o_.cutsRestart ? o_.restartCutWindowSteps : o_.downWindowSteps, 1));
  wishes_.push_back(wish);
  while (wishes_.size() > window)
    wishes_.pop_front();
  // Raise at once; cut only to the highest wish of the stabilisation window, once it is full.
  if (wish >= obs.allocation)
    d.decided = wish;
  else if (wishes_.size() < window)
    d.decided = obs.allocation;
  else if (const double floor = *std::max_element(wishes_.begin(), wishes_.end());
           floor < obs.allocation * (1 - o_.cutTolerance))
    d.decided = floor;
  else
    d.decided = obs.allocation;
  last_ = d;
  return d.decided;
}

}  // namespace umbra::scaling
