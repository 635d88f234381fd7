// Planning Observing -> Placing -> Placed / Recommended: decide on the evidence, then move the VM.
#include "controller/plan_draft.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;

namespace {

// Never a guess presented as a decision: wait for telemetry.
Plan planTelemetryUnavailable(Draft& d, const std::string& problem) {
  d.status.setCondition(api::condition::MetricsAvailable, false, "TelemetryUnavailable", problem,
                        d.generation(), d.now);
  d.writeStatus();
  d.event(EventType::Warning, "TelemetryUnavailable", "Observe", problem);
  return d.done(Action::after(toDuration(d.settings().observationInterval)), "no telemetry");
}

// Optional features whose series are missing are named, so a relabelled cluster is diagnosable;
// the decision does not need them.
void recordTelemetryRead(Draft& d, const Evidence& e) {
  std::string read = std::to_string(e.observed) + " shadows observed";
  if (!e.missingOptional.empty()) {
    read += "; no data for optional features:";
    for (const auto& n : e.missingOptional)
      read += " " + n;
  }
  d.status.setCondition(api::condition::MetricsAvailable, true, "TelemetryRead", read,
                        d.generation(), d.now);
}

Plan planExtension(Draft& d, double confidence) {
  const auto& s = d.settings();
  d.status.extensions += 1;
  const std::string message = "confidence " + twoDecimals(confidence) + " < " +
                              twoDecimals(s.minConfidence) + ": observing " +
                              kube::formatDuration(s.observationDuration) + " more";
  d.status.setPhase(api::Phase::Observing, "ObservationExtended", message);
  d.writeStatus();
  d.event(EventType::Normal, "ObservationExtended", "Observe", message);
  return d.done(Action::after(toDuration(s.observationDuration)), "extended");
}

void recordDecision(Draft& d, const placement::Decision& decision, const std::string& model) {
  d.status.candidates.clear();
  for (const auto& c : decision.ranked) {
    d.status.candidates.push_back({c.node,
                                   c.score,
                                   c.confidence,
                                   {c.predicted.cpuContention, c.predicted.memoryPressure,
                                    c.predicted.ioWait, c.predicted.networkLatency},
                                   c.reason});
  }
  d.status.selectedNode = decision.selected;
  d.status.confidence = decision.confidence;
  d.status.model = model;
  d.status.decidedAt = api::wholeSeconds(d.now);
}

kube::Json migrationOf(const Draft& d, const std::string& node) {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachineInstanceMigration"},
          {"metadata",
           {{"name", d.in.name + "-migration"},
            {"namespace", d.in.ns},
            {"labels", {{api::PlacementLabel, d.in.name}}}}},
          {"spec",
           {{"vmiName", d.settings().targetName},
            {"addedNodeSelector", {{"kubernetes.io/hostname", node}}}}}};
}

// The writes that move the target to `node`, and what they do in words: a VM's template gets the
// nodeSelector (a stopped VM is started); a VMI running elsewhere is live-migrated (its spec is
// immutable).
std::string addPlacementWrites(Draft& d, const std::string& node) {
  const TargetView& t = d.target();
  std::string how;
  if (d.settings().targetKind == api::TargetKind::VirtualMachine) {
    kube::Json patch = {
        {"spec",
         {{"template", {{"spec", {{"nodeSelector", {{"kubernetes.io/hostname", node}}}}}}}}}};
    if (!t.vmiExists) {
      patch["spec"]["runStrategy"] = "Always";  // start it; works without virt-api
      if (t.hasRunningField)
        patch["spec"]["running"] = nullptr;  // deprecated and exclusive with runStrategy
    }
    d.add(write::PatchVirtualMachine{d.settings().targetName, std::move(patch)});
    how = t.vmiExists ? "template nodeSelector set" : "template nodeSelector set and started";
  }
  if (!t.vmiExists || t.runningOn == node || t.runningOn.empty())
    return how;
  d.add(write::CreateMigration{migrationOf(d, node)});
  return how + (how.empty() ? "" : "; ") + "migration " + d.in.name + "-migration from " +
         t.runningOn + " created";
}

}  // namespace

Plan planObserve(Draft& d) {
  const auto& s = d.settings();
  if (!d.status.observationStartedAt)
    return d.fail("InvalidStatus", "status.observationStartedAt: missing in phase Observing");
  const SystemTime end = *d.status.observationStartedAt +
                         toDuration(s.observationDuration) * (1 + d.status.extensions);
  if (d.now < end || !d.world.evidence) {
    return d.done(Action::after(std::max<Duration>(end - d.now, Duration::zero())), "observing");
  }
  const Evidence& e = *d.world.evidence;
  if (!e.problem.empty())
    return planTelemetryUnavailable(d, e.problem);
  recordTelemetryRead(d, e);
  const placement::Decision decision = placement::decide(e.forecasts, s.weights);
  const bool unsure = decision.minConfidence < s.minConfidence;
  if (unsure && d.status.extensions < s.maxExtensions)
    return planExtension(d, decision.minConfidence);
  recordDecision(d, decision, e.model);
  const std::string message = "selected " + decision.selected + " (score " +
                              twoDecimals(decision.ranked.front().score) + ", confidence " +
                              twoDecimals(decision.confidence) + ")" +
                              (unsure ? "; confidence stayed below minConfidence after " +
                                            std::to_string(d.status.extensions) + " extensions"
                                      : "");
  d.status.setCondition(api::condition::Decided, true, unsure ? "LowConfidence" : "Decided",
                        message, d.generation(), d.now);
  if (s.mode == api::Mode::Apply) {
    // The decision is written together with its outcome by planPlace, in one status write.
    d.status.setPhase(api::Phase::Placing, "Decided", message);
    return planPlace(d);
  }
  d.status.setPhase(api::Phase::Recommended, "Decided", message);
  d.writeStatus();
  d.event(EventType::Normal, "Recommended", "Decide", message);
  d.deleteShadows();  // the decision is made: stop probing
  return d.done(Action::awaitChange(), "recommended");
}

Plan planPlace(Draft& d) {
  // Should a write fail, the decision (phase Placing) is recorded, so that the retry places
  // without observing again.
  d.out.statusOnFailure = d.status;
  const std::string node = d.status.selectedNode;
  const std::string how = addPlacementWrites(d, node);
  const std::string message = "placed on " + node + ": " + how + " (" +
                              (d.status.message.empty() ? "decided" : d.status.message) + ")";
  d.status.setPhase(api::Phase::Placed, "Placed", message);
  d.status.setCondition(api::condition::Placed, true, "Placed", message, d.generation(), d.now);
  d.writeStatus();
  d.event(EventType::Normal, "Placed", "Place", message);
  d.deleteShadows();
  return d.done(Action::awaitChange(), "placed");
}

}  // namespace umbra::controller
