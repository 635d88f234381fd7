#pragma once

// `umbra bench rebalance`: a simulated day of a loaded cluster with VMs already placed, under each
// rebalancer in turn (none, the descheduler's LowNodeUtilization on requests, a
// KubeVirtRelieveAndMigrate-style one, Umbra, and a clairvoyant oracle with Umbra's decision and
// budget fed the true future). Every rebalancer gets its own run of the same cluster, VMs, seed
// and warm-up; only the migrations differ.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "rebalance/rebalance.h"
#include "sim/simulation.h"

namespace umbra::offline {

struct RebalanceBenchOptions {
  double utilisation = 0.55;         // mean node CPU the VMs fill the cluster to
  double warmupSeconds = 2 * 86400;  // history before the measured day (no rebalancing)
  double daySeconds = 86400;         // the measured span
  double cycleSeconds = 60;          // how often every rebalancer plans
  // A VM-minute over the SLO: its minute's steal (what the guest sees: run-queue delay) above
  // this (an assumption: docs/rebalancing.md).
  double sloSteal = 0.05;
  // Umbra: telemetry window that must be high, forecast horizon, the decision's knobs.
  double sustainedSeconds = 600;
  int horizonSteps = 6;  // 5-minute steps
  rebalance::UmbraOptions umbra;
  rebalance::Budget budget;
  rebalance::RelieveOptions relieve;
  // The KubeVirtRelieveAndMigrate-style peer runs once per upper deviation (the profile's Low,
  // Medium and High: 10, 20, 30 %); the best of them is the peer.
  std::vector<double> relieveDeviations = {0.10, 0.20, 0.30};
  // ... and once per descheduling interval (the OpenShift docs' example uses 60 s; a slower one
  // churns less).
  std::vector<double> relieveCycles = {60, 300};
  rebalance::LowNodeOptions lowNode;
  // Companion shadows (Umbra, and the oracle's world, so that both carry the same load): one
  // Synthetic probe per VM on another host, limited to this share of the VM's vCPUs.
  double companionCpuShare = 0.05;
  // Time from the migration's creation to its first byte (target pod scheduled and started): an
  // assumption (docs/simulation.md).
  double migrationSetupSeconds = 20;
  uint64_t seed = 1;
};

struct RebalancerResult {
  std::string rebalancer;
  double vmMinutesOverSlo = 0, vmMinutes = 0;  // summed over VMs
  // The mean over VMs of each VM's p95 minute steal, and of its p95 minute slowdown (the
  // simulator's ground truth: run-queue delay and co-runner interference compounded).
  double meanP95Steal = 0, meanP95Slowdown = 0;
  double meanSteal = 0;
  int migrations = 0, succeeded = 0, failed = 0;
  double gibMoved = 0;
  int movedWithinInterval = 0;  // VMs moved again sooner than the minimum interval (must be 0)
  int companionsRecreated = 0;  // companions moved off hosts nearing capacity
  // Companions' CPU-hours against the accompanied VMs' CPU-hours used, and against their
  // vCPU-hours.
  double companionCpuShare = 0, companionVcpuShare = 0;
  double computeSeconds = 0;         // wall time of the rebalancer's decisions
  std::vector<std::string> reasons;  // the first few moves' evidence, for the report
};

struct RebalanceBenchReport {
  double utilisation = 0;  // reached
  size_t vms = 0, nodes = 0;
  // none, low-node-utilization, relieve-and-migrate(N%) per deviation, umbra,
  // umbra-without-companions, oracle
  std::vector<RebalancerResult> rebalancers;
};

Result<RebalanceBenchReport> runRebalanceBench(
    const sim::ClusterSpec& cluster, const sim::TraceSet& traces, const RebalanceBenchOptions& o,
    const std::function<void(const std::string&)>& progress = {});

}  // namespace umbra::offline
