// The placement benchmark's placers: the clairvoyant oracle, load-aware, forecast-only and Umbra.
#include "offline/placers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "offline/sim_outcomes.h"

namespace umbra::model::bench_detail {

Result<BenchSetup> benchSetup(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                              const PlacementBenchOptions& o) {
  if (cluster.nodes.empty())
    return Error::config("placement bench: the cluster has no nodes");
  if (o.arrivalEverySeconds < o.observeSeconds * (1 + o.maxExtensions))
    return Error::config(
        "placement bench: arrivals must be further apart than Umbra's longest "
        "observation");
  BenchSetup s;
  s.cluster = cluster;
  if (!o.interference)
    s.cluster.physics.interference = 0;
  s.ids = traces.ids();
  if (s.ids.empty())
    return Error::config("placement bench: no traces");
  s.classes = sim::classNames(s.cluster);
  std::mt19937_64 rng(o.seed ^ 0xa77171a1ULL);
  for (size_t i = 0; i < o.arrivals; ++i)
    s.arrivals.push_back(traceVm(traces, s.ids, s.classes, rng, "vm/" + std::to_string(i)));
  return s;
}

NodeFuture nodeFuture(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                      uint64_t seed, const sim::WorkloadSpec* vm, size_t i, double lookahead,
                      bool neighbours) {
  const std::string node = w.spec(i).name;
  sim::ClusterSpec one = cluster;
  one.nodes = {cluster.nodes[i]};
  sim::Simulation future(one, seed, &traces);
  std::vector<std::string> ids;
  for (const auto& [id, state] : w.sim().workloads()) {
    if (state.node != node)
      continue;
    (void)future.addWorkload(state.spec, node);
    if (neighbours)
      ids.push_back(id);
  }
  NodeFuture out;
  if (vm && !future.addWorkload(*vm, node).ok()) {
    out.vm = 1e9;
    return out;
  }
  future.step(1e-6, w.sim().demandTime() / 1e-6);  // align the demand clock with the cluster's
  if (vm)
    ids.push_back(vm->id);
  // Per workload followed (the neighbours, then the VM): its 300 s means of slowdown.
  std::vector<std::vector<double>> slots(ids.size());
  std::vector<double> sums(ids.size(), 0);
  int steps = 0;
  const auto close = [&] {
    for (size_t k = 0; k < ids.size(); ++k) {
      slots[k].push_back(sums[k] / steps);
      sums[k] = 0;
    }
    steps = 0;
  };
  for (double t = 0; t < lookahead; t += Dt) {
    future.step(Dt);
    for (size_t k = 0; k < ids.size(); ++k)
      sums[k] += future.workload(ids[k])->slowdown;
    if (++steps == SlotSteps)
      close();
  }
  if (steps > 0)
    close();
  const size_t others = vm ? ids.size() - 1 : ids.size();
  for (size_t k = 0; k < others; ++k)
    out.neighbours[ids[k]] = percentileOf(slots[k], 0.95);
  if (vm)
    out.vm = percentileOf(slots.back(), 0.95);
  return out;
}

// The oracle: each feasible node's future with the VM on it, simulated alone (the node's physics
// depend only on what runs on it), over the lookahead; the lowest p95 of the VM's 300 s slowdown
// means wins: the statistic the headline reports. Greedy: one arrival at a time, the later ones
// unknown.
double futureSteal(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                   uint64_t seed, const sim::WorkloadSpec& vm, size_t i, double lookahead) {
  return nodeFuture(w, cluster, traces, seed, &vm, i, lookahead, false).vm;
}

size_t oracleChoice(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                    uint64_t seed, const sim::WorkloadSpec& vm,
                    const std::vector<placement::Verdict>& verdicts, double lookahead) {
  size_t best = w.indexOf(verdicts.front().node);
  double bestSteal = 1e9;
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    const double steal = futureSteal(w, cluster, traces, seed, vm, i, lookahead);
    if (steal < bestSteal - 1e-12) {
      bestSteal = steal;
      best = i;
    }
  }
  return best;
}

// Trimaran's TargetLoadPacking: the node's measured CPU (the last 300 s) plus the VM's CPU
// request, as a share of the node; nodes are packed up to the target, then spread.
size_t loadAwareChoice(World& w, const sim::WorkloadSpec& vm,
                       const std::vector<placement::Verdict>& verdicts, double target) {
  size_t best = w.indexOf(verdicts.front().node);
  double bestScore = -1;
  const double t = 100 * target;
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    const auto& h = w.history(i);
    const double cores = w.spec(i).cpuCores;
    const double used = (h.empty() ? 0 : h.back()) * cores;
    const double predicted =
        100 * std::min(1.0, (used + vm.vcpus / placement::CpuAllocationRatio) / cores);
    const double score =
        predicted <= t ? (100 - t) * predicted / t + t : t * (100 - predicted) / (100 - t);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

// Trimaran's LoadVariationRiskBalancing (kubernetes-sigs/scheduler-plugins, README of the plugin):
// per resource, risk = (mean + margin x stddev^(1/sensitivity)) / 2 of the node's measured
// utilisation over a window, the VM's request added to the mean; the node with the lowest worst
// risk of CPU and memory wins. Memory has no history here: its current use, stddev 0.
double loadRisk(World& w, const sim::WorkloadSpec& vm, size_t i, double margin, double sensitivity,
                size_t windowSlots) {
  const auto& h = w.history(i);
  const size_t from = h.size() > windowSlots ? h.size() - windowSlots : 0;
  double mean = 0, sq = 0;
  for (size_t k = from; k < h.size(); ++k) {
    mean += h[k];
    sq += h[k] * h[k];
  }
  const double n = static_cast<double>(std::max<size_t>(1, h.size() - from));
  mean /= n;
  const double sd = std::sqrt(std::max(0.0, sq / n - mean * mean));
  const double cores = w.spec(i).cpuCores;
  const double mu = std::min(1.0, mean + vm.vcpus / placement::CpuAllocationRatio / cores);
  const double cpuRisk = std::clamp((mu + margin * std::pow(sd, 1.0 / sensitivity)) / 2, 0.0, 1.0);
  const double capacity = w.spec(i).memoryBytes;
  const double memRisk = std::clamp(
      std::min(1.0, (w.sim().nodes()[i].memoryUsed + vm.memoryBytes) / capacity) / 2, 0.0, 1.0);
  return std::max(cpuRisk, memRisk);
}

namespace {

// The feasible node with the lowest score (the first of equals); the first verdict's node if none
// is feasible.
template <class Score>
size_t lowestScore(World& w, const std::vector<placement::Verdict>& verdicts, Score score) {
  size_t best = w.indexOf(verdicts.front().node);
  double lowest = std::numeric_limits<double>::infinity();
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    if (const double s = score(i); s < lowest) {
      lowest = s;
      best = i;
    }
  }
  return best;
}

}  // namespace

size_t loadRiskChoice(World& w, const sim::WorkloadSpec& vm,
                      const std::vector<placement::Verdict>& verdicts, double margin,
                      double sensitivity, size_t windowSlots) {
  return lowestScore(
      w, verdicts, [&](size_t i) { return loadRisk(w, vm, i, margin, sensitivity, windowSlots); });
}

double dayP95(World& w, size_t i) {
  return dayPeakOf(w.history(i));
}

namespace {

// The node's daily peak with the VM's CPU request added, as a share of the node.
double peakWith(World& w, const sim::WorkloadSpec& vm, size_t i) {
  return dayP95(w, i) + vm.vcpus / placement::CpuAllocationRatio / w.spec(i).cpuCores;
}

}  // namespace

size_t dayPeakChoice(World& w, const sim::WorkloadSpec& vm,
                     const std::vector<placement::Verdict>& verdicts) {
  return lowestScore(w, verdicts, [&](size_t i) { return peakWith(w, vm, i); });
}

double pressureMix(World& w, size_t i) {
  const sim::NodeSpec& spec = w.spec(i);
  const double bg = w.sim().backgroundNow(i).cpu;
  double load = bg, pressure = bg;
  for (const auto& [id, state] : w.sim().workloads()) {
    if (state.node != spec.name)
      continue;
    const double phys = state.demand.cpu / spec.cpuSpeed;
    load += phys;
    pressure += phys * w.sim().cluster().physics.classes.at(state.spec.interferenceClass).pressure;
  }
  return load > 0 ? pressure / load : 1.0;
}

size_t mixAwareChoice(World& w, const sim::WorkloadSpec& vm,
                      const std::vector<placement::Verdict>& verdicts) {
  return lowestScore(w, verdicts, [&](size_t i) { return peakWith(w, vm, i) * pressureMix(w, i); });
}

// Forecast only: the operator's forecaster on node history and node-level telemetry (the node's
// CPU pressure in place of a shadow's steal), every feasible node, no shadows: the ranking the
// operator chooses half of its candidates by (model::rankNodes, as WorldReader::rankByForecast).
placement::Decision forecastOnlyRanking(World& w, ModelForecaster& forecaster,
                                        const sim::WorkloadSpec& vm,
                                        const std::vector<placement::Verdict>& verdicts,
                                        const api::ScoringWeights& scoring) {
  std::vector<telemetry::CandidateTelemetry> nodes;
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    telemetry::CandidateTelemetry c;
    c.node = v.node;
    c.samples = w.recent(i);
    c.nodeCpuCores = w.spec(i).cpuCores;
    c.nodeMemoryBytes = w.spec(i).memoryBytes;
    c.fromShadow = false;
    nodes.push_back(std::move(c));
  }
  return rankNodes(forecaster, nodes, {vm.vcpus, vm.memoryBytes, ""}, scoring);
}

// Umbra: a throttled shadow on each candidate (Synthetic: the probe; Passive: idle), observed (the
// cluster runs on meanwhile), forecast, extended while unsure.
Result<Choice> umbraChoice(World& w, ModelForecaster& forecaster, const sim::WorkloadSpec& vm,
                           const std::vector<std::string>& candidates,
                           const PlacementBenchOptions& o) {
  Choice choice;
  struct Probe {
    size_t node;
    std::string id;
    sim::WorkloadCounters last;
    std::vector<telemetry::Sample> samples;
  };
  std::vector<Probe> probes;
  const double shadowCpu = std::max(0.01, o.shadowCpuFraction * vm.vcpus);
  double shadowMemory = 0;
  for (const auto& name : candidates) {
    const sim::WorkloadSpec shadow = shadowOf(vm, vm.id + "-shadow-" + name, o.synthetic,
                                              o.shadowCpuFraction, o.shadowMemoryFraction);
    shadowMemory = shadow.memoryBytes;
    const size_t i = w.indexOf(name);
    UMBRA_CHECK(w.add(shadow, i));
    probes.push_back({i, shadow.id, w.sim().workload(shadow.id)->counters, {}});
  }
  placement::Decision decision;
  std::vector<placement::CandidateForecast> lastForecasts;
  for (int round = 0;; ++round) {
    for (double t = 0; t < o.observeSeconds - 1e-9; t += Dt) {
      w.step();
      for (auto& p : probes) {
        const auto& c = w.sim().workload(p.id)->counters;
        telemetry::Sample s = w.recent(p.node).back();
        const telemetry::Sample read = shadowSample(p.last, c);
        s.cpuSteal = read.cpuSteal;
        s.probeMemorySpeed = read.probeMemorySpeed;
        s.probeAluSpeed = read.probeAluSpeed;
        p.last = c;
        p.samples.push_back(s);
      }
    }
    choice.waitedSeconds += o.observeSeconds;
    std::vector<placement::CandidateForecast> forecasts;
    for (const auto& p : probes) {
      telemetry::CandidateTelemetry c;
      c.node = w.spec(p.node).name;
      c.samples = p.samples;
      c.nodeCpuCores = w.spec(p.node).cpuCores;
      c.nodeMemoryBytes = w.spec(p.node).memoryBytes;
      auto f = forecaster.forecast(c, {vm.vcpus, vm.memoryBytes, vm.id});
      if (f.ok())
        forecasts.push_back({c.node, f->p50, f->confidence, f->cpuStderr, f->cpuModelSd});
    }
    decision = placement::decide(forecasts, o.scoring);
    lastForecasts = forecasts;
    if (!placement::observeLonger(decision, o.minConfidence) || round >= o.maxExtensions)
      break;
    ++choice.extensions;
  }
  forecaster.forget(vm.id);
  for (const auto& p : probes) {
    w.sim().removeWorkload(p.id);
    sim::WorkloadSpec s;
    s.vcpus = 1;
    s.memoryBytes = shadowMemory;
    w.release(p.node, s);
  }
  const double n = static_cast<double>(probes.size());
  choice.shadowCpuSeconds = n * shadowCpu * choice.waitedSeconds;
  choice.shadowMemorySeconds = n * shadowMemory * choice.waitedSeconds;
  choice.node = decision.selected.empty() ? probes.front().node : w.indexOf(decision.selected);
  choice.confidence = decision.confidence;
  choice.probed = candidates;
  choice.forecasts = std::move(lastForecasts);
  return choice;
}

}  // namespace umbra::model::bench_detail
