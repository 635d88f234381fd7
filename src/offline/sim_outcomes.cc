#include "offline/sim_outcomes.h"

#include <algorithm>
#include <map>
#include <random>

#include "model/model_forecaster.h"
#include "offline/bench_world.h"

namespace umbra::model {

namespace {

using bench_detail::Dt;  // simulation step, seconds
using bench_detail::GiB;
using bench_detail::Slot;  // history step, seconds

// What the catalog's queries compute, from counter deltas over one step.
struct NodeReading {
  double util = 0, iowait = 0, memoryPressure = 0;
};

NodeReading readNode(const sim::NodeCounters& before, const sim::NodeState& now) {
  const double cores = std::max(1.0, now.spec.cpuCores);
  NodeReading r;
  r.util = std::clamp(1.0 - (now.counters.idle - before.idle) / (Dt * cores), 0.0, 1.0);
  r.iowait = std::max(0.0, (now.counters.iowait - before.iowait) / (Dt * cores));
  r.memoryPressure =
      std::max(0.0, (now.counters.pressureMemoryWaiting - before.pressureMemoryWaiting) / Dt);
  return r;
}

}  // namespace

sim::WorkloadSpec shadowOf(const sim::WorkloadSpec& vm, const std::string& id, bool synthetic,
                           double cpuFraction, double memoryFraction) {
  sim::WorkloadSpec s;
  s.id = id;
  s.vcpus = 1;
  s.cpuLimit = std::max(0.01, cpuFraction * vm.vcpus);
  s.memoryBytes = std::max(memoryFraction * vm.memoryBytes, 0.125 * GiB);
  if (synthetic) {
    // As placement::syntheticUserData runs it: busy 50 % of the limit, in whole per-mille.
    s.source.kind = sim::SourceKind::Probe;
    s.source.profile = "steady";
    s.source.level =
        std::clamp(std::round(50 * 10.0 * std::min(1.0, s.cpuLimit)), 1.0, 1000.0) / 1000;
  } else {
    s.source.kind = sim::SourceKind::Idle;
  }
  return s;
}

telemetry::Sample shadowSample(const sim::WorkloadCounters& before,
                               const sim::WorkloadCounters& now) {
  telemetry::Sample s;
  const double delay =
      std::max(0.0, (now.cpuDelay - before.cpuDelay) - (now.cpuThrottled - before.cpuThrottled));
  const double running = now.cpuRunning - before.cpuRunning;
  s.cpuSteal = delay / std::max(1e-9, delay + running);
  // Each kernel's operations per second of its wall time (probeReference is 1 in the simulation).
  const auto speed = [](double ops, double seconds) { return seconds > 0 ? ops / seconds : 0.0; };
  s.probeMemorySpeed = speed(now.probeMemoryOps - before.probeMemoryOps,
                             now.probeMemorySeconds - before.probeMemorySeconds);
  s.probeAluSpeed =
      speed(now.probeAluOps - before.probeAluOps, now.probeAluSeconds - before.probeAluSeconds);
  return s;
}

sim::WorkloadSpec traceVm(const sim::TraceSet& traces, const std::vector<std::string>& ids,
                          const std::vector<std::string>& classes, std::mt19937_64& rng,
                          const std::string& id) {
  const auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const sim::Trace& t = traces.series.at(ids[pick(ids.size())]);
  sim::WorkloadSpec w;
  w.id = id;
  w.vcpus = std::clamp(std::round(t.cpuCores), 1.0, 16.0);
  w.memoryBytes = std::clamp(t.memoryBytes, 1 * GiB, 64 * GiB);
  w.interferenceClass = classes[pick(classes.size())];
  w.source.kind = sim::SourceKind::Trace;
  w.source.trace = &t;
  w.source.traceOffset = std::uniform_real_distribution<double>(0, t.seconds())(rng);
  return w;
}

Result<std::vector<Outcome>> simulateOutcomes(const sim::ClusterSpec& cluster,
                                              const sim::TraceSet& traces,
                                              const SeriesMethod& demand,
                                              const SimOutcomeOptions& o,
                                              const std::function<void(size_t)>& progress) {
  if (cluster.nodes.empty())
    return Error::config("simulated outcomes: the cluster has no nodes");
  const std::vector<std::string> ids = traces.ids();
  if (ids.empty())
    return Error::config("simulated outcomes: no traces");
  const std::vector<std::string> classes = sim::classNames(cluster);
  sim::Simulation s(cluster, o.seed, &traces);
  std::mt19937_64 rng(o.seed);
  const auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const size_t nodeCount = cluster.nodes.size();
  std::vector<double> vcpusOn(nodeCount, 0), memoryOn(nodeCount, 0);
  for (size_t i = 0; i < nodeCount; ++i)
    memoryOn[i] = cluster.nodes[i].background.memory * cluster.nodes[i].memoryBytes;
  size_t serial = 0;
  const auto vmFrom = [&](const std::string& prefix) {
    return traceVm(traces, ids, classes, rng, prefix + "/" + std::to_string(serial++));
  };
  // Background VMs leave headroom for the arrivals (vCPU overcommit up to 4:1, as KubeVirt's
  // default cpuAllocationRatio of 10 allows).
  const auto fits = [&](size_t n, const sim::WorkloadSpec& w, double room) {
    const auto& spec = cluster.nodes[n];
    return vcpusOn[n] + w.vcpus <= 4.0 * room * spec.cpuCores &&
           memoryOn[n] + w.memoryBytes <= room * spec.memoryBytes;
  };
  const auto meanUtil = [&] { return s.meanCpuUtilization(); };
  // Fill to the background utilisation.
  s.step(Dt);
  for (int attempt = 0; meanUtil() < o.utilisation && attempt < 200; ++attempt) {
    for (int k = 0; k < 10; ++k) {
      auto w = vmFrom("bg");
      const size_t n = pick(nodeCount);
      if (!fits(n, w, 0.8))
        continue;
      UMBRA_CHECK(s.addWorkload(w, cluster.nodes[n].name));
      vcpusOn[n] += w.vcpus;
      memoryOn[n] += w.memoryBytes;
    }
    s.step(Dt);
  }
  if (meanUtil() < 0.8 * o.utilisation)
    return Error::config("simulated outcomes: the cluster holds only " +
                         std::to_string(static_cast<int>(100 * meanUtil())) +
                         " % utilisation of the " +
                         std::to_string(static_cast<int>(100 * o.utilisation)) + " % asked for");
  // Node history at 300 s: the mean utilisation of each slot.
  std::vector<std::vector<double>> history(nodeCount);
  std::vector<double> slotSum(nodeCount, 0);
  int slotSteps = 0;
  std::vector<sim::NodeCounters> before(nodeCount);
  bench_detail::CpuSlotTracker cpu(cluster, Slot);
  // Passers-by on the cluster: their node and when they leave.
  struct Passer {
    std::string id;
    size_t node;
    double vcpus, memoryBytes, leaveAt;
  };
  std::vector<Passer> passers;
  double nextPasser = s.elapsed();
  const auto churn = [&]() -> Status {
    const double now = s.elapsed();
    for (auto it = passers.begin(); it != passers.end();) {
      if (now < it->leaveAt) {
        ++it;
        continue;
      }
      s.removeWorkload(it->id);
      vcpusOn[it->node] -= it->vcpus;
      memoryOn[it->node] -= it->memoryBytes;
      it = passers.erase(it);
    }
    for (; now >= nextPasser; nextPasser += o.churnEverySeconds) {
      const sim::WorkloadSpec w = vmFrom("passer");
      std::vector<size_t> room;
      for (size_t n = 0; n < nodeCount; ++n) {
        if (fits(n, w, 0.95))
          room.push_back(n);
      }
      if (room.empty())
        continue;  // it fits nowhere: it goes elsewhere
      const size_t n = room[pick(room.size())];
      UMBRA_CHECK(s.addWorkload(w, cluster.nodes[n].name));
      vcpusOn[n] += w.vcpus;
      memoryOn[n] += w.memoryBytes;
      passers.push_back({w.id, n, w.vcpus, w.memoryBytes, now + o.churnLifetimeSeconds});
    }
    return okStatus();
  };
  const auto step = [&]() -> Status {
    if (o.churnEverySeconds > 0)
      UMBRA_CHECK(churn());
    for (size_t i = 0; i < nodeCount; ++i)
      before[i] = s.nodes()[i].counters;
    s.step(Dt);
    for (size_t i = 0; i < nodeCount; ++i)
      slotSum[i] += readNode(before[i], s.nodes()[i]).util;
    if (++slotSteps * Dt >= Slot) {
      for (size_t i = 0; i < nodeCount; ++i) {
        history[i].push_back(slotSum[i] / slotSteps);
        slotSum[i] = 0;
      }
      if (o.coRunnerHistory)
        cpu.slotEnded(s, history.front().size());
      slotSteps = 0;
    }
    return okStatus();
  };
  for (double t = 0; t < 26 * 3600; t += Dt)
    UMBRA_CHECK(step());

  std::vector<Outcome> out;
  const size_t observeSteps = static_cast<size_t>(o.observeSeconds / Dt);
  const size_t horizonSteps = static_cast<size_t>(o.window * Slot / Dt);
  int emptyRounds = 0;
  while (out.size() < o.outcomes) {
    // Arrivals on distinct random nodes with room.
    std::vector<size_t> order(nodeCount);
    for (size_t i = 0; i < nodeCount; ++i)
      order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    struct Probe {
      size_t node;
      sim::WorkloadSpec vm, shadow;
      std::vector<telemetry::Sample> samples;
    };
    // One arrival, as a decision sees it: the same VM (trace, offset, class, size) on each of
    // the round's nodes at once, each copy alone on its node, so that the outcomes of a round
    // are the counterfactuals a decision chooses between.
    std::vector<Probe> probes;
    const sim::WorkloadSpec arrival = vmFrom("vm");
    for (const size_t n : order) {
      if (probes.size() >= std::min(o.probesPerRound, o.outcomes - out.size()))
        break;
      sim::WorkloadSpec vm = arrival;
      vm.id = arrival.id + "@" + cluster.nodes[n].name;
      if (!fits(n, vm, 0.95))
        continue;
      sim::WorkloadSpec shadow =
          shadowOf(vm, vm.id + "-shadow", o.synthetic, o.shadowCpuFraction, 0.02);
      UMBRA_CHECK(s.addWorkload(shadow, cluster.nodes[n].name));
      probes.push_back({n, std::move(vm), std::move(shadow), {}});
    }
    if (probes.empty()) {
      if (++emptyRounds < 50)
        continue;  // this arrival fits nowhere: the next one
      return Error::config("simulated outcomes: no node has room for another VM");
    }
    emptyRounds = 0;
    std::vector<sim::WorkloadCounters> wBefore(probes.size());
    for (size_t k = 0; k < observeSteps; ++k) {
      for (size_t p = 0; p < probes.size(); ++p)
        wBefore[p] = s.workload(probes[p].shadow.id)->counters;
      UMBRA_CHECK(step());
      for (size_t p = 0; p < probes.size(); ++p) {
        const auto& node = s.nodes()[probes[p].node];
        const NodeReading r = readNode(before[probes[p].node], node);
        telemetry::Sample sample =
            shadowSample(wBefore[p], s.workload(probes[p].shadow.id)->counters);
        sample.cpuUtilization = r.util;
        sample.memoryPressure = r.memoryPressure;
        sample.ioWait = r.iowait;
        probes[p].samples.push_back(sample);
      }
    }
    std::vector<ContentionInputs> inputs;
    for (auto& p : probes) {
      s.removeWorkload(p.shadow.id);
      const auto& spec = cluster.nodes[p.node];
      telemetry::CandidateTelemetry c;
      c.node = spec.name;
      c.samples = p.samples;
      c.nodeCpuCores = spec.cpuCores;
      c.nodeMemoryBytes = spec.memoryBytes;
      const std::vector<double> nodeHistory =
          o.coRunnerHistory ? cpu.rebuild(p.node, history[p.node]) : history[p.node];
      const auto forecast = demand.predict(p.node, nodeHistory, o.horizon);
      inputs.push_back(ModelForecaster::inputsOf(c, {p.vm.vcpus, p.vm.memoryBytes, p.vm.id},
                                                 forecast, nodeHistory));
      UMBRA_CHECK(s.addWorkload(p.vm, spec.name));
    }
    std::vector<placement::Contention> sum(probes.size());
    std::vector<std::vector<double>> slots(probes.size());  // 300 s mean slowdowns
    std::vector<double> slot(probes.size(), 0);
    const size_t slotSteps = static_cast<size_t>(Slot / Dt);
    for (size_t k = 0; k < horizonSteps; ++k) {
      for (size_t p = 0; p < probes.size(); ++p)
        wBefore[p] = s.workload(probes[p].vm.id)->counters;
      UMBRA_CHECK(step());
      for (size_t p = 0; p < probes.size(); ++p) {
        const NodeReading r = readNode(before[probes[p].node], s.nodes()[probes[p].node]);
        sum[p].cpuContention += s.workload(probes[p].vm.id)->slowdown;
        sum[p].memoryPressure += r.memoryPressure;
        sum[p].ioWait += r.iowait;
        slot[p] += s.workload(probes[p].vm.id)->slowdown;
        if ((k + 1) % slotSteps == 0) {
          slots[p].push_back(slot[p] / static_cast<double>(slotSteps));
          slot[p] = 0;
        }
      }
    }
    const double n = static_cast<double>(horizonSteps);
    for (size_t p = 0; p < probes.size(); ++p) {
      s.removeWorkload(probes[p].vm.id);
      Outcome oc;
      oc.time = static_cast<int64_t>(s.elapsed());
      oc.source = "sim";
      oc.target = probes[p].vm.id;
      oc.node = cluster.nodes[probes[p].node].name;
      oc.inputs = inputs[p];
      oc.actual = {sum[p].cpuContention / n, sum[p].memoryPressure / n, sum[p].ioWait / n, 0};
      if (o.p95 && !slots[p].empty())  // as the placement benchmark's headline computes it
        oc.actual.cpuContention = percentileOf(slots[p], 0.95);
      out.push_back(std::move(oc));
    }
    if (progress)
      progress(out.size());
  }
  return out;
}

}  // namespace umbra::model
