// Planning Observing -> Placing (Apply) / Recommended: decide on the evidence.
#include <cmath>

#include "controller/plan_draft.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;

namespace {

// Never a guess presented as a decision: wait for telemetry. The phase's reason says so, for
// `kubectl get sp`.
Plan planTelemetryUnavailable(Draft& d, const std::string& problem) {
  d.status.setCondition(api::condition::MetricsAvailable, false, "TelemetryUnavailable", problem,
                        d.generation(), d.now);
  d.status.setPhase(api::Phase::Observing, "TelemetryUnavailable",
                    "waiting for telemetry: " + problem);
  d.writeStatus();
  d.event(EventType::Warning, "TelemetryUnavailable", "Observe", problem);
  return d.done(Action::after(toDuration(d.settings().observationInterval)), "no telemetry");
}

// The window has a hole (Prometheus or an exporter was down, or data was lost): what it shows
// is not the candidates' behaviour over the window, so the window starts again now.
Plan planReobserve(Draft& d, const std::string& gap) {
  const auto& s = d.settings();
  const auto window = toDuration(s.observationDuration) * (1 + d.status.extensions);
  d.status.observationStartedAt = api::wholeSeconds(d.now);
  const std::string message =
      "telemetry gap (" + gap + "): observing again for " +
      kube::formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(window));
  d.status.setCondition(api::condition::MetricsAvailable, false, "TelemetryGap", gap,
                        d.generation(), d.now);
  d.status.setPhase(api::Phase::Observing, "TelemetryGap", message);
  d.writeStatus();
  d.event(EventType::Warning, "TelemetryGap", "Observe", message);
  return d.done(Action::after(window), "telemetry gap");
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
  // An extension adds one more duration of data from now on, even when the decision came late
  // (after a telemetry wait): the window slides so that it ends one duration from now.
  const Duration duration = toDuration(s.observationDuration);
  const SystemTime end = *d.status.observationStartedAt + duration * (1 + d.status.extensions);
  if (end < d.now + duration)
    d.status.observationStartedAt =
        api::wholeSeconds(d.now + duration - duration * (1 + d.status.extensions));
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
                                   c.reason,
                                   ""});
  }
  // Then the nodes that could not host the VM, and why (as the decision sees them).
  recordExcluded(d, d.classify());
  d.status.selectedNode = decision.selected;
  d.status.confidence = std::round(decision.confidence * 100) / 100;  // as printed: 0.91
  d.status.model = model;
  d.status.decidedAt = api::wholeSeconds(d.now);
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
  if (!e.gap.empty())
    return planReobserve(d, e.gap);
  recordTelemetryRead(d, e);
  const placement::Decision decision = placement::decide(e.forecasts, s.weights);
  const bool unsure = decision.confidence < s.minConfidence;
  const bool observationUnsure = placement::observeLonger(decision, s.minConfidence);
  if (observationUnsure && d.status.extensions < s.maxExtensions)
    return planExtension(d, decision.confidence);
  recordDecision(d, decision, e.model);
  const std::string why =
      observationUnsure ? "; confidence stayed below minConfidence after " +
                              std::to_string(d.status.extensions) + " extensions"
                        : "; confidence below minConfidence from the model's own uncertainty, "
                          "which observing longer does not shrink";
  const std::string message = "selected " + decision.selected + " (score " +
                              twoDecimals(decision.ranked.front().score) + ", confidence " +
                              twoDecimals(decision.confidence) + ")" + (unsure ? why : "");
  d.status.setCondition(api::condition::Decided, true, unsure ? "LowConfidence" : "Decided",
                        message, d.generation(), d.now);
  if (s.mode == api::Mode::Apply) {
    // The decision is written together with the first move (plan_move.cc), in one status write.
    d.status.setPhase(api::Phase::Placing, "Decided", message);
    return planPlace(d);
  }
  d.status.setPhase(api::Phase::Recommended, "Decided", message);
  d.writeStatus();
  d.event(EventType::Normal, "Recommended", "Decide", message);
  d.deleteShadows();  // the decision is made: stop probing
  return d.done(Action::awaitChange(), "recommended");
}

}  // namespace umbra::controller
