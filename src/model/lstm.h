#pragma once

#include <functional>
#include <memory>
#include <string>

#include "model/series_forecast.h"

namespace umbra::model {

struct LstmOptions {
  int window = 24;   // input steps (2 h at 300 s); at least 12
  int period = 288;  // the season fed alongside (a day at 300 s)
  int hidden = 32;
  int layers = 1;
  int batch = 1024;
  int stepsPerEpoch = 40;
  int maxEpochs = 12;
  int patience = 3;  // epochs without a better validation loss before stopping
  double learningRate = 3e-3;
  double weightDecay = 1e-4;
  double clipNorm = 1.0;
  double validationFraction = 0.15;  // the newest part of every training series
  uint64_t seed = 1;
  int threads = 2;
};

// One line per epoch: epoch, training loss, validation loss, validation MASE-like score (MAE of
// the median over the naive-delta MAE), seconds so far, estimated seconds left.
struct EpochReport {
  int epoch = 0;
  double trainLoss = 0, validationLoss = 0, validationMase = 0;
  double seconds = 0, etaSeconds = 0;
};

// A global LSTM over every series (LibTorch stays in lstm.cc). Per origin it reads the last
// `window` values relative to the newest one, alongside the values one period earlier, and
// predicts for each horizon step the median (pinball loss at 0.5) and the 90th percentile
// (0.9, constrained above the median) of the change from the newest value. Normalisation (the
// scale of one-step changes) is part of the model. Fixed seeds make training reproducible.
class LstmMethod final : public SeriesMethod {
 public:
  explicit LstmMethod(LstmOptions options = {});
  ~LstmMethod() override;

  std::string name() const override { return "lstm"; }
  Status fit(const std::vector<TrainSeries>& train, int horizon) override;
  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override;

  void onEpoch(std::function<void(const EpochReport&)> callback);
  bool trained() const;
  // The metadata stored with the weights (JSON): schema, normalisation, horizon, quantiles,
  // training range and validation scores, version.
  std::string metadata() const;
  void setTrainingRange(const std::string& description);

  // Writes weights and metadata to `path` through a temporary file and a rename, so a crash never
  // leaves a half-written model. Errors name the path.
  Status save(const std::string& path) const;
  // Loads and checks the schema (format, target, inputs, window, period, horizon, quantiles);
  // a corrupt file or a mismatch is a one-line error naming the path and the field.
  static Result<std::unique_ptr<LstmMethod>> load(const std::string& path, int expectedHorizon);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::model
