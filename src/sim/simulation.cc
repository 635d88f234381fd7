// The contention physics: each node's step (docs/simulation.md, "Contention physics").
#include "sim/simulation.h"

#include <algorithm>
#include <cmath>

#include "sim/random.h"

namespace umbra::sim {
namespace {

using detail::NoiseSlotSeconds;
constexpr double IoBytes = 16 * 1024;          // bytes per I/O operation
constexpr double PacketBytes = 1000;           // bytes per packet
constexpr double ReadShare = 0.6;              // of disk traffic
constexpr double MaxDelay = 0.95;              // bounds runnable time at 20x the running time

// Measurement-noise signals (jitter's `signal`).
enum Signal : int {
  Running,
  Delay,
  Wait,
  Throttled,
  AluOps,
  MemoryOps,
  Busy,
  Idle,
  CpuPressure,
  MemoryPressure,
  IoPressure,
  IoWait
};

}  // namespace

Simulation::Simulation(ClusterSpec cluster, uint64_t seed, const TraceSet* traces)
    : cluster_(std::move(cluster)), seed_(seed), traces_(traces) {
  for (const auto& n : cluster_.nodes) {
    nodeIndex_[n.name] = nodes_.size();
    NodeState s;
    s.spec = n;
    nodes_.push_back(std::move(s));
  }
  onNode_.resize(nodes_.size());
}

Simulation::Simulation(const Simulation& other)
    : cluster_(other.cluster_),
      seed_(other.seed_),
      traces_(other.traces_),
      nodes_(other.nodes_),
      nodeIndex_(other.nodeIndex_),
      workloads_(other.workloads_),
      onNode_(other.nodes_.size()),
      cpu_(other.cpu_),
      dirty_(true),
      demandTime_(other.demandTime_),
      elapsed_(other.elapsed_) {}

const NodeState* Simulation::node(const std::string& name) const {
  const auto it = nodeIndex_.find(name);
  return it == nodeIndex_.end() ? nullptr : &nodes_[it->second];
}

const WorkloadState* Simulation::workload(const std::string& id) const {
  const auto it = workloads_.find(id);
  return it == workloads_.end() ? nullptr : &it->second;
}

double Simulation::meanCpuUtilization() const {
  double u = 0;
  for (const auto& n : nodes_)
    u += n.cpuUtilization;
  return nodes_.empty() ? 0 : u / static_cast<double>(nodes_.size());
}

double Simulation::dirtyRate(const std::string& id) const {
  const WorkloadState* w = workload(id);
  if (!w)
    return 0;
  if (w->spec.dirtyBytesPerSecond >= 0)
    return w->spec.dirtyBytesPerSecond;
  return w->paused ? 0 : w->demand.cpu * cluster_.physics.dirtyBytesPerCoreSecond;
}

MigrationLink Simulation::migrationLink(const std::string& from, const std::string& to) const {
  MigrationLink link;
  double bandwidth = -1;
  for (const NodeState* n : {node(from), node(to)}) {
    if (!n)
      continue;
    const double free = n->spec.networkBytesPerSecond * std::max(0.1, 1.0 - n->networkUtilization);
    bandwidth = bandwidth < 0 ? free : std::min(bandwidth, free);
  }
  if (bandwidth > 0)
    link.bandwidthBytesPerSecond = bandwidth;
  return link;
}

Status Simulation::addWorkload(WorkloadSpec spec, const std::string& node) {
  if (!nodeIndex_.count(node))
    return Error::make(ErrorKind::BadRequest, "workload " + spec.id + ": unknown node " + node);
  if (workloads_.count(spec.id))
    return Error::make(ErrorKind::AlreadyExists, "workload " + spec.id + " already exists");
  if (!cluster_.physics.classes.count(spec.interferenceClass))
    return Error::make(
        ErrorKind::BadRequest,
        "workload " + spec.id + ": unknown interference class " + spec.interferenceClass);
  if (spec.source.kind == SourceKind::Trace && !spec.source.trace)
    return Error::make(ErrorKind::BadRequest,
                       "workload " + spec.id + ": trace source without a trace");
  WorkloadState w;
  w.node = node;
  w.spec = std::move(spec);
  const std::string id = w.spec.id;
  workloads_.emplace(id, std::move(w));
  dirty_ = true;
  return okStatus();
}

void Simulation::removeWorkload(const std::string& id) {
  dirty_ |= workloads_.erase(id) > 0;
}

Status Simulation::moveWorkload(const std::string& id, const std::string& node) {
  auto it = workloads_.find(id);
  if (it == workloads_.end())
    return Error::make(ErrorKind::NotFound, "workload " + id + " does not exist");
  if (!nodeIndex_.count(node))
    return Error::make(ErrorKind::BadRequest, "workload " + id + ": unknown node " + node);
  it->second.node = node;
  dirty_ = true;
  return okStatus();
}

void Simulation::setPaused(const std::string& id, bool paused) {
  if (auto it = workloads_.find(id); it != workloads_.end())
    it->second.paused = paused;
}

void Simulation::setSharedBy(const std::string& id, const std::string& group) {
  if (auto it = workloads_.find(id); it != workloads_.end())
    it->second.spec.sharedBy = group;
}

void Simulation::setSource(const std::string& id, const DemandSource& source) {
  if (auto it = workloads_.find(id); it != workloads_.end())
    it->second.spec.source = source;
}

void Simulation::setRequests(const std::string& id, const std::optional<RequestModel>& model) {
  if (auto it = workloads_.find(id); it != workloads_.end())
    it->second.spec.requests = model;
}

void Simulation::resizeWorkload(const std::string& id, double vcpus, double memoryBytes) {
  if (auto it = workloads_.find(id); it != workloads_.end()) {
    it->second.spec.vcpus = vcpus;
    it->second.spec.memoryBytes = memoryBytes;
  }
}

void Simulation::reindex() {
  for (auto& v : onNode_)
    v.clear();
  for (auto& [id, w] : workloads_)
    onNode_[nodeIndex_.at(w.node)].push_back(&w);
  dirty_ = false;
}

void Simulation::step(double dt, double speed) {
  if (dirty_)
    reindex();
  for (auto& [id, w] : workloads_) {
    w.demand = w.paused ? Demand{0, demandAt(w.spec, demandTime_).memory, 0, 0}
                        : demandAt(w.spec, demandTime_);
  }
  for (size_t i = 0; i < nodes_.size(); ++i)
    stepNode(i, dt);
  demandTime_ += dt * speed;
  elapsed_ += dt;
}

void Simulation::stepNode(size_t index, double dt) {
  NodeState& n = nodes_[index];
  const NodeSpec& spec = n.spec;
  const Physics& ph = cluster_.physics;
  const Demand bg = background(spec, demandTime_);
  const auto& here = onNode_[index];

  // Interference: co-runners' cache and memory-bandwidth pressure (per core of work, by class; the
  // background counts as a neutral neighbour) slows each workload's instructions in proportion to
  // its sensitivity. Work takes more CPU time, so it shows partly in the node's utilisation and
  // run queue; the share of speed lost shows only to what runs on the node and counts its work.
  const double cores = spec.cpuCores;
  double pressure = bg.cpu;
  for (const WorkloadState* w : here)
    pressure += w->demand.cpu / spec.cpuSpeed * ph.classes.at(w->spec.interferenceClass).pressure;
  cpu_.assign(here.size(), Cpu{});
  double demand = bg.cpu;
  for (size_t k = 0; k < here.size(); ++k) {
    const WorkloadState* w = here[k];
    const double phys = w->demand.cpu / spec.cpuSpeed;
    const InterferenceClass& cls = ph.classes.at(w->spec.interferenceClass);
    const double others = std::max(0.0, pressure - phys * cls.pressure) / cores;
    Cpu& c = cpu_[k];
    c.interference = std::min(0.9, ph.interference * cls.sensitivity * others);
    // Guests with work to do need more cycles for it; an idle guest and a probe's duty cycle
    // spend CPU time, not work. A vCPU runs at most one core.
    const bool work =
        w->spec.source.kind != SourceKind::Idle && w->spec.source.kind != SourceKind::Probe;
    c.wanted = std::min(w->spec.vcpus, work ? phys / (1.0 - c.interference) : phys);
    // The CFS quota of the launcher's compute container: time over it is throttled.
    c.got = w->spec.cpuLimit > 0 ? std::min(c.wanted, w->spec.cpuLimit) : c.wanted;
    demand += c.got;
  }

  // CPU: processor sharing with a run-queue delay that grows nonlinearly towards saturation.
  const double rho = demand / cores;
  const double queue = ph.cpu.at(std::min(rho, 1.0));
  const double share = demand > cores ? cores / demand : 1.0;
  const double delay = demand > 0 ? 1.0 - (1.0 - queue) * share : 0.0;
  const double busy = demand * share;  // work-conserving, and never more than the cores

  // Memory: pressure once use passes memoryPressureStart of capacity; swapping past it.
  double memory = bg.memory;
  double disk = bg.disk;
  double network = bg.network;
  for (const WorkloadState* w : here) {
    memory += w->demand.memory;
    disk += w->demand.disk;
    network += w->demand.network;
  }
  const double u = memory / spec.memoryBytes;
  const double mp =
      u <= ph.memoryPressureStart
          ? 0.0
          : std::min(1.0, std::pow((u - ph.memoryPressureStart) / (1 - ph.memoryPressureStart), 2));

  // Disk and network: shared bandwidth, queueing wait and M/M/1 latency.
  const auto queued = [](const QueueCurve& c, double load, double capacity, double& util) {
    util = load / capacity;
    const double served = load > capacity ? capacity / load : 1.0;
    return load > 0 ? 1.0 - (1.0 - c.at(std::min(util, 1.0))) * served : 0.0;
  };
  double diskUtil = 0;
  double netUtil = 0;
  const double ioWait = queued(ph.disk, disk, spec.diskBytesPerSecond, diskUtil);
  n.networkWait = queued(ph.network, network, spec.networkBytesPerSecond, netUtil);
  const double diskLatency = ph.diskLatencySeconds / (1.0 - std::min(diskUtil, 0.95));
  const double netLatency = ph.networkLatencySeconds / (1.0 - std::min(netUtil, 0.95));
  const double diskServed = disk > spec.diskBytesPerSecond ? spec.diskBytesPerSecond / disk : 1.0;
  const double netServed =
      network > spec.networkBytesPerSecond ? spec.networkBytesPerSecond / network : 1.0;

  n.cpuDemand = demand;
  n.cpuBusy = busy;
  n.cpuUtilization = busy / cores;
  n.runQueueDelay = delay;
  n.memoryUsed = memory;
  n.memoryPressure = mp;
  n.diskUtilization = diskUtil;
  n.ioWait = ioWait;
  n.networkUtilization = netUtil;

  NodeCounters& c = n.counters;
  const double idleCores = std::max(0.0, cores - busy);
  const uint64_t nodeKey = hashOf(spec.name);
  const auto measured = [&](int signal) { return jitter(nodeKey, signal, demandTime_); };
  const double busyRead = busy * measured(Busy);
  const double idleRead = idleCores * measured(Idle);
  c.user += 0.8 * busyRead * dt;
  c.system += 0.2 * busyRead * dt;
  c.iowait += ioWait * idleRead * measured(IoWait) * dt;  // idle time with I/O outstanding
  c.idle += (1.0 - ioWait) * idleRead * dt;
  c.pressureCpuWaiting += delay * measured(CpuPressure) * dt;
  c.pressureMemoryWaiting += mp * measured(MemoryPressure) * dt;
  c.pressureMemoryStalled += mp * mp * measured(MemoryPressure) * dt;
  c.pressureIoWaiting += ioWait * measured(IoPressure) * dt;
  c.pressureIoStalled += ioWait * ioWait * measured(IoPressure) * dt;
  const double diskBytes = std::min(disk, spec.diskBytesPerSecond) * dt;
  c.diskReadBytes += ReadShare * diskBytes;
  c.diskWrittenBytes += (1 - ReadShare) * diskBytes;
  c.diskReads += ReadShare * diskBytes / IoBytes;
  c.diskWrites += (1 - ReadShare) * diskBytes / IoBytes;
  c.diskIoSeconds += std::min(1.0, diskUtil) * dt;
  const double netBytes = std::min(network, spec.networkBytesPerSecond) * dt;
  c.networkRxBytes += 0.5 * netBytes;
  c.networkTxBytes += 0.5 * netBytes;

  for (size_t k = 0; k < here.size(); ++k) {
    WorkloadState* w = here[k];
    const Cpu& cpu = cpu_[k];
    const double throttled = cpu.wanted - cpu.got;  // cores the quota held back
    const double running = cpu.got * share;         // served: cores running
    const double queueWait = running * delay / (1.0 - std::min(delay, MaxDelay));
    w->queueDelay = delay;
    w->interference = cpu.interference;
    w->throttled = cpu.wanted > 0 ? throttled / cpu.wanted : 0;
    w->steal = running + queueWait + throttled > 0
                   ? (queueWait + throttled) / (running + queueWait + throttled)
                   : 0;
    w->slowdown = 1.0 - (1.0 - delay) * (1.0 - cpu.interference) * (1.0 - w->throttled);
    w->memoryPressure = mp;
    w->ioWait = ioWait;
    w->diskLatency = diskLatency;
    w->networkLatency = netLatency;
    WorkloadCounters& wc = w->counters;
    const uint64_t key = hashOf(w->spec.id);
    const auto measured = [&](int signal) { return jitter(key, signal, demandTime_); };
    // run_delay counts the time a runnable vCPU thread waits: in the run queue, or throttled.
    wc.cpuRunning += running * measured(Running) * dt;
    wc.cpuDelay += (queueWait + throttled) * measured(Delay) * dt;
    wc.cpuWait += (queueWait + throttled) * measured(Wait) * dt;
    wc.cpuThrottled += throttled * measured(Throttled) * dt;
    if (w->spec.source.kind == SourceKind::Probe) {
      // Equal wall time in each kernel; the memory kernel's operations lose the interference.
      // The script's pairs (probePairsPerSecond), slowed by the node's run queue.
      const double wall = 0.5 * (running + queueWait + throttled) * dt;
      const double ops = w->demand.probePairs * (1.0 - delay) * spec.cpuSpeed * dt;
      wc.probeAluSeconds += wall;
      wc.probeMemorySeconds += wall;
      // Timing whole chunks: a relative error of probeChunkError / sqrt(chunks per 15 s slot)
      // when that exceeds the measurement noise (a probe at 10m completes about one a slot).
      const auto counted = [&](double n, int signal) {
        const double sigma = cluster_.physics.measurementNoise;
        if (sigma <= 0 || n <= 0)
          return n;
        const double perSlot = n / dt * NoiseSlotSeconds;
        const double rel =
            std::max(sigma, probeChunkError(w->spec.cpuLimit) / std::sqrt(std::max(1.0, perSlot)));
        return std::max(0.0, n * (1.0 + (jitter(key, signal, demandTime_) - 1.0) * rel / sigma));
      };
      wc.probeAluOps += counted(ops, AluOps);
      wc.probeMemoryOps += counted(ops * (1.0 - cpu.interference), MemoryOps);
    }
    const double bytes = w->demand.disk * diskServed * dt;
    wc.diskReadBytes += ReadShare * bytes;
    wc.diskWriteBytes += (1 - ReadShare) * bytes;
    wc.diskReads += ReadShare * bytes / IoBytes;
    wc.diskWrites += (1 - ReadShare) * bytes / IoBytes;
    wc.diskReadSeconds += ReadShare * bytes / IoBytes * diskLatency;
    wc.diskWriteSeconds += (1 - ReadShare) * bytes / IoBytes * diskLatency;
    if (w->spec.requests)
      countRequests(*w, delay, cpu.interference, dt);
    const double net = w->demand.network * netServed * dt;
    wc.networkRxBytes += 0.5 * net;
    wc.networkTxBytes += 0.5 * net;
    wc.networkRxPackets += 0.5 * net / PacketBytes;
    wc.networkTxPackets += 0.5 * net / PacketBytes;
  }
}

void Simulation::countRequests(WorkloadState& w, double delay, double interference, double dt) {
  const RequestModel& m = *w.spec.requests;
  const int servers = std::max(1, static_cast<int>(std::lround(w.spec.vcpus)));
  // Contention slows every vCPU; the CFS quota caps what all of them run together.
  const double quota = w.spec.cpuLimit > 0 ? std::min(1.0, w.spec.cpuLimit / servers) : 1.0;
  const double speed = (1 - delay) * (1 - interference) * quota;
  RequestLoad load;
  load.arrivalRate = w.paused ? 0 : w.demand.cpu / m.cpuSecondsPerRequest;
  load.servers = servers;
  load.serviceRate = speed / m.cpuSecondsPerRequest;
  const LatencyDistribution latency(load, m);
  const double served = latency.servedRate() * dt;
  if (served <= 0)
    return;
  WorkloadCounters& c = w.counters;
  c.requests += served;
  c.requestSeconds += served * latency.meanSeconds();
  double below = 0;
  for (size_t i = 0; i < LatencyBucketsMs.size(); ++i) {
    if (below < 1 - 1e-9)
      below = latency.cdf(LatencyBucketsMs[i] / 1000);
    c.requestBuckets[i] += served * below;
  }
}

}  // namespace umbra::sim
