#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <functional>

#include "model/model_forecaster.h"
#include "telemetry/prometheus_source.h"

namespace umbra::model {

// After every placement, waits `window`, then measures what the placed VM experienced over it
// (its steal, as the window's mean or the p95 of its 300 s steps; its node's memory pressure and
// iowait, means; through the metric catalog's queries) and
// appends that, beside what the forecaster knew at the decision, to the outcomes file that
// retraining fits the contention mapping on. Pending measurements live in memory: a restart
// loses the ones in flight (they are only training data).
// The 95th percentile (interpolated) of a feature's present cells, or nullopt if it has none.
std::optional<double> p95Of(const telemetry::FeatureFrame& f, const std::string& feature,
                            double scale);

class OutcomeRecorder {
 public:
  OutcomeRecorder(telemetry::PrometheusSource& prometheus, ModelForecaster& forecaster,
                  std::string path, std::chrono::milliseconds window, bool p95,
                  std::function<void(const std::string& result)> counted);
  ~OutcomeRecorder();

  // `target` is "namespace/name" (the VM's or VMI's; the VMI has the same name).
  void placed(const std::string& target, const std::string& node, SystemTime at);
  void stop();

 private:
  struct Pending {
    std::string target, node;
    SystemTime at;
    ContentionInputs inputs;
  };
  void run();
  void record(const Pending& p);

  telemetry::PrometheusSource& prometheus_;
  ModelForecaster& forecaster_;
  std::string path_;
  std::chrono::milliseconds window_;
  bool p95_;  // the CPU outcome: the p95 of 300 s steps (else the window's mean)
  std::function<void(const std::string&)> counted_;  // recorded | no_data | failed
  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<SystemTime, Pending> due_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace umbra::model
