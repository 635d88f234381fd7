#pragma once

// Rebalancing placed VMs by real load (issue 23), pure: what the operator's rebalancing
// controller and `umbra bench rebalance` decide with. A cycle's snapshot of hosts and VMs in, the
// live migrations to start out. The peers it is benchmarked against live here too, so that the
// benchmark runs them on exactly the snapshot Umbra gets.
#include <string>
#include <vector>

namespace umbra::rebalance {

struct Host {
  std::string name;
  double cores = 0, memoryBytes = 0;  // allocatable
  // Requests of what runs there (the scheduler's view).
  double requestedCpu = 0, requestedMemory = 0;
  // CPU utilisation in [0, 1]: the last minute's mean (what the descheduler's PromQL averages),
  // the mean over the sustained window, and the forecast's p50 and p90 of the highest 5-minute
  // mean over the horizon.
  double utilisation = 0, sustained = 0, forecast = 0, forecastP90 = 0;
  // CPU pressure (PSI some, waiting share) over the last minute.
  double pressure = 0;
  // Throughput a probe on this host loses to co-runners (a companion or placement shadow's
  // probe_loss); < 0: no probe there.
  double interference = -1;
  bool schedulable = true;
};

struct Vm {
  std::string id, ns, host;
  double vcpus = 1, memoryBytes = 0;
  double usage = 0;  // cores, the last minute
  // Cores to plan with: the highest p90 step of its forecast over the horizon (Umbra), or the 90th
  // percentile of the last hour's minutes.
  double usageP90 = 0;
  bool migratable = true;
  // Its spec.evictionStrategy ("" for the cluster's default). "None" (its owner would rather it
  // stopped than moved) and "External" (another controller handles its moves) keep it in place.
  std::string evictionStrategy;
  // False while a PodDisruptionBudget covering its virt-launcher pod allows no disruption.
  bool disruptionAllowed = true;
  bool moving = false;          // a migration of it is in flight
  double lastMovedAt = -1e300;  // seconds, on the caller's clock
};

struct Budget {
  int cluster = 5;  // KubeVirt's parallelMigrationsPerCluster default
  int perNamespace = 2;
  int outboundPerHost = 2;           // KubeVirt's parallelOutboundMigrationsPerNode default
  double minIntervalSeconds = 3600;  // a VM is not moved again sooner (anti-flapping)
};

struct Move {
  std::string vm, from, to;
  // The evidence, for the Event: the source's sustained and forecast utilisation, the VM's load
  // and the destination's forecast with it.
  std::string reason;
  double relief = 0;  // cores taken off the source (the VM's p90 usage)
};

// What is already in flight when the cycle plans.
struct InFlight {
  int cluster = 0;
  std::vector<std::pair<std::string, int>> perNamespace, outboundPerHost;
  // Umbra counts its own unfinished moves as done: their load is taken off the source's forecast
  // and put on the destination's, so that consecutive cycles do not pile VMs onto one host.
  std::vector<Move> moves;
};

struct UmbraOptions {
  // A host is overloaded when both its mean over the sustained window and its forecast p50 over
  // the horizon reach this: a surge the telemetry shows *and* the forecast expects to last, not a
  // spike.
  double target = 0.8;
  // A destination takes a VM only if its forecast p90 with the VM's p90 stays this far below the
  // target (so the move does not make the next overloaded host).
  double headroom = 0.1;
  // A probe's interference reading counts as this much utilisation when destinations are ranked
  // (a host whose co-runners slow a probe is worse than its CPU shows).
  double interferenceWeight = 1.0;
};

// The requests-based feasibility every rebalancer shares: the VM's requests (vCPUs / 10, the
// guest memory) fit the host's allocatable next to what is requested there.
bool fits(const Host& host, const Vm& vm);
inline constexpr double CpuAllocationRatio = 10;

// Umbra: overloaded hosts (sustained and forecast), hottest first; on each, the VM whose move
// takes the host back to the target with the least memory copied (else the busiest), to the
// destination whose forecast with it is lowest, interference counted; within the budget, never a
// VM moved within its minimum interval or not live-migratable.
std::vector<Move> planUmbra(std::vector<Host> hosts, const std::vector<Vm>& vms,
                            const UmbraOptions& options, const Budget& budget,
                            const InFlight& inFlight, double now);

// Companion shadows' hosts. A companion lives on another host than its VM, on one with spare
// capacity; when its host nears capacity (forecast p90 at target - headroom / 2 or above) or its
// VM lands beside it, it is re-created on the host with the lowest forecast p90 that is not its
// VM's (a probe holds no state, so re-creation is as good as a live migration and costs no
// memory copy and no migration slot). At most `perCycle` a cycle, each companion at most once per
// the budget's minimum interval unless its VM landed beside it.
struct Companion {
  std::string id, vmHost, host;
  double vcpus = 1, memoryBytes = 0;  // its requests are vCPUs / 10 and its guest memory
  double lastMovedAt = -1e300;
};
std::vector<Move> planCompanions(std::vector<Host> hosts, const std::vector<Companion>& companions,
                                 const UmbraOptions& options, const Budget& budget, double now,
                                 int perCycle = 10);

// OpenShift's KubeVirtRelieveAndMigrate profile as documented: LowNodeUtilization on actual
// utilisation (the last minute's CPU and pressure combined), deviation thresholds around the
// cluster mean (overutilised above mean + `overDeviation`, AsymmetricLow's 10 %); one VM evicted
// per overutilised node per cycle (the busiest, the strongest choice the profile could make); the
// destination is kube-scheduler's: feasible by requests, overutilised nodes soft-tainted, least
// allocated by requests.
struct RelieveOptions {
  double overDeviation = 0.10;
};
std::vector<Move> planRelieveAndMigrate(const std::vector<Host>& hosts, const std::vector<Vm>& vms,
                                        const RelieveOptions& options, const Budget& budget,
                                        const InFlight& inFlight, double now);

// The descheduler's classic LowNodeUtilization on requests: nodes above `targetThreshold` of
// allocatable CPU requested give VMs to nodes below `threshold`, the scheduler placing them.
struct LowNodeOptions {
  double threshold = 0.2, targetThreshold = 0.5;
};
std::vector<Move> planLowNodeUtilization(const std::vector<Host>& hosts, const std::vector<Vm>& vms,
                                         const LowNodeOptions& options, const Budget& budget,
                                         const InFlight& inFlight, double now);

}  // namespace umbra::rebalance
