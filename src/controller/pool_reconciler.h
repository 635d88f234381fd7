#pragma once

#include <functional>
#include <string>

#include "common/clock.h"
#include "controller/demand_cache.h"
#include "controller/pass_gate.h"
#include "controller/pool_plan.h"
#include "kube/client.h"
#include "kube/store.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

struct PoolCaches {
  const kube::Store& pools;  // ShadowPools
  const kube::Store& notices;
  const kube::Store& vms;
  const kube::Store& vmis;
  const kube::Store& nodes;
  const kube::Store* vmPools = nullptr;  // VirtualMachinePools; null: pool.kubevirt.io not served
};

struct PoolDeps {
  kube::KubeClient& client;
  PoolCaches caches;
  DemandCache& demand;
  // An instant PromQL query's value (the sum of its vector); an error names the query.
  std::function<Result<double>(const std::string& promql)> query;
  std::chrono::seconds rateWindow{std::chrono::minutes(1)};
  runtime::EventRecorder& events;
  const Clock& clock;
};

// The watch-to-key mapper: a shadow VM or VMI (label umbra.io/shadow-pool), a LoadNotice (its
// spec.pool), a VMI carrying a pool's Service label, or a node (every pool with reserved hosts)
// concerns these pools.
std::vector<std::string> poolsOfObject(const kube::Json& object, const kube::Store& pools);

// The default trigger: the CPU utilisation of the VMIs carrying the Service's label, as PromQL
// over KubeVirt's per-VMI series (label kubernetes_vmi_label_<key>, the key sanitised), divided
// by their vCPUs in the operator.
std::string servingCpuQuery(const std::string& ns, const std::string& labelKey,
                            const std::string& labelValue, std::chrono::seconds rateWindow);

// Reconciles one ShadowPool: observe -> plan -> execute, the shape of the other controllers:
//   observe  the pool (typed spec and status), its workload's template, its shadows (VMs it
//            owns, and their VMIs), the serving VMIs, the trigger, the demand, its LoadNotices
//            and the reserved nodes (PoolWorld);
//   plan     planPool(), no I/O (pool_plan.h);
//   execute  the writes in order; the KubeVirt subresources (start, pause, unpause) through the
//            API server, as virt-api serves them. Each write is idempotent (a 409 "not paused"
//            after an unpause that already happened is success), so a pass killed anywhere is
//            finished by the next one.
// The shadows are owned by the pool: deleting it deletes them (garbage collection).
class ShadowPoolReconciler {
 public:
  explicit ShadowPoolReconciler(PoolDeps deps) : d_(std::move(deps)) {}
  Result<runtime::Action> reconcile(const std::string& key);

  static PoolInput input(const kube::Json& pool);
  Result<PoolWorld> observe(const PoolInput& in);

 private:
  Status execute(const PoolInput& in, const PoolPlan& plan, std::vector<std::string>& replaced);
  Status serve(const PoolInput& in, const pool_write::ServeShadow& s);

  PoolDeps d_;
  PassGate gate_{std::chrono::seconds(1)};  // at most one pass a second
};

}  // namespace umbra::controller
