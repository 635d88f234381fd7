#include "model/placement_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include "model/sim_outcomes.h"
#include "placement/candidates.h"
#include "placement/scoring.h"

namespace umbra::model {
namespace {

constexpr double Dt = 15;     // simulation step, seconds
constexpr double Slot = 300;  // history and measurement slot, seconds
constexpr double GiB = 1024.0 * 1024 * 1024;
constexpr int SlotSteps = static_cast<int>(Slot / Dt);

double percentileOf(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double stealOf(const sim::WorkloadCounters& before, const sim::WorkloadCounters& now) {
  const double delay = now.cpuDelay - before.cpuDelay;
  const double running = now.cpuRunning - before.cpuRunning;
  return delay / std::max(1e-9, delay + running);
}

// What node-exporter's series give over one step (the catalog's queries, from counter deltas).
telemetry::Sample nodeSample(const sim::NodeCounters& before, const sim::NodeState& now) {
  const double cores = std::max(1.0, now.spec.cpuCores);
  telemetry::Sample s;
  s.cpuUtilization = std::clamp(1.0 - (now.counters.idle - before.idle) / (Dt * cores), 0.0, 1.0);
  s.ioWait = std::max(0.0, (now.counters.iowait - before.iowait) / (Dt * cores));
  s.memoryPressure =
      std::max(0.0, (now.counters.pressureMemoryWaiting - before.pressureMemoryWaiting) / Dt);
  // The node's CPU pressure stands in for steal where there is no shadow (forecast-only).
  s.cpuSteal =
      std::clamp((now.counters.pressureCpuWaiting - before.pressureCpuWaiting) / Dt, 0.0, 1.0);
  return s;
}

struct Tracked {
  size_t node = 0;
  placement::Resources requests;
  double endAt = 0;
  sim::WorkloadCounters last;
  double stealSum = 0, ioSum = 0;
  int steps = 0;
  std::vector<double> slotSteal, slotIo;
};

// One placer's run: the cluster, its history, the placed VMs' measurements.
class World {
 public:
  World(const sim::ClusterSpec& cluster, const sim::TraceSet& traces, uint64_t seed)
      : cluster_(cluster), sim_(cluster, seed, &traces), n_(cluster.nodes.size()) {
    history_.resize(n_);
    slotUtil_.assign(n_, 0);
    before_.resize(n_);
    recent_.resize(n_);
    requested_.resize(n_);
    for (size_t i = 0; i < n_; ++i)
      index_[cluster.nodes[i].name] = i;
  }

  sim::Simulation& sim() { return sim_; }
  size_t nodes() const { return n_; }
  const sim::NodeSpec& spec(size_t i) const { return cluster_.nodes[i]; }
  const std::vector<double>& history(size_t i) const { return history_[i]; }
  const std::vector<telemetry::Sample>& recent(size_t i) const { return recent_[i]; }
  size_t indexOf(const std::string& name) const { return index_.at(name); }

  // Requests as KubeVirt makes them: vCPUs / cpuAllocationRatio, the guest memory.
  placement::NodeView view(size_t i) const {
    placement::NodeView v;
    v.name = cluster_.nodes[i].name;
    v.labels = {{"kubevirt.io/schedulable", "true"}};
    v.ready = true;
    v.allocatable = {cluster_.nodes[i].cpuCores,
                     cluster_.nodes[i].memoryBytes * (1.0 - cluster_.nodes[i].background.memory)};
    v.requested = requested_[i];
    return v;
  }
  static placement::TargetRequirements requirements(const sim::WorkloadSpec& w) {
    placement::TargetRequirements r;
    r.requests = {w.vcpus / placement::CpuAllocationRatio, w.memoryBytes};
    r.size = {w.vcpus, w.memoryBytes};
    return r;
  }
  std::vector<placement::Verdict> classify(const sim::WorkloadSpec& w) const {
    std::vector<placement::NodeView> views;
    for (size_t i = 0; i < n_; ++i)
      views.push_back(view(i));
    return placement::classify(views, requirements(w), {});
  }

  Status add(const sim::WorkloadSpec& w, size_t node) {
    UMBRA_CHECK(sim_.addWorkload(w, cluster_.nodes[node].name));
    requested_[node].cpu += w.vcpus / placement::CpuAllocationRatio;
    requested_[node].memory += w.memoryBytes;
    return okStatus();
  }
  // Adds a placed VM, measured from now for `lifetime` seconds.
  Status place(const sim::WorkloadSpec& w, size_t node, double lifetime) {
    UMBRA_CHECK(add(w, node));
    Tracked t;
    t.node = node;
    t.requests = {w.vcpus / placement::CpuAllocationRatio, w.memoryBytes};
    t.endAt = sim_.elapsed() + lifetime;
    t.last = sim_.workload(w.id)->counters;
    tracked_[w.id] = std::move(t);
    return okStatus();
  }

  void step() {
    for (size_t i = 0; i < n_; ++i)
      before_[i] = sim_.nodes()[i].counters;
    sim_.step(Dt);
    for (size_t i = 0; i < n_; ++i) {
      const auto s = nodeSample(before_[i], sim_.nodes()[i]);
      slotUtil_[i] += s.cpuUtilization;
      recent_[i].push_back(s);
      if (recent_[i].size() > static_cast<size_t>(SlotSteps))
        recent_[i].erase(recent_[i].begin());
    }
    for (auto& [id, t] : tracked_) {
      const auto* w = sim_.workload(id);
      if (!w)
        continue;
      t.stealSum += stealOf(t.last, w->counters);
      t.ioSum += recent_[t.node].back().ioWait;
      t.last = w->counters;
      ++t.steps;
    }
    if (++slotSteps_ < SlotSteps)
      return;
    slotSteps_ = 0;
    double mean = 0, sq = 0;
    for (size_t i = 0; i < n_; ++i) {
      const double u = slotUtil_[i] / SlotSteps;
      history_[i].push_back(u);
      mean += u;
      sq += u * u;
      slotUtil_[i] = 0;
    }
    if (measuring_) {
      mean /= static_cast<double>(n_);
      imbalance_ += std::sqrt(std::max(0.0, sq / static_cast<double>(n_) - mean * mean));
      ++imbalanceSlots_;
    }
    for (auto& [id, t] : tracked_) {
      if (t.steps == 0 || !sim_.workload(id))
        continue;
      t.slotSteal.push_back(t.stealSum / t.steps);
      t.slotIo.push_back(t.ioSum / t.steps);
      t.stealSum = t.ioSum = 0;
      t.steps = 0;
      if (sim_.elapsed() >= t.endAt) {
        sim_.removeWorkload(id);  // its lifetime is over: it leaves
        requested_[t.node].cpu -= t.requests.cpu;
        requested_[t.node].memory -= t.requests.memory;
        released_.push_back(id);
      }
    }
    for (const auto& id : released_)
      finished_[id] = std::move(tracked_.extract(id).mapped());
    released_.clear();
  }
  void stepFor(double seconds) {
    for (double t = 0; t < seconds - 1e-9; t += Dt)
      step();
  }
  void startMeasuring() { measuring_ = true; }
  double imbalance() const { return imbalanceSlots_ ? imbalance_ / imbalanceSlots_ : 0; }
  bool allFinished() const { return tracked_.empty(); }
  const std::map<std::string, Tracked>& finished() const { return finished_; }
  void release(size_t node, const sim::WorkloadSpec& w) {
    requested_[node].cpu -= w.vcpus / placement::CpuAllocationRatio;
    requested_[node].memory -= w.memoryBytes;
  }

 private:
  const sim::ClusterSpec& cluster_;
  sim::Simulation sim_;
  size_t n_;
  std::map<std::string, size_t> index_;
  std::vector<std::vector<double>> history_;
  std::vector<double> slotUtil_;
  std::vector<sim::NodeCounters> before_;
  std::vector<std::vector<telemetry::Sample>> recent_;  // the last slot's steps per node
  std::vector<placement::Resources> requested_;
  int slotSteps_ = 0;
  std::map<std::string, Tracked> tracked_, finished_;
  std::vector<std::string> released_;
  bool measuring_ = false;
  double imbalance_ = 0;
  int imbalanceSlots_ = 0;
};

// The same background in every run: trace VMs on random nodes until the mean node CPU reaches
// the utilisation (vCPU overcommit up to 4:1 and 80 % of memory, as simulateOutcomes fills).
Status fill(World& w, const sim::TraceSet& traces, const std::vector<std::string>& ids,
            const std::vector<std::string>& classes, double utilisation, uint64_t seed,
            double& reached) {
  std::mt19937_64 rng(seed ^ 0x5eedf111ULL);
  const size_t n = w.nodes();
  std::vector<double> vcpus(n, 0), memory(n, 0);
  for (size_t i = 0; i < n; ++i)
    memory[i] = w.spec(i).background.memory * w.spec(i).memoryBytes;
  const auto meanUtil = [&] {
    double u = 0;
    for (const auto& node : w.sim().nodes())
      u += node.cpuUtilization;
    return u / static_cast<double>(n);
  };
  w.sim().step(Dt);
  size_t serial = 0;
  for (int attempt = 0; meanUtil() < utilisation && attempt < 300; ++attempt) {
    for (int k = 0; k < 10; ++k) {
      auto vm = traceVm(traces, ids, classes, rng, "bg/" + std::to_string(serial++));
      const size_t node = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      const auto& spec = w.spec(node);
      if (vcpus[node] + vm.vcpus > 3.2 * spec.cpuCores ||
          memory[node] + vm.memoryBytes > 0.8 * spec.memoryBytes)
        continue;
      UMBRA_CHECK(w.add(vm, node));
      vcpus[node] += vm.vcpus;
      memory[node] += vm.memoryBytes;
    }
    w.sim().step(Dt);
  }
  reached = meanUtil();
  if (reached < 0.8 * utilisation)
    return Error::config("placement bench: the cluster holds only " +
                         std::to_string(static_cast<int>(100 * reached)) +
                         " % utilisation of the " +
                         std::to_string(static_cast<int>(100 * utilisation)) + " % asked for");
  return okStatus();
}

struct Choice {
  size_t node = 0;
  double waitedSeconds = 0;                              // simulated time from arrival to placement
  double shadowCpuSeconds = 0, shadowMemorySeconds = 0;  // cores x s, bytes x s
  int extensions = 0;
};

// The oracle: each feasible node's future with the VM on it, simulated alone (the node's physics
// depend only on what runs on it), over the lookahead; the lowest mean steal wins.
size_t oracleChoice(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                    uint64_t seed, const sim::WorkloadSpec& vm,
                    const std::vector<placement::Verdict>& verdicts, double lookahead) {
  size_t best = w.indexOf(verdicts.front().node);
  double bestSteal = 1e9;
  const double now = w.sim().demandTime();
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    sim::ClusterSpec one = cluster;
    one.nodes = {cluster.nodes[i]};
    sim::Simulation future(one, seed, &traces);
    for (const auto& [id, state] : w.sim().workloads()) {
      if (state.node == v.node)
        (void)future.addWorkload(state.spec, v.node);
    }
    if (!future.addWorkload(vm, v.node).ok())
      continue;
    future.step(1e-6, now / 1e-6);  // align the demand clock with the cluster's
    sim::WorkloadCounters last = future.workload(vm.id)->counters;
    double steal = 0;
    int steps = 0;
    for (double t = 0; t < lookahead; t += Dt) {
      future.step(Dt);
      const auto& c = future.workload(vm.id)->counters;
      steal += stealOf(last, c);
      last = c;
      ++steps;
    }
    steal /= std::max(1, steps);
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

// Forecast only: the operator's forecaster on node history and node-level telemetry (the node's
// CPU pressure in place of a shadow's steal), every feasible node, no shadows.
placement::Decision forecastOnlyRanking(World& w, ModelForecaster& forecaster,
                                        const sim::WorkloadSpec& vm,
                                        const std::vector<placement::Verdict>& verdicts) {
  std::vector<placement::CandidateForecast> forecasts;
  for (const auto& v : verdicts) {
    if (!v.feasible)
      continue;
    const size_t i = w.indexOf(v.node);
    telemetry::CandidateTelemetry c;
    c.node = v.node;
    c.samples = w.recent(i);
    c.nodeCpuCores = w.spec(i).cpuCores;
    c.nodeMemoryBytes = w.spec(i).memoryBytes;
    auto f = forecaster.forecast(c, {vm.vcpus, vm.memoryBytes, vm.id});
    if (f.ok())
      forecasts.push_back({v.node, f->p50, f->confidence});
  }
  forecaster.forget(vm.id);
  return placement::decide(forecasts, {});
}

// Umbra: a throttled idle shadow on each candidate, observed (the cluster runs on meanwhile),
// forecast, extended while unsure.
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
  const double shadowMemory = std::max(o.shadowMemoryFraction * vm.memoryBytes, 0.25 * GiB);
  for (const auto& name : candidates) {
    sim::WorkloadSpec shadow;
    shadow.id = vm.id + "-shadow-" + name;
    shadow.vcpus = vm.vcpus;
    shadow.cpuLimit = shadowCpu;
    shadow.memoryBytes = shadowMemory;
    shadow.source.kind = sim::SourceKind::Idle;
    const size_t i = w.indexOf(name);
    UMBRA_CHECK(w.add(shadow, i));
    probes.push_back({i, shadow.id, w.sim().workload(shadow.id)->counters, {}});
  }
  placement::Decision decision;
  for (int round = 0;; ++round) {
    for (double t = 0; t < o.observeSeconds - 1e-9; t += Dt) {
      w.step();
      for (auto& p : probes) {
        const auto& c = w.sim().workload(p.id)->counters;
        telemetry::Sample s = w.recent(p.node).back();
        s.cpuSteal = stealOf(p.last, c);
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
        forecasts.push_back({c.node, f->p50, f->confidence});
    }
    decision = placement::decide(forecasts, {});
    if (decision.minConfidence >= o.minConfidence || round >= o.maxExtensions)
      break;
    ++choice.extensions;
  }
  forecaster.forget(vm.id);
  for (const auto& p : probes) {
    w.sim().removeWorkload(p.id);
    sim::WorkloadSpec s;
    s.vcpus = vm.vcpus;
    s.memoryBytes = shadowMemory;
    w.release(p.node, s);
  }
  const double n = static_cast<double>(probes.size());
  choice.shadowCpuSeconds = n * shadowCpu * choice.waitedSeconds;
  choice.shadowMemorySeconds = n * shadowMemory * choice.waitedSeconds;
  choice.node = decision.selected.empty() ? probes.front().node : w.indexOf(decision.selected);
  return choice;
}

}  // namespace

Result<PlacementBenchReport> runPlacementBench(
    const sim::ClusterSpec& clusterIn, const sim::TraceSet& traces,
    const std::shared_ptr<const ForecastModels>& models, const PlacementBenchOptions& o,
    const std::function<void(const std::string&)>& progress) {
  if (clusterIn.nodes.empty())
    return Error::config("placement bench: the cluster has no nodes");
  if (o.arrivalEverySeconds < o.observeSeconds * (1 + o.maxExtensions))
    return Error::config(
        "placement bench: arrivals must be further apart than Umbra's longest "
        "observation");
  sim::ClusterSpec cluster = clusterIn;
  if (!o.interference)
    cluster.physics.interference = 0;
  const std::vector<std::string> ids = traces.ids();
  if (ids.empty())
    return Error::config("placement bench: no traces");
  std::vector<std::string> classes;
  for (const auto& [name, cls] : cluster.physics.classes)
    classes.push_back(name);
  // The arrivals, the same for every placer.
  std::vector<sim::WorkloadSpec> arrivals;
  {
    std::mt19937_64 rng(o.seed ^ 0xa77171a1ULL);
    for (size_t i = 0; i < o.arrivals; ++i)
      arrivals.push_back(traceVm(traces, ids, classes, rng, "vm/" + std::to_string(i)));
  }
  PlacementBenchReport report;
  report.interference = o.interference;
  // "umbra" probes the operator's candidates (the top by its static, request-based score);
  // "umbra-preranked" probes the top of the forecast-only ranking instead (a proposed change).
  const std::vector<std::string> placers = {"requests", "load-aware",      "forecast-only",
                                            "umbra",    "umbra-preranked", "oracle"};
  for (const auto& placer : placers) {
    World w(cluster, traces, o.seed);
    UMBRA_CHECK(fill(w, traces, ids, classes, o.utilisation, o.seed, report.utilisation));
    w.stepFor(26 * 3600);  // a day of node history, and some
    ModelForecaster forecaster(models, [&w](const std::string& node, SystemTime) {
      return Result<std::vector<double>>(w.history(w.indexOf(node)));
    });
    w.startMeasuring();
    PlacerResult r;
    r.placer = placer;
    double shadowCpu = 0, shadowMemory = 0, allocatedCpu = 0, allocatedMemory = 0, waited = 0;
    int extensions = 0;
    double compute = 0;
    std::map<std::string, std::string> nodeOf;
    const double start = w.sim().elapsed();
    for (size_t i = 0; i < arrivals.size(); ++i) {
      const double at = start + static_cast<double>(i) * o.arrivalEverySeconds;
      w.stepFor(at - w.sim().elapsed());
      const auto& vm = arrivals[i];
      const auto verdicts = w.classify(vm);
      if (verdicts.empty() || !verdicts.front().feasible)
        return Error::config("placement bench: no node has room for " + vm.id);
      const auto t0 = std::chrono::steady_clock::now();
      Choice c;
      if (placer == "requests") {
        c.node = w.indexOf(verdicts.front().node);
      } else if (placer == "load-aware") {
        c.node = loadAwareChoice(w, vm, verdicts, o.targetLoad);
      } else if (placer == "forecast-only") {
        const auto d = forecastOnlyRanking(w, forecaster, vm, verdicts);
        c.node = w.indexOf(d.selected.empty() ? verdicts.front().node : d.selected);
      } else if (placer == "umbra") {
        UMBRA_TRY(
            c, umbraChoice(w, forecaster, vm, placement::topCandidates(verdicts, o.candidates), o));
      } else if (placer == "umbra-preranked") {
        std::vector<std::string> top;
        for (const auto& r : forecastOnlyRanking(w, forecaster, vm, verdicts).ranked) {
          if (static_cast<int>(top.size()) < o.candidates)
            top.push_back(r.node);
        }
        if (top.empty())
          top = placement::topCandidates(verdicts, o.candidates);
        UMBRA_TRY(c, umbraChoice(w, forecaster, vm, top, o));
      } else {
        c.node = oracleChoice(w, cluster, traces, o.seed, vm, verdicts, o.oracleLookaheadSeconds);
      }
      compute += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      UMBRA_CHECK(w.place(vm, c.node, o.lifetimeSeconds));
      nodeOf[vm.id] = w.spec(c.node).name;
      shadowCpu += c.shadowCpuSeconds;
      shadowMemory += c.shadowMemorySeconds;
      allocatedCpu += vm.vcpus * o.lifetimeSeconds;
      allocatedMemory += vm.memoryBytes * o.lifetimeSeconds;
      waited += c.waitedSeconds;
      extensions += c.extensions;
    }
    while (!w.allFinished())
      w.step();
    std::vector<double> all;
    for (const auto& vm : arrivals) {
      const Tracked& t = w.finished().at(vm.id);
      PlacedVm p;
      p.id = vm.id;
      p.node = nodeOf[vm.id];
      p.vcpus = vm.vcpus;
      p.memoryBytes = vm.memoryBytes;
      double sum = 0;
      for (const double s : t.slotSteal) {
        sum += s;
        all.push_back(s);
        p.minutesOverSlo += s > o.sloSteal ? Slot / 60 : 0;
      }
      p.meanSteal = t.slotSteal.empty() ? 0 : sum / static_cast<double>(t.slotSteal.size());
      p.p95Steal = percentileOf(t.slotSteal, 0.95);
      p.p95IoWait = percentileOf(t.slotIo, 0.95);
      r.meanP95Steal += p.p95Steal;
      r.meanSteal += p.meanSteal;
      r.minutesOverSlo += p.minutesOverSlo;
      r.p95IoWait += p.p95IoWait;
      r.vms.push_back(std::move(p));
    }
    const double n = static_cast<double>(std::max<size_t>(1, arrivals.size()));
    r.meanP95Steal /= n;
    r.meanSteal /= n;
    r.p95IoWait /= n;
    r.p95AllSteal = percentileOf(all, 0.95);
    r.imbalance = w.imbalance();
    r.shadowCpuShare = allocatedCpu > 0 ? shadowCpu / allocatedCpu : 0;
    r.shadowMemoryShare = allocatedMemory > 0 ? shadowMemory / allocatedMemory : 0;
    r.decisionSeconds = waited / n;
    r.computeSeconds = compute / n;
    r.extensions = extensions / n;
    if (progress)
      progress(placer);
    report.placers.push_back(std::move(r));
  }
  return report;
}

}  // namespace umbra::model
