#include "telemetry/prometheus_source.h"

#include <cpprest/http_client.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>

namespace umbra::telemetry {
namespace {

using nlohmann::json;

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// Names are DNS labels; escape the regex metacharacters they may contain ('.').
std::string alternation(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out += (out.empty() ? "" : "|") + replaceAll(n, ".", "\\\\.");
  }
  return out;
}

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<std::map<std::string, std::map<int64_t, double>>> parseMatrix(const std::string& body,
                                                                     const std::string& label,
                                                                     const std::string& what) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error::make(ErrorKind::ServerError, what + ": response is not JSON");
  }
  if (doc.value("status", "") != "success") {
    return Error::make(ErrorKind::BadRequest, what + ": " + doc.value("errorType", "error") + ": " +
                                                  doc.value("error", "unknown error"));
  }
  const json& data = doc.value("data", json::object());
  if (data.value("resultType", "") != "matrix") {
    return Error::make(ErrorKind::ServerError,
                       what + ": expected a matrix, got " + data.value("resultType", "nothing"));
  }
  std::map<std::string, std::map<int64_t, double>> out;
  for (const auto& series : data.value("result", json::array())) {
    const std::string key = series.value("metric", json::object()).value(label, "");
    auto& points = out[key];
    for (const auto& v : series.value("values", json::array())) {
      if (!v.is_array() || v.size() != 2 || !v[1].is_string()) {
        return Error::make(ErrorKind::ServerError, what + ": malformed sample");
      }
      const double value = std::strtod(v[1].get<std::string>().c_str(), nullptr);
      points[static_cast<int64_t>(std::llround(v[0].get<double>()))] = value;
    }
  }
  return out;
}

struct PrometheusSource::Impl {
  PrometheusOptions options;
  web::http::client::http_client client;
  std::atomic<int> queries{0};

  static web::http::client::http_client_config config(const PrometheusOptions& o) {
    web::http::client::http_client_config c;
    c.set_timeout(o.timeout);
    return c;
  }
  explicit Impl(PrometheusOptions o)
      : options(std::move(o)), client(web::uri(options.url), config(options)) {}

  Result<std::map<std::string, std::map<int64_t, double>>> queryRange(const std::string& promql,
                                                                      const std::string& label,
                                                                      int64_t start, int64_t end,
                                                                      int64_t step) {
    const std::string what = "query_range " + options.url + " {" + promql + "}";
    ++queries;
    try {
      // POST form: long regexes of shadow names would not fit a URL.
      web::http::http_request req(web::http::methods::POST);
      req.set_request_uri("/api/v1/query_range");
      const std::string form = "query=" + web::uri::encode_data_string(promql) +
                               "&start=" + std::to_string(start) + "&end=" + std::to_string(end) +
                               "&step=" + std::to_string(step);
      req.set_body(form, "application/x-www-form-urlencoded");
      if (!options.bearerToken.empty()) {
        req.headers().add("Authorization", "Bearer " + options.bearerToken);
      }
      auto resp = client.request(req).get();
      const std::string body = resp.extract_utf8string(true).get();
      if (resp.status_code() >= 500) {
        return Error::make(ErrorKind::ServerError,
                           what + ": HTTP " + std::to_string(resp.status_code()));
      }
      return parseMatrix(body, label, what);
    } catch (const std::exception& e) {
      return Error::make(ErrorKind::Network, what + ": " + e.what());
    }
  }
};

PrometheusSource::PrometheusSource(PrometheusOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
PrometheusSource::~PrometheusSource() = default;

int PrometheusSource::queriesIssued() const {
  return impl_->queries.load();
}

Result<std::vector<CandidateTelemetry>> PrometheusSource::observe(
    const std::vector<ShadowRef>& shadows, SystemTime start, SystemTime end, Duration step) {
  if (shadows.empty()) {
    return std::vector<CandidateTelemetry>{};
  }
  std::vector<std::string> names;
  std::vector<std::string> nodes;
  for (const auto& s : shadows) {
    names.push_back(s.name);
    nodes.push_back(s.node);
  }
  const std::string window = std::to_string(impl_->options.catalog.rateWindow.count()) + "s";
  const auto expand = [&](const std::string& q) {
    std::string out = replaceAll(q, "$ns", shadows.front().ns);
    out = replaceAll(out, "$shadows", alternation(names));
    out = replaceAll(out, "$nodes", alternation(nodes));
    return replaceAll(out, "$window", window);
  };
  const int64_t s0 = unixSeconds(start);
  const int64_t s1 = unixSeconds(end);
  const int64_t st =
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(step).count());
  const MetricCatalog& c = impl_->options.catalog;
  UMBRA_TRY(const auto steal, impl_->queryRange(expand(c.cpuSteal), "name", s0, s1, st));
  UMBRA_TRY(const auto util, impl_->queryRange(expand(c.cpuUtilization), "node", s0, s1, st));
  UMBRA_TRY(const auto memory, impl_->queryRange(expand(c.memoryPressure), "node", s0, s1, st));
  UMBRA_TRY(const auto io, impl_->queryRange(expand(c.ioWait), "node", s0, s1, st));

  std::vector<CandidateTelemetry> out;
  for (const auto& s : shadows) {
    const auto it = steal.find(s.name);
    if (it == steal.end()) {
      return Error::make(ErrorKind::ServerError,
                         "series kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"" + s.ns +
                             "\",name=\"" + s.name + "\"} absent");
    }
    const auto pointAt = [](const std::map<std::string, std::map<int64_t, double>>& m,
                            const std::string& key, int64_t t, bool& found) {
      const auto series = m.find(key);
      if (series == m.end())
        return 0.0;
      const auto p = series->second.find(t);
      if (p == series->second.end())
        return 0.0;
      found = true;
      return p->second;
    };
    CandidateTelemetry ct{s.node, {}};
    for (int64_t t = s0; t <= s1; t += st) {
      Sample sample;
      bool stealFound = false;
      bool ignored = false;
      sample.cpuSteal = pointAt(steal, s.name, t, stealFound);
      sample.cpuUtilization = pointAt(util, s.node, t, ignored);
      sample.memoryPressure = pointAt(memory, s.node, t, ignored);
      sample.ioWait = pointAt(io, s.node, t, ignored);
      // A step without the shadow's steal, or whose rate window starts before the observation
      // (when the shadow's series was born), is a gap.
      sample.present = stealFound && t - c.rateWindow.count() >= s0;
      ct.samples.push_back(sample);
    }
    out.push_back(std::move(ct));
  }
  return out;
}

}  // namespace umbra::telemetry
