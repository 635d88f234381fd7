#include "scaling/anomaly.h"

#include <algorithm>

namespace umbra::scaling {

AnomalyReport SurgeDetector::observe(double demand, std::span<const double> p50s,
                                     std::span<const double> p90s) {
  if (p50s.empty() || p90s.size() != p50s.size())
    return {};
  // Inside an excursion: the forecast made before it, as far ahead as it reaches.
  const auto k = static_cast<size_t>(outside_);
  const bool useRef = outside_ > 0 && k < refP50_.size();
  const double p50 = useRef ? refP50_[k] : p50s[0];
  const double p90 = useRef ? refP90_[k] : p90s[0];
  const bool calibrated = errors_.size() >= std::max<size_t>(o_.minHistorySteps, 1);
  const double band = calibrated ? threshold_ : o_.bandMultiple * std::max(p90 - p50, 0.0);
  const double width = std::max(band, o_.minExcess);
  AnomalyReport r;
  r.bandWidths = width > 0 ? (demand - p50) / width : 0;
  const bool outside = width > 0 ? demand - p50 > width : demand > p50;
  if (outside && outside_ == 0) {
    refP50_.assign(p50s.begin(), p50s.end());
    refP90_.assign(p90s.begin(), p90s.end());
  }
  outside_ = outside ? outside_ + 1 : 0;
  r.alarm = outside_ >= std::max(o_.consecutiveSteps, 1);
  r.started = outside_ == std::max(o_.consecutiveSteps, 1);
  // Every step's one-step error teaches the band: leaving out the steps outside it would keep a
  // band that starts too narrow narrow for ever. A surge adds one large error (its later steps
  // are judged against forecasts that have followed it).
  if (o_.historySteps > 0) {
    const double e = demand - p50s[0];
    if (errors_.size() < o_.historySteps)
      errors_.push_back(e);
    else
      errors_[next_] = e;
    next_ = (next_ + 1) % o_.historySteps;
    // A quantile of a week of errors, refreshed once an hour and whenever it first applies.
    if (++sinceRefresh_ >= 12 || errors_.size() == o_.minHistorySteps) {
      sinceRefresh_ = 0;
      std::vector<double> sorted = errors_;
      const auto rank =
          static_cast<size_t>(o_.bandQuantile * static_cast<double>(sorted.size() - 1));
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(rank), sorted.end());
      threshold_ = std::max(sorted[rank], 0.0);
    }
  }
  return r;
}

}  // namespace umbra::scaling
