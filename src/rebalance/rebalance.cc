#include "rebalance/rebalance.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

namespace umbra::rebalance {

namespace {

// The budget as moves are planned: what is in flight plus what this cycle adds.
class Ledger {
 public:
  Ledger(const Budget& budget, const InFlight& inFlight)
      : budget_(budget), cluster_(inFlight.cluster) {
    for (const auto& [ns, n] : inFlight.perNamespace)
      namespaces_[ns] += n;
    for (const auto& [host, n] : inFlight.outboundPerHost)
      outbound_[host] += n;
  }
  bool clusterFull() const { return cluster_ >= budget_.cluster; }
  bool hostFull(const std::string& host) const {
    return count(outbound_, host) >= budget_.outboundPerHost;
  }
  // The VM may move now: live-migratable, its eviction strategy and disruption budget allow it,
  // not moving, past its interval, its namespace and host under their budgets.
  bool eligible(const Vm& vm, double now) const {
    return vm.migratable && vm.evictionStrategy != "None" && vm.evictionStrategy != "External" &&
           vm.disruptionAllowed && !vm.moving &&
           now - vm.lastMovedAt >= budget_.minIntervalSeconds &&
           count(namespaces_, vm.ns) < budget_.perNamespace && !hostFull(vm.host) && !clusterFull();
  }
  void take(const Vm& vm) {
    ++cluster_;
    ++namespaces_[vm.ns];
    ++outbound_[vm.host];
  }

 private:
  static int count(const std::map<std::string, int>& m, const std::string& key) {
    const auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
  }
  Budget budget_;
  int cluster_;
  std::map<std::string, int> namespaces_, outbound_;
};

std::string percent(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100 * v);
  return buf;
}

// A VM's (or companion's) requests, as KubeVirt makes them, added to a host (`sign` -1: taken off).
void addRequests(Host& h, double vcpus, double memoryBytes, double sign = 1) {
  h.requestedCpu += sign * vcpus / CpuAllocationRatio;
  h.requestedMemory += sign * memoryBytes;
}

void account(Host& from, Host& to, const Vm& vm, double load) {
  addRequests(from, vm.vcpus, vm.memoryBytes, -1);
  addRequests(to, vm.vcpus, vm.memoryBytes);
  const double fromShare = load / std::max(1e-9, from.cores);
  const double toShare = load / std::max(1e-9, to.cores);
  for (double* v : {&from.utilisation, &from.sustained, &from.forecast, &from.forecastP90})
    *v = std::max(0.0, *v - fromShare);
  for (double* v : {&to.utilisation, &to.sustained, &to.forecast, &to.forecastP90})
    *v += toShare;
}

// kube-scheduler's choice for a VM leaving `from`: feasible by requests, soft-tainted (`avoid`)
// nodes only when nothing else fits, least allocated by requests (CPU and memory averaged).
int schedulerPick(const std::vector<Host>& hosts, const Vm& vm, const std::string& from,
                  const std::vector<bool>& avoid) {
  int best = -1;
  double bestScore = -1;
  bool bestAvoided = true;
  for (size_t i = 0; i < hosts.size(); ++i) {
    const Host& h = hosts[i];
    if (h.name == from || !h.schedulable || !fits(h, vm))
      continue;
    const double cpuFree = 1 - (h.requestedCpu + vm.vcpus / CpuAllocationRatio) / h.cores;
    const double memFree = 1 - (h.requestedMemory + vm.memoryBytes) / h.memoryBytes;
    const double score = (cpuFree + memFree) / 2;
    const bool avoided = avoid[i];
    if (best < 0 || (bestAvoided && !avoided) || (avoided == bestAvoided && score > bestScore)) {
      best = static_cast<int>(i);
      bestScore = score;
      bestAvoided = avoided;
    }
  }
  return best;
}

}  // namespace

bool fits(const Host& host, const Vm& vm) {
  return host.requestedCpu + vm.vcpus / CpuAllocationRatio <= host.cores + 1e-9 &&
         host.requestedMemory + vm.memoryBytes <= host.memoryBytes + 1e-9;
}

std::vector<Move> planUmbra(std::vector<Host> hosts, const std::vector<Vm>& vms,
                            const UmbraOptions& options, const Budget& budget,
                            const InFlight& inFlight, double now) {
  Ledger ledger(budget, inFlight);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < hosts.size(); ++i)
    index[hosts[i].name] = i;
  for (const Move& m : inFlight.moves) {
    const auto from = index.find(m.from), to = index.find(m.to);
    if (from == index.end() || to == index.end())
      continue;
    // The forecasts, and the target pod's requests on the destination: the telemetry (sustained)
    // and the source's requests still show the VM where it runs.
    Host& src = hosts[from->second];
    Host& dst = hosts[to->second];
    const double fromShare = m.relief / std::max(1e-9, src.cores);
    const double toShare = m.relief / std::max(1e-9, dst.cores);
    src.forecast = std::max(0.0, src.forecast - fromShare);
    src.forecastP90 = std::max(0.0, src.forecastP90 - fromShare);
    dst.forecast += toShare;
    dst.forecastP90 += toShare;
    for (const Vm& vm : vms) {
      if (vm.id == m.vm)
        addRequests(dst, vm.vcpus, vm.memoryBytes);
    }
  }
  const auto overloaded = [&](const Host& h) {
    return h.sustained >= options.target && h.forecast >= options.target;
  };
  std::vector<size_t> order;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (overloaded(hosts[i]))
      order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return hosts[a].forecast > hosts[b].forecast; });
  std::vector<Move> moves;
  std::vector<bool> moved(vms.size(), false);
  for (const size_t s : order) {
    while (!ledger.clusterFull() && !ledger.hostFull(hosts[s].name) && overloaded(hosts[s])) {
      Host& src = hosts[s];
      const double excess = (src.forecast - options.target) * src.cores;
      // The VM that brings the host back with the least memory copied; else the busiest.
      int pick = -1;
      bool pickEnough = false;
      for (size_t v = 0; v < vms.size(); ++v) {
        const Vm& vm = vms[v];
        if (moved[v] || vm.host != src.name || !ledger.eligible(vm, now) || vm.usageP90 <= 0)
          continue;
        const bool enough = vm.usageP90 >= excess;
        if (pick < 0) {
          pick = static_cast<int>(v), pickEnough = enough;
          continue;
        }
        const Vm& cur = vms[static_cast<size_t>(pick)];
        const bool better = enough != pickEnough ? enough
                            : enough             ? vm.memoryBytes < cur.memoryBytes
                                                 : vm.usageP90 > cur.usageP90;
        if (better)
          pick = static_cast<int>(v), pickEnough = enough;
      }
      if (pick < 0)
        break;
      const Vm& vm = vms[static_cast<size_t>(pick)];
      moved[static_cast<size_t>(pick)] = true;  // considered once per cycle, moved or not
      // The destination: lowest forecast p90 with the VM, interference counted, under the target
      // less the headroom.
      int dest = -1;
      double destScore = std::numeric_limits<double>::infinity();
      double destWith = 0;
      for (size_t d = 0; d < hosts.size(); ++d) {
        const Host& h = hosts[d];
        if (d == s || !h.schedulable || !fits(h, vm) || overloaded(h))
          continue;
        const double with = h.forecastP90 + vm.usageP90 / h.cores;
        if (with > options.target - options.headroom)
          continue;
        const double score = with + options.interferenceWeight * std::max(0.0, h.interference);
        if (score < destScore)
          dest = static_cast<int>(d), destScore = score, destWith = with;
      }
      if (dest < 0)
        continue;  // no host takes this one; try the next VM
      Host& dst = hosts[static_cast<size_t>(dest)];
      Move m;
      m.vm = vm.id;
      m.from = src.name;
      m.to = dst.name;
      m.relief = vm.usageP90;
      m.reason = src.name + " at " + percent(src.sustained) + " sustained, forecast " +
                 percent(src.forecast) + " (target " + percent(options.target) + "); " + vm.id +
                 " uses " +
                 [&] {
                   char buf[32];
                   std::snprintf(buf, sizeof buf, "%.2f", vm.usageP90);
                   return std::string(buf);
                 }() +
                 " cores (p90); " + dst.name + " forecast " + percent(destWith) + " with it" +
                 (dst.interference >= 0 ? ", probe interference " + percent(dst.interference)
                                        : std::string());
      moves.push_back(m);
      ledger.take(vm);
      account(src, dst, vm, vm.usageP90);
    }
  }
  return moves;
}

std::vector<Move> planCompanions(std::vector<Host> hosts, const std::vector<Companion>& companions,
                                 const UmbraOptions& options, const Budget& budget, double now,
                                 int perCycle) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < hosts.size(); ++i)
    index[hosts[i].name] = i;
  const double nearing = options.target - options.headroom / 2;
  std::vector<Move> moves;
  for (const Companion& c : companions) {
    if (static_cast<int>(moves.size()) >= perCycle)
      break;
    const auto at = index.find(c.host);
    if (at == index.end())
      continue;
    const bool beside = c.host == c.vmHost;
    const bool hot = hosts[at->second].forecastP90 >= nearing;
    if (!beside && (!hot || now - c.lastMovedAt < budget.minIntervalSeconds))
      continue;
    Vm asVm;
    asVm.vcpus = c.vcpus;
    asVm.memoryBytes = c.memoryBytes;
    int best = -1;
    for (size_t i = 0; i < hosts.size(); ++i) {
      const Host& h = hosts[i];
      if (h.name == c.vmHost || h.name == c.host || !h.schedulable || !fits(h, asVm) ||
          h.forecastP90 >= nearing)
        continue;
      if (best < 0 || h.forecastP90 < hosts[static_cast<size_t>(best)].forecastP90)
        best = static_cast<int>(i);
    }
    if (best < 0)
      continue;
    Host& to = hosts[static_cast<size_t>(best)];
    moves.push_back({c.id, c.host, to.name,
                     beside ? "its VM landed on " + c.host
                            : c.host + " nearing capacity (forecast p90 " +
                                  percent(hosts[at->second].forecastP90) + ")",
                     0});
    addRequests(to, c.vcpus, c.memoryBytes);
  }
  return moves;
}

std::vector<Move> planRelieveAndMigrate(const std::vector<Host>& input, const std::vector<Vm>& vms,
                                        const RelieveOptions& options, const Budget& budget,
                                        const InFlight& inFlight, double now) {
  std::vector<Host> hosts = input;
  Ledger ledger(budget, inFlight);
  // PrometheusCPUCombined: utilisation and pressure combined (the larger of the two here).
  std::vector<double> load(hosts.size());
  double mean = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    load[i] = std::max(hosts[i].utilisation, hosts[i].pressure);
    mean += load[i];
  }
  mean /= std::max<size_t>(1, hosts.size());
  std::vector<bool> over(hosts.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < hosts.size(); ++i) {
    over[i] = load[i] > mean + options.overDeviation;
    if (over[i])
      order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return load[a] > load[b]; });
  std::vector<Move> moves;
  for (const size_t s : order) {
    if (ledger.clusterFull())
      break;
    // One VM per overutilised node per cycle: the busiest one that may go.
    int pick = -1;
    for (size_t v = 0; v < vms.size(); ++v) {
      const Vm& vm = vms[v];
      if (vm.host != hosts[s].name || !ledger.eligible(vm, now))
        continue;
      if (pick < 0 || vm.usage > vms[static_cast<size_t>(pick)].usage)
        pick = static_cast<int>(v);
    }
    if (pick < 0)
      continue;
    const Vm& vm = vms[static_cast<size_t>(pick)];
    const int dest = schedulerPick(hosts, vm, hosts[s].name, over);
    if (dest < 0)
      continue;
    Move m{vm.id, hosts[s].name, hosts[static_cast<size_t>(dest)].name,
           hosts[s].name + " at " + percent(load[s]) + " (cluster mean " + percent(mean) + ")",
           vm.usage};
    moves.push_back(m);
    ledger.take(vm);
    account(hosts[s], hosts[static_cast<size_t>(dest)], vm, vm.usage);
  }
  return moves;
}

std::vector<Move> planLowNodeUtilization(const std::vector<Host>& input, const std::vector<Vm>& vms,
                                         const LowNodeOptions& options, const Budget& budget,
                                         const InFlight& inFlight, double now) {
  std::vector<Host> hosts = input;
  Ledger ledger(budget, inFlight);
  const auto requested = [](const Host& h) { return h.requestedCpu / std::max(1e-9, h.cores); };
  bool anyUnder = false;
  std::vector<bool> over(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    over[i] = requested(hosts[i]) > options.targetThreshold;
    anyUnder = anyUnder || requested(hosts[i]) < options.threshold;
  }
  std::vector<Move> moves;
  if (!anyUnder)
    return moves;  // the strategy evicts only when some node is underutilised
  for (size_t s = 0; s < hosts.size() && !ledger.clusterFull(); ++s) {
    if (!over[s])
      continue;
    for (size_t v = 0; v < vms.size(); ++v) {
      const Vm& vm = vms[v];
      if (vm.host != hosts[s].name || !ledger.eligible(vm, now) ||
          requested(hosts[s]) <= options.targetThreshold)
        continue;
      const int dest = schedulerPick(hosts, vm, hosts[s].name, over);
      if (dest < 0)
        continue;
      moves.push_back({vm.id, hosts[s].name, hosts[static_cast<size_t>(dest)].name,
                       hosts[s].name + " requests " + percent(requested(hosts[s])), vm.usage});
      ledger.take(vm);
      account(hosts[s], hosts[static_cast<size_t>(dest)], vm, vm.usage);
    }
  }
  return moves;
}

}  // namespace umbra::rebalance
