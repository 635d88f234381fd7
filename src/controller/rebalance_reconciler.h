#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "controller/pass_gate.h"
#include "controller/rebalance_plan.h"
#include "kube/client.h"
#include "kube/store.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

struct RebalanceCaches {
  const kube::Store& policies;  // RebalancePolicies
  const kube::Store& vms;
  const kube::Store& vmis;
  const kube::Store& migrations;
  const kube::Store& nodes;
  const kube::Store& pdbs;  // policy/v1 PodDisruptionBudgets
};

// One range query's answer: per series, the value of `label` (the node or the VMI) and its points
// (unix milliseconds, value; time-ordered). Errors name the query.
using RangeSeries = std::vector<std::pair<std::string, std::vector<std::pair<int64_t, double>>>>;
using RangeQuery =
    std::function<Result<RangeSeries>(const std::string& promql, const std::string& label,
                                      SystemTime start, SystemTime end, std::chrono::seconds step)>;

// What Prometheus and the forecast engine said in a pass, kept for the policy's interval: the
// passes its own writes and the cluster's changes cause in between reuse it.
struct RebalanceTelemetry {
  SteadyTime at{};
  int64_t generation = 0;
  std::string problem;  // why there is none ("" if there is)
  struct HostReading {
    double utilisation = 0, sustained = 0, forecast = 0, forecastP90 = 0, interference = -1;
  };
  std::map<std::string, HostReading> hosts;              // by node
  std::map<std::string, std::pair<double, double>> vms;  // by VM: cores now, forecast p90
};

struct RebalanceDeps {
  kube::KubeClient& client;
  RebalanceCaches caches;
  RangeQuery range;
  std::chrono::seconds rateWindow{std::chrono::minutes(1)};
  std::string nodeLabel = "node";  // the label node-exporter's series carry the node name in
  runtime::EventRecorder& events;
  const Clock& clock;
};

// The watch-to-key mapper: a VM or VMI its selector matches, a migration or companion it labelled
// (umbra.io/rebalance-policy), a PodDisruptionBudget in its namespace concern a policy.
std::vector<std::string> policiesOfObject(const kube::Json& object, const kube::Store& policies);

// The hosts' and VMs' CPU as PromQL (node-exporter's idle time; KubeVirt's per-VMI CPU time).
std::string hostUtilisationQuery(const std::string& nodeLabel, std::chrono::seconds rateWindow);
std::string vmCpuQuery(const std::string& ns, std::chrono::seconds rateWindow);
// What a companion's probe loses to its co-runners (docs/simulation.md, "The probe"), by node.
std::string probeLossQuery(const std::string& ns, std::chrono::seconds rateWindow);

// Reconciles one RebalancePolicy: observe -> plan -> execute, the shape of the other controllers:
//   observe  the policy (typed spec and status), the VMs it selects and their VMIs (migratable,
//            eviction strategy, disruption budgets, last migration), the migrations, its
//            companions, and every schedulable host's CPU utilisation: the last minute, the mean
//            over the sustained window and the forecast engine's p50/p90 over the horizon
//            (RebalanceWorld);
//   plan     planRebalance(), no I/O (rebalance_plan.h);
//   execute  the writes in order, each idempotent (AlreadyExists on a migration or companion made
//            before a restart is success; NotFound on a deletion too).
// Migrations and companions are owned by the policy: deleting it deletes them (garbage
// collection); a migration in flight is KubeVirt's to finish.
class RebalancePolicyReconciler {
 public:
  explicit RebalancePolicyReconciler(RebalanceDeps deps) : d_(std::move(deps)) {}
  Result<runtime::Action> reconcile(const std::string& key);

  static RebalanceInput input(const kube::Json& policy);
  Result<RebalanceWorld> observe(const RebalanceInput& in);

 private:
  Status execute(const RebalanceInput& in, const RebalancePlan& plan,
                 std::vector<std::string>& replaced);
  void readHosts(const RebalanceInput& in, RebalanceWorld& w);
  std::shared_ptr<const RebalanceTelemetry> telemetry(const RebalanceInput& in,
                                                      const RebalanceWorld& w);

  RebalanceDeps d_;
  // At most one pass every two seconds: the changes a pass's own writes cause (its migrations
  // moving through their phases) are folded into the next one.
  PassGate gate_{std::chrono::seconds(2)};
  std::mutex mutex_;  // guards telemetry_ and started_
  std::map<std::string, std::shared_ptr<const RebalanceTelemetry>> telemetry_;  // by policy
  // Migrations this process created that the cache may not show yet ("ns/vm" -> name, when):
  // counted in flight, so that a pass right after a create never starts a second one.
  std::map<std::string, std::pair<std::string, SteadyTime>> started_;
};

}  // namespace umbra::controller
