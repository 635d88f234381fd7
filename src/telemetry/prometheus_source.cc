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

std::string selectorOf(const Feature& f, const ShadowRef& s, const std::string& nodeLabel) {
  return f.scope == Scope::Shadow
             ? f.series + "{namespace=\"" + s.ns + "\",name=\"" + s.name + "\"}"
             : f.series + "{" + nodeLabel + "=\"" + s.node + "\"}";
}

std::string keyOf(const Feature& f, const ShadowRef& s) {
  return f.scope == Scope::Shadow ? s.ns + "/" + s.name : s.node;
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

int FeatureFrame::column(const std::string& name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  return it == columns.end() ? -1 : static_cast<int>(it - columns.begin());
}

double FeatureFrame::coverage() const {
  if (present.empty())
    return 0;
  return static_cast<double>(std::count(present.begin(), present.end(), 1)) /
         static_cast<double>(present.size());
}

std::string nameAlternation(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    std::string escaped;
    for (const char c : n) {
      if (std::string_view(".+*?()[]{}|^$\\").find(c) != std::string_view::npos)
        escaped += "\\\\";
      escaped += c;
    }
    out += (out.empty() ? "" : "|") + escaped;
  }
  return out;
}

Result<CandidateTelemetry> assembleCandidate(const MetricCatalog& catalog,
                                             const std::vector<SeriesByKey>& byFeature,
                                             const ShadowRef& shadow, int64_t start, int64_t end,
                                             int64_t step, int64_t shadowValidFrom,
                                             int64_t staleAfter, const std::string& nodeLabel) {
  if (byFeature.size() != catalog.features.size()) {
    return Error::bug("assembleCandidate: one result per feature expected");
  }
  CandidateTelemetry c;
  c.node = shadow.node;
  FeatureFrame& f = c.frame;
  f.columns = catalog.names();
  for (int64_t t = start; t <= end; t += std::max<int64_t>(1, step))
    f.times.push_back(t);
  const size_t rows = f.rows();
  const size_t cols = f.cols();
  f.values.assign(rows * cols, 0.0);
  f.present.assign(rows * cols, 0);
  const int64_t lastRow = rows > 0 ? f.times.back() : end;
  for (size_t j = 0; j < cols; ++j) {
    const Feature& feature = catalog.features[j];
    const auto series = byFeature[j].find(keyOf(feature, shadow));
    std::string problem;
    if (series == byFeature[j].end() || series->second.empty()) {
      problem = "series " + selectorOf(feature, shadow, nodeLabel) + " absent";
    } else {
      int64_t newest = series->second.rbegin()->first;
      if (newest < lastRow - staleAfter) {
        problem = "series " + selectorOf(feature, shadow, nodeLabel) +
                  " stale: no value in the last " + std::to_string(lastRow - newest) +
                  "s of the window";
      }
      for (size_t i = 0; i < rows; ++i) {
        const int64_t t = f.times[i];
        if (feature.scope == Scope::Shadow && t < shadowValidFrom)
          continue;
        const auto p = series->second.find(t);
        if (p == series->second.end())
          continue;
        f.values[i * cols + j] = p->second / feature.scale;
        f.present[i * cols + j] = 1;
      }
    }
    if (!problem.empty()) {
      if (feature.required) {
        return Error::make(ErrorKind::ServerError, problem);
      }
      c.notes.push_back(feature.name + ": " + problem);
    } else if (feature.required && c.gap.empty()) {
      // The longest run of steps without a value, from when the feature is valid.
      int64_t longest = 0, run = 0, runEnd = 0;
      for (size_t i = 0; i < rows; ++i) {
        if (feature.scope == Scope::Shadow && f.times[i] < shadowValidFrom)
          continue;
        run = f.present[i * cols + j] ? 0 : run + 1;
        if (run > longest) {
          longest = run;
          runEnd = f.times[i];
        }
      }
      // One missed step is noise; a hole longer than the staleness limit and two steps is not.
      const int64_t seconds = longest * std::max<int64_t>(1, step);
      if (seconds > std::max(staleAfter, 2 * std::max<int64_t>(1, step)))
        c.gap = feature.name + " has no data for " + std::to_string(seconds) +
                "s of the window (up to " + std::to_string(end - runEnd) + "s before its end)";
    }
  }
  // The decision features, in their natural units.
  const auto col = [&](const char* name) { return catalog.index(name); };
  const int steal = col("cpu_steal"), util = col("node_cpu_utilization"),
            memory = col("node_pressure_memory"), io = col("node_cpu_iowait"),
            probe = col("probe_loss");
  const auto raw = [&](int j, size_t i) {
    return j < 0 || !f.has(i, static_cast<size_t>(j))
               ? 0.0
               : f.value(i, static_cast<size_t>(j)) *
                     catalog.features[static_cast<size_t>(j)].scale;
  };
  for (size_t i = 0; i < rows; ++i) {
    Sample s;
    s.cpuSteal = raw(steal, i);
    s.cpuUtilization = raw(util, i);
    s.memoryPressure = raw(memory, i);
    s.ioWait = raw(io, i);
    s.probeLoss = raw(probe, i);
    s.present = steal >= 0 && f.has(i, static_cast<size_t>(steal));
    c.samples.push_back(s);
  }
  return c;
}

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
    out.push_back(std::move(c));
  }
  return out;
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
