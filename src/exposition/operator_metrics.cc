#include "exposition/operator_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

namespace umbra::exposition {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

namespace {
const Histogram::BucketBoundaries& latencyBuckets() {
  static const Histogram::BucketBoundaries b = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25,  0.5,   1,    2.5,   5,    10};
  return b;
}
const Histogram::BucketBoundaries& placementBuckets() {
  static const Histogram::BucketBoundaries b = {15, 30, 60, 120, 300, 600, 1200, 3600};
  return b;
}
}  // namespace

struct OperatorMetrics::Impl final : runtime::QueueMetrics {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  std::mutex mutex;  // prometheus-cpp families are thread-safe; Add() on a new label set is too,
                     // but we serialise to keep label maps tidy.
  prometheus::Family<prometheus::Gauge>& depthF = BuildGauge()
                                                      .Name("workqueue_depth")
                                                      .Help("Current depth of the work queue")
                                                      .Register(*registry);
  prometheus::Family<prometheus::Counter>& addsF = BuildCounter()
                                                       .Name("workqueue_adds_total")
                                                       .Help("Adds handled by the work queue")
                                                       .Register(*registry);
  prometheus::Family<prometheus::Histogram>& queueDurF =
      BuildHistogram()
          .Name("workqueue_queue_duration_seconds")
          .Help("How long an item waits in the queue")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& workDurF =
      BuildHistogram()
          .Name("workqueue_work_duration_seconds")
          .Help("How long processing an item takes")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& retriesF = BuildCounter()
                                                          .Name("workqueue_retries_total")
                                                          .Help("Retries handled by the work queue")
                                                          .Register(*registry);
  prometheus::Family<prometheus::Counter>& requestsF =
      BuildCounter()
          .Name("rest_client_requests_total")
          .Help("API server requests by verb and HTTP code")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& requestDurF =
      BuildHistogram()
          .Name("rest_client_request_duration_seconds")
          .Help("API server request latency by verb")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& reconcileF = BuildCounter()
                                                            .Name("umbra_reconcile_total")
                                                            .Help("Reconcile passes by result")
                                                            .Register(*registry);
  prometheus::Family<prometheus::Counter>& reconcileErrorsF =
      BuildCounter()
          .Name("umbra_reconcile_errors_total")
          .Help("Failed reconcile passes by reason")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& placementsF = BuildCounter()
                                                             .Name("umbra_placements_total")
                                                             .Help("Finished placements by result")
                                                             .Register(*registry);
  prometheus::Family<prometheus::Histogram>& placementDurF =
      BuildHistogram()
          .Name("umbra_placement_duration_seconds")
          .Help("Time from ShadowPlacement creation to its final phase")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& extensionsF =
      BuildCounter()
          .Name("umbra_observation_extensions_total")
          .Help("Observation windows extended for low confidence")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& shadowsF = BuildGauge()
                                                        .Name("umbra_shadows_active")
                                                        .Help("Shadow VMIs that exist now")
                                                        .Register(*registry);
  prometheus::Family<prometheus::Gauge>& modelF = BuildGauge()
                                                      .Name("umbra_model_info")
                                                      .Help("The forecaster in use (value 1)")
                                                      .Register(*registry);
  const prometheus::Labels queueLabels{{"name", "shadowplacement"}};
  prometheus::Gauge& depthG = depthF.Add(queueLabels);
  prometheus::Counter& addsC = addsF.Add(queueLabels);
  prometheus::Histogram& queueDurH = queueDurF.Add(queueLabels, latencyBuckets());
  prometheus::Histogram& workDurH = workDurF.Add(queueLabels, latencyBuckets());
  prometheus::Counter& retriesC = retriesF.Add(queueLabels);
  prometheus::Counter& extensionsC = extensionsF.Add({});
  prometheus::Gauge& shadowsG = shadowsF.Add({});

  void depth(size_t n) override { depthG.Set(static_cast<double>(n)); }
  void added() override { addsC.Increment(); }
  void queueLatency(double s) override { queueDurH.Observe(s); }
  void workDuration(double s) override { workDurH.Observe(s); }
  void retried() override { retriesC.Increment(); }
};

std::unique_ptr<OperatorMetrics> OperatorMetrics::create(const std::string& address,
                                                         std::string& error) {
  auto impl = std::make_unique<Impl>();
  if (!address.empty() && address != "0") {
    const std::string bind = address.front() == ':' ? "0.0.0.0" + address : address;
    try {
      impl->exposer = std::make_unique<prometheus::Exposer>(bind);
      impl->exposer->RegisterCollectable(impl->registry);
    } catch (const std::exception& e) {
      error = "--metrics-bind-address " + address + ": " + e.what();
      return nullptr;
    }
  }
  return std::unique_ptr<OperatorMetrics>(new OperatorMetrics(std::move(impl)));
}

OperatorMetrics::OperatorMetrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OperatorMetrics::~OperatorMetrics() = default;

runtime::QueueMetrics& OperatorMetrics::queue() {
  return *impl_;
}

void OperatorMetrics::apiRequest(const std::string& verb, int code, double seconds) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->requestsF.Add({{"verb", verb}, {"code", code == 0 ? "<error>" : std::to_string(code)}})
      .Increment();
  impl_->requestDurF.Add({{"verb", verb}}, latencyBuckets()).Observe(seconds);
}

void OperatorMetrics::reconciled(const std::string& result) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (result == "success") {
    impl_->reconcileF.Add({{"result", "success"}}).Increment();
  } else {
    impl_->reconcileF.Add({{"result", "error"}}).Increment();
    impl_->reconcileErrorsF.Add({{"reason", result}}).Increment();
  }
}

void OperatorMetrics::placementFinished(const std::string& result, double seconds) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->placementsF.Add({{"result", result}}).Increment();
  impl_->placementDurF.Add({}, placementBuckets()).Observe(seconds);
}

void OperatorMetrics::observationExtended() {
  impl_->extensionsC.Increment();
}
void OperatorMetrics::shadowsActive(size_t n) {
  impl_->shadowsG.Set(static_cast<double>(n));
}

void OperatorMetrics::modelInfo(const std::string& version) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->modelF.Add({{"version", version}}).Set(1);
}

std::string OperatorMetrics::scrape() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace umbra::exposition
