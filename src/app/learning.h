#pragma once

#include <memory>

#include "common/result.h"
#include "config/config.h"
#include "controller/plan_executor.h"
#include "exposition/operator_metrics.h"
#include "model/child_trainer.h"
#include "model/forecaster.h"
#include "model/model_forecaster.h"
#include "model/outcomes.h"
#include "model/retrainer.h"
#include "model/spool_trainer.h"
#include "telemetry/prometheus_source.h"

namespace umbra::app {

// The Prometheus source the operator's configuration describes, its queries counted in
// umbra_prometheus_*; errors name the config field or file.
Result<std::unique_ptr<telemetry::PrometheusSource>> prometheusSource(
    const config::PrometheusSettings& settings, exposition::OperatorMetrics& metrics);

// What the operator learns with: the trained models (or the baselines they fall back to, with
// the reason), forecasts timed into umbra_forecast_duration_seconds, outcomes recorded after each
// placement, and champion/challenger retraining in a child process.
// It listens to the reconciler: a placement's Placed step starts the measurement of its outcome;
// any other end forgets what the forecaster kept for it.
class Learning final : public controller::PlacementListener {
 public:
  Learning(const config::OperatorConfig& config, telemetry::PrometheusSource& prometheus,
           exposition::OperatorMetrics& metrics);
  ~Learning() override;

  model::Forecaster& forecaster();
  // The models in use now (they change when a challenger is promoted).
  std::shared_ptr<const model::ForecastModels> models() const;
  // Starts retraining when the configuration enables it (after leader election).
  void start();
  // A training child in progress ends now; a round in progress finishes; pending outcomes drop.
  void stop();

  void phaseChanged(const controller::PlacementInput& in, api::Phase from,
                    const api::ShadowPlacementStatus& status, SystemTime at) override;
  void observationExtended(const controller::PlacementInput& in) override;

 private:
  class TimedForecaster;
  const config::OperatorConfig& config_;
  exposition::OperatorMetrics& metrics_;
  model::ModelForecaster learned_;
  std::unique_ptr<TimedForecaster> timed_;
  model::OutcomeRecorder outcomes_;
  std::unique_ptr<model::TrainerProcess> trainerProcess_;
  std::unique_ptr<model::Retrainer> retrainer_;
};

}  // namespace umbra::app
