#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/contention_map.h"
#include "model/series_forecast.h"
#include "sim/simulation.h"
#include "telemetry/metrics_source.h"

namespace umbra::model {

struct SimOutcomeOptions {
  size_t outcomes = 600;        // placements to record
  double utilisation = 0.5;     // background load the cluster is filled to (mean node CPU)
  size_t probesPerRound = 10;   // placements probed side by side (on distinct nodes)
  double observeSeconds = 300;  // the shadow's observation
  int horizon = 6;              // the demand forecast's horizon, in 300 s steps (the operator's)
  int window = 6;               // the outcome window, in 300 s steps
  // The CPU outcome: the mean slowdown over the window, or (p95) the 95th percentile of its 300 s
  // means: a placement's judged statistic when the window is the VM's day.
  bool p95 = false;
  double shadowCpuFraction = 0.01;
  bool synthetic = true;  // the shadows run the probe (fidelity Synthetic)
  // The node history the demand method and the inputs read: the node's own, which still holds
  // the last round's arrivals for a day after they left, or (true) as the VMs on the node now
  // would have made it (CpuSlotTracker), as the operator (`model.nodeHistory: coRunners`) and the
  // placement benchmark read it. The benchmark's forecast-only ranked worse with a map trained on
  // the rebuilt history (bench/README.md, session 31), so the node's own stays the default.
  bool coRunnerHistory = false;
  // Passers-by: from the start, one trace VM every `churnEverySeconds` (0: none) lands on a random
  // node with room and leaves `churnLifetimeSeconds` later, as the placement benchmark's arrivals
  // come and go (one every 1800 s, each for a day): the rounds' nodes then hold VMs of every age,
  // and their histories VMs that have left.
  double churnEverySeconds = 0;
  double churnLifetimeSeconds = 24 * 3600;
  uint64_t seed = 1;
};

// Outcomes from the simulation core, as the operator would record them: a cluster filled with
// trace-replaying VMs to `utilisation`, a day of node history, then rounds of arrivals. Each
// round's arrival (a trace VM with a random class and offset) goes, as one copy per node, to up to
// probesPerRound random nodes that have room: the counterfactuals a decision chooses between. A
// throttled shadow (Synthetic: the probe) observes each node for `observeSeconds` first; the
// demand method forecasts the node's CPU from its 300 s history (`coRunnerHistory`: rebuilt for
// the VMs on it now, as the operator and the placement benchmark read it); then the VM runs for
// the horizon, and what it experienced (steal, the node's memory pressure and iowait, as the
// catalog's queries compute them from counters; for CPU, its slowdown, the simulator's ground
// truth: the window's mean, or with `p95` the 95th percentile of its 300 s means) is the outcome.
// The VM leaves afterwards, so the load stays stationary. With `churnEverySeconds`, passers-by
// come and go throughout (warm-up included) on random nodes. Deterministic for a seed. `progress`
// is called after every round.
Result<std::vector<Outcome>> simulateOutcomes(const sim::ClusterSpec& cluster,
                                              const sim::TraceSet& traces,
                                              const SeriesMethod& demand,
                                              const SimOutcomeOptions& options,
                                              const std::function<void(size_t)>& progress = {});

// A VM from a random trace, replayed from a random offset, with a random interference class; its
// size from the trace's machine (1 to 16 vCPUs, 1 to 64 GiB). Shared by the simulated outcomes and
// the placement benchmark, so that both draw the same kind of arrivals.
// The shadow the operator creates for `vm` (placement::buildShadowVmi): one vCPU limited to
// max(10m, cpuFraction of the VM's vCPUs); Synthetic runs the probe busy 50 % of that limit (the
// CRD's default syntheticLoad; placement::syntheticUserData), Passive idles.
sim::WorkloadSpec shadowOf(const sim::WorkloadSpec& vm, const std::string& id, bool synthetic,
                           double cpuFraction, double memoryFraction);

// What the catalog's shadow queries read from a shadow's counters over one interval: cpu_steal
// (run-queue delay less the quota's throttling) and the probe's probe_memory_speed and
// probe_alu_speed (0 without a probe).
telemetry::Sample shadowSample(const sim::WorkloadCounters& before,
                               const sim::WorkloadCounters& now);

sim::WorkloadSpec traceVm(const sim::TraceSet& traces, const std::vector<std::string>& ids,
                          const std::vector<std::string>& classes, std::mt19937_64& rng,
                          const std::string& id);

}  // namespace umbra::model
