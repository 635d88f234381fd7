// Per-workload CPU slots and the co-runner history rebuilt from them (cpu_slot_tracker.h).
#include "offline/cpu_slot_tracker.h"

#include <algorithm>

#include "model/co_runners.h"
#include "telemetry/metrics_source.h"

namespace umbra::model::bench_detail {

CpuSlotTracker::CpuSlotTracker(const sim::ClusterSpec& cluster, double slotSeconds)
    : cluster_(cluster), slotSeconds_(slotSeconds) {
  for (size_t i = 0; i < cluster.nodes.size(); ++i)
    index_[cluster.nodes[i].name] = i;
}

void CpuSlotTracker::slotEnded(const sim::Simulation& sim, size_t historySlots) {
  ++slot_;
  const size_t len = std::min(historySlots, CpuTrackSlots);
  for (const auto& [id, state] : sim.workloads()) {
    auto [it, fresh] = tracks_.try_emplace(id);
    Track& t = it->second;
    if (fresh && len > 0) {
      t.node.assign(len - 1, -1);
      t.cores.assign(len - 1, 0.0);
    }
    t.node.push_back(static_cast<int>(index_.at(state.node)));
    t.cores.push_back((state.counters.cpuRunning - t.lastRunning) / slotSeconds_);
    t.lastRunning = state.counters.cpuRunning;
    t.slot = slot_;
  }
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    Track& t = it->second;
    if (t.slot != slot_) {  // not running in this slot
      t.node.push_back(-1);
      t.cores.push_back(0);
    }
    while (t.node.size() > len) {
      t.node.pop_front();
      t.cores.pop_front();
    }
    const bool gone = std::all_of(t.node.begin(), t.node.end(), [](int n) { return n < 0; });
    it = gone ? tracks_.erase(it) : std::next(it);
  }
}

std::vector<double> CpuSlotTracker::rebuild(size_t i, std::vector<double> own) const {
  const size_t k = std::min(own.size(), CpuTrackSlots);
  if (k == 0)
    return own;
  const int here = static_cast<int>(i);
  const std::string& name = cluster_.nodes[i].name;
  telemetry::VmiCpuHistory vmis;
  vmis.times.resize(k);
  vmis.nodeCpus[name] = cluster_.nodes[i].cpuCores;
  for (const auto& [id, t] : tracks_) {
    if (t.node.size() != k || std::find(t.node.begin(), t.node.end(), here) == t.node.end())
      continue;
    telemetry::VmiCpuHistory::Vmi v{id, {}, {t.cores.begin(), t.cores.end()}};
    for (int node : t.node)
      v.node.push_back(node < 0 ? std::string() : cluster_.nodes[static_cast<size_t>(node)].name);
    vmis.vmis.push_back(std::move(v));
  }
  std::map<std::string, std::vector<double>> h = {
      {name, std::vector<double>(own.end() - static_cast<std::ptrdiff_t>(k), own.end())}};
  model::toCoRunnerHistories(h, vmis);
  std::copy(h[name].begin(), h[name].end(), own.end() - static_cast<std::ptrdiff_t>(k));
  return own;
}

}  // namespace umbra::model::bench_detail
