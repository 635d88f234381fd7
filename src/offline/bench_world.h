#pragma once

// Internal to the placement benchmark: one placer's simulated world (the cluster, its history,
// the placed VMs' measurements) and the load it starts from.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "common/result.h"
#include "offline/cpu_slot_tracker.h"
#include "offline/placement_bench.h"
#include "offline/sim_outcomes.h"
#include "placement/candidates.h"
#include "placement/scoring.h"
#include "telemetry/metrics_source.h"

namespace umbra::model::bench_detail {

inline constexpr double Dt = 15;     // simulation step, seconds
inline constexpr double Slot = 300;  // history and measurement slot, seconds
inline constexpr double GiB = 1024.0 * 1024 * 1024;
inline constexpr int SlotSteps = static_cast<int>(Slot / Dt);

// What node-exporter's series give over one step (the catalog's queries, from counter deltas).
inline telemetry::Sample nodeSample(const sim::NodeCounters& before, const sim::NodeState& now) {
  const double cores = std::max(1.0, now.spec.cpuCores);
  telemetry::Sample s;
  s.cpuUtilization = std::clamp(1.0 - (now.counters.idle - before.idle) / (Dt * cores), 0.0, 1.0);
  s.ioWait = std::max(0.0, (now.counters.iowait - before.iowait) / (Dt * cores));
  s.memoryPressure =
      std::max(0.0, (now.counters.pressureMemoryWaiting - before.pressureMemoryWaiting) / Dt);
  // The node's CPU pressure stands in for steal where there is no shadow (forecast-only).
  s.cpuSteal =
      std::clamp((now.counters.pressureCpuWaiting - before.pressureCpuWaiting) / Dt, 0.0, 1.0);
  return s;
}

// "Steal" in the benchmark's measurements is the simulator's ground-truth slowdown of a VM
// (sim::WorkloadState::slowdown: run-queue delay and interference compounded), what a VM's user
// feels; no exporter shows it whole.
struct Tracked {
  size_t node = 0;
  placement::Resources requests;
  double endAt = 0;
  double stealSum = 0, ioSum = 0;
  int steps = 0;
  std::vector<double> slotSteal, slotIo;
  // The VMs on its node when it was placed, and the measuring slot it was placed in.
  std::vector<std::string> neighbours;
  size_t firstSlot = 0;
};

// Every workload's steal per measuring slot (background and placed VMs), for the harm a placement
// does to its neighbours.
struct StealSeries {
  double sum = 0;
  int steps = 0;
  size_t firstSlot = 0;  // the measuring slot of slots[0]
  std::vector<double> slots;
};

// One placer's run: the cluster, its history, the placed VMs' measurements.
class World {
 public:
  World(const sim::ClusterSpec& cluster, const sim::TraceSet& traces, uint64_t seed)
      : cluster_(cluster),
        sim_(cluster, seed, &traces),
        n_(cluster.nodes.size()),
        cpu_(cluster, Slot) {
    history_.resize(n_);
    slotUtil_.assign(n_, 0);
    before_.resize(n_);
    recent_.resize(n_);
    requested_.resize(n_);
    for (size_t i = 0; i < n_; ++i)
      index_[cluster.nodes[i].name] = i;
  }

  sim::Simulation& sim() { return sim_; }
  size_t nodes() const { return n_; }
  const sim::NodeSpec& spec(size_t i) const { return cluster_.nodes[i]; }
  const std::vector<double>& history(size_t i) const { return history_[i]; }
  const std::vector<telemetry::Sample>& recent(size_t i) const { return recent_[i]; }
  size_t indexOf(const std::string& name) const { return index_.at(name); }

  // Requests as KubeVirt makes them: vCPUs / cpuAllocationRatio, the guest memory.
  placement::NodeView view(size_t i) const {
    placement::NodeView v;
    v.name = cluster_.nodes[i].name;
    v.labels = {{"kubevirt.io/schedulable", "true"}};
    v.ready = true;
    v.allocatable = {cluster_.nodes[i].cpuCores,
                     cluster_.nodes[i].memoryBytes * (1.0 - cluster_.nodes[i].background.memory)};
    v.requested = requested_[i];
    return v;
  }
  static placement::TargetRequirements requirements(const sim::WorkloadSpec& w) {
    placement::TargetRequirements r;
    r.requests = {w.vcpus / placement::CpuAllocationRatio, w.memoryBytes};
    r.size = {w.vcpus, w.memoryBytes};
    return r;
  }
  std::vector<placement::Verdict> classify(const sim::WorkloadSpec& w) const {
    std::vector<placement::NodeView> views;
    for (size_t i = 0; i < n_; ++i)
      views.push_back(view(i));
    return placement::classify(views, requirements(w), {});
  }

  Status add(const sim::WorkloadSpec& w, size_t node) {
    UMBRA_CHECK(sim_.addWorkload(w, cluster_.nodes[node].name));
    if (measuring_)
      series_[w.id] = {0, 0, slot_, {}};
    requested_[node].cpu += w.vcpus / placement::CpuAllocationRatio;
    requested_[node].memory += w.memoryBytes;
    return okStatus();
  }
  // Adds a placed VM, measured from now for `lifetime` seconds.
  Status place(const sim::WorkloadSpec& w, size_t node, double lifetime) {
    Tracked t;
    for (const auto& [id, state] : sim_.workloads()) {
      if (state.node == cluster_.nodes[node].name)
        t.neighbours.push_back(id);
    }
    t.firstSlot = slot_;
    UMBRA_CHECK(add(w, node));
    t.node = node;
    t.requests = {w.vcpus / placement::CpuAllocationRatio, w.memoryBytes};
    t.endAt = sim_.elapsed() + lifetime;
    tracked_[w.id] = std::move(t);
    return okStatus();
  }

  void step() {
    for (size_t i = 0; i < n_; ++i)
      before_[i] = sim_.nodes()[i].counters;
    sim_.step(Dt);
    for (size_t i = 0; i < n_; ++i) {
      const auto s = nodeSample(before_[i], sim_.nodes()[i]);
      slotUtil_[i] += s.cpuUtilization;
      recent_[i].push_back(s);
      if (recent_[i].size() > static_cast<size_t>(SlotSteps))
        recent_[i].erase(recent_[i].begin());
    }
    for (auto& [id, series] : series_) {
      const auto* w = sim_.workload(id);
      if (!w)
        continue;
      series.sum += w->slowdown;
      ++series.steps;
    }
    for (auto& [id, t] : tracked_) {
      const auto* w = sim_.workload(id);
      if (!w)
        continue;
      t.stealSum += w->slowdown;
      t.ioSum += recent_[t.node].back().ioWait;
      ++t.steps;
    }
    if (++slotSteps_ < SlotSteps)
      return;
    slotSteps_ = 0;
    double mean = 0, sq = 0;
    for (size_t i = 0; i < n_; ++i) {
      const double u = slotUtil_[i] / SlotSteps;
      history_[i].push_back(u);
      mean += u;
      sq += u * u;
      slotUtil_[i] = 0;
    }
    cpu_.slotEnded(sim_, history_.front().size());
    if (measuring_) {
      mean /= static_cast<double>(n_);
      imbalance_ += std::sqrt(std::max(0.0, sq / static_cast<double>(n_) - mean * mean));
      ++imbalanceSlots_;
      for (auto& [id, series] : series_) {
        if (series.steps == 0)
          continue;
        series.slots.push_back(series.sum / series.steps);
        series.sum = 0;
        series.steps = 0;
      }
      ++slot_;
    }
    for (auto& [id, t] : tracked_) {
      if (t.steps == 0 || !sim_.workload(id))
        continue;
      t.slotSteal.push_back(t.stealSum / t.steps);
      t.slotIo.push_back(t.ioSum / t.steps);
      t.stealSum = t.ioSum = 0;
      t.steps = 0;
      if (sim_.elapsed() >= t.endAt) {
        sim_.removeWorkload(id);  // its lifetime is over: it leaves
        requested_[t.node].cpu -= t.requests.cpu;
        requested_[t.node].memory -= t.requests.memory;
        released_.push_back(id);
      }
    }
    for (const auto& id : released_)
      finished_[id] = std::move(tracked_.extract(id).mapped());
    released_.clear();
  }
  void stepFor(double seconds) {
    for (double t = 0; t < seconds - 1e-9; t += Dt)
      step();
  }
  // From now on: imbalance, and every workload's steal per slot (slot boundaries are kept).
  void startMeasuring() {
    measuring_ = true;
    for (const auto& [id, state] : sim_.workloads())
      series_[id] = {0, 0, slot_, {}};
  }
  const std::map<std::string, StealSeries>& series() const { return series_; }
  double imbalance() const { return imbalanceSlots_ ? imbalance_ / imbalanceSlots_ : 0; }
  bool allFinished() const { return tracked_.empty(); }
  const std::map<std::string, Tracked>& finished() const { return finished_; }
  void release(size_t node, const sim::WorkloadSpec& w) {
    requested_[node].cpu -= w.vcpus / placement::CpuAllocationRatio;
    requested_[node].memory -= w.memoryBytes;
  }

  // Node i's history with its last slots as the workloads on it now would have made them
  // (CpuSlotTracker).
  std::vector<double> coRunnerHistory(size_t i) const { return cpu_.rebuild(i, history_[i]); }

 private:
  const sim::ClusterSpec& cluster_;
  sim::Simulation sim_;
  size_t n_;
  std::map<std::string, size_t> index_;
  std::vector<std::vector<double>> history_;
  std::vector<double> slotUtil_;
  std::vector<sim::NodeCounters> before_;
  std::vector<std::vector<telemetry::Sample>> recent_;  // the last slot's steps per node
  std::vector<placement::Resources> requested_;
  int slotSteps_ = 0;
  std::map<std::string, Tracked> tracked_, finished_;
  std::map<std::string, StealSeries> series_;
  CpuSlotTracker cpu_;
  size_t slot_ = 0;     // measuring slots completed
  std::vector<std::string> released_;
  bool measuring_ = false;
  double imbalance_ = 0;
  int imbalanceSlots_ = 0;
};

// The node history the operator's forecaster reads in a World: as the VMs on the node now would
// have made it, or the node's own (PlacementBenchOptions::coRunnerHistory).
inline NodeHistory forecasterHistory(const World& w, const PlacementBenchOptions& o) {
  return [&w, &o](const std::string& node, SystemTime) {
    const size_t i = w.indexOf(node);
    return Result<std::vector<double>>(o.coRunnerHistory ? w.coRunnerHistory(i) : w.history(i));
  };
}

// The same background in every run: trace VMs on random nodes until the mean node CPU reaches
// the utilisation (vCPU overcommit up to 4:1 and 80 % of memory, as simulateOutcomes fills).
inline Status fill(World& w, const sim::TraceSet& traces, const std::vector<std::string>& ids,
                   const std::vector<std::string>& classes, double utilisation, uint64_t seed,
                   double& reached) {
  std::mt19937_64 rng(seed ^ 0x5eedf111ULL);
  const size_t n = w.nodes();
  std::vector<double> vcpus(n, 0), memory(n, 0);
  for (size_t i = 0; i < n; ++i)
    memory[i] = w.spec(i).background.memory * w.spec(i).memoryBytes;
  const auto meanUtil = [&] { return w.sim().meanCpuUtilization(); };
  w.sim().step(Dt);
  size_t serial = 0;
  for (int attempt = 0; meanUtil() < utilisation && attempt < 300; ++attempt) {
    for (int k = 0; k < 10; ++k) {
      auto vm = traceVm(traces, ids, classes, rng, "bg/" + std::to_string(serial++));
      const size_t node = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      const auto& spec = w.spec(node);
      if (vcpus[node] + vm.vcpus > 3.2 * spec.cpuCores ||
          memory[node] + vm.memoryBytes > 0.8 * spec.memoryBytes)
        continue;
      UMBRA_CHECK(w.add(vm, node));
      vcpus[node] += vm.vcpus;
      memory[node] += vm.memoryBytes;
    }
    w.sim().step(Dt);
  }
  reached = meanUtil();
  if (reached < 0.8 * utilisation)
    return Error::config("placement bench: the cluster holds only " +
                         std::to_string(static_cast<int>(100 * reached)) +
                         " % utilisation of the " +
                         std::to_string(static_cast<int>(100 * utilisation)) + " % asked for");
  return okStatus();
}

}  // namespace umbra::model::bench_detail
