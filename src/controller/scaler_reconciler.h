#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "controller/demand_cache.h"
#include "controller/first_pass_choices.h"
#include "controller/scaler_plan.h"
#include "kube/client.h"
#include "kube/store.h"
#include "model/model_forecaster.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

struct ScalerCaches {
  const kube::Store& scalers;
  const kube::Store& vms;
  const kube::Store& vmis;
  const kube::Store& migrations;
  const kube::Store* pools = nullptr;  // null: pool.kubevirt.io is not served
};

struct ScalerDeps {
  kube::KubeClient& client;
  ScalerCaches caches;
  DemandCache& demand;
  runtime::EventRecorder& events;
  const Clock& clock;
  // The operator's trained models (the demand LSTM joins each target's engine when its step
  // fits); empty: none.
  std::function<std::shared_ptr<const model::ForecastModels>()> models = {};
};

// The watch-to-key mapper for runtime::ControllerBuilder: a VM, VMI or pool concerns the scalers
// in its namespace that target it (a pool's VMs and VMIs through the pool's name, which prefixes
// theirs: <pool>-<n>).
std::vector<std::string> scalersOfTarget(const kube::Json& object, const kube::Store& scalers);

// Reconciles one PredictiveScaler: observe -> plan -> execute, the placement controller's shape
// (ShadowPlacementReconciler):
//   observe  the scaler (typed spec and status), its target from the caches, its demand from the
//            shared DemandCache (ScalerWorld);
//   plan     planScaler(), no I/O (scaler_plan.h);
//   execute  the writes in order: the target's new size (absolute: a retry or a restart cannot
//            scale twice), the status, the Events.
// One pass per interval: the events a pass's own writes cause do not make a second decision (its
// feedback and cut window count passes). No finalizer: a scaler owns nothing.
class PredictiveScalerReconciler {
 public:
  explicit PredictiveScalerReconciler(ScalerDeps deps) : d_(std::move(deps)) {}
  Result<runtime::Action> reconcile(const std::string& key);

  // The input and the world of `key` as the caches and the demand show them now.
  static ScalerInput input(const kube::Json& scaler);
  Result<ScalerWorld> observe(const ScalerInput& in);

 private:
  Status execute(const ScalerInput& in, const ScalerPlan& plan, std::vector<std::string>& replaced);

  ScalerDeps d_;
  WriteExpectations expectations_;
  std::mutex mutex_;
  struct LastPass {
    SteadyTime at;
    int64_t generation = 0;
  };
  std::map<std::string, LastPass> lastPass_;
};

}  // namespace umbra::controller
