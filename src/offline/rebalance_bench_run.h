#pragma once

// Internal to the rebalancing benchmark: one rebalancer's measured world.
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "offline/rebalance_bench.h"

namespace umbra::offline::rebalance_detail {

enum class Kind { None, LowNode, Relieve, Umbra, Oracle };
const char* nameOf(Kind k);

// The oracle's inputs: the next `minutes` of `now` simulated ahead without any move (greedy: it
// does not foresee its own moves), read as Umbra reads its forecasts: each host's mean and highest
// 5-minute utilisation, the true interference there, each VM's p90 minute usage.
void clairvoyant(const sim::Simulation& now, int minutes, std::vector<rebalance::Host>& hosts,
                 std::vector<rebalance::Vm>& vms);

using Placed = std::vector<std::pair<sim::WorkloadSpec, size_t>>;  // spec, node index

// What a run keeps per node and per VM, as a real cluster's exporters would give it.
struct NodeTrack {
  std::deque<double> util, pressure;  // per step, the sustained window's worth
  // 5-minute means, from the start, of what is not the tracked VMs (background, system,
  // companions) as a share of the cores: node utilisation less the VMs' CPU.
  std::vector<double> residual;
  double residualSum = 0;
  std::vector<double> p50, p90;  // its forecast per horizon step (Umbra)
  double interference = -1;
  sim::NodeCounters before;
};

struct VmTrack {
  sim::WorkloadSpec spec;
  std::string ns, companion;
  std::deque<double> minutes;  // the last hour's minute usage, cores
  double usageSum = 0, stealSum = 0, slowSum = 0;
  // 5-minute usage as a share of its vCPUs, from the start (what Umbra forecasts the VM from).
  std::vector<double> slots;
  double slotSum = 0;
  std::vector<double> p50, p90;  // the forecast per horizon step, cores (empty: none yet)
  std::vector<double> minuteSteal, minuteSlowdown;  // measured
  double lastMovedAt = -1e300;
  bool moving = false;
  double cpuBefore = 0;
  sim::WorkloadCounters companionBefore;
  double companionMovedAt = -1e300;
};

struct Flight {
  size_t vm;
  rebalance::Move move;
  double endsAt;
  bool succeeded;
};

// Umbra's host forecasts, bottom up: each node's residual forecast plus the forecast of every VM
// on it now (`vmNode[i]`: the node index of `vms[i]`), so that a VM that moved counts where it is
// at once; each host's highest p50 and p90 step over the horizon into `hosts` (index-aligned with
// `nodes`, whose cores they carry).
void bottomUp(const std::vector<NodeTrack>& nodes, const std::vector<VmTrack>& vms,
              const std::vector<size_t>& vmNode, std::vector<rebalance::Host>& hosts);

// The measured figures of a run's VMs into `r`: VM-minutes over the SLO, mean p95 steal and
// slowdown, mean steal.
void summarize(const std::vector<VmTrack>& vms, double sloSteal, RebalancerResult& r);

// `vms` on their nodes (and `companions`, index-aligned, when Umbra runs them), warmed up for
// o.warmupSeconds without rebalancing, then o.daySeconds measured with `kind` planning every cycle.
Result<RebalancerResult> runOne(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                                const RebalanceBenchOptions& o, Kind kind, const Placed& vms,
                                const Placed& companions);

}  // namespace umbra::offline::rebalance_detail
