#include "controller/shadow_placement_reconciler.h"

#include "common/log.h"

namespace umbra::controller {

using runtime::Action;

runtime::Priority priorityOf(const kube::Json& placement) {
  return awaitsShadows(placement) ? runtime::Priority::High : runtime::Priority::Normal;
}

std::vector<std::string> placementsOfTarget(const kube::Json& o, const kube::Store& placements) {
  const kube::Json& meta = o.at("metadata");
  std::vector<std::string> keys;
  for (const auto& sp : placements.byNamespace(meta.value("namespace", ""))) {
    if ((*sp)["spec"]["target"].value("name", "") == meta.value("name", ""))
      keys.push_back(kube::keyOf(*sp));
  }
  return keys;
}

ShadowPlacementReconciler::ShadowPlacementReconciler(ReconcilerDeps deps)
    : d_(std::move(deps)),
      reader_(d_.caches, d_.client, d_.metrics, d_.forecaster, choices_,
              d_.config.maxConcurrentPlacements, d_.config.concurrentPlacementsPerNamespace),
      executor_(d_.client, d_.events, choices_, d_.listener ? *d_.listener : noListener_) {}

Result<Action> ShadowPlacementReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.placements.get(key);
  if (!cached) {
    choices_.forget(key);  // deleted before its status was written: the GC takes its shadows
    expectations_.forget(key);
    return Action::awaitChange();  // deleted; the finalizer already ran
  }
  if (expectations_.isStale(key, (*cached)["metadata"].value("resourceVersion", "")))
    return Action::awaitChange();  // our newer write is on its way through the watch
  UMBRA_TRY(const PlacementInput in, WorldReader::input(*cached, d_.config.placement));
  const SystemTime now = d_.clock.wallNow();
  UMBRA_TRY(const World world, reader_.observe(in, now));
  const Plan plan = controller::plan(in, world, d_.config, now);
  log::debug(
      "reconcile planned",
      {{"placement", key}, {"why", plan.why}, {"writes", std::to_string(plan.writes.size())}});
  std::vector<std::string> replaced;
  auto result = executor_.execute(in, plan, now, replaced);
  expectations_.replaced(key, replaced);
  return result;
}

}  // namespace umbra::controller
