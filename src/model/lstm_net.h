#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

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

// The network's shape and what it reads per origin (LstmNet::features). Per step of the window
// it reads two inputs (the change from the newest value, and the same one period earlier); the
// head reads the last hidden state, `ExtraInputs` + horizon extra values and the newest
// `SkipSteps` changes, and produces a p50 change and a p90 offset (softplus) per horizon step.
struct LstmShape {
  static constexpr int Inputs = 2;
  static constexpr int SkipSteps = 12;
  static constexpr int ExtraInputs = 4;  // level, log scale, period mean, history mean
  int window = 24, period = 288, hidden = 32, layers = 1, horizon = 6;
  int headInputs() const { return hidden + ExtraInputs + horizon + SkipSteps; }
};

// Weights in PyTorch's layout: per layer weight_ih [4H x in], weight_hh [4H x H], bias_ih and
// bias_hh [4H], gates in the order i, f, g, o; the head's weight [2*horizon x headInputs] (row
// 2h is step h's p50, 2h+1 its p90 offset) and bias [2*horizon]. Row-major.
struct LstmWeights {
  struct Layer {
    std::vector<float> weightIh, weightHh, biasIh, biasHh;
  };
  std::vector<Layer> layers;
  std::vector<float> headWeight, headBias;
};

// The trained demand LSTM, in plain C++: what the operator runs (it does not link LibTorch).
// Training (LstmMethod, LibTorch) exports its weights into one; `umbra train` writes it. The file
// is one JSON document (format "umbra-forecaster/2"): metadata (feature names and order,
// normalisation, horizon, quantiles, training range, validation scores, version) and weights.
class LstmNet final : public SeriesMethod {
 public:
  LstmNet(LstmShape shape, double changeScale, LstmWeights weights, std::string metadataJson);

  std::string name() const override { return "lstm"; }
  // A trained network is not refitted in place; retraining trains a challenger (LstmMethod).
  Status fit(const std::vector<TrainSeries>& train, int horizon) override;
  QuantileForecast predict(size_t index, std::span<const double> history,
                           int horizon) const override;

  // The network's raw output for one origin's features: per horizon step the p50 change and the
  // p90 change (p50 + softplus), in units of the window's scale.
  std::vector<float> forward(std::span<const float> seq, std::span<const float> extra) const;

  const LstmShape& shape() const { return shape_; }
  double changeScale() const { return scale_; }
  const LstmWeights& weights() const { return weights_; }
  // The metadata (JSON object, without the weights).
  const std::string& metadata() const { return metadata_; }
  // "lstm/<version>": how status.model names it.
  std::string displayName() const;

  // Writes metadata and weights to `path` through a temporary file and a rename, so a crash never
  // leaves a half-written model. Errors name the path.
  Status save(const std::string& path) const;
  // Reads and checks the schema (format, target, inputs, horizon, quantiles, shapes); a corrupt
  // file or a mismatch is a one-line error naming the path and the field.
  static Result<std::unique_ptr<LstmNet>> load(const std::string& path, int expectedHorizon);

  // The features of the origin at the end of `y`: seq [window x Inputs] and
  // extra [ExtraInputs + horizon] (see lstm.h); values before the series' start repeat its first
  // value. Returns the window's scale. Training and inference share this.
  static double features(const LstmShape& shape, double changeScale, std::span<const double> y,
                         float* seq, float* extra);

  // The metadata every model file carries, from the shape and the training facts in `info`.
  static std::string describe(const LstmShape& shape, double changeScale,
                              const std::string& infoJson);

 private:
  LstmShape shape_;
  double scale_;
  LstmWeights weights_;
  std::string metadata_;
};

// Trains a challenger network on training series (retraining): in this process with LibTorch
// (inProcessTrainer(), lstm.h), or in a short-lived `umbra train` child (the operator).
using ChallengerTrainer = std::function<Result<std::shared_ptr<const LstmNet>>(
    const std::vector<TrainSeries>& train, const LstmOptions& options, int horizon,
    const std::string& trainingRange)>;

}  // namespace umbra::model
