#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "exposition/operator_metrics.h"
#include "model/model_forecaster.h"
#include "telemetry/prometheus_source.h"

namespace umbra::op {

// After every placement, waits `window`, then measures what the placed VM experienced over it
// (its steal, its node's memory pressure and iowait, through the metric catalog's queries) and
// appends that, beside what the forecaster knew at the decision, to the outcomes file that
// retraining fits the contention mapping on. Pending measurements live in memory: a restart
// loses the ones in flight (they are only training data).
class OutcomeRecorder {
 public:
  OutcomeRecorder(telemetry::PrometheusSource& prometheus, model::ModelForecaster& forecaster,
                  std::string path, std::chrono::milliseconds window,
                  exposition::OperatorMetrics& metrics);
  ~OutcomeRecorder();

  // `target` is "namespace/name" (the VM's or VMI's; the VMI has the same name).
  void placed(const std::string& target, const std::string& node, SystemTime at);
  void stop();

 private:
  struct Pending {
    std::string target, node;
    SystemTime at;
    model::ContentionInputs inputs;
  };
  void run();
  void record(const Pending& p);

  telemetry::PrometheusSource& prometheus_;
  model::ModelForecaster& forecaster_;
  std::string path_;
  std::chrono::milliseconds window_;
  exposition::OperatorMetrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<SystemTime, Pending> due_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace umbra::op
