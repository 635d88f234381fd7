#include "telemetry/prometheus_client.h"
#include "common/files.h"

#include <cpprest/http_client.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "common/tls_trust.h"

namespace umbra::telemetry {
namespace {

using nlohmann::json;
using web::http::client::http_client;
using web::http::client::http_client_config;

std::string oneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r')
      c = ' ';
  }
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

int64_t unixMillis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Prometheus times are float seconds; values are strings ("NaN", "+Inf" included).
Result<std::pair<int64_t, double>> point(const json& v, const std::string& what) {
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_string()) {
    return Error::make(ErrorKind::ServerError, what + ": malformed sample " + v.dump());
  }
  const std::string text = v[1].get<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) {
    return Error::make(ErrorKind::ServerError, what + ": malformed sample value \"" + text + "\"");
  }
  return std::make_pair(static_cast<int64_t>(std::llround(v[0].get<double>() * 1000)), value);
}

ErrorKind kindOf(const std::string& errorType, int httpStatus) {
  if (errorType == "timeout")
    return ErrorKind::Timeout;
  if (errorType == "bad_data" || errorType == "execution" || errorType == "canceled")
    return ErrorKind::BadRequest;
  if (httpStatus == 401)
    return ErrorKind::Unauthorized;
  if (httpStatus == 403)
    return ErrorKind::Forbidden;
  if (httpStatus == 404)
    return ErrorKind::NotFound;
  if (httpStatus >= 500 || errorType == "internal" || errorType == "unavailable")
    return ErrorKind::ServerError;
  return ErrorKind::BadRequest;
}

}  // namespace

Result<QueryResult> parseQueryResponse(const std::string& body, int httpStatus,
                                       const std::string& what) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("status")) {
    const std::string head = oneLine(body.substr(0, 80));
    if (httpStatus >= 200 && httpStatus < 300) {
      return Error::make(ErrorKind::ServerError,
                         what + ": response is not Prometheus API JSON: \"" + head + "\"");
    }
    Error e = Error::make(kindOf("", httpStatus), what + ": HTTP " + std::to_string(httpStatus) +
                                                      (head.empty() ? std::string() : ": " + head));
    e.httpCode = httpStatus;
    return e;
  }
  if (doc.value("status", "") != "success") {
    const std::string type = doc.value("errorType", "error");
    Error e = Error::make(kindOf(type, httpStatus),
                          what + ": " + type + ": " + oneLine(doc.value("error", "unknown error")));
    e.httpCode = httpStatus;
    return e;
  }
  QueryResult out;
  for (const auto& w : doc.value("warnings", json::array())) {
    if (w.is_string())
      out.warnings.push_back(oneLine(w.get<std::string>()));
  }
  const json data = doc.value("data", json::object());
  out.resultType = data.value("resultType", "");
  const json result = data.value("result", json());
  if (out.resultType == "scalar" || out.resultType == "string") {
    if (!result.is_array() || result.size() != 2 || !result[1].is_string()) {
      return Error::make(ErrorKind::ServerError, what + ": malformed " + out.resultType);
    }
    out.text = result[1].get<std::string>();
    out.scalar = std::strtod(out.text.c_str(), nullptr);
    return out;
  }
  if (out.resultType != "vector" && out.resultType != "matrix") {
    return Error::make(ErrorKind::ServerError,
                       what + ": unknown resultType \"" + out.resultType + "\"");
  }
  if (!result.is_array()) {
    return Error::make(ErrorKind::ServerError, what + ": result is not a list");
  }
  for (const auto& s : result) {
    if (!s.is_object()) {
      return Error::make(ErrorKind::ServerError, what + ": malformed series");
    }
    PromSeries series;
    const json metric = s.value("metric", json::object());  // items() of a temporary dangles
    for (const auto& [k, v] : metric.items()) {
      if (v.is_string())
        series.labels[k] = v.get<std::string>();
    }
    if (out.resultType == "vector") {
      UMBRA_TRY(const auto p, point(s.value("value", json()), what));
      series.points.push_back(p);
    } else {
      for (const auto& v : s.value("values", json::array())) {
        UMBRA_TRY(const auto p, point(v, what));
        series.points.push_back(p);
      }
    }
    out.series.push_back(std::move(series));
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> chunkRange(int64_t start, int64_t end, int64_t step,
                                                    int64_t maxPoints) {
  std::vector<std::pair<int64_t, int64_t>> out;
  step = std::max<int64_t>(1, step);
  maxPoints = std::max<int64_t>(1, maxPoints);
  for (int64_t from = start; from <= end; from += maxPoints * step) {
    out.emplace_back(from, std::min(end, from + (maxPoints - 1) * step));
  }
  return out;
}

struct PrometheusClient::Impl {
  PrometheusConnection c;
  http_client client;
  std::atomic<int> requests{0};
  std::counting_semaphore<MaxInFlight> inFlight{MaxInFlight};
  std::mutex observerMutex;
  QueryObserver observer;

  static http_client_config config(const PrometheusConnection& c) {
    http_client_config cfg;
    cfg.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(c.timeout));
    cfg.set_validate_certificates(!c.insecureSkipVerify);
    // The system's roots, plus caFile's; parsed once and shared (common/tls_trust.h).
    tls::Material material;
    material.alsoSystemRoots = true;
    if (!c.caFile.empty()) {
      auto text = readFile(c.caFile);
      material.caPem = text.ok() ? *text : std::string();
    }
    cfg.set_ssl_context_callback(
        [material](boost::asio::ssl::context& ctx) { tls::apply(ctx.native_handle(), material); });
    return cfg;
  }
  explicit Impl(PrometheusConnection conn)
      : c(std::move(conn)), client(web::uri(c.url), config(c)) {}

  void observe(const std::string& endpoint, const std::string& outcome, double seconds) {
    const std::lock_guard<std::mutex> lock(observerMutex);
    if (observer)
      observer(endpoint, outcome, seconds);
  }

  Result<std::string> authorization() const {
    if (!c.bearerTokenFile.empty()) {
      auto token = readFile(c.bearerTokenFile);
      if (!token.ok()) {
        return Error::config("prometheus bearer token file " + c.bearerTokenFile +
                             ": cannot be read");
      }
      while (!token->empty() && (token->back() == '\n' || token->back() == ' '))
        token->pop_back();
      return "Bearer " + *token;
    }
    if (!c.bearerToken.empty())
      return "Bearer " + c.bearerToken;
    if (!c.username.empty())
      return "Basic " + base64Encode(c.username + ":" + c.password);
    return std::string();
  }

  // One POST (form-encoded: long regexes of names would not fit a URL), retried on 5xx and
  // network errors with doubling backoff.
  Result<QueryResult> post(const std::string& endpoint, const std::string& form,
                           const std::string& what) {
    UMBRA_TRY(const std::string auth, authorization());
    Error last;
    for (int attempt = 0; attempt < std::max(1, c.maxAttempts); ++attempt) {
      if (attempt > 0) {
        std::this_thread::sleep_for(c.retryBase * (1 << std::min(attempt - 1, 10)));
      }
      inFlight.acquire();  // held for this attempt only, not through a retry's back-off
      struct Release {
        std::counting_semaphore<MaxInFlight>& s;
        ~Release() { s.release(); }
      } release{inFlight};
      ++requests;
      const auto t0 = std::chrono::steady_clock::now();
      const auto seconds = [&t0] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      try {
        web::http::http_request req(web::http::methods::POST);
        req.set_request_uri("/api/v1/" + endpoint);
        req.set_body(form, "application/x-www-form-urlencoded");
        if (!auth.empty())
          req.headers().add("Authorization", auth);
        auto resp = client.request(req).get();
        const std::string body = resp.extract_utf8string(true).get();
        auto r = parseQueryResponse(body, resp.status_code(), what);
        if (r.ok()) {
          observe(endpoint, "success", seconds());
          return r;
        }
        const json doc = json::parse(body, nullptr, false);
        const std::string type = doc.is_object() ? doc.value("errorType", "") : "";
        observe(endpoint, type.empty() ? "http_" + std::to_string(resp.status_code()) : type,
                seconds());
        if (resp.status_code() < 500) {
          return r;  // 2xx with a bad body, or 4xx: retrying would not help
        }
        last = r.error();
      } catch (const web::http::http_exception& e) {
        const bool timedOut = e.error_code() == std::errc::timed_out;
        observe(endpoint, timedOut ? "timeout" : "network", seconds());
        last = Error::make(
            timedOut ? ErrorKind::Timeout : ErrorKind::Network,
            what + ": " +
                (timedOut ? "no answer within " + std::to_string(c.timeout.count()) + " ms"
                          : oneLine(e.what())));
      } catch (const std::exception& e) {
        observe(endpoint, "network", seconds());
        last = Error::make(ErrorKind::Network, what + ": " + oneLine(e.what()));
      }
    }
    if (c.maxAttempts > 1) {
      last.message += " (after " + std::to_string(c.maxAttempts) + " attempts)";
    }
    return last;
  }
};

Result<std::unique_ptr<PrometheusClient>> PrometheusClient::create(
    PrometheusConnection connection) {
  if (connection.url.rfind("http://", 0) != 0 && connection.url.rfind("https://", 0) != 0) {
    return Error::config("prometheus url \"" + connection.url + "\" is not an http(s) URL");
  }
  while (!connection.url.empty() && connection.url.back() == '/')
    connection.url.pop_back();
  try {
    web::uri check(connection.url);
    (void)check;
  } catch (const std::exception& e) {
    return Error::config("prometheus url \"" + connection.url + "\": " + oneLine(e.what()));
  }
  if (!connection.caFile.empty()) {
    const auto ca = readFile(connection.caFile);
    if (!ca.ok()) {
      return Error::config("prometheus CA file " + connection.caFile + ": cannot be read");
    }
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23_client);
    try {
      tls::apply(probe.native_handle(), {*ca, true, "", ""});  // as every connection will
    } catch (const std::exception& e) {
      return Error::config("prometheus CA file " + connection.caFile + ": not a PEM certificate (" +
                           oneLine(e.what()) + ")");
    }
  }
  if (!connection.bearerTokenFile.empty() && !readFile(connection.bearerTokenFile).ok()) {
    return Error::config("prometheus bearer token file " + connection.bearerTokenFile +
                         ": cannot be read");
  }
  if (connection.maxPointsPerRequest < 1 || connection.maxPointsPerRequest > 11000) {
    return Error::config("prometheus maxPointsPerRequest must be 1..11000");
  }
  tls::skipPerConnectionBundle();
  return std::unique_ptr<PrometheusClient>(
      new PrometheusClient(std::make_unique<Impl>(std::move(connection))));
}

PrometheusClient::PrometheusClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrometheusClient::~PrometheusClient() = default;

void PrometheusClient::setObserver(QueryObserver observer) {
  const std::lock_guard<std::mutex> lock(impl_->observerMutex);
  impl_->observer = std::move(observer);
}
const PrometheusConnection& PrometheusClient::connection() const {
  return impl_->c;
}
int PrometheusClient::requestsSent() const {
  return impl_->requests.load();
}

namespace {
std::string seconds3(int64_t ms) {
  std::ostringstream s;
  s.precision(3);
  s << std::fixed << static_cast<double>(ms) / 1000.0;
  return s.str();
}
}  // namespace

Result<QueryResult> PrometheusClient::query(const std::string& promql,
                                            std::optional<SystemTime> at) {
  std::string form = "query=" + web::uri::encode_data_string(promql);
  if (at)
    form += "&time=" + seconds3(unixMillis(*at));
  return impl_->post("query", form, "query " + impl_->c.url + " {" + promql + "}");
}

Result<QueryResult> PrometheusClient::queryRange(const std::string& promql, SystemTime start,
                                                 SystemTime end, std::chrono::seconds step) {
  // The query in errors: its start, enough to recognise it, not a 600-character line.
  constexpr size_t Shown = 80;
  const std::string what = "query_range " + impl_->c.url + " {" +
                           (promql.size() > Shown ? promql.substr(0, Shown) + "..." : promql) + "}";
  const int64_t stepMs = std::max<int64_t>(1000, step.count() * 1000);
  QueryResult merged;
  merged.resultType = "matrix";
  std::map<std::map<std::string, std::string>, size_t> index;
  for (const auto& [from, to] :
       chunkRange(unixMillis(start), unixMillis(end), stepMs, impl_->c.maxPointsPerRequest)) {
    const std::string form = "query=" + web::uri::encode_data_string(promql) +
                             "&start=" + seconds3(from) + "&end=" + seconds3(to) +
                             "&step=" + seconds3(stepMs);
    UMBRA_TRY(QueryResult part, impl_->post("query_range", form, what));
    if (part.resultType != "matrix") {
      return Error::make(ErrorKind::ServerError,
                         what + ": expected a matrix, got " + part.resultType);
    }
    for (auto& w : part.warnings)
      merged.warnings.push_back(std::move(w));
    for (auto& s : part.series) {
      const auto [it, fresh] = index.emplace(s.labels, merged.series.size());
      if (fresh) {
        merged.series.push_back(std::move(s));
      } else {
        auto& points = merged.series[it->second].points;
        points.insert(points.end(), s.points.begin(), s.points.end());
      }
    }
  }
  return merged;
}

}  // namespace umbra::telemetry
