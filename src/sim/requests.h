#pragma once

// Requests (docs/simulation.md, "Requests"): a serving workload's CPU demand is a stream of
// requests, each needing `cpuSecondsPerRequest` of one of its vCPUs at full speed, so that it
// receives demand / cpuSecondsPerRequest requests per second. Its k vCPUs serve them as an M/G/k
// queue whose servers run at the speed contention and the CFS quota leave. The latency
// distribution: the Allen-Cunneen approximation of M/G/k (Erlang C's probability of waiting, a
// wait scaled by (1 + cv^2) / 2), gamma-distributed service times. Exact for M/M/1 (cv^2 = 1,
// k = 1): the sojourn time is exponential with rate mu - lambda.
#include <array>
#include <cstddef>

namespace umbra::sim {

struct RequestModel {
  double cpuSecondsPerRequest = 0.02;  // at full speed on one vCPU
  double serviceCv2 = 1.0;             // squared coefficient of variation of the service time
};

// Envoy's default histogram bounds, in milliseconds (source/common/stats/histogram_impl.cc,
// HistogramSettingsImpl::defaultBuckets): istio_request_duration_milliseconds uses them.
inline constexpr std::array<double, 19> LatencyBucketsMs = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};

// A queue's state for one step.
struct RequestLoad {
  double arrivalRate = 0;  // requests per second
  int servers = 1;         // vCPUs
  double serviceRate = 0;  // per server, requests per second (0: stopped)
};

// The latency distribution of the requests a queue serves now.
class LatencyDistribution {
 public:
  LatencyDistribution(const RequestLoad& load, const RequestModel& model);
  bool saturated() const { return saturated_; }  // arrivals at or above what the servers serve
  double servedRate() const { return served_; }  // requests per second completed
  double waitProbability() const { return wait_; }
  double meanSeconds() const;
  double cdf(double seconds) const;  // P(latency <= seconds)
  double quantile(double q) const;   // seconds
  // Latency of a saturated queue: requests wait until the client gives up; umbra-sim reports them
  // at this latency (a marker, not a measurement).
  static constexpr double SaturatedSeconds = 30;

 private:
  RequestModel model_;
  double meanService_ = 0;  // seconds
  double wait_ = 0;         // P(wait > 0)
  double waitRate_ = 0;     // the conditional wait is exponential with this rate
  double served_ = 0;
  bool saturated_ = false;
};

// Erlang C: the probability an arrival waits in an M/M/k queue with offered load a = lambda/mu.
double erlangC(int servers, double offered);

}  // namespace umbra::sim
