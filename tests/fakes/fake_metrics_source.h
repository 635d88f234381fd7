#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "telemetry/metrics_source.h"

namespace umbra::testing {

// A MetricsSource serving chosen per-node behaviour: each shadow on node N reports steal
// stealByNode[N] at every step (with `jitter` alternating around it), or an error while
// `unavailable` is set. Counts calls.
class FakeMetricsSource final : public telemetry::MetricsSource {
 public:
  Result<std::vector<telemetry::CandidateTelemetry>> observe(
      const std::vector<telemetry::ShadowRef>& shadows, SystemTime start, SystemTime end,
      Duration step) override {
    ++calls;
    const std::lock_guard<std::mutex> lock(mutex_);
    if (unavailable) {
      return Error::make(ErrorKind::Network,
                         "GET http://prometheus.test/api/v1/query_range: connection refused");
    }
    std::vector<telemetry::CandidateTelemetry> out;
    const auto steps = std::max<int64_t>(1, (end - start) / step);
    for (const auto& s : shadows) {
      telemetry::CandidateTelemetry c{s.node, {}};
      c.gap = gap;
      const double base = stealByNode.count(s.node) ? stealByNode.at(s.node) : 0.05;
      for (int64_t i = 0; i < steps; ++i) {
        telemetry::Sample sample;
        sample.cpuSteal = std::max(0.0, base + (i % 2 == 0 ? jitter : -jitter));
        sample.cpuUtilization = 0.5;
        c.samples.push_back(sample);
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // The nodes alone: their CPU pressure is what stealByNode says (a shadow would see as much).
  Result<std::vector<telemetry::CandidateTelemetry>> observeNodes(
      const std::vector<std::string>& nodes, SystemTime start, SystemTime end,
      Duration step) override {
    ++nodeCalls;
    std::vector<telemetry::ShadowRef> refs;
    for (const auto& n : nodes)
      refs.push_back({"", "", n});
    --calls;  // counted as a node call only
    auto out = observe(refs, start, end, step);
    if (out.ok()) {
      for (auto& c : *out)
        c.fromShadow = false;
    }
    return out;
  }

  void setSteal(const std::string& node, double steal) {
    const std::lock_guard<std::mutex> lock(mutex_);
    stealByNode[node] = steal;
  }
  void setUnavailable(bool v) {
    const std::lock_guard<std::mutex> lock(mutex_);
    unavailable = v;
  }
  // Every candidate's window has this hole ("" for none), as PrometheusSource reports one.
  void setGap(const std::string& g) {
    const std::lock_guard<std::mutex> lock(mutex_);
    gap = g;
  }
  void setJitter(double j) {
    const std::lock_guard<std::mutex> lock(mutex_);
    jitter = j;
  }
  std::atomic<int> calls{0};
  std::atomic<int> nodeCalls{0};

 private:
  std::mutex mutex_;
  std::map<std::string, double> stealByNode;
  bool unavailable = false;
  double jitter = 0;
  std::string gap;
};

}  // namespace umbra::testing
