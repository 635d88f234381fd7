#pragma once

// Internal to the rebalancing benchmark: one rebalancer's measured world.
#include <utility>
#include <vector>

#include "offline/rebalance_bench.h"

namespace umbra::offline::rebalance_detail {

enum class Kind { None, LowNode, Relieve, Umbra, Oracle };
const char* nameOf(Kind k);

// The 0.5-rounded rank quantile of `v` (0 when empty).
double quantile(std::vector<double> v, double q);

// The oracle's inputs: the next `minutes` of `now` simulated ahead without any move (greedy: it
// does not foresee its own moves), read as Umbra reads its forecasts: each host's mean and highest
// 5-minute utilisation, the true interference there, each VM's p90 minute usage.
void clairvoyant(const sim::Simulation& now, int minutes, std::vector<rebalance::Host>& hosts,
                 std::vector<rebalance::Vm>& vms);

using Placed = std::vector<std::pair<sim::WorkloadSpec, size_t>>;  // spec, node index

// `vms` on their nodes (and `companions`, index-aligned, when Umbra runs them), warmed up for
// o.warmupSeconds without rebalancing, then o.daySeconds measured with `kind` planning every cycle.
Result<RebalancerResult> runOne(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                                const RebalanceBenchOptions& o, Kind kind, const Placed& vms,
                                const Placed& companions);

}  // namespace umbra::offline::rebalance_detail
