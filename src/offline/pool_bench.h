#pragma once

// The pre-provisioned pool benchmark (umbra bench pool): a workload whose demand (VMs' worth) is
// a trace scaled to a pool, surges in it (its own peaks, injected ones, some announced), and
// strategies that hold dormant shadows to serve them: reactive cold starts, a static warm pool
// sized for the peak (as EC2 warm pools are used), a fixed capacity buffer (as the Cluster
// Autoscaler's CapacityBuffer), Umbra's ShadowPool reserve, and a clairvoyant oracle.
#include <cstdint>
#include <string>
#include <vector>

#include "offline/scaling_bench.h"

namespace umbra::offline {

struct PoolBenchOptions {
  double stepSeconds = 300;
  double utilisation = 0.8;  // the trigger's threshold: VMs needed = ceil(demand / utilisation)
  int horizonSteps = 6;      // Umbra's forecast horizon (30 minutes)
  int minShadows = 1;
  // Umbra also holds enough for the training part's riseQuantile of one-step rises (a sudden jump
  // the level forecast does not see); 0 turns it off (the ablation).
  double riseQuantile = 0.99;
  int idleSteps = 6;  // a serving VM above the need for this long goes dormant (30 minutes)
  // Activation of a paused shadow: KubeVirt's unpause (virt-api -> virt-handler -> libvirt
  // Resume) plus the controller's reaction; not measured on KubeVirt (API-NOTES.md section 12).
  // umbra-sim through kube-apiserver: 24 ms from the decision to serving. Assumed 1 s.
  double activationSeconds = 1;
  // Between two rounds of activations: the controller's interval (spec.interval, 30 s), after the
  // last round serves.
  double roundIntervalSeconds = 30;
  // A cold start: KubeVirt's CI, creation to Running for 100 VMIs, p50 27 s, p95 38.6 s; drawn
  // from the lognormal with that p50 and p95.
  double coldStartP50 = 27, coldStartP95 = 38.6;
  double gibPerVm = 4;  // guest memory a paused shadow holds
  uint64_t seed = 1;
};

enum class PoolStrategy { Reactive, StaticWarmPool, CapacityBuffer, Umbra, Oracle };
const char* toString(PoolStrategy s);

// A target: demand in VMs' worth per step, evaluated from `split`; Umbra's forecasts (VMs' worth)
// per decision (forecasts[k] made at the end of step split - 1 + k); the surges injected into the
// evaluation part, and which of them are announced with a LoadNotice.
struct PoolTarget {
  std::string id;
  std::vector<double> demand;
  size_t split = 0;
  std::vector<scaling::DemandForecast> forecasts;
  std::vector<Surge> surges;
  std::vector<uint8_t> announced;  // per surge
  double maxDemand = 0;  // the trace at full capacity, VMs' worth: the pool's spec.maxShadows
};

struct PoolRun {
  int surges = 0, servedFromPool = 0;  // steps whose need exceeded what served
  int announcedSurges = 0, announcedServed = 0;
  std::vector<double> timeToCapacity;      // seconds, per surge
  std::vector<double> poolTimeToCapacity;  // seconds, per surge served from the pool
  double unmetVmMinutes = 0;   // (needed - serving) VM-minutes while capacity was coming
  double heldShadowHours = 0;  // dormant shadows held x hours
  // VMs serving above the need x hours: what a round that overshoots (or a scale-in still
  // waiting for idleSteps) runs without being needed.
  double surplusActiveHours = 0;
  int created = 0, decommissioned = 0, coldStarts = 0;
  double seconds = 0;
};

// Replays the target's evaluation part under `strategy`.
PoolRun simulatePool(const PoolTarget& target, PoolStrategy strategy, const PoolBenchOptions& o);

}  // namespace umbra::offline
