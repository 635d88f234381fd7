#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/contention_map.h"
#include "model/forecaster.h"
#include "model/series_forecast.h"

namespace umbra::model {

// The models a ModelForecaster decides with; replaced as a whole when retraining promotes a
// challenger, so a forecast never mixes two generations.
struct ForecastModels {
  std::shared_ptr<const SeriesMethod> demand;  // node CPU utilisation; never null
  std::string demandName;                      // "lstm/<version>" or "baseline/last-value"
  ContentionMap contention = ContentionMap::prior();
  // Why a fallback decides, one line per model (e.g. "model.pt: no such model file"); empty
  // when the trained models are in use.
  std::vector<std::string> fallbacks;
  double validationMase = 0;  // the demand model's on its held-back window (0: unknown)

  // What status.model and umbra_model_info show, e.g.
  // "lstm/lstm-1763900000 + contention/learned(412 outcomes)" or
  // "baseline/last-value + contention/prior (fallback: model.pt: no such model file)".
  std::string name() const;
};

// Node CPU utilisation at the model's step (300 s), oldest first, ending at `end`; gaps carry the
// last value. Prometheus in the operator.
using NodeHistory =
    std::function<Result<std::vector<double>>(const std::string& node, SystemTime end)>;
// The same for many nodes at once (one query): node -> history; nodes without one are absent.
using NodeHistories = std::function<Result<std::map<std::string, std::vector<double>>>(
    const std::vector<std::string>& nodes, SystemTime end)>;

// The 95th percentile of the last day (288 steps of 300 s) of a node's utilisation history: its
// daily peak. 0 for an empty history.
double dayPeakOf(const std::vector<double>& history);
// The standard deviation of the last hour (12 steps of 300 s) of a node's history; 0 if empty.
double hourSdOf(const std::vector<double>& history);

// The operator's forecaster: the demand model forecasts the candidate node's CPU utilisation over
// the horizon from its history, then the contention mapping turns that, the shadow's observation
// and the target's size into the contention the target would meet (p50, p90).
//
// Confidence = observation coverage x history coverage x (1 - spread), where spread is
// (p90 - p50) / (p90 + 0.05) of the CPU contention: gaps and a wide forecast both lower it. A
// history that cannot be read (or is empty) is not an error: the demand forecast falls back to the
// observation's mean utilisation and the confidence is multiplied by 0.9. (Only a mild penalty:
// observing longer cannot produce a node's history, so a large one would only extend every
// observation on a cluster whose Prometheus is young.)
class ModelForecaster final : public Forecaster {
 public:
  ModelForecaster(std::shared_ptr<const ForecastModels> models, NodeHistory history,
                  int horizon = 6);

  Result<Forecast> forecast(const telemetry::CandidateTelemetry& observed,
                            const TargetProfile& target) override;
  std::string name() const override;
  // With NodeHistories set: reads the nodes' histories in one call; forecasts of those nodes for a
  // window ending at `end` use them. The next prefetch replaces them.
  void prefetch(const std::vector<std::string>& nodes, SystemTime end) override;
  void setNodeHistories(NodeHistories histories);

  std::shared_ptr<const ForecastModels> models() const;
  void setModels(std::shared_ptr<const ForecastModels> models);

  // What was known when a candidate was forecast for a target (kept for the latest
  // forecast per target and node), so that an outcome can be recorded after the placement.
  std::optional<ContentionInputs> inputsFor(const std::string& target,
                                            const std::string& node) const;
  // Forgets a target's inputs (after its outcome is scheduled, or when it is not placed).
  void forget(const std::string& target);

  // The inputs from an observation, a demand forecast and the node's history at 300 s (empty:
  // none; exposed for the simulator's outcomes).
  static ContentionInputs inputsOf(const telemetry::CandidateTelemetry& observed,
                                   const TargetProfile& target, const QuantileForecast& demand,
                                   const std::vector<double>& history);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ForecastModels> models_;
  NodeHistory history_;
  NodeHistories histories_;
  SystemTime prefetchedEnd_{};
  std::map<std::string, std::vector<double>> prefetched_;  // guarded by mutex_
  int horizon_;
  std::map<std::string, std::map<std::string, ContentionInputs>> inputs_;
};

// Wraps a method so that fit() keeps it as it is: the champion in a champion/challenger
// evaluation is scored as deployed, not retrained.
class FrozenMethod final : public SeriesMethod {
 public:
  explicit FrozenMethod(std::shared_ptr<const SeriesMethod> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  Status fit(const std::vector<TrainSeries>&, int) override { return okStatus(); }
  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override {
    return inner_->predict(index, history, horizon);
  }

 private:
  std::shared_ptr<const SeriesMethod> inner_;
};

}  // namespace umbra::model
