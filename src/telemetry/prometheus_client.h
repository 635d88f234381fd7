#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace umbra::telemetry {

// How to reach Prometheus. Clusters put it behind a bearer token (an OpenShift/Thanos querier),
// basic auth, or TLS with a private CA; all are supported, one at a time or together.
struct PrometheusConnection {
  std::string url;  // http(s)://host:port[/path-prefix], no trailing slash needed
  std::string bearerToken;
  std::string bearerTokenFile;  // re-read on every request (projected tokens rotate)
  std::string username;         // basic auth
  std::string password;
  std::string caFile;  // PEM bundle that signs Prometheus' serving certificate
  bool insecureSkipVerify = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // per HTTP request
  // Retries apply to 5xx answers and network errors only (never to 4xx: a bad query stays bad).
  int maxAttempts = 3;
  std::chrono::milliseconds retryBase{200};  // doubles per attempt
  // Prometheus refuses a range query of more than 11,000 points per series; query_range is
  // split into chunks of at most this many steps.
  int maxPointsPerRequest = 10000;
};

struct PromSeries {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<int64_t, double>> points;  // unix milliseconds, value; time-ordered
};

// A decoded /api/v1/query or /api/v1/query_range answer.
struct QueryResult {
  std::string resultType;          // vector, matrix, scalar or string
  std::vector<PromSeries> series;  // vector: one point per series; matrix: many
  double scalar = 0;               // scalar and string (as text in `text`)
  std::string text;
  std::vector<std::string> warnings;
};

// Called after every HTTP request: endpoint ("query" or "query_range"), outcome ("success" or an
// error kind such as "bad_data", "network", "timeout", "http_503") and latency in seconds.
using QueryObserver =
    std::function<void(const std::string& endpoint, const std::string& outcome, double seconds)>;

// Prometheus' HTTP API v1 over cpprestsdk (which stays in the .cc). Thread-safe.
class PrometheusClient {
 public:
  // HTTP requests in flight at once; more wait their turn here. Below Prometheus' own default
  // --query.max-concurrency (20), so that a burst of decisions (each placement's features are
  // queried together) neither opens a connection per query nor fills Prometheus' query slots.
  static constexpr int MaxInFlight = 16;

  // Checks the URL and the CA file up front; errors name the field.
  static Result<std::unique_ptr<PrometheusClient>> create(PrometheusConnection connection);
  ~PrometheusClient();

  // An instant query at `at` (now when unset).
  Result<QueryResult> query(const std::string& promql, std::optional<SystemTime> at = {});
  // A range query, split into chunks under maxPointsPerRequest and merged by label set.
  Result<QueryResult> queryRange(const std::string& promql, SystemTime start, SystemTime end,
                                 std::chrono::seconds step);

  void setObserver(QueryObserver observer);
  const PrometheusConnection& connection() const;
  int requestsSent() const;  // HTTP requests, retries and chunks included

  struct Impl;

 private:
  explicit PrometheusClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The pure parts, for tests.
// Decodes a response body; `httpStatus` is used when the body is not Prometheus JSON. Errors are
// one line, start with `what` and carry Prometheus' errorType and error.
Result<QueryResult> parseQueryResponse(const std::string& body, int httpStatus,
                                       const std::string& what);
// [start, end] at `step` as consecutive chunks of at most maxPoints evaluation steps each.
std::vector<std::pair<int64_t, int64_t>> chunkRange(int64_t start, int64_t end, int64_t step,
                                                    int64_t maxPoints);

}  // namespace umbra::telemetry
