#pragma once

#include <functional>
#include <string>

#include "common/clock.h"
#include "controller/pass_gate.h"
#include "controller/trial_plan.h"
#include "kube/client.h"
#include "kube/store.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

struct TrialCaches {
  const kube::Store& trials;  // InstancetypeTrials
  const kube::Store& vms;
  const kube::Store& vmis;
  const kube::Store& clusterInstancetypes;
  const kube::Store& instancetypes;
};

// One instant query's value (summed over its series); Unavailable when it has none.
using InstantQuery = std::function<Result<double>(const std::string& promql)>;

struct TrialDeps {
  kube::KubeClient& client;
  TrialCaches caches;
  InstantQuery query;
  api::InstancetypePrices prices;
  TrialSettings settings;
  runtime::EventRecorder& events;
  const Clock& clock;
};

// The watch-to-key mapper: the target VM or VMI a trial names, a shadow it labelled
// (umbra.io/trial), an instancetype, concern the trials that refer to it.
std::vector<std::string> trialsOfObject(const kube::Json& object, const kube::Store& trials);

// What a shadow's reading is made of, as PromQL over `window` (the mesh's standard metrics by
// destination workload, KubeVirt's per-VMI CPU and vCPU delay).
struct ShadowQueries {
  std::string requests, rate, p50, p95, cpu, delay;
};
ShadowQueries shadowQueries(const std::string& ns, const std::string& vmi,
                            std::chrono::seconds window);

// Reconciles one InstancetypeTrial: observe -> plan -> execute, the shape of the other controllers:
//   observe  the trial (typed spec and status), its target VM and VMI, the candidate types (and,
//            with explore.neighbours, every type of their kinds), its shadows, the mesh and the
//            target's Service (readMirrorView), and, for each shadow past half its observation,
//            its requests, latency quantiles, CPU and vCPU delay from Prometheus (TrialWorld);
//   plan     planTrial(), no I/O (trial_plan.h);
//   execute  the writes in order, each idempotent (AlreadyExists on a shadow made before a
//            restart is success, NotFound on a deletion too; the mirroring objects are applied
//            server-side; the VM's instancetype is a merge patch of the same value).
// Shadows are controlled by the trial (deleting it deletes them); the mirroring objects are owned
// by the shadows and go with the last of them.
class InstancetypeTrialReconciler {
 public:
  explicit InstancetypeTrialReconciler(TrialDeps deps) : d_(std::move(deps)) {}
  Result<runtime::Action> reconcile(const std::string& key);

  static TrialInput input(const kube::Json& trial);
  Result<TrialWorld> observe(const TrialInput& in);

 private:
  Status execute(const TrialInput& in, const TrialPlan& plan, std::vector<std::string>& replaced);
  void readTypes(const TrialInput& in, TrialWorld& w) const;
  void readShadows(const TrialInput& in, TrialWorld& w) const;

  TrialDeps d_;
  PassGate gate_{std::chrono::seconds(2)};
};

}  // namespace umbra::controller
