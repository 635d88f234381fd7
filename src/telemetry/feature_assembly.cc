// The pure part of reading telemetry: feature frames, name regexes, and one candidate's frame and
// decision samples assembled from per-feature query results.
#include <algorithm>
#include <string_view>

#include "telemetry/prometheus_source.h"

namespace umbra::telemetry {
namespace {

std::string selectorOf(const Feature& f, const ShadowRef& s, const std::string& nodeLabel) {
  return f.scope == Scope::Shadow
             ? f.series + "{namespace=\"" + s.ns + "\",name=\"" + s.name + "\"}"
             : f.series + "{" + nodeLabel + "=\"" + s.node + "\"}";
}

std::string keyOf(const Feature& f, const ShadowRef& s) {
  return f.scope == Scope::Shadow ? s.ns + "/" + s.name : s.node;
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
            probeMemory = col("probe_memory_speed"), probeAlu = col("probe_alu_speed");
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
    s.probeMemorySpeed = raw(probeMemory, i);
    s.probeAluSpeed = raw(probeAlu, i);
    s.present = steal >= 0 && f.has(i, static_cast<size_t>(steal));
    c.samples.push_back(s);
  }
  return c;
}

}  // namespace umbra::telemetry
