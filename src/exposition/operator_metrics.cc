#include "exposition/operator_metrics.h"

#include "exposition/process_collector.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <vector>

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
  std::shared_ptr<ProcessCollector> process = std::make_shared<ProcessCollector>();
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
  prometheus::Family<prometheus::Gauge>& buildF = BuildGauge()
                                                      .Name("umbra_build_info")
                                                      .Help("The operator's version (value 1)")
                                                      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& leaderF =
      BuildGauge()
          .Name("umbra_leader")
          .Help("1 while this replica holds the leader lease and acts, 0 on standby")
          .Register(*registry);
  prometheus::Gauge& leaderG = leaderF.Add({});
  prometheus::Family<prometheus::Gauge>& modelF = BuildGauge()
                                                      .Name("umbra_model_info")
                                                      .Help("The forecaster in use (value 1)")
                                                      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& modelErrorF =
      BuildGauge()
          .Name("umbra_model_validation_error")
          .Help("The forecaster's error on its held-back validation window, by metric")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& retrainF =
      BuildCounter()
          .Name("umbra_model_retraining_total")
          .Help(
              "Retraining rounds by model (demand, contention) and result (promoted, kept, "
              "skipped, failed)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& outcomesF =
      BuildCounter()
          .Name("umbra_outcomes_recorded_total")
          .Help(
              "Placement outcomes measured after outcomeWindow, by result (recorded, no_data, "
              "failed)")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& forecastDurF =
      BuildHistogram()
          .Name("umbra_forecast_duration_seconds")
          .Help("Time to forecast one candidate")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& promQueriesF =
      BuildCounter()
          .Name("umbra_prometheus_requests_total")
          .Help("Prometheus HTTP API requests by endpoint and outcome")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& promDurF =
      BuildHistogram()
          .Name("umbra_prometheus_request_duration_seconds")
          .Help("Prometheus HTTP API request latency by endpoint")
          .Register(*registry);
  prometheus::Histogram& forecastDurH =
      forecastDurF.Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.002,
                                                                   0.005, 0.01, 0.05, 0.1});
  const prometheus::Labels queueLabels{{"name", "shadowplacement"}};
  prometheus::Gauge& depthG = depthF.Add(queueLabels);
  prometheus::Counter& addsC = addsF.Add(queueLabels);
  prometheus::Histogram& queueDurH = queueDurF.Add(queueLabels, latencyBuckets());
  prometheus::Histogram& workDurH = workDurF.Add(queueLabels, latencyBuckets());
  prometheus::Counter& retriesC = retriesF.Add(queueLabels);
  prometheus::Counter& extensionsC = extensionsF.Add({});
  prometheus::Gauge& shadowsG = shadowsF.Add({});
  std::vector<prometheus::Gauge*> modelGauges;

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
      impl->exposer->RegisterCollectable(impl->process);
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

void OperatorMetrics::reconciled(const std::string& /*controller*/, const std::string& result,
                                 double /*seconds*/) {
  reconciled(result);
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
void OperatorMetrics::buildInfo(const std::string& version) {
  impl_->buildF.Add({{"version", version}}).Set(1);
}

void OperatorMetrics::leading(bool leads) {
  impl_->leaderG.Set(leads ? 1 : 0);
}

void OperatorMetrics::shadowsActive(size_t n) {
  impl_->shadowsG.Set(static_cast<double>(n));
}

void OperatorMetrics::modelInfo(const std::string& version) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  // One series: the model in use now (an old version's series would linger at 1 otherwise).
  for (auto* g : impl_->modelGauges)
    impl_->modelF.Remove(g);
  impl_->modelGauges = {&impl_->modelF.Add({{"version", version}})};
  impl_->modelGauges.front()->Set(1);
}

void OperatorMetrics::modelValidationError(const std::string& metric, double value) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->modelErrorF.Add({{"metric", metric}}).Set(value);
}

void OperatorMetrics::retrained(const std::string& model, const std::string& result) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->retrainF.Add({{"model", model}, {"result", result}}).Increment();
}

void OperatorMetrics::outcomeRecorded(const std::string& result) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->outcomesF.Add({{"result", result}}).Increment();
}

void OperatorMetrics::forecastDuration(double seconds) {
  impl_->forecastDurH.Observe(seconds);
}

void OperatorMetrics::prometheusQuery(const std::string& endpoint, const std::string& outcome,
                                      double seconds) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->promQueriesF.Add({{"endpoint", endpoint}, {"outcome", outcome}}).Increment();
  impl_->promDurF.Add({{"endpoint", endpoint}}, latencyBuckets()).Observe(seconds);
}

std::string OperatorMetrics::scrape() const {
  auto families = impl_->registry->Collect();
  for (auto& f : impl_->process->Collect())
    families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace umbra::exposition
