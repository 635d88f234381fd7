#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "sim/cluster.h"
#include "sim/live_migration.h"
#include "sim/trace.h"

#include "sim/requests.h"

namespace umbra::sim {

// What a workload asks for at one instant.
struct Demand {
  double cpu = 0;      // cores of the traces' reference speed
  double memory = 0;   // bytes
  double disk = 0;     // bytes/s
  double network = 0;  // bytes/s
  // A Synthetic probe's pairs of chunks (one of each kernel) per second (probePairsPerSecond).
  double probePairs = 0;
};

enum class SourceKind {
  Idle,     // a booted guest doing nothing (a Passive shadow)
  Profile,  // steady | diurnal | spiky | bursty at `level` of the vCPUs
  Trace,    // a recorded series, replayed from `traceOffset`
  Mirror,   // a share of other workloads' demand (a Mirror shadow): the sum over `mirrors`
  Probe,    // a Synthetic shadow's probe: `level` x profile of its vCPUs, half in an ALU kernel
            // and half in a memory-streaming kernel, counting the work each does
};

struct DemandSource {
  SourceKind kind = SourceKind::Idle;
  std::string profile = "steady";
  double level = 0.3;
  const Trace* trace = nullptr;
  double traceOffset = 0;  // seconds into the trace at demand time 0
  // Mirror: the workloads whose requests are copied to this one, each with the share copied
  // (a VirtualService's mirror percentage / 100).
  struct MirrorInput {
    std::string of;  // workload id
    double fraction = 0.1;
    friend bool operator==(const MirrorInput&, const MirrorInput&) = default;
  };
  std::vector<MirrorInput> mirrors;
};

struct WorkloadSpec {
  std::string id;  // "namespace/name"
  double vcpus = 1;
  // The size a trace's or profile's CPU fraction is of; 0: vcpus. Set apart from vcpus for a VM
  // whose vCPUs change (hotplug): its demand stays, what it can serve changes.
  double demandVcpus = 0;
  // Workloads with the same non-empty key share one demand (a pool's VMs behind a load
  // balancer): each gets its CPU, disk and network divided by how many run (paused ones do not
  // count).
  std::string sharedBy;
  double memoryBytes = 1024.0 * 1024 * 1024;
  double cpuLimit = 0;  // cores (the CFS quota of virt-launcher's compute container); 0: none
  std::string interferenceClass = "neutral";
  // Bytes per second its guest dirties (live migrations); < 0: physics.dirtyBytesPerCoreSecond
  // per core it runs.
  double dirtyBytesPerSecond = -1;
  DemandSource source;
  // A serving workload (sim/requests.h): its CPU demand is requests, counted with their latency.
  std::optional<RequestModel> requests;
};

// Cumulative, monotonic; what the exporters turn into *_total counters.
struct WorkloadCounters {
  double cpuRunning = 0;  // vCPU seconds running
  // vCPU seconds runnable but not running, as the guest sees it (steal): the host's run queue
  // and the time the CFS quota throttled it (schedstat run_delay counts both).
  double cpuDelay = 0;
  double cpuWait = 0;       // the same run-queue wait (libvirt's vcpu.N.wait), throttling included
  double cpuThrottled = 0;  // seconds the quota held runnable vCPUs (cAdvisor's throttled time)
  // A Probe's counters: operations done and wall seconds spent per kernel.
  double probeAluOps = 0, probeAluSeconds = 0, probeMemoryOps = 0, probeMemorySeconds = 0;
  double diskReadBytes = 0, diskWriteBytes = 0, diskReads = 0, diskWrites = 0;
  double diskReadSeconds = 0, diskWriteSeconds = 0;
  // A serving workload's requests: completed, their summed latency (seconds), and how many took
  // at most each of LatencyBucketsMs (cumulative, as a Prometheus histogram's buckets).
  double requests = 0, requestSeconds = 0;
  std::array<double, LatencyBucketsMs.size()> requestBuckets{};
  double networkRxBytes = 0, networkTxBytes = 0, networkRxPackets = 0, networkTxPackets = 0;
};

struct WorkloadState {
  WorkloadSpec spec;
  std::string node;
  bool paused = false;
  Demand demand;  // this step's work, after noise and the vCPU cap
  // Ground truth, which no real exporter shows whole: the share of the workload's speed lost to
  // contention, 1 - (1 - run-queue delay)(1 - interference)(1 - throttled share). The objective
  // the placement benchmark scores.
  double slowdown = 0;
  double steal = 0;           // what the guest sees as steal: run-queue delay and throttling
  double queueDelay = 0;      // the node's run-queue delay fraction
  double interference = 0;    // throughput lost to co-runners' cache and memory-bandwidth pressure
  double throttled = 0;       // share of the wanted CPU time the quota refused
  double memoryPressure = 0;  // stall fraction
  double ioWait = 0;          // fraction of I/O time spent queued
  double diskLatency = 0;     // seconds per I/O
  double networkLatency = 0;  // seconds
  WorkloadCounters counters;
};

struct NodeCounters {
  // Summed over the node's CPUs, in seconds (node_cpu_seconds_total by mode).
  double user = 0, system = 0, idle = 0, iowait = 0, steal = 0;
  double pressureCpuWaiting = 0;
  double pressureMemoryWaiting = 0, pressureMemoryStalled = 0;
  double pressureIoWaiting = 0, pressureIoStalled = 0;
  double diskReadBytes = 0, diskWrittenBytes = 0, diskReads = 0, diskWrites = 0, diskIoSeconds = 0;
  double networkRxBytes = 0, networkTxBytes = 0;
};

struct NodeState {
  NodeSpec spec;
  double cpuDemand = 0;       // physical cores wanted (VMs + background)
  double cpuBusy = 0;         // physical cores given
  double cpuUtilization = 0;  // busy / cores
  double runQueueDelay = 0;   // delay fraction every runnable vCPU on the node sees
  double memoryUsed = 0;      // bytes
  double memoryPressure = 0;
  double diskUtilization = 0, ioWait = 0;
  double networkUtilization = 0, networkWait = 0;
  NodeCounters counters;
};

// The cluster's physics, with injected time: step() advances it. No I/O, no clock, no threads;
// deterministic for a seed (noise is a hash of the seed, the workload and the time slot, so it
// does not depend on the order workloads were added in).
class Simulation {
 public:
  Simulation(ClusterSpec cluster, uint64_t seed, const TraceSet* traces = nullptr);
  // A copy runs on from the same state (an oracle's look ahead); the per-node index is rebuilt.
  Simulation(const Simulation& other);
  Simulation& operator=(const Simulation&) = delete;

  // Errors: unknown node, duplicate id, unknown interference class, missing trace.
  Status addWorkload(WorkloadSpec spec, const std::string& node);
  void removeWorkload(const std::string& id);
  Status moveWorkload(const std::string& id, const std::string& node);
  void setPaused(const std::string& id, bool paused);
  // The group whose demand the workload shares (WorkloadSpec::sharedBy; "" none): a VMI a
  // Service starts selecting takes its share from then on.
  void setSharedBy(const std::string& id, const std::string& group);
  // Where the workload's demand comes from, from now on (a mesh starts or stops mirroring
  // requests to it).
  void setSource(const std::string& id, const DemandSource& source);
  // Whether it serves requests, and how (a mirror's copies cost what the original's do).
  void setRequests(const std::string& id, const std::optional<RequestModel>& model);
  // A hotplug made effective: what the workload can use changes, its demand does not.
  void resizeWorkload(const std::string& id, double vcpus, double memoryBytes);

  // What a live migration of the workload would face now: the rate its guest dirties memory, and
  // the link between two nodes (the free share of the slower one's network, at least a tenth).
  double dirtyRate(const std::string& id) const;
  MigrationLink migrationLink(const std::string& from, const std::string& to) const;

  // Counters integrate over `dt` seconds; the demand clock (traces, profiles) advances by
  // dt * speed, so a replay can run faster than the counters' real time.
  void step(double dt, double speed = 1.0);

  // What a workload wants at demand time `t`, noise and caps applied (ignores pausing).
  Demand demandAt(const WorkloadSpec& spec, double t, int depth = 0) const;

  double demandTime() const { return demandTime_; }
  double elapsed() const { return elapsed_; }
  const ClusterSpec& cluster() const { return cluster_; }
  const std::vector<NodeState>& nodes() const { return nodes_; }
  const NodeState* node(const std::string& name) const;
  const WorkloadState* workload(const std::string& id) const;
  const std::map<std::string, WorkloadState>& workloads() const { return workloads_; }
  // The mean over nodes of their CPU utilisation this step (0 without nodes).
  double meanCpuUtilization() const;
  // The node's own background demand (not a workload) now: hidden from every placer; for the
  // benchmark's clairvoyant yardsticks.
  Demand backgroundNow(size_t node) const { return background(nodes_[node].spec, demandTime_); }

 private:
  void stepNode(size_t index, double dt);
  // A serving workload's requests this step, from its demand and the speed left to its vCPUs.
  void countRequests(WorkloadState& w, double delay, double interference, double dt);
  Demand background(const NodeSpec& node, double t) const;
  double noise(uint64_t key, double t) const;
  // Measurement error of one counter's increase: a factor around 1 per (key, signal, 15 s slot).
  double jitter(uint64_t key, int signal, double t) const;
  void reindex();

  ClusterSpec cluster_;
  uint64_t seed_;
  const TraceSet* traces_;
  std::vector<NodeState> nodes_;
  std::map<std::string, size_t> nodeIndex_;
  std::map<std::string, WorkloadState> workloads_;
  std::vector<std::vector<WorkloadState*>> onNode_;
  // stepNode's per-workload CPU: interference, cores wanted, cores the quota lets it have.
  struct Cpu {
    double interference = 0, wanted = 0, got = 0;
  };
  std::vector<Cpu> cpu_;
  bool dirty_ = true;
  double demandTime_ = 0;
  double elapsed_ = 0;
};

// Multiplier of a synthetic profile at time t (mean about 1). `key` makes spikes and bursts
// differ between workloads.
double profileFactor(const std::string& profile, double t, uint64_t key);

uint64_t hashOf(const std::string& text);

// The Synthetic probe as placement::syntheticScript runs it (docs/simulation.md, "The probe"),
// measured on a real kernel under its CFS quota (bench/probe_noise.py):
// - CPU time of one pair of chunks, one of each kernel, with the loop's own forks;
inline constexpr double ProbePairCpuSeconds = 0.037;
// - pairs per second: each cycle is busy for `busyShare` x 10 s of wall time, running whole pairs
//   (at least one once busy) at min(1, limitCores) cores, then sleeps 9 s (limitCores 0: none);
double probePairsPerSecond(double busyShare, double limitCores);
// - the error of one chunk's timing, relative to its length, at a CPU limit: set so that the
//   probe's loss over 5 minutes spreads as much as measured at 10m, 40m and 160m (log-linear in
//   between, constant beyond; limitCores 0: as at 160m).
double probeChunkError(double limitCores);

}  // namespace umbra::sim
