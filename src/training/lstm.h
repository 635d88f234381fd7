#pragma once

#include <functional>
#include <memory>
#include <string>

#include "model/lstm_net.h"

namespace umbra::model {

// One line per epoch: epoch, training loss, validation loss, validation MASE-like score (MAE of
// the median over the naive-delta MAE), seconds so far, estimated seconds left.
struct EpochReport {
  int epoch = 0;
  double trainLoss = 0, validationLoss = 0, validationMase = 0;
  double seconds = 0, etaSeconds = 0;
};

// Training the demand LSTM, with LibTorch (which stays in lstm.cc; only `umbra train` and the
// tests link it). A global LSTM over every series: per origin it reads the last `window` values
// relative to the newest one, alongside the values one period earlier, and predicts for each
// horizon step the median (pinball loss at 0.5) and the 90th percentile (0.9, constrained above
// the median) of the change from the newest value. Normalisation (the scale of one-step changes)
// is part of the model. Fixed seeds make training reproducible. After fit() the trained weights
// are exported to an LstmNet (plain C++), which predicts and is what gets saved.
class LstmMethod final : public SeriesMethod {
 public:
  explicit LstmMethod(LstmOptions options = {});
  ~LstmMethod() override;

  std::string name() const override { return "lstm"; }
  Status fit(const std::vector<TrainSeries>& train, int horizon) override;
  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override;
  // The same forecast computed by LibTorch's modules (the reference the plain network is checked
  // against).
  QuantileForecast predictWithTorch(std::span<const double> history, int horizon) const;

  void onEpoch(std::function<void(const EpochReport&)> callback);
  bool trained() const;
  void setTrainingRange(const std::string& description);
  // The trained network (null before fit()).
  std::shared_ptr<const LstmNet> net() const;
  // The metadata stored with the weights (JSON).
  std::string metadata() const;
  // LstmNet::save of the trained network.
  Status save(const std::string& path) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Trains challengers in this process (tests, `umbra train`); the operator runs `umbra train` as a
// child process instead, so that it never loads LibTorch.
ChallengerTrainer inProcessTrainer();

}  // namespace umbra::model
