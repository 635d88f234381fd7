#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/evaluation.h"
#include "model/lstm_net.h"
#include "model/model_forecaster.h"

namespace umbra::model {

struct RetrainOptions {
  std::chrono::milliseconds interval{std::chrono::hours(24)};
  int horizon = 6;
  // The newest share of every series is held back: both models are scored on it (rolling
  // origins, MASE), and the challenger is trained on what precedes it.
  double holdBackFraction = 0.2;
  LstmOptions lstm;
  ChallengerTrainer train;     // trains the challenger (in process, or an `umbra train` child)
  std::string modelPath;       // the champion is written here (temp file + rename) when replaced
  std::string contentionPath;  // likewise for the contention mapping
  std::string outcomesPath;    // recorded outcomes (JSON lines)
};

struct RetrainReport {
  // "promoted" (the challenger replaced the champion), "kept", "skipped" (not enough data) or
  // "failed" (history unreadable, training error); for the demand model and the contention map.
  std::string demand, contention;
  std::string message;  // one line
  double championMase = 0, challengerMase = 0;
  double championLoss = 0, challengerLoss = 0;  // contention, on the newest outcomes
  double seconds = 0;
};

// Node CPU utilisation series (300 s grid) over the retraining window.
using HistoryReader = std::function<Result<std::vector<EvalSeries>>()>;

// Champion/challenger retraining in a background thread (never on a reconcile's path): every
// `interval`, reads the history, trains a fresh LSTM on all but the newest part, scores it and the
// deployed demand model on that newest part with the same rolling origins, and promotes it only if
// its MASE is lower. The contention mapping is refitted the same way from the recorded outcomes
// (oldest 80 % fit, newest 20 % judge, by pinball loss). A promotion saves the file first, then
// swaps the forecaster's models, so a crash leaves either the old or the new file.
class Retrainer {
 public:
  Retrainer(RetrainOptions options, HistoryReader history, ModelForecaster& forecaster,
            std::function<void(const RetrainReport&)> onReport = {});
  ~Retrainer();

  RetrainReport runOnce();
  void start();  // runs runOnce() every interval until stop()
  void stop();   // interrupts the wait (a training in progress finishes first)

 private:
  void demandRound(RetrainReport& r, ForecastModels& next);
  void contentionRound(RetrainReport& r, ForecastModels& next);

  RetrainOptions o_;
  HistoryReader history_;
  ModelForecaster& forecaster_;
  std::function<void(const RetrainReport&)> onReport_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace umbra::model
