// The second half of the reconciler: observe and decide, apply the decision, clean up.
#include <algorithm>
#include <cstdio>
#include <set>

#include "api/quantity.h"
#include "common/log.h"
#include "controller/reconcile_pass.h"
#include "controller/shadow_placement_reconciler.h"
#include "controller/status.h"
#include "placement/candidates.h"
#include "placement/scoring.h"
#include "runtime/time_format.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;

namespace {

Duration toDuration(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<Duration>(ms);
}

std::string percent(double v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

Json contentionJson(const placement::Contention& c) {
  return {{"cpuContention", c.cpuContention},
          {"memoryPressure", c.memoryPressure},
          {"ioWait", c.ioWait},
          {"networkLatency", c.networkLatency}};
}

}  // namespace

Result<Action> ShadowPlacementReconciler::observe(Pass& p) {
  const auto started = runtime::parseTime(p.status.value("observationStartedAt", ""));
  if (!started) {
    return Error::bug("Observing without observationStartedAt");
  }
  const int extensions = p.status.value("extensions", 0);
  const SystemTime end = *started + toDuration(p.settings.observationDuration) * (1 + extensions);
  if (p.now < end) {
    return Action::requeueAfter(end - p.now);
  }
  std::vector<telemetry::ShadowRef> refs;
  for (const auto& s : p.status.value("shadows", Json::array())) {
    if (s.value("phase", "") == "Running") {
      refs.push_back({p.ns, s.value("name", ""), s.value("node", "")});
    }
  }
  const auto step = toDuration(p.settings.observationInterval);
  auto observed = d_.metrics.observe(refs, *started, p.now, step);
  std::vector<placement::CandidateForecast> forecasts;
  std::string problem = observed.ok() ? "" : observed.error().message;
  if (observed.ok()) {
    const model::TargetProfile profile{p.req.size.cpu, p.req.size.memory,
                                       p.ns + "/" + p.settings.targetName};
    for (auto& candidate : *observed) {
      if (const auto node = d_.caches.nodes.get(candidate.node)) {
        const auto view = placement::nodeViewOf(*node);
        candidate.nodeCpuCores = view.allocatable.cpu;
        candidate.nodeMemoryBytes = view.allocatable.memory;
      }
      auto f = d_.forecaster.forecast(candidate, profile);
      if (!f.ok()) {
        problem = f.error().message;
        break;
      }
      forecasts.push_back({candidate.node, f->p50, f->confidence});
    }
  }
  if (!problem.empty()) {
    // Never a guess presented as a decision: wait for telemetry.
    setCondition(p.status, condition::MetricsAvailable, false, "TelemetryUnavailable", problem,
                 p.generation, p.now);
    UMBRA_CHECK(writeStatus(p));
    event(p.sp, EventType::Warning, "TelemetryUnavailable", "Observe", problem);
    return Action::requeueAfter(step);
  }
  // Optional features whose series are missing are named, so a relabelled cluster is diagnosable;
  // the decision does not need them.
  std::set<std::string> notes;
  for (const auto& candidate : *observed) {
    for (const auto& n : candidate.notes)
      notes.insert(n.substr(0, n.find(':')));
  }
  std::string read = std::to_string(refs.size()) + " shadows observed";
  if (!notes.empty()) {
    read += "; no data for optional features:";
    for (const auto& n : notes)
      read += " " + n;
  }
  setCondition(p.status, condition::MetricsAvailable, true, "TelemetryRead", read, p.generation,
               p.now);
  const placement::Decision decision = placement::decide(forecasts, p.settings.weights);
  const bool unsure = decision.minConfidence < p.settings.minConfidence;
  if (unsure && extensions < p.settings.maxExtensions) {
    p.status["extensions"] = extensions + 1;
    const std::string message = "confidence " + percent(decision.minConfidence) + " < " +
                                percent(p.settings.minConfidence) + ": observing " +
                                api::formatDuration(p.settings.observationDuration) + " more";
    setPhase(p.status, "Observing", "ObservationExtended", message);
    UMBRA_CHECK(writeStatus(p));
    event(p.sp, EventType::Normal, "ObservationExtended", "Observe", message);
    return Action::requeueAfter(toDuration(p.settings.observationDuration));
  }
  Json candidates = Json::array();
  for (const auto& c : decision.ranked) {
    candidates.push_back({{"node", c.node},
                          {"score", c.score},
                          {"confidence", c.confidence},
                          {"predicted", contentionJson(c.predicted)},
                          {"reason", c.reason}});
  }
  p.status["candidates"] = candidates;
  p.status["selectedNode"] = decision.selected;
  p.status["confidence"] = decision.confidence;
  p.status["model"] = d_.forecaster.name();
  p.status["decidedAt"] = runtime::formatTime(p.now);
  const std::string message = "selected " + decision.selected + " (score " +
                              percent(decision.ranked.front().score) + ", confidence " +
                              percent(decision.confidence) + ")" +
                              (unsure ? "; confidence stayed below minConfidence after " +
                                            std::to_string(extensions) + " extensions"
                                      : "");
  setCondition(p.status, condition::Decided, true, unsure ? "LowConfidence" : "Decided", message,
               p.generation, p.now);
  if (p.settings.mode == api::Mode::Apply) {
    // The decision is written together with its outcome by place(), in one status write.
    setPhase(p.status, phase::Placing, "Decided", message);
    return place(p);
  }
  setPhase(p.status, phase::Recommended, "Decided", message);
  UMBRA_CHECK(writeStatus(p));
  event(p.sp, EventType::Normal, "Recommended", "Decide", message);
  bool noneLeft = false;
  UMBRA_CHECK(deleteShadows(p.sp, false, noneLeft));  // the decision is made: stop probing
  return Action::awaitChange();
}

Status ShadowPlacementReconciler::applyPlacement(Pass& p, std::string& how) {
  const std::string node = p.status.value("selectedNode", "");
  const Json selector = {{"kubernetes.io/hostname", node}};
  const kube::ObjectPtr vmi = d_.caches.vmis.get(p.ns + "/" + p.settings.targetName);
  const std::string runningOn =
      vmi ? (*vmi).value("status", Json::object()).value("nodeName", "") : "";
  if (p.settings.targetKind == api::TargetKind::VirtualMachine) {
    Json patch = {{"spec", {{"template", {{"spec", {{"nodeSelector", selector}}}}}}}};
    if (!vmi) {
      patch["spec"]["runStrategy"] = "Always";  // start it; works without virt-api
      if (p.target["spec"].contains("running")) {
        patch["spec"]["running"] = nullptr;  // deprecated and exclusive with runStrategy
      }
    }
    auto r = d_.client.patch(api::virtualMachines(), {p.ns, p.settings.targetName},
                             kube::PatchType::Merge, patch);
    if (!r.ok()) {
      return r.error();
    }
    how = vmi ? "template nodeSelector set" : "template nodeSelector set and started";
  }
  if (!vmi || runningOn == node || runningOn.empty()) {
    return okStatus();
  }
  // Running elsewhere: a VMI's spec is immutable, so move it with a live migration.
  const Json migration = {
      {"apiVersion", "kubevirt.io/v1"},
      {"kind", "VirtualMachineInstanceMigration"},
      {"metadata",
       {{"name", p.name + "-migration"},
        {"namespace", p.ns},
        {"labels", {{api::PlacementLabel, p.name}}}}},
      {"spec", {{"vmiName", p.settings.targetName}, {"addedNodeSelector", selector}}}};
  auto m = d_.client.create(api::migrations(), p.ns, migration);
  if (!m.ok() && !m.error().is(ErrorKind::AlreadyExists)) {
    return m.error();
  }
  how += std::string(how.empty() ? "" : "; ") + "migration " + p.name + "-migration from " +
         runningOn + " created";
  return okStatus();
}

Result<Action> ShadowPlacementReconciler::place(Pass& p) {
  std::string how;
  const Status applied = applyPlacement(p, how);
  if (!applied.ok()) {
    // Record the decision (phase Placing) so that the retry places without observing again.
    if (applied.error().is(ErrorKind::Forbidden)) {
      setCondition(p.status, condition::Placed, false, "Forbidden", applied.error().message,
                   p.generation, p.now);
      event(p.sp, EventType::Warning, "Forbidden", "Place", applied.error().message);
    }
    UMBRA_CHECK(writeStatus(p));
    return applied.error();
  }
  const std::string node = p.status.value("selectedNode", "");
  const std::string message = "placed on " + node + ": " + how + " (" +
                              p.status.value("message", std::string("decided")) + ")";
  setPhase(p.status, phase::Placed, "Placed", message);
  setCondition(p.status, condition::Placed, true, "Placed", message, p.generation, p.now);
  UMBRA_CHECK(writeStatus(p));
  event(p.sp, EventType::Normal, "Placed", "Place", message);
  bool noneLeft = false;
  UMBRA_CHECK(deleteShadows(p.sp, false, noneLeft));
  return Action::awaitChange();
}

Status ShadowPlacementReconciler::deleteShadows(const Json& sp, bool confirmWithServer,
                                                bool& noneLeft) {
  const std::string ns = sp["metadata"].value("namespace", "");
  const std::string name = sp["metadata"].value("name", "");
  kube::ListOptions selector;
  selector.labelSelector =
      std::string(api::PlacementLabel) + "=" + name + "," + api::RoleLabel + "=shadow";
  size_t found = 0;
  for (const auto& v : d_.caches.vmis.byLabel(api::PlacementLabel, name)) {
    found += (*v)["metadata"].value("namespace", "") == ns &&
             (*v)["metadata"]["labels"].value(api::RoleLabel, "") == "shadow";
  }
  if (confirmWithServer) {
    // The cache may lag our own creates: ask the server before releasing the finalizer.
    UMBRA_TRY(const Json list, d_.client.list(api::virtualMachineInstances(), ns, selector));
    found = list["items"].size();
  }
  noneLeft = found == 0;
  if (noneLeft) {
    return okStatus();
  }
  // All of this placement's shadows in one request, whatever the cache knows of them.
  auto r = d_.client.send(
      kube::deleteCollectionRequest(api::virtualMachineInstances(), ns, selector, {}));
  if (!r.ok() && !r.error().is(ErrorKind::NotFound)) {
    return r.error();
  }
  return okStatus();
}

Result<Action> ShadowPlacementReconciler::finalize(const Json& sp) {
  bool noneLeft = false;
  UMBRA_CHECK(deleteShadows(sp, true, noneLeft));
  if (!noneLeft) {
    return Action::requeueAfter(std::chrono::seconds(1));  // confirm they are gone, then release
  }
  Json updated = sp;
  Json kept = Json::array();
  for (const auto& f : sp["metadata"].value("finalizers", Json::array())) {
    if (f != api::FinalizerName)
      kept.push_back(f);
  }
  if (kept.size() == sp["metadata"].value("finalizers", Json::array()).size()) {
    return Action::awaitChange();
  }
  updated["metadata"]["finalizers"] = kept;
  auto r = d_.client.update(api::shadowPlacements(), updated);
  if (!r.ok() && !r.error().is(ErrorKind::NotFound)) {
    return r.error();
  }
  return Action::awaitChange();
}

}  // namespace umbra::controller
