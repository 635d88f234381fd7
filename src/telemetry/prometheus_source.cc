#include "telemetry/prometheus_source.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <future>
#include <mutex>

namespace umbra::telemetry {
namespace {

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The matrix as SeriesByKey: shadow features by "namespace/name", node features by node.
SeriesByKey byKey(const QueryResult& r, Scope scope, const std::string& nodeLabel) {
  SeriesByKey out;
  for (const auto& s : r.series) {
    const auto label = [&s](const char* k) {
      const auto it = s.labels.find(k);
      return it == s.labels.end() ? std::string() : it->second;
    };
    const std::string key = scope == Scope::Shadow ? label("namespace") + "/" + label("name")
                                                   : label(nodeLabel.c_str());
    auto& points = out[key];
    for (const auto& [ms, v] : s.points) {
      if (std::isfinite(v))
        points[ms / 1000] = v;
    }
  }
  return out;
}

}  // namespace

struct PrometheusSource::Impl {
  PrometheusOptions options;
  std::unique_ptr<PrometheusClient> client;
  std::atomic<int> queries{0};

  std::mutex labelMutex;
  std::string detectedLabel;  // once "auto" found node series under one of its labels

  std::string expand(const std::string& q, const std::string& ns, const std::string& shadows,
                     const std::string& nodes, const std::string& nodeLabel) const {
    std::string out = replaceAll(q, "$node_label", nodeLabel);
    char reference[32];
    std::snprintf(reference, sizeof(reference), "%.6g", options.catalog.probeReference);
    out = replaceAll(out, "$probe_reference", reference);
    out = replaceAll(out, "$ns", ns);
    out = replaceAll(out, "$shadows", shadows);
    out = replaceAll(out, "$nodes", nodes);
    return replaceAll(out, "$window", std::to_string(options.catalog.rateWindow.count()) + "s");
  }

  Result<SeriesByKey> read(const Feature& f, const std::string& promql, SystemTime start,
                           SystemTime end, std::chrono::seconds step,
                           const std::string& nodeLabel) {
    ++queries;
    auto r = client->queryRange(promql, start, end, step);
    if (!r.ok())
      return r.error().wrap("feature " + f.name);
    return byKey(*r, f.scope, nodeLabel);
  }

  // The label node series carry the node name in: the catalog's, or for "auto" the first of
  // `node` and `instance` under which the first node feature's series has values in the window
  // (remembered once found; `node` when neither has any, so that absence is reported as before).
  Result<std::string> nodeLabel(SystemTime start, SystemTime end) {
    const MetricCatalog& c = options.catalog;
    if (c.nodeLabel != "auto")
      return c.nodeLabel;
    {
      const std::lock_guard<std::mutex> lock(labelMutex);
      if (!detectedLabel.empty())
        return detectedLabel;
    }
    const auto feature = std::find_if(c.features.begin(), c.features.end(),
                                      [](const Feature& f) { return f.scope == Scope::Node; });
    if (feature == c.features.end())
      return std::string("node");
    const auto span = std::chrono::duration_cast<std::chrono::seconds>(end - start);
    const int64_t range =
        std::clamp<int64_t>(span.count(), c.rateWindow.count(), 3600) + c.rateWindow.count();
    for (const char* label : {"node", "instance"}) {
      auto r = client->query("count(last_over_time(" + feature->series + "{" + label + "!=\"\"}[" +
                                 std::to_string(range) + "s]))",
                             end);
      if (!r.ok())
        return r.error().wrap("finding the node label of " + feature->series);
      if (!r->series.empty()) {
        const std::lock_guard<std::mutex> lock(labelMutex);
        detectedLabel = label;
        return detectedLabel;
      }
    }
    return std::string("node");
  }
};

Result<std::unique_ptr<PrometheusSource>> PrometheusSource::create(PrometheusOptions options) {
  if (options.catalog.features.empty()) {
    return Error::config("metric catalog: no features");
  }
  UMBRA_TRY(auto client, PrometheusClient::create(options.connection));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->client = std::move(client);
  return std::unique_ptr<PrometheusSource>(new PrometheusSource(std::move(impl)));
}

PrometheusSource::PrometheusSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrometheusSource::~PrometheusSource() = default;

int PrometheusSource::queriesIssued() const {
  return impl_->queries.load();
}
PrometheusClient& PrometheusSource::client() {
  return *impl_->client;
}
const MetricCatalog& PrometheusSource::catalog() const {
  return impl_->options.catalog;
}

Result<std::vector<CandidateTelemetry>> PrometheusSource::observe(
    const std::vector<ShadowRef>& shadows, SystemTime start, SystemTime end, Duration step) {
  if (shadows.empty()) {
    return std::vector<CandidateTelemetry>{};
  }
  std::vector<std::string> namespaces, names, nodes;
  for (const auto& s : shadows) {
    namespaces.push_back(s.ns);
    names.push_back(s.name);
    nodes.push_back(s.node);
  }
  const MetricCatalog& catalog = impl_->options.catalog;
  const auto stepS =
      std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(step));
  const std::string ns = nameAlternation(namespaces), sh = nameAlternation(names),
                    nd = nameAlternation(nodes);
  UMBRA_TRY(const std::string label, impl_->nodeLabel(start, end));
  // The queries are independent: issued together, a decision waits for the slowest, not the sum.
  std::vector<std::future<Result<SeriesByKey>>> pending;
  for (const auto& f : catalog.features) {
    pending.push_back(
        std::async(std::launch::async, [&, q = impl_->expand(f.query, ns, sh, nd, label)] {
          return impl_->read(f, q, start, end, stepS, label);
        }));
  }
  std::vector<Result<SeriesByKey>> answers;
  answers.reserve(pending.size());
  for (auto& p : pending)
    answers.push_back(p.get());  // every future is waited for before any error returns
  std::vector<SeriesByKey> byFeature;
  for (auto& a : answers) {
    UMBRA_TRY(auto data, std::move(a));
    byFeature.push_back(std::move(data));
  }
  const int64_t s0 = unixSeconds(start);
  const int64_t window = catalog.rateWindow.count();
  const int64_t staleAfter =
      impl_->options.staleAfter.count() > 0 ? impl_->options.staleAfter.count() : 2 * window;
  std::vector<CandidateTelemetry> out;
  for (const auto& s : shadows) {
    UMBRA_TRY(auto c, assembleCandidate(catalog, byFeature, s, s0, unixSeconds(end), stepS.count(),
                                        s0 + window, staleAfter, label));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<CandidateTelemetry>> PrometheusSource::observeNodes(
    const std::vector<std::string>& nodes, SystemTime start, SystemTime end, Duration step) {
  if (nodes.empty())
    return std::vector<CandidateTelemetry>{};
  MetricCatalog nodeOnly = impl_->options.catalog;
  std::erase_if(nodeOnly.features, [](const Feature& f) { return f.scope != Scope::Node; });
  const auto stepS =
      std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(step));
  const std::string nd = nameAlternation(nodes);
  UMBRA_TRY(const std::string label, impl_->nodeLabel(start, end));
  std::vector<std::future<Result<SeriesByKey>>> pending;
  for (const auto& f : nodeOnly.features) {
    pending.push_back(
        std::async(std::launch::async, [&, q = impl_->expand(f.query, ".+", ".+", nd, label)] {
          return impl_->read(f, q, start, end, stepS, label);
        }));
  }
  std::vector<Result<SeriesByKey>> answers;
  for (auto& p : pending)
    answers.push_back(p.get());
  std::vector<SeriesByKey> byFeature;
  for (auto& a : answers) {
    UMBRA_TRY(auto data, std::move(a));
    byFeature.push_back(std::move(data));
  }
  const int64_t staleAfter = impl_->options.staleAfter.count() > 0
                                 ? impl_->options.staleAfter.count()
                                 : 2 * nodeOnly.rateWindow.count();
  const int psi = nodeOnly.index("node_pressure_cpu");
  const int util = nodeOnly.index("node_cpu_utilization");
  std::vector<CandidateTelemetry> out;
  for (const auto& node : nodes) {
    UMBRA_TRY(auto c, assembleCandidate(nodeOnly, byFeature, ShadowRef{"", "", node},
                                        unixSeconds(start), unixSeconds(end), stepS.count(),
                                        unixSeconds(start), staleAfter, label));
    // No shadow: the node's CPU pressure stands where its steal would be.
    for (size_t i = 0; i < c.samples.size(); ++i) {
      const bool has = psi >= 0 && c.frame.has(i, static_cast<size_t>(psi));
      c.samples[i].cpuSteal = has ? c.frame.value(i, static_cast<size_t>(psi)) *
                                        nodeOnly.features[static_cast<size_t>(psi)].scale
                                  : 0.0;
      c.samples[i].present = util >= 0 && c.frame.has(i, static_cast<size_t>(util));
    }
    c.fromShadow = false;
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::string> PrometheusSource::nodeLabel(SystemTime start, SystemTime end) {
  return impl_->nodeLabel(start, end);
}

void PrometheusSource::countQuery() {
  ++impl_->queries;
}

Result<std::map<std::string, FeatureFrame>> PrometheusSource::history(
    Scope scope, const std::string& nsRegex, const std::vector<std::string>& names,
    SystemTime start, SystemTime end, std::chrono::seconds step,
    const std::vector<std::string>& only) {
  const MetricCatalog& catalog = impl_->options.catalog;
  const std::string selected = names.empty() ? ".+" : nameAlternation(names);
  std::string label = "node";
  if (scope == Scope::Node) {
    UMBRA_TRY(label, impl_->nodeLabel(start, end));
  }
  std::vector<const Feature*> features;
  std::vector<SeriesByKey> data;
  for (const auto& f : catalog.features) {
    if (f.scope != scope ||
        (!only.empty() && std::find(only.begin(), only.end(), f.name) == only.end()))
      continue;
    const std::string q = scope == Scope::Shadow
                              ? impl_->expand(f.query, nsRegex, selected, ".+", label)
                              : impl_->expand(f.query, ".+", ".+", selected, label);
    UMBRA_TRY(auto d, impl_->read(f, q, start, end, step, label));
    features.push_back(&f);
    data.push_back(std::move(d));
  }
  std::map<std::string, FeatureFrame> out;
  const int64_t s0 = unixSeconds(start), s1 = unixSeconds(end);
  const int64_t st = std::max<int64_t>(1, step.count());
  for (size_t j = 0; j < features.size(); ++j) {
    for (const auto& [key, points] : data[j]) {
      FeatureFrame& f = out[key];
      if (f.columns.empty()) {
        for (const auto* feature : features)
          f.columns.push_back(feature->name);
        for (int64_t t = s0; t <= s1; t += st)
          f.times.push_back(t);
        f.values.assign(f.rows() * f.cols(), 0.0);
        f.present.assign(f.rows() * f.cols(), 0);
      }
      for (size_t i = 0; i < f.rows(); ++i) {
        const auto p = points.find(f.times[i]);
        if (p != points.end()) {
          f.values[i * f.cols() + j] = p->second / features[j]->scale;
          f.present[i * f.cols() + j] = 1;
        }
      }
    }
  }
  return out;
}

}  // namespace umbra::telemetry
