// PrometheusSource::vmiCpuHistory: every VMI's CPU use and node over a window (the operator's
// co-runner history, model/co_runners.h).
#include <array>
#include <cmath>
#include <mutex>

#include "telemetry/prometheus_source.h"

namespace umbra::telemetry {

namespace {

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<VmiCpuHistory> PrometheusSource::vmiCpuHistory(SystemTime start, SystemTime end,
                                                      std::chrono::seconds step) {
  const std::array<int64_t, 3> window = {unixSeconds(start), unixSeconds(end), step.count()};
  {
    const std::lock_guard<std::mutex> lock(vmiMutex_);
    if (vmiWindow_ == window)
      return vmiLast_;
  }
  auto read = readVmiCpuHistory(start, end, step);  // outside the lock: a Prometheus round trip
  if (read.ok()) {
    const std::lock_guard<std::mutex> lock(vmiMutex_);
    vmiWindow_ = window;
    vmiLast_ = *read;
  }
  return read;
}

Result<VmiCpuHistory> PrometheusSource::readVmiCpuHistory(SystemTime start, SystemTime end,
                                                          std::chrono::seconds step) {
  const int64_t s0 = unixSeconds(start), s1 = unixSeconds(end);
  const int64_t st = std::max<int64_t>(1, step.count());
  UMBRA_TRY(const std::string label, nodeLabel(start, end));
  countQuery();
  const std::string window = std::to_string(st) + "s";
  auto used = client().queryRange(
      "sum by (namespace, name, node) (rate(kubevirt_vmi_cpu_usage_seconds_total[" + window + "]))",
      start, end, step);
  if (!used.ok())
    return used.error().wrap("VMI CPU history");
  countQuery();
  auto cpus =
      client().query("count by (" + label + ") (node_cpu_seconds_total{mode=\"idle\"})", end);
  if (!cpus.ok())
    return cpus.error().wrap("node CPU counts");
  VmiCpuHistory out;
  for (int64_t t = s0; t <= s1; t += st)
    out.times.push_back(t);
  std::map<std::string, size_t> index;
  for (const auto& series : used->series) {
    const auto labelOf = [&series](const char* k) {
      const auto it = series.labels.find(k);
      return it == series.labels.end() ? std::string() : it->second;
    };
    const std::string node = labelOf("node");
    if (node.empty())
      continue;
    const std::string key = labelOf("namespace") + "/" + labelOf("name");
    auto [it, fresh] = index.try_emplace(key, out.vmis.size());
    if (fresh)
      out.vmis.push_back({key, std::vector<std::string>(out.times.size()),
                          std::vector<double>(out.times.size(), 0.0)});
    auto& vmi = out.vmis[it->second];
    for (const auto& [ms, v] : series.points) {
      const int64_t t = ms / 1000;
      if (!std::isfinite(v) || t < s0 || t > s1 || (t - s0) % st != 0)
        continue;
      const auto k = static_cast<size_t>((t - s0) / st);
      if (vmi.node[k].empty() || v > vmi.cores[k]) {
        vmi.node[k] = node;
        vmi.cores[k] = v;
      }
    }
  }
  for (const auto& series : cpus->series) {
    const auto it = series.labels.find(label);
    if (it != series.labels.end() && !series.points.empty())
      out.nodeCpus[it->second] = series.points.back().second;
  }
  return out;
}

}  // namespace umbra::telemetry
