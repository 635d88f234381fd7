#include "controller/demand_cache.h"

#include <algorithm>

namespace umbra::controller {

namespace {

class PrometheusDemandHistory final : public DemandHistorySource {
 public:
  explicit PrometheusDemandHistory(telemetry::PrometheusSource& s) : source_(s) {}
  Result<std::map<std::string, telemetry::FeatureFrame>> history(
      const std::set<std::string>& vmis, SystemTime start, SystemTime end,
      std::chrono::seconds step) override {
    std::set<std::string> names, namespaces;
    for (const auto& k : vmis) {
      const auto slash = k.find('/');
      namespaces.insert(k.substr(0, slash));
      names.insert(k.substr(slash + 1));
    }
    std::string nsRegex;
    for (const auto& ns : namespaces)
      nsRegex += (nsRegex.empty() ? "" : "|") + ns;
    UMBRA_TRY(auto frames, source_.history(telemetry::Scope::Shadow, nsRegex,
                                           std::vector<std::string>(names.begin(), names.end()),
                                           start, end, step, {"cpu_usage", "memory_used"}));
    // A name asked for in one namespace may exist in another.
    std::erase_if(frames, [&](const auto& kv) { return vmis.count(kv.first) == 0; });
    return frames;
  }

 private:
  telemetry::PrometheusSource& source_;
};

}  // namespace

std::unique_ptr<DemandHistorySource> prometheusDemandHistory(telemetry::PrometheusSource& source) {
  return std::make_unique<PrometheusDemandHistory>(source);
}

Result<std::map<std::string, telemetry::FeatureFrame>> DemandCache::get(
    const std::set<std::string>& vmis, std::chrono::seconds step, std::chrono::seconds window) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const SteadyTime t = clock_.now();
  Grid& g = grids_[step.count()];
  for (const auto& v : vmis)
    g.wanted[v] = t;
  // A VMI nobody asked for in three steps is dropped from the next read.
  std::erase_if(g.wanted, [&](const auto& kv) { return t - kv.second > 3 * step; });
  const bool covered =
      std::all_of(vmis.begin(), vmis.end(), [&](const auto& v) { return g.read.count(v) != 0; });
  if (!g.readAt || t - *g.readAt >= step || !covered || window > g.window) {
    std::set<std::string> all;
    for (const auto& [v, at] : g.wanted)
      all.insert(v);
    g.window = std::max(g.window, window);
    // On the grid: the newest whole step, so that every scaler on it sees the same rows.
    const SystemTime now = clock_.wallNow();
    const auto sinceEpoch =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    const SystemTime end{(sinceEpoch / step) * step};
    auto frames = source_.history(all, end - g.window, end, step);
    ++reads_;
    if (!frames.ok())
      return frames.error();
    g.frames = std::move(frames).value();
    g.read = std::move(all);
    g.readAt = t;
  }
  std::map<std::string, telemetry::FeatureFrame> out;
  for (const auto& v : vmis) {
    const auto it = g.frames.find(v);
    if (it == g.frames.end())
      continue;
    telemetry::FeatureFrame f = it->second;
    // Only the newest `window` of a longer read.
    const size_t keep = static_cast<size_t>(window / step) + 1;
    if (f.rows() > keep) {
      const size_t drop = f.rows() - keep;
      f.times.erase(f.times.begin(), f.times.begin() + static_cast<long>(drop));
      f.values.erase(f.values.begin(), f.values.begin() + static_cast<long>(drop * f.cols()));
      f.present.erase(f.present.begin(), f.present.begin() + static_cast<long>(drop * f.cols()));
    }
    out[v] = std::move(f);
  }
  return out;
}

int DemandCache::reads() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return reads_;
}

DemandSeries sumDemand(const std::map<std::string, telemetry::FeatureFrame>& frames,
                       double guestForMemory) {
  DemandSeries out;
  if (frames.empty())
    return out;
  // Rows: the union grid (every frame of one read shares it).
  const auto& first = frames.begin()->second;
  const size_t rows = first.rows();
  out.cpuCores.assign(rows, 0);
  out.memoryBytes.assign(rows, 0);
  std::vector<uint8_t> any(rows, 0);
  for (const auto& [vmi, f] : frames) {
    const int cpuCol = f.column("cpu_usage"), memCol = f.column("memory_used");
    for (size_t r = 0; r < std::min(rows, f.rows()); ++r) {
      if (cpuCol >= 0 && f.has(r, static_cast<size_t>(cpuCol))) {
        out.cpuCores[r] += f.value(r, static_cast<size_t>(cpuCol));
        any[r] = 1;
      }
      if (memCol >= 0 && f.has(r, static_cast<size_t>(memCol)))
        out.memoryBytes[r] += f.value(r, static_cast<size_t>(memCol)) * guestForMemory;
    }
  }
  // Before the first data: dropped; gaps after it: the last value carried.
  size_t start = 0;
  while (start < rows && !any[start])
    ++start;
  out.cpuCores.erase(out.cpuCores.begin(), out.cpuCores.begin() + static_cast<long>(start));
  out.memoryBytes.erase(out.memoryBytes.begin(),
                        out.memoryBytes.begin() + static_cast<long>(start));
  for (size_t r = 1; r < out.cpuCores.size(); ++r)
    if (!any[start + r]) {
      out.cpuCores[r] = out.cpuCores[r - 1];
      out.memoryBytes[r] = out.memoryBytes[r - 1];
    }
  for (size_t r = start; r < rows; ++r)
    out.presentSteps += any[r];
  return out;
}

}  // namespace umbra::controller
