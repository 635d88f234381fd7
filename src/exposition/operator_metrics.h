#pragma once

#include <memory>
#include <string>

#include "runtime/controller.h"
#include "runtime/work_queue.h"

namespace umbra::exposition {

// Umbra's own metrics, served in Prometheus text format on --metrics-bind-address. prometheus-cpp
// stays inside operator_metrics.cc.
class OperatorMetrics final : public runtime::ReconcileMetrics {
 public:
  // Binds `address` ("127.0.0.1:8080", ":8080"); an empty address or "0" serves nothing but still
  // counts (for tests).
  static std::unique_ptr<OperatorMetrics> create(const std::string& address, std::string& error);
  ~OperatorMetrics() override;

  runtime::QueueMetrics& queue();  // workqueue_* {name="shadowplacement"}
  void apiRequest(const std::string& verb, int code, double seconds);
  void reconciled(const std::string& result);  // "success" or an ErrorKind
  // runtime::ReconcileMetrics: every controller's reconciles, counted as above.
  void reconciled(const std::string& controller, const std::string& result,
                  double seconds) override;
  void placementFinished(const std::string& result, double seconds);
  void observationExtended();
  void shadowsActive(size_t n);
  void buildInfo(const std::string& version);  // umbra_build_info{version} 1
  void leading(bool leads);                    // umbra_leader: 1 while this replica acts

  void modelInfo(const std::string& version);
  // The current model's validation error (e.g. metric "mase") on its held-back window.
  void modelValidationError(const std::string& metric, double value);
  // A champion/challenger round: model demand|contention, result promoted|kept|skipped|failed.
  void retrained(const std::string& model, const std::string& result);
  void outcomeRecorded(const std::string& result);  // recorded | no_data | failed
  void forecastDuration(double seconds);
  // One Prometheus HTTP request: endpoint query|query_range, outcome success or an error type.
  void prometheusQuery(const std::string& endpoint, const std::string& outcome, double seconds);
  // The text exposition (what GET /metrics returns).
  std::string scrape() const;

  struct Impl;

 private:
  explicit OperatorMetrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::exposition
