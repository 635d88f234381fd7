#include "controller/plan.h"

#include <cstdio>

#include "controller/plan_draft.h"
#include "kube_core/quantity.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;
using namespace std::chrono_literals;

namespace {

// Deleting: the shadows go first (confirmed with the server), then the finalizer.
Plan planFinalize(const PlacementInput& in, const World& world) {
  Plan p;
  if (world.shadowsLeft > 0) {
    p.writes.emplace_back(write::DeleteShadows{});
    p.next = Action::after(1s);  // confirm they are gone, then release
    p.why = "deleting: shadows first";
    return p;
  }
  if (in.hasFinalizer)
    p.writes.emplace_back(write::RemoveFinalizer{});
  p.writes.emplace_back(write::ForgetChoice{});
  p.why = "deleting: finalizer released";
  return p;
}

// The target does not exist: it may be on its way (kubectl apply -f dir/ creates in name order),
// so wait up to targetWaitTimeout, then fail.
Plan planMissingTarget(Draft& d) {
  const auto& s = d.settings();
  const std::string message = std::string(api::toString(s.targetKind)) + " " + d.in.ns + "/" +
                              s.targetName + " does not exist";
  // Once probing started, the target existed: it was deleted, and the shadows stop now.
  if (d.in.status.phase != api::Phase::New && d.in.status.phase != api::Phase::Pending)
    return d.fail("TargetDeleted", message + " any more");
  const auto waited = d.in.created ? d.now - *d.in.created : Duration::zero();
  const auto limit = toDuration(d.config.placement.targetWaitTimeout);
  if (waited >= limit)
    return d.fail("TargetNotFound", message);
  d.status.setPhase(api::Phase::Pending, "TargetNotFound",
                    message + " (yet); waiting up to " +
                        kube::formatDuration(d.config.placement.targetWaitTimeout));
  d.writeStatus();
  return d.done(Action::after(std::min<Duration>(limit - waited, 5s)), "target missing");
}

// Another placement of the same target goes first (world.heldBy): this one waits, without
// shadows, and says for whom. Two placements never act on one VM.
Plan planTargetBusy(Draft& d) {
  const auto& s = d.settings();
  const std::string message = std::string(api::toString(s.targetKind)) + " " + d.in.ns + "/" +
                              s.targetName + " is being placed by ShadowPlacement " +
                              d.world.heldBy + " (" + d.world.heldByPhase +
                              "); waiting until it ends";
  const bool news = d.status.reason != "TargetBusy";
  d.status.setPhase(api::Phase::Pending, "TargetBusy", message);
  d.status.shadows.clear();
  d.status.observationStartedAt.reset();
  d.status.extensions = 0;
  d.status.setCondition(api::condition::Placed, false, "TargetBusy", message, d.generation(),
                        d.now);
  d.writeStatus();
  if (news)
    d.event(EventType::Normal, "TargetBusy", "Wait", message);
  d.deleteShadows();
  if (!d.world.adopted.empty())
    d.add(write::ForgetChoice{});
  return d.done(Action::after(5s), "target busy");
}

// A placement still short of acting on its VM past its own longest expected run plus
// limits.deadlineGrace (stuck on missing metrics, queued behind others for too long) fails with
// its last state as the reason, and its shadows go. A move already under way (Placing) finishes.
std::optional<Plan> planDeadline(Draft& d) {
  if (!d.in.created || d.in.status.phase == api::Phase::Placing)
    return std::nullopt;
  const auto& s = d.settings();
  const auto& p = d.config.placement;
  const auto limit = s.observationDuration * (1 + s.maxExtensions) + p.shadowStartTimeout +
                     p.targetWaitTimeout + d.config.deadlineGrace;
  if (d.now - *d.in.created < toDuration(limit))
    return std::nullopt;
  const std::string last = d.in.status.reason.empty()
                               ? ""
                               : " (last: " + d.in.status.reason + ": " + d.in.status.message + ")";
  return d.fail("DeadlineExceeded",
                "not placed within " + kube::formatDuration(limit) +
                    ": observation.duration x (1 + maxExtensions) + shadows.startTimeout + "
                    "shadows.targetWaitTimeout + limits.deadlineGrace" +
                    last);
}

Plan planActive(Draft& d) {
  if (!d.in.settings)
    return d.fail("InvalidSpec", d.in.settingsError);
  if (auto late = planDeadline(d))
    return std::move(*late);
  if (!d.world.target)
    return planMissingTarget(d);
  if (!d.target().requirements)
    return d.fail("InvalidTarget", d.settings().targetName + ": " + d.target().invalid);
  d.status.observedGeneration = d.in.generation;
  if (!d.world.heldBy.empty() && d.in.status.phase != api::Phase::Placing)
    return planTargetBusy(d);
  if (auto mirror = planMirror(d))
    return std::move(*mirror);
  switch (d.in.status.phase) {
    case api::Phase::New:
    case api::Phase::Pending: return planSelectCandidates(d);
    case api::Phase::Probing: return planProbe(d);
    case api::Phase::Observing: return planObserve(d);
    case api::Phase::Placing: return planPlace(d);
    case api::Phase::Placed:
    case api::Phase::Recommended:
    case api::Phase::Failed: break;  // handled by plan()
  }
  return d.done(Action::awaitChange(), "terminal");
}

}  // namespace

std::string twoDecimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

const api::ShadowPlacementStatus* Plan::status() const {
  for (const auto& w : writes) {
    if (const auto* s = std::get_if<write::WriteStatus>(&w))
      return &s->status;
  }
  return nullptr;
}

bool awaitsShadows(const kube::Json& placement) {
  const kube::Json& meta = placement.at("metadata");
  return !meta.contains("deletionTimestamp") &&
         placement.value("status", kube::Json::object()).value("phase", "").empty();
}

Draft::Draft(const PlacementInput& input, const World& w, const config::OperatorConfig& c,
             SystemTime t)
    : in(input), world(w), config(c), now(t), status(input.status) {}

void Draft::event(EventType type, std::string reason, std::string action, std::string note) {
  add(write::PostEvent{type, std::move(reason), std::move(action), std::move(note)});
}

void Draft::writeStatus() {
  if (status != in.status)
    add(write::WriteStatus{status});
}

Plan Draft::done(Action next, std::string why) {
  out.next = next;
  out.why = std::move(why);
  return std::move(out);
}

void Draft::deleteShadows() {
  if (world.shadowsLeft > 0)
    add(write::DeleteShadows{});
}

Plan Draft::fail(const std::string& reason, const std::string& message) {
  status.setPhase(api::Phase::Failed, reason, message);
  status.setCondition(api::condition::Placed, false, reason, message, in.generation, now);
  writeStatus();
  event(EventType::Warning, reason, "Fail", message);
  deleteShadows();
  return done(Action::awaitChange(), "failed: " + reason);
}

Plan plan(const PlacementInput& in, const World& world, const config::OperatorConfig& config,
          SystemTime now) {
  if (in.deleting)
    return planFinalize(in, world);
  Draft d(in, world, config, now);
  if (api::isTerminal(in.status.phase)) {
    d.deleteShadows();  // a decision is final: nothing probes any more
    return d.done(Action::awaitChange(), "terminal");
  }
  // A new placement's first pass creates its shadows and nothing else; every later pass makes
  // sure of the finalizer (concurrently with its first writes) before anything else is recorded.
  d.firstPass = in.status.phase == api::Phase::New && !in.hasFinalizer && world.adopted.empty();
  if (!in.hasFinalizer && !d.firstPass)
    d.add(write::AddFinalizer{});
  return planActive(d);
}

}  // namespace umbra::controller
