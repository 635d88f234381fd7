// One rebalancer's day (rebalance_bench_run.h): the simulation stepped every 15 s, the telemetry
// each rebalancer reads kept as a real cluster's exporters would give it, a plan every cycle,
// migrations that take the time sim::preCopy gives them and may fail.
#include "offline/rebalance_bench_run.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>

#include "model/guarded_ensemble.h"
#include "offline/sim_outcomes.h"
#include "sim/live_migration.h"

namespace umbra::offline::rebalance_detail {

namespace {

constexpr double Dt = 15;
constexpr double GiB = 1024.0 * 1024 * 1024;
constexpr int StepsPerMinute = 4;
constexpr int StepsPerSlot = 20;  // 5 minutes

double mean(const std::deque<double>& v, size_t newest) {
  const size_t n = std::min(newest, v.size());
  double s = 0;
  for (size_t i = v.size() - n; i < v.size(); ++i)
    s += v[i];
  return n ? s / static_cast<double>(n) : 0;
}

class Run {
 public:
  Run(const sim::ClusterSpec& cluster, const sim::TraceSet& traces, const RebalanceBenchOptions& o,
      Kind kind)
      : cluster_(cluster),
        o_(o),
        kind_(kind),
        sim_(cluster, o.seed, &traces),
        nodes_(cluster.nodes.size()) {}

  Status setUp(const Placed& vms, const Placed& companions) {
    for (size_t i = 0; i < vms.size(); ++i) {
      const auto& [spec, node] = vms[i];
      UMBRA_CHECK(sim_.addWorkload(spec, cluster_.nodes[node].name));
      VmTrack t;
      t.spec = spec;
      t.ns = "ns-" + std::to_string(i % 8);  // eight tenants share the budget
      if (i < companions.size()) {
        UMBRA_CHECK(
            sim_.addWorkload(companions[i].first, cluster_.nodes[companions[i].second].name));
        t.companion = companions[i].first.id;
      }
      vms_.push_back(std::move(t));
    }
    for (size_t n = 0; n < nodes_.size(); ++n)
      index_[cluster_.nodes[n].name] = n;
    return okStatus();
  }

  Result<RebalancerResult> go() {
    const auto warmSteps = static_cast<long>(o_.warmupSeconds / Dt);
    for (long k = 0; k < warmSteps; ++k)
      step(false);
    if (kind_ == Kind::Umbra)
      UMBRA_CHECK(fitForecaster());
    double companionStart = 0;
    for (const auto& v : vms_) {
      if (const auto* c = sim_.workload(v.companion))
        companionStart += c->counters.cpuRunning;
    }
    const auto daySteps = static_cast<long>(o_.daySeconds / Dt);
    const auto cycleSteps = std::max(1L, static_cast<long>(o_.cycleSeconds / Dt));
    for (long k = 0; k < daySteps; ++k) {
      if (k % cycleSteps == 0 && kind_ != Kind::None)
        cycle();
      step(true);
      land();
    }
    for (const auto& v : vms_) {
      if (const auto* c = sim_.workload(v.companion))
        companionCpu_ += c->counters.cpuRunning;
    }
    companionCpu_ -= companionStart;
    return result();
  }

 private:
  void step(bool measuring) {
    for (size_t n = 0; n < nodes_.size(); ++n)
      nodes_[n].before = sim_.nodes()[n].counters;
    for (auto& v : vms_)
      v.cpuBefore = sim_.workload(v.spec.id)->counters.cpuRunning;
    sim_.step(Dt);
    ++steps_;
    const size_t window = static_cast<size_t>(o_.sustainedSeconds / Dt);
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const auto& now = sim_.nodes()[n];
      auto& t = nodes_[n];
      const double cores = std::max(1.0, now.spec.cpuCores);
      const double u =
          std::clamp(1.0 - (now.counters.idle - t.before.idle) / (Dt * cores), 0.0, 1.0);
      t.util.push_back(u);
      t.pressure.push_back(std::clamp(
          (now.counters.pressureCpuWaiting - t.before.pressureCpuWaiting) / Dt, 0.0, 1.0));
      while (t.util.size() > std::max<size_t>(window, StepsPerMinute)) {
        t.util.pop_front();
        t.pressure.pop_front();
      }
      t.residualSum += u;
    }
    for (auto& v : vms_) {
      const auto* w = sim_.workload(v.spec.id);
      const double used = (w->counters.cpuRunning - v.cpuBefore) / Dt;
      const size_t n = index_.at(w->node);
      nodes_[n].residualSum -= used / std::max(1.0, cluster_.nodes[n].cpuCores);
      v.usageSum += used;
      v.slotSum += used / v.spec.vcpus;
      v.stealSum += w->steal;
      v.slowSum += w->slowdown;
    }
    if (steps_ % StepsPerMinute == 0) {
      for (auto& v : vms_) {
        v.minutes.push_back(v.usageSum / StepsPerMinute);
        if (v.minutes.size() > 60)
          v.minutes.pop_front();
        if (measuring) {
          v.minuteSteal.push_back(v.stealSum / StepsPerMinute);
          v.minuteSlowdown.push_back(v.slowSum / StepsPerMinute);
        }
        v.usageSum = v.stealSum = v.slowSum = 0;
      }
    }
    if (steps_ % StepsPerSlot == 0) {
      for (auto& t : nodes_) {
        t.residual.push_back(std::max(0.0, t.residualSum / StepsPerSlot));
        t.residualSum = 0;
      }
      for (auto& v : vms_) {
        v.slots.push_back(v.slotSum / StepsPerSlot);
        v.slotSum = 0;
      }
      if (kind_ == Kind::Umbra)
        slotTelemetry();
    }
    if (measuring) {
      for (const auto& v : vms_) {
        if (v.companion.empty())
          continue;
        accompaniedCpu_ += sim_.workload(v.spec.id)->counters.cpuRunning - v.cpuBefore;
        accompaniedVcpu_ += v.spec.vcpus * Dt;
      }
    }
  }

  // Umbra's telemetry per 5-minute slot: the forecast of every node and every VM (when fitted;
  // series 0..N-1 are the nodes, N.. the VMs) and the companions' probe readings, averaged per
  // node.
  void slotTelemetry() {
    std::vector<double> loss(nodes_.size(), 0);
    std::vector<int> probes(nodes_.size(), 0);
    for (auto& v : vms_) {
      const auto* c = sim_.workload(v.companion);
      if (!c)
        continue;
      const auto sample = model::shadowSample(v.companionBefore, c->counters);
      v.companionBefore = c->counters;
      const size_t n = index_.at(c->node);
      loss[n] += telemetry::probeLossOf(sample.probeMemorySpeed, sample.probeAluSpeed);
      ++probes[n];
    }
    for (size_t n = 0; n < nodes_.size(); ++n)
      nodes_[n].interference = probes[n] ? loss[n] / probes[n] : -1;
    if (!engine_)
      return;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const auto f = engine_->predict(n, nodes_[n].residual, o_.horizonSteps);
      nodes_[n].p50 = f.p50;
      nodes_[n].p90 = f.p90;
    }
    for (size_t i = 0; i < vms_.size(); ++i) {
      auto& v = vms_[i];
      const auto f = engine_->predict(nodes_.size() + i, v.slots, o_.horizonSteps);
      v.p50 = f.p50;
      v.p90 = f.p90;
      for (auto* q : {&v.p50, &v.p90}) {
        for (double& x : *q)
          x *= v.spec.vcpus;
      }
    }
  }

  Status fitForecaster() {
    members_.push_back(model::linearAutoregressive(12, 288));
    members_.push_back(model::recentMedian(36));
    members_.push_back(model::lastValue());
    members_.push_back(model::holtWinters(288));
    std::vector<model::SeriesMethod*> raw;
    for (auto& m : members_)
      raw.push_back(m.get());
    engine_ = std::make_unique<model::GuardedEnsemble>(raw, true);
    std::vector<model::TrainSeries> train;
    for (const auto& t : nodes_)
      train.push_back({t.residual, std::vector<uint8_t>(t.residual.size(), 1)});
    for (const auto& v : vms_)
      train.push_back({v.slots, std::vector<uint8_t>(v.slots.size(), 1)});
    UMBRA_CHECK(engine_->fit(train, o_.horizonSteps));
    slotTelemetry();
    return okStatus();
  }

  std::vector<rebalance::Host> hosts() const {
    std::vector<rebalance::Host> out;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const auto& spec = cluster_.nodes[n];
      const auto& t = nodes_[n];
      rebalance::Host h;
      h.name = spec.name;
      h.cores = spec.cpuCores;
      h.memoryBytes = spec.memoryBytes * (1.0 - spec.background.memory);
      h.utilisation = mean(t.util, StepsPerMinute);
      h.pressure = mean(t.pressure, StepsPerMinute);
      h.sustained = mean(t.util, t.util.size());
      h.interference = t.interference;
      out.push_back(h);
    }
    if (engine_) {
      std::vector<size_t> vmNode;
      for (const auto& v : vms_)
        vmNode.push_back(index_.at(sim_.workload(v.spec.id)->node));
      bottomUp(nodes_, vms_, vmNode, out);
    }
    for (const auto& [id, w] : sim_.workloads()) {
      auto& h = out[index_.at(w.node)];
      h.requestedCpu += w.spec.vcpus / rebalance::CpuAllocationRatio;
      h.requestedMemory += w.spec.memoryBytes;
    }
    return out;
  }

  std::vector<rebalance::Vm> vmSnapshot() const {
    std::vector<rebalance::Vm> out;
    for (const auto& v : vms_) {
      rebalance::Vm r;
      r.id = v.spec.id;
      r.ns = v.ns;
      r.host = sim_.workload(v.spec.id)->node;
      r.vcpus = v.spec.vcpus;
      r.memoryBytes = v.spec.memoryBytes;
      r.usage = v.minutes.empty() ? 0 : v.minutes.back();
      // Umbra: the VM's own forecast over the horizon (a VM that is about to peak is not light);
      // the peers read the last hour.
      r.usageP90 = v.p90.empty() ? model::quantileOf({v.minutes.begin(), v.minutes.end()}, 0.9)
                                 : *std::max_element(v.p90.begin(), v.p90.end());
      r.moving = v.moving;
      r.lastMovedAt = v.lastMovedAt;
      out.push_back(r);
    }
    return out;
  }

  void cycle() {
    const auto t0 = std::chrono::steady_clock::now();
    const double now = sim_.elapsed();
    auto hs = hosts();
    auto vs = vmSnapshot();
    rebalance::InFlight inFlight;
    std::map<std::string, int> perNs, perHost;
    for (const auto& f : flights_) {
      ++inFlight.cluster;
      inFlight.moves.push_back(f.move);
      ++perNs[vms_[f.vm].ns];
      ++perHost[sim_.workload(vms_[f.vm].spec.id)->node];
    }
    inFlight.perNamespace.assign(perNs.begin(), perNs.end());
    inFlight.outboundPerHost.assign(perHost.begin(), perHost.end());
    std::vector<rebalance::Move> moves;
    switch (kind_) {
      case Kind::LowNode:
        moves = rebalance::planLowNodeUtilization(hs, vs, o_.lowNode, o_.budget, inFlight, now);
        break;
      case Kind::Relieve:
        moves = rebalance::planRelieveAndMigrate(hs, vs, o_.relieve, o_.budget, inFlight, now);
        break;
      case Kind::Umbra:
        moves = rebalance::planUmbra(hs, vs, o_.umbra, o_.budget, inFlight, now);
        break;
      case Kind::Oracle:
        clairvoyant(sim_, o_.horizonSteps * 5, hs, vs);
        moves = rebalance::planUmbra(hs, vs, o_.umbra, o_.budget, inFlight, now);
        break;
      case Kind::None: break;
    }
    // Companions off hosts nearing capacity (re-created at once: a probe holds no state).
    std::vector<rebalance::Move> recreate;
    if (kind_ == Kind::Umbra) {
      std::vector<rebalance::Companion> companions;
      for (const auto& v : vms_) {
        if (const auto* c = sim_.workload(v.companion))
          companions.push_back({v.companion, sim_.workload(v.spec.id)->node, c->node, c->spec.vcpus,
                                c->spec.memoryBytes, v.companionMovedAt});
      }
      recreate = rebalance::planCompanions(hs, companions, o_.umbra, o_.budget, now);
    }
    compute_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& m : moves)
      start(m, now);
    for (const auto& m : recreate) {
      (void)sim_.moveWorkload(m.vm, m.to);
      for (auto& v : vms_) {
        if (v.companion == m.vm)
          v.companionMovedAt = now;
      }
      ++result_.companionsRecreated;
    }
  }

  void start(const rebalance::Move& m, double now) {
    size_t v = 0;
    while (vms_[v].spec.id != m.vm)
      ++v;
    auto& track = vms_[v];
    if (now - track.lastMovedAt < o_.budget.minIntervalSeconds)
      ++result_.movedWithinInterval;
    const auto outcome = sim::preCopy(track.spec.memoryBytes, sim_.dirtyRate(m.vm),
                                      sim_.migrationLink(m.from, m.to));
    ++result_.migrations;
    result_.gibMoved += outcome.bytesSent / GiB;
    track.moving = true;
    track.lastMovedAt = now;
    flights_.push_back({v, m, now + o_.migrationSetupSeconds + outcome.seconds, outcome.succeeded});
    if (result_.reasons.size() < 5)
      result_.reasons.push_back(m.vm + " " + m.from + " -> " + m.to + ": " + m.reason);
  }

  // Migrations whose time is up: the VM switches to its target, or stays where it was.
  void land() {
    const double now = sim_.elapsed();
    std::erase_if(flights_, [&](const Flight& f) {
      if (f.endsAt > now)
        return false;
      auto& track = vms_[f.vm];
      track.moving = false;
      if (!f.succeeded) {
        ++result_.failed;
        return true;
      }
      ++result_.succeeded;
      (void)sim_.moveWorkload(track.spec.id, f.move.to);
      // Anti-affinity: a companion the VM landed beside is re-created where the VM came from (a
      // probe holds no state, so re-creation is as good as a migration and cheaper).
      const auto* c = sim_.workload(track.companion);
      if (c && c->node == f.move.to)
        (void)sim_.moveWorkload(track.companion, f.move.from);
      return true;
    });
  }

  RebalancerResult result() {
    RebalancerResult r = std::move(result_);
    summarize(vms_, o_.sloSteal, r);
    r.companionCpuShare = accompaniedCpu_ > 0 ? companionCpu_ / accompaniedCpu_ : 0;
    r.companionVcpuShare = accompaniedVcpu_ > 0 ? companionCpu_ / accompaniedVcpu_ : 0;
    r.computeSeconds = compute_;
    return r;
  }

  const sim::ClusterSpec& cluster_;
  const RebalanceBenchOptions& o_;
  Kind kind_;
  sim::Simulation sim_;
  std::vector<NodeTrack> nodes_;
  std::map<std::string, size_t> index_;
  std::vector<VmTrack> vms_;
  std::vector<Flight> flights_;
  std::vector<std::unique_ptr<model::SeriesMethod>> members_;
  std::unique_ptr<model::GuardedEnsemble> engine_;
  long steps_ = 0;
  double compute_ = 0, companionCpu_ = 0, accompaniedCpu_ = 0, accompaniedVcpu_ = 0;
  RebalancerResult result_;
};

}  // namespace

Result<RebalancerResult> runOne(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                                const RebalanceBenchOptions& o, Kind kind, const Placed& vms,
                                const Placed& companions) {
  Run run(cluster, traces, o, kind);
  UMBRA_CHECK(run.setUp(vms, companions));
  return run.go();
}

}  // namespace umbra::offline::rebalance_detail
