#pragma once

// Every simulated workload's CPU use and node per history slot, and a node's history rebuilt from
// them as the workloads on it now would have made it, through the operator's own function
// (model::toCoRunnerHistories): what the operator reads from kubevirt_vmi_cpu_usage_seconds_total
// and its node label. Shared by the placement benchmark's World and the contention map's
// simulated outcomes (sim_outcomes.h), so that the map learns on the inputs it is used with.
#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "sim/simulation.h"

namespace umbra::model::bench_detail {

// How many slots of each workload's CPU use are kept: the operator's history window (a day and
// four hours, learning.cc).
inline constexpr size_t CpuTrackSlots = 336;

class CpuSlotTracker {
 public:
  CpuSlotTracker(const sim::ClusterSpec& cluster, double slotSeconds);

  // At the end of every history slot, once the nodes' histories are `historySlots` long: where
  // each workload ran in the slot and the cores it used (its running-time counter's increase).
  void slotEnded(const sim::Simulation& sim, size_t historySlots);

  // Node i's history (`own`, oldest first) with its last slots, up to CpuTrackSlots, as the
  // workloads on it now would have made them.
  std::vector<double> rebuild(size_t i, std::vector<double> own) const;

 private:
  // One workload's cores and node index (-1: not running) per slot, the newest last, as long as
  // the nodes' histories up to CpuTrackSlots.
  struct Track {
    double lastRunning = 0;
    size_t slot = 0;  // the last slot it ran in
    std::deque<int> node;
    std::deque<double> cores;
  };
  const sim::ClusterSpec& cluster_;
  double slotSeconds_;
  std::map<std::string, size_t> index_;
  std::map<std::string, Track> tracks_;
  size_t slot_ = 0;  // slots tracked
};

}  // namespace umbra::model::bench_detail
