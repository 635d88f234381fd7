#include "scaling/engine.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "model/guarded_ensemble.h"

namespace umbra::scaling {

namespace {

// A trained network as a member: not fitted again, asked for its own horizon, the first steps
// kept.
class Borrowed final : public model::SeriesMethod {
 public:
  Borrowed(const model::SeriesMethod& inner, int horizon, std::string name)
      : inner_(inner), h_(horizon), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Status fit(const std::vector<model::TrainSeries>&, int) override { return okStatus(); }
  model::QuantileForecast predict(size_t index, std::span<const double> history,
                                  int horizon) const override {
    auto f = inner_.predict(index, history, h_);
    f.p50.resize(static_cast<size_t>(horizon), f.p50.empty() ? 0 : f.p50.back());
    f.p90.resize(static_cast<size_t>(horizon), f.p90.empty() ? 0 : f.p90.back());
    return f;
  }

 private:
  const model::SeriesMethod& inner_;
  int h_;
  std::string name_;
};

}  // namespace

PassResult runPass(const PassInput& in) {
  PassResult out;
  const size_t n = in.demand.size();
  out.periods = detectPeriods(in.demand, in.stepSeconds);
  const int lead = std::max(in.policy.leadSteps, 1);
  // The surge detector judges an excursion's later steps against the forecast made before it.
  const int horizon = std::max(lead, in.policy.anomaly.consecutiveSteps);
  const double upper = in.upper > 0 ? in.upper : 1;
  std::vector<double> fractions(n);
  for (size_t i = 0; i < n; ++i)
    fractions[i] = std::clamp(in.demand[i] / upper, 0.0, 1.0);

  auto policyOptions = in.policy;
  const size_t replay = n > MinForecastSteps ? std::min(in.replaySteps, n - MinForecastSteps) : 0;
  // The detector learns its band from what the replay shows.
  policyOptions.anomaly.minHistorySteps =
      std::min(policyOptions.anomaly.minHistorySteps, std::max<size_t>(replay / 2, 1));
  UmbraPolicy policy(policyOptions);

  if (n < MinForecastSteps) {
    out.wanted = in.resource.quantize(
        policy.decide({std::span<const double>(in.demand.data(), n), in.allocation, nullptr}));
    out.decision = policy.last();
    return out;
  }
  // The engine on the target's own history: members that fit one series, and the network trained
  // on many when there is one for this step.
  const double day = 86400 / in.stepSeconds;
  const int period = std::max(2, static_cast<int>(std::min(day, static_cast<double>(n) / 3)));
  auto ar = model::linearAutoregressive(std::min(12, period), period);
  auto median = model::recentMedian(std::max(3, static_cast<int>(3 * 3600 / in.stepSeconds)));
  auto last = model::lastValue();
  auto hw = model::holtWinters(period);
  model::GuardOptions guard;
  guard.minPoints = 20;
  std::vector<model::SeriesMethod*> members = {ar.get(), median.get(), last.get(), hw.get()};
  out.model = "guarded-ensemble(linear-ar, recent-median, last-value, holt-winters)";
  std::optional<Borrowed> network;
  if (in.network != nullptr && std::abs(in.networkStepSeconds - in.stepSeconds) < 1e-9 &&
      in.networkHorizon >= horizon) {
    network.emplace(*in.network, in.networkHorizon, in.networkName);
    members.insert(members.begin(), &*network);
    out.model = "guarded-ensemble(" + in.networkName +
                ", linear-ar, recent-median, last-value, holt-winters)";
  }
  model::GuardedEnsemble engine(members, true, guard);
  model::TrainSeries train{fractions, std::vector<uint8_t>(n, 1)};
  if (!engine.fit({train}, horizon).ok()) {
    out.decision.reason = "the forecast engine could not fit the history";
    return out;
  }
  const auto forecastAt = [&](size_t end) {
    const auto f = engine.predict(0, std::span<const double>(fractions.data(), end), horizon);
    DemandForecast d;
    for (int h = 0; h < horizon; ++h) {
      const double p50 = std::clamp(f.p50[static_cast<size_t>(h)], 0.0, 1.0);
      d.p50.push_back(p50 * upper);
      d.p90.push_back(std::clamp(f.p90[static_cast<size_t>(h)], p50, 1.0) * upper);
    }
    return d;
  };
  // Replay: the detector's band and the cut window, without feedback (past allocations are not
  // known; the multiple comes from the last pass).
  policy.setFeedback(false);
  for (size_t end = n - replay; end < n; ++end) {
    const DemandForecast f = forecastAt(end);
    (void)policy.decide({std::span<const double>(in.demand.data(), end), in.allocation, &f});
  }
  policy.setFeedback(true);
  out.forecast = forecastAt(n);
  out.forecasted = true;
  out.wanted = in.resource.quantize(
      policy.decide({std::span<const double>(in.demand.data(), n), in.allocation, &out.forecast}));
  out.decision = policy.last();
  out.forecast.p50.resize(static_cast<size_t>(lead));
  out.forecast.p90.resize(static_cast<size_t>(lead));
  return out;
}

}  // namespace umbra::scaling
