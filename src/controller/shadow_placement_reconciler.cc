#include "controller/shadow_placement_reconciler.h"

#include <algorithm>
#include <future>
#include <optional>

#include "api/quantity.h"
#include "common/log.h"
#include "controller/reconcile_pass.h"
#include "controller/status.h"
#include "placement/candidates.h"
#include "placement/shadow.h"
#include "runtime/time_format.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;
using namespace std::chrono_literals;

namespace {

constexpr auto UnschedulableRetry = 30s;
constexpr auto QueuedRetry = 5s;
constexpr auto ProbeRecheck = 2s;

bool hasFinalizer(const Json& sp) {
  for (const auto& f : sp["metadata"].value("finalizers", Json::array())) {
    if (f == api::FinalizerName)
      return true;
  }
  return false;
}

Duration toDuration(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<Duration>(ms);
}

// When a VMI entered Running, as virt-controller records it (status.phaseTransitionTimestamps).
std::optional<SystemTime> runningSince(const Json& vmi) {
  const Json status = vmi.value("status", Json::object());
  for (const auto& t : status.value("phaseTransitionTimestamps", Json::array())) {
    if (t.value("phase", "") == "Running")
      return runtime::parseTime(t.value("phaseTransitionTimestamp", ""));
  }
  return std::nullopt;
}

}  // namespace

ShadowPlacementReconciler::ShadowPlacementReconciler(ReconcilerDeps deps)
    : d_(std::move(deps)), usage_(d_.caches.nodes, d_.caches.vmis, d_.caches.pods) {}

std::string ShadowPlacementReconciler::placementKeyOfShadow(const Json& vmi) {
  const Json& meta = vmi.at("metadata");
  const auto labels = meta.value("labels", Json::object());
  const std::string placement = labels.value(api::PlacementLabel, "");
  if (placement.empty() || labels.value(api::RoleLabel, "") != "shadow") {
    return "";
  }
  return meta.value("namespace", "") + "/" + placement;
}

bool ShadowPlacementReconciler::awaitsShadows(const Json& sp) {
  return !sp["metadata"].contains("deletionTimestamp") &&
         sp.value("status", Json::object()).value("phase", "").empty();
}

void ShadowPlacementReconciler::event(const Json& sp, EventType type, const std::string& reason,
                                      const std::string& action, const std::string& note) {
  d_.events.post(sp, type, reason, action, note);  // written in the background
}

Result<Action> ShadowPlacementReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.placements.get(key);
  if (!cached) {
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    chosen_.erase(key);  // deleted before its status was written: the GC takes its shadows
    superseded_.erase(key);
    return Action::awaitChange();  // deleted; the finalizer already ran
  }
  const std::string version = (*cached)["metadata"].value("resourceVersion", "");
  {
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    if (const auto it = superseded_.find(key); it != superseded_.end()) {
      if (it->second.count(version) != 0)
        return Action::awaitChange();  // our newer write is on its way through the watch
      superseded_.erase(it);
    }
  }
  Pass p;
  p.sp = *cached;
  const Json& meta = p.sp["metadata"];
  p.ns = meta.value("namespace", "");
  p.name = meta.value("name", "");
  p.generation = meta.value("generation", static_cast<int64_t>(0));
  p.now = d_.clock.wallNow();
  p.status = p.sp.value("status", Json::object());
  p.original = p.status;

  if (meta.contains("deletionTimestamp")) {
    return finalize(p.sp);
  }
  // A new placement's first pass creates its shadows and nothing else (see the class comment).
  p.shadowsOnly = !hasFinalizer(p.sp) && awaitsShadows(p.sp) && adoptedShadows(p).empty();
  if (!hasFinalizer(p.sp) && !p.shadowsOnly) {
    // Added concurrently with this pass's first steps, and awaited before any status write and
    // before the pass ends. Shadows created before the finalizer is stored are still cleaned up
    // if the CR is deleted in between: their ownerReference lets the garbage collector take them.
    Json updated = p.sp;
    updated["metadata"]["finalizers"].push_back(api::FinalizerName);
    p.finalizer = std::async(std::launch::async, [this, updated = std::move(updated)] {
      return d_.client.update(api::shadowPlacements(), updated);
    });
  }
  auto result = advance(p);
  const Status finalizer = awaitFinalizer(p);
  if (!p.superseded.empty()) {
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    superseded_[key].insert(p.superseded.begin(), p.superseded.end());
  }
  if (!finalizer.ok())
    return finalizer.error();
  return result;
}

Status ShadowPlacementReconciler::awaitFinalizer(Pass& p) {
  if (!p.finalizer.valid())
    return okStatus();
  auto stored = p.finalizer.get();
  if (!stored.ok())
    return stored.error();
  // Go on with what the server returned (its resourceVersion is current): waiting for our own
  // write to come back through the watch would cost a round trip and a stale-cache Conflict.
  p.superseded.push_back(p.sp["metadata"].value("resourceVersion", ""));
  p.sp["metadata"] = (*stored)["metadata"];
  return okStatus();
}

Result<Action> ShadowPlacementReconciler::advance(Pass& p) {
  const Json& meta = p.sp["metadata"];
  const std::string current = p.status.value("phase", "");
  if (isTerminal(current)) {
    bool noneLeft = false;
    UMBRA_CHECK(deleteShadows(p.sp, false, noneLeft));
    return Action::awaitChange();
  }
  auto settings = api::settingsFrom(p.sp, d_.config.placement);
  if (!settings.ok()) {
    return fail(p, "InvalidSpec", settings.error().message);
  }
  p.settings = *settings;
  const bool isVm = p.settings.targetKind == api::TargetKind::VirtualMachine;
  const kube::ObjectPtr target =
      (isVm ? d_.caches.vms : d_.caches.vmis).get(p.ns + "/" + p.settings.targetName);
  if (!target) {
    const std::string message = std::string(api::toString(p.settings.targetKind)) + " " + p.ns +
                                "/" + p.settings.targetName + " does not exist";
    const auto created = runtime::parseTime(meta.value("creationTimestamp", ""));
    const auto waited = created ? p.now - *created : Duration::zero();
    const auto limit = toDuration(d_.config.placement.targetWaitTimeout);
    if (waited >= limit) {
      return fail(p, "TargetNotFound", message);
    }
    // It may be on its way (kubectl apply -f dir/ creates in name order): wait, then fail.
    setPhase(p.status, phase::Pending, "TargetNotFound",
             message + " (yet); waiting up to " +
                 api::formatDuration(d_.config.placement.targetWaitTimeout));
    UMBRA_CHECK(writeStatus(p));
    return Action::requeueAfter(std::min<Duration>(limit - waited, 5s));
  }
  p.target = *target;
  p.targetSpec = isVm ? p.target["spec"]["template"].value("spec", Json::object())
                      : p.target.value("spec", Json::object());
  auto req = placement::requirementsOf(p.targetSpec);
  if (!req.ok()) {
    return fail(p, "InvalidTarget", p.settings.targetName + ": " + req.error().message);
  }
  p.req = *req;
  p.status["observedGeneration"] = p.generation;

  if (current.empty() || current == phase::Pending)
    return selectCandidates(p);
  if (current == phase::Probing)
    return probe(p);
  if (current == phase::Observing)
    return observe(p);
  if (current == phase::Placing)
    return place(p);
  return Error::bug("unhandled phase " + current);
}

Result<Action> ShadowPlacementReconciler::fail(Pass& p, const std::string& reason,
                                               const std::string& message) {
  setPhase(p.status, phase::Failed, reason, message);
  setCondition(p.status, condition::Placed, false, reason, message, p.generation, p.now);
  UMBRA_CHECK(writeStatus(p));
  event(p.sp, EventType::Warning, reason, "Fail", message);
  bool noneLeft = false;
  UMBRA_CHECK(deleteShadows(p.sp, false, noneLeft));
  return Action::awaitChange();
}

Status ShadowPlacementReconciler::writeStatus(Pass& p) {
  if (p.status == p.original) {
    return okStatus();
  }
  UMBRA_CHECK(awaitFinalizer(p));
  p.status["shadowCount"] = [&] {
    int n = 0;
    for (const auto& s : p.status.value("shadows", Json::array())) {
      n += s.value("phase", "") != "Dropped" ? 1 : 0;
    }
    return n;
  }();
  // The resourceVersion makes the patch conditional: a pass that read a stale cache gets a
  // Conflict and is retried, instead of overwriting newer progress.
  const Json patch = {
      {"metadata", {{"resourceVersion", p.sp["metadata"].value("resourceVersion", "")}}},
      {"status", p.status}};
  auto r = d_.client.patch(api::shadowPlacements(), {p.ns, p.name}, kube::PatchType::Merge, patch,
                           {}, "status");
  if (!r.ok()) {
    return r.error();
  }
  p.original = p.status;
  p.superseded.push_back(p.sp["metadata"].value("resourceVersion", ""));
  p.sp["metadata"]["resourceVersion"] = (*r)["metadata"].value("resourceVersion", "");
  return okStatus();
}

Json ShadowPlacementReconciler::adoptedShadows(const Pass& p) const {
  const std::string uid = p.sp["metadata"].value("uid", "");
  {
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    const auto it = chosen_.find(p.ns + "/" + p.name);
    if (it != chosen_.end() && it->second.uid == uid)
      return it->second.shadows;
  }
  std::map<std::string, std::string> byNode;  // node -> shadow name, in node order
  for (const auto& v : d_.caches.vmis.byLabel(api::PlacementLabel, p.name)) {
    const Json& m = (*v)["metadata"];
    const Json labels = m.value("labels", Json::object());
    if (m.value("namespace", "") != p.ns || m.contains("deletionTimestamp") ||
        labels.value(api::RoleLabel, "") != "shadow")
      continue;
    for (const auto& owner : m.value("ownerReferences", Json::array())) {
      if (owner.value("uid", "") == uid)
        byNode[labels.value(api::ShadowNodeLabel, "")] = m.value("name", "");
    }
  }
  Json shadows = Json::array();
  for (const auto& [node, name] : byNode) {
    if (!node.empty())
      shadows.push_back({{"node", node}, {"name", name}, {"phase", "Pending"}});
  }
  return shadows;
}

Result<Action> ShadowPlacementReconciler::selectCandidates(Pass& p) {
  const std::string key = p.ns + "/" + p.name;
  Json shadows = adoptedShadows(p);
  if (!shadows.empty()) {
    // Chosen by an earlier pass whose status write is still to come: record that choice.
    auto result = startProbing(p, std::move(shadows));
    if (result.ok()) {
      const std::lock_guard<std::mutex> lock(chosenMutex_);
      chosen_.erase(key);
    }
    return result;
  }
  int active = 0;
  for (const auto& other : d_.caches.placements.list()) {
    const std::string ph = (*other).value("status", Json::object()).value("phase", "");
    active += (ph == phase::Probing || ph == phase::Observing) ? 1 : 0;
  }
  {
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    active += static_cast<int>(chosen_.size());  // probing, with their status still to come
  }
  if (active >= d_.config.maxConcurrentPlacements) {
    setPhase(
        p.status, phase::Pending, "Queued",
        "waiting: " + std::to_string(active) + " placements are probing (maxConcurrentPlacements)");
    UMBRA_CHECK(writeStatus(p));
    return Action::requeueAfter(QueuedRetry);
  }
  // What the nodes already hold, less the target itself and this placement's own shadows.
  std::vector<std::string> exclude{p.ns + "/" + p.settings.targetName};
  for (const auto& v : d_.caches.vmis.byLabel(api::PlacementLabel, p.name)) {
    if (placementKeyOfShadow(*v) == key)
      exclude.push_back(kube::keyOf(*v));
  }
  const std::vector<placement::NodeView> nodes = usage_.nodes(exclude);
  const auto verdicts = placement::classify(nodes, p.req, p.settings.nodeSelector);
  const auto chosen = placement::topCandidates(verdicts, p.settings.candidateCount);
  if (chosen.empty()) {
    std::string why = nodes.empty() ? "no nodes" : "";
    for (size_t i = 0; i < verdicts.size() && i < 3; ++i) {
      why += (i ? "; " : "") + verdicts[i].node + ": " + verdicts[i].reason;
    }
    const std::string message =
        "no feasible node (" + why + (verdicts.size() > 3 ? "; ..." : "") + ")";
    setPhase(p.status, phase::Pending, "Unschedulable", message);
    UMBRA_CHECK(writeStatus(p));
    event(p.sp, EventType::Warning, "Unschedulable", "SelectCandidates", message);
    return Action::requeueAfter(UnschedulableRetry);
  }
  for (const auto& node : chosen) {
    shadows.push_back(
        {{"node", node}, {"name", placement::shadowName(p.name, node)}, {"phase", "Pending"}});
  }
  if (p.shadowsOnly) {
    // Remembered before the creates, so that a retry after a failed create keeps the choice.
    const std::lock_guard<std::mutex> lock(chosenMutex_);
    chosen_[key] = Chosen{p.sp["metadata"].value("uid", ""), shadows};
  }
  return startProbing(p, std::move(shadows));
}

Result<Action> ShadowPlacementReconciler::startProbing(Pass& p, Json shadows) {
  std::string names;
  for (const auto& s : shadows)
    names += (names.empty() ? "" : ", ") + s.value("node", "");
  const std::string message = "probing " + std::to_string(shadows.size()) + " of " +
                              std::to_string(p.settings.candidateCount) +
                              " requested candidates: " + names;
  p.status["shadows"] = std::move(shadows);
  p.status["extensions"] = 0;
  setPhase(p.status, phase::Probing, "CandidatesSelected", message);
  if (!p.shadowsOnly)
    event(p.sp, EventType::Normal, "CandidatesSelected", "SelectCandidates", message);
  // probe() creates the shadows, then records the choice. A crash in between is safe: the next
  // pass adopts the shadows it finds (adoptedShadows()), and creates meet AlreadyExists.
  return probe(p);
}

Result<Action> ShadowPlacementReconciler::probe(Pass& p) {
  Json& shadows = p.status["shadows"];
  // Create the missing shadows concurrently: one round trip for the placement, not one per
  // candidate (the create-to-shadows latency is what a burst of placements queues on).
  std::vector<std::future<Result<Json>>> creating;
  for (const auto& s : shadows) {
    if (s.value("phase", "") == "Dropped" || d_.caches.vmis.get(p.ns + "/" + s.value("name", "")))
      continue;
    Json shadow = placement::buildShadowVmi(p.sp, p.targetSpec, s.value("node", ""), p.settings,
                                            d_.config.placement);
    creating.push_back(std::async(std::launch::async, [this, ns = p.ns, vmi = std::move(shadow)] {
      return d_.client.create(api::virtualMachineInstances(), ns, vmi);
    }));
  }
  std::optional<Error> createError;
  for (auto& f : creating) {
    auto created = f.get();  // wait for all of them before returning, even on an error
    if (!created.ok() && !created.error().is(ErrorKind::AlreadyExists) && !createError)
      createError = created.error();
  }
  if (createError)
    return *createError;
  if (p.shadowsOnly)
    return Action::requeueSoon();  // the status, the finalizer and the Event come next pass
  int running = 0;
  int live = 0;
  bool dropped = false;
  for (auto& s : shadows) {
    if (s.value("phase", "") == "Dropped")
      continue;
    ++live;
    const std::string name = s.value("name", "");
    const kube::ObjectPtr vmi = d_.caches.vmis.get(p.ns + "/" + name);
    if (!vmi)
      continue;  // created above; the watch brings it
    const Json vstatus = (*vmi).value("status", Json::object());
    const std::string vphase = vstatus.value("phase", "");
    const auto createdAt = runtime::parseTime((*vmi)["metadata"].value("creationTimestamp", ""));
    const bool late =
        createdAt && p.now - *createdAt > toDuration(d_.config.placement.shadowStartTimeout);
    if (vphase == "Running") {
      ++running;
      if (s.value("phase", "") != "Running") {
        s["phase"] = "Running";
        s["runningSince"] = runtime::formatTime(runningSince(*vmi).value_or(p.now));
      }
    } else if (vphase == "Failed" || vphase == "Succeeded" || late) {
      s["phase"] = "Dropped";
      s["reason"] = late ? "shadow did not start within " +
                               api::formatDuration(d_.config.placement.shadowStartTimeout)
                         : "shadow VMI " + vphase;
      --live;
      dropped = true;
      (void)d_.client.remove(api::virtualMachineInstances(), {p.ns, name}, {});
      event(p.sp, EventType::Warning, "ShadowDropped", "Probe",
            s.value("node", "") + ": " + s.value("reason", ""));
    }
  }
  if (live == 0) {
    return fail(p, "NoShadowStarted", "no shadow VMI started on any candidate");
  }
  if (running < live) {
    // The status is written once while shadows start, not per shadow: a shadow that is running
    // already is recorded with the others (its runningSince is the VMI's own transition time,
    // so nothing is lost by waiting), unless one was dropped. Hence the count-free message too.
    const Json& before = p.original.value("shadows", Json::array());
    if (!dropped && before.size() == shadows.size()) {
      bool same = true;
      for (size_t i = 0; i < shadows.size(); ++i)
        same = same && before[i].value("name", "") == shadows[i].value("name", "");
      if (same)
        shadows = before;
    }
    setCondition(p.status, condition::ShadowsReady, false, "Starting",
                 "waiting for the shadow VMIs to run", p.generation, p.now);
    UMBRA_CHECK(writeStatus(p));
    return Action::requeueAfter(ProbeRecheck);
  }
  setCondition(p.status, condition::ShadowsReady, true, "Running",
               std::to_string(live) + " shadows running", p.generation, p.now);
  p.status["observationStartedAt"] = runtime::formatTime(p.now);
  setPhase(p.status, phase::Observing, "Observing",
           "observing " + std::to_string(live) + " shadows for " +
               api::formatDuration(p.settings.observationDuration));
  UMBRA_CHECK(writeStatus(p));
  event(p.sp, EventType::Normal, "Observing", "Observe", p.status.value("message", ""));
  return Action::requeueAfter(toDuration(p.settings.observationDuration));
}

}  // namespace umbra::controller
