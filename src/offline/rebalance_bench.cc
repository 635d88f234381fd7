// umbra bench rebalance: see rebalance_bench.h. One Run per rebalancer: the same VMs on the same
// nodes, warmed up without rebalancing, then a measured day with a plan every cycle.
#include "offline/rebalance_bench.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "model/series_forecast.h"
#include "offline/rebalance_bench_run.h"
#include "offline/sim_outcomes.h"

namespace umbra::offline {

namespace rebalance_detail {

const char* nameOf(Kind k) {
  switch (k) {
    case Kind::None: return "none";
    case Kind::LowNode: return "low-node-utilization";
    case Kind::Relieve: return "relieve-and-migrate";
    case Kind::Umbra: return "umbra";
    case Kind::Oracle: return "oracle";
  }
  return "?";
}

void clairvoyant(const sim::Simulation& now, int minutes, std::vector<rebalance::Host>& hosts,
                 std::vector<rebalance::Vm>& vms) {
  sim::Simulation ahead(now);
  const size_t n = hosts.size();
  std::vector<std::vector<double>> util(n), usage(vms.size());
  std::vector<sim::NodeCounters> before(n);
  std::vector<double> cpu(vms.size());
  for (int m = 0; m < minutes; ++m) {
    for (size_t i = 0; i < n; ++i)
      before[i] = ahead.node(hosts[i].name)->counters;
    for (size_t v = 0; v < vms.size(); ++v)
      cpu[v] = ahead.workload(vms[v].id)->counters.cpuRunning;
    ahead.step(60);
    for (size_t i = 0; i < n; ++i) {
      const auto& node = *ahead.node(hosts[i].name);
      util[i].push_back(std::clamp(
          1.0 - (node.counters.idle - before[i].idle) / (60 * std::max(1.0, node.spec.cpuCores)),
          0.0, 1.0));
    }
    for (size_t v = 0; v < vms.size(); ++v)
      usage[v].push_back((ahead.workload(vms[v].id)->counters.cpuRunning - cpu[v]) / 60);
  }
  for (size_t i = 0; i < n; ++i) {
    double highest = 0, sum = 0;
    for (size_t k = 0; k < util[i].size(); ++k) {
      sum += util[i][k];
      if ((k + 1) % 5 == 0) {
        double slot = 0;
        for (size_t j = k - 4; j <= k; ++j)
          slot += util[i][j];
        highest = std::max(highest, slot / 5);
      }
    }
    hosts[i].sustained = util[i].empty() ? 0 : sum / static_cast<double>(util[i].size());
    hosts[i].forecast = hosts[i].forecastP90 = highest;
    double interference = 0;
    int count = 0;
    for (const auto& [id, w] : now.workloads()) {
      if (w.node == hosts[i].name)
        interference += w.interference, ++count;
    }
    hosts[i].interference = count ? interference / count : 0;
  }
  for (size_t v = 0; v < vms.size(); ++v)
    vms[v].usageP90 = model::quantileOf(usage[v], 0.9);
}

void bottomUp(const std::vector<NodeTrack>& nodes, const std::vector<VmTrack>& vms,
              const std::vector<size_t>& vmNode, std::vector<rebalance::Host>& hosts) {
  std::vector<std::vector<double>> p50(nodes.size()), p90(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    const double cores = std::max(1.0, hosts[n].cores);
    p50[n] = nodes[n].p50;
    p90[n] = nodes[n].p90;
    for (size_t k = 0; k < p50[n].size(); ++k)
      p50[n][k] *= cores, p90[n][k] *= cores;
  }
  for (size_t i = 0; i < vms.size(); ++i) {
    const size_t n = vmNode[i];
    for (size_t k = 0; k < vms[i].p50.size() && k < p50[n].size(); ++k)
      p50[n][k] += vms[i].p50[k], p90[n][k] += vms[i].p90[k];
  }
  for (size_t n = 0; n < nodes.size(); ++n) {
    const double cores = std::max(1.0, hosts[n].cores);
    for (size_t k = 0; k < p50[n].size(); ++k) {
      hosts[n].forecast = std::max(hosts[n].forecast, p50[n][k] / cores);
      hosts[n].forecastP90 = std::max(hosts[n].forecastP90, p90[n][k] / cores);
    }
  }
}

void summarize(const std::vector<VmTrack>& vms, double sloSteal, RebalancerResult& r) {
  double p95Steal = 0, p95Slowdown = 0, sum = 0;
  size_t count = 0;
  for (const auto& v : vms) {
    for (const double s : v.minuteSteal) {
      if (s > sloSteal)
        r.vmMinutesOverSlo += 1;
      sum += s;
      ++count;
    }
    p95Steal += model::quantileOf(v.minuteSteal, 0.95);
    p95Slowdown += model::quantileOf(v.minuteSlowdown, 0.95);
  }
  const double n = std::max<double>(1, static_cast<double>(vms.size()));
  r.meanP95Steal = p95Steal / n;
  r.meanP95Slowdown = p95Slowdown / n;
  r.meanSteal = count ? sum / static_cast<double>(count) : 0;
  r.vmMinutes = static_cast<double>(count);
}

}  // namespace rebalance_detail

using namespace rebalance_detail;

namespace {

constexpr double Dt = 15;
// Room the fill leaves: vCPUs per core well under KubeVirt's cpuAllocationRatio of 10, and memory
// short of the whole node (the background's share counted).
constexpr double MaxVcpusPerCore = 6, MaxMemoryShare = 0.9;

struct Start {
  Placed vms;
  Placed companions;  // index-aligned with vms
  double reached = 0;
};

// VMs from random traces on random nodes (within MaxVcpusPerCore and MaxMemoryShare) until the
// mean node CPU reaches the utilisation: where a cluster's past placements left them.
Result<Start> fill(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                   const RebalanceBenchOptions& o) {
  Start start;
  const std::vector<std::string> ids = traces.ids();
  if (ids.empty())
    return Error::config("rebalance bench: no traces");
  const std::vector<std::string> classes = sim::classNames(cluster);
  std::mt19937_64 rng(o.seed ^ 0x7eba1a9ceULL);
  sim::Simulation s(cluster, o.seed, &traces);
  const size_t n = cluster.nodes.size();
  std::vector<double> vcpus(n, 0), memory(n, 0);
  for (size_t i = 0; i < n; ++i)
    memory[i] = cluster.nodes[i].background.memory * cluster.nodes[i].memoryBytes;
  const auto meanUtil = [&] { return s.meanCpuUtilization(); };
  s.step(Dt);
  size_t serial = 0;
  for (int attempt = 0; meanUtil() < o.utilisation && attempt < 2000; ++attempt) {
    for (int k = 0; k < 10; ++k) {
      auto vm = model::traceVm(traces, ids, classes, rng, "vm/" + std::to_string(serial++));
      const size_t node = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      const auto& spec = cluster.nodes[node];
      if (vcpus[node] + vm.vcpus > MaxVcpusPerCore * spec.cpuCores ||
          memory[node] + vm.memoryBytes > MaxMemoryShare * spec.memoryBytes)
        continue;
      UMBRA_CHECK(s.addWorkload(vm, spec.name));
      vcpus[node] += vm.vcpus;
      memory[node] += vm.memoryBytes;
      start.vms.emplace_back(vm, node);
    }
    s.step(Dt);
  }
  start.reached = meanUtil();
  if (start.reached < 0.8 * o.utilisation)
    return Error::config("rebalance bench: the cluster holds only " +
                         std::to_string(static_cast<int>(100 * start.reached)) + " % of the " +
                         std::to_string(static_cast<int>(100 * o.utilisation)) + " % asked for");
  // A companion per VM on another node, with its own random draw.
  for (const auto& [vm, node] : start.vms) {
    size_t other = std::uniform_int_distribution<size_t>(0, n - 2)(rng);
    if (other >= node)
      ++other;
    start.companions.emplace_back(
        model::shadowOf(vm, vm.id + "-companion", true, o.companionCpuShare, o.companionCpuShare),
        other);
  }
  return start;
}

}  // namespace

Result<RebalanceBenchReport> runRebalanceBench(
    const sim::ClusterSpec& cluster, const sim::TraceSet& traces, const RebalanceBenchOptions& o,
    const std::function<void(const std::string&)>& progress) {
  if (cluster.nodes.size() < 2)
    return Error::config("rebalance bench: the cluster needs at least two nodes");
  auto start = fill(cluster, traces, o);
  if (!start.ok())
    return start.error();
  RebalanceBenchReport report;
  report.utilisation = start->reached;
  report.vms = start->vms.size();
  report.nodes = cluster.nodes.size();
  // Every rebalancer on the same start; the KubeVirtRelieveAndMigrate-style one at each of the
  // profile's upper deviations and two descheduling intervals, so that the best of them is the
  // peer; Umbra also without its
  // companions (no probe evidence), to show what they add.
  struct Entry {
    Kind kind;
    std::string name;
    RebalanceBenchOptions options;
    bool companions = false;
  };
  std::vector<Entry> entries = {{Kind::None, nameOf(Kind::None), o},
                                {Kind::LowNode, nameOf(Kind::LowNode), o}};
  for (const double cycle : o.relieveCycles) {
    for (const double d : o.relieveDeviations) {
      Entry e{Kind::Relieve,
              std::string(nameOf(Kind::Relieve)) + "(" +
                  std::to_string(static_cast<int>(std::lround(100 * d))) + "%, " +
                  std::to_string(static_cast<int>(std::lround(cycle))) + "s)",
              o};
      e.options.relieve.overDeviation = d;
      e.options.cycleSeconds = cycle;
      entries.push_back(e);
    }
  }
  entries.push_back({Kind::Umbra, nameOf(Kind::Umbra), o, true});
  Entry blind{Kind::Umbra, "umbra-without-companions", o};
  blind.options.umbra.interferenceWeight = 0;
  entries.push_back(blind);
  entries.push_back({Kind::Oracle, nameOf(Kind::Oracle), o});
  const Placed none;
  for (const auto& e : entries) {
    if (progress)
      progress(e.name);
    auto r = runOne(cluster, traces, e.options, e.kind, start->vms,
                    e.companions ? start->companions : none);
    if (!r.ok())
      return r.error();
    r->rebalancer = e.name;
    report.rebalancers.push_back(std::move(*r));
  }
  return report;
}

}  // namespace umbra::offline
