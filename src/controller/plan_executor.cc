#include "controller/plan_executor.h"
#include "controller/world_reader.h"

#include <optional>

#include "common/log.h"
#include "common/overloaded.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;

// One execute() call: the placement's metadata as our writes leave it.
struct PlanExecutor::Run {
  const PlacementInput& in;
  SystemTime now;
  Json meta;                            // current metadata (resourceVersion, finalizers)
  api::ShadowPlacementStatus written;   // the status as last written
  std::future<Result<Json>> finalizer;  // adding our finalizer, while in flight
  bool finalizerFailed = false;         // then nothing more is recorded in status
  std::vector<std::string>& replaced;
};

namespace {

std::string nameOf(const Json& o) {
  return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
}

}  // namespace

PlanExecutor::PlanExecutor(kube::KubeClient& client, runtime::EventRecorder& events,
                           FirstPassChoices& choices, PlacementListener& listener)
    : client_(client), events_(events), choices_(choices), listener_(listener) {}

Result<runtime::Action> PlanExecutor::execute(const PlacementInput& in, const Plan& plan,
                                              SystemTime now, std::vector<std::string>& replaced) {
  Run run{in, now, in.object["metadata"], in.status, {}, false, replaced};
  Status failed = okStatus();
  for (const Write& w : plan.writes) {
    failed = perform(run, w);
    if (!failed.ok())
      break;
  }
  const Status finalizer = awaitFinalizer(run);
  if (!failed.ok()) {
    reportFailure(run, plan, failed.error());
    return failed.error();
  }
  if (!finalizer.ok())
    return finalizer.error();
  return plan.next;
}

Status PlanExecutor::perform(Run& run, const Write& w) {
  const std::string& key = run.in.key();
  return std::visit(
      Overloaded{
          [&](const write::AddFinalizer&) { return addFinalizer(run); },
          [&](const write::RemoveFinalizer&) { return removeFinalizer(run); },
          [&](const write::RememberChoice& c) {
            choices_.remember(key, run.in.uid, c.shadows);
            return okStatus();
          },
          [&](const write::ForgetChoice&) {
            choices_.forget(key);
            return okStatus();
          },
          [&](const write::CreateShadows& c) { return createShadows(run, c); },
          [&](const write::DeleteShadow& d) {
            // Best effort: a shadow left behind goes with the rest at the decision.
            (void)client_.remove(api::virtualMachineInstances(), {run.in.ns, d.name}, {});
            return okStatus();
          },
          [&](const write::DeleteShadows&) { return deleteShadows(run); },
          [&](const write::WriteStatus& s) { return writeStatus(run, s.status); },
          [&](const write::PostEvent& e) {
            events_.post(run.in.object, e.type, e.reason, e.action, e.note);  // in the background
            return okStatus();
          },
          [&](const write::PatchVirtualMachine& p) { return patchVirtualMachine(run, p); },
          [&](const write::CreateMigration& m) { return createMigration(run, m); },
          [&](const write::ApplyMirror& a) { return applyMirror(run, a); },
      },
      w);
}

Status PlanExecutor::addFinalizer(Run& run) {
  Json updated = run.in.object;
  updated["metadata"]["finalizers"].push_back(api::FinalizerName);
  run.finalizer = std::async(std::launch::async, [this, updated = std::move(updated)] {
    return client_.update(api::shadowPlacements(), updated);
  });
  return okStatus();
}

Status PlanExecutor::awaitFinalizer(Run& run) {
  if (!run.finalizer.valid())
    return okStatus();
  auto stored = run.finalizer.get();
  if (!stored.ok()) {
    run.finalizerFailed = true;
    return stored.error().wrap("while adding the finalizer to ShadowPlacement " + run.in.key());
  }
  // Go on with what the server returned (its resourceVersion is current): waiting for our own
  // write to come back through the watch would cost a round trip and a stale-cache Conflict.
  run.replaced.push_back(run.meta.value("resourceVersion", ""));
  run.meta = (*stored)["metadata"];
  return okStatus();
}

Status PlanExecutor::removeFinalizer(Run& run) {
  Json updated = run.in.object;
  Json kept = Json::array();
  for (const auto& f : run.meta.value("finalizers", Json::array())) {
    if (f != api::FinalizerName)
      kept.push_back(f);
  }
  updated["metadata"]["finalizers"] = kept;
  auto r = client_.update(api::shadowPlacements(), updated);
  if (!r.ok() && !r.error().is(ErrorKind::NotFound))
    return r.error().wrap("while releasing the finalizer of ShadowPlacement " + run.in.key());
  return okStatus();
}

Status PlanExecutor::createShadows(Run& run, const write::CreateShadows& c) {
  // Concurrently: one round trip for the placement, not one per candidate (the create-to-shadows
  // latency is what a burst of placements queues on).
  std::vector<std::future<Result<Json>>> creating;
  for (const auto& vmi : c.vmis) {
    creating.push_back(std::async(std::launch::async, [this, ns = run.in.ns, &vmi] {
      return client_.create(api::virtualMachineInstances(), ns, vmi);
    }));
  }
  std::optional<Error> first;
  for (size_t i = 0; i < creating.size(); ++i) {
    auto created = creating[i].get();  // wait for all of them, even after an error
    if (!created.ok() && !created.error().is(ErrorKind::AlreadyExists) && !first)
      first = created.error().wrap("while creating shadow VMI " + nameOf(c.vmis[i]));
  }
  if (first)
    return *first;
  return okStatus();
}

Status PlanExecutor::deleteShadows(Run& run) {
  kube::ListOptions selector;
  selector.labelSelector = placement::shadowSelector(run.in.name);
  auto r = client_.send(
      kube::deleteCollectionRequest(api::virtualMachineInstances(), run.in.ns, selector, {}));
  if (!r.ok() && !r.error().is(ErrorKind::NotFound))
    return r.error().wrap("while deleting the shadows of " + run.in.key());
  return okStatus();
}

Status PlanExecutor::writeStatus(Run& run, const api::ShadowPlacementStatus& status) {
  UMBRA_CHECK(awaitFinalizer(run));
  // The resourceVersion makes the patch conditional: a pass that read a stale cache gets a
  // Conflict and is retried, instead of overwriting newer progress.
  const Json patch = {{"metadata", {{"resourceVersion", run.meta.value("resourceVersion", "")}}},
                      {"status", api::toJson(status)}};
  auto r = client_.patch(api::shadowPlacements(), {run.in.ns, run.in.name}, kube::PatchType::Merge,
                         patch, {}, "status");
  if (!r.ok())
    return r.error().wrap("while writing the status of ShadowPlacement " + run.in.key());
  run.replaced.push_back(run.meta.value("resourceVersion", ""));
  run.meta["resourceVersion"] = (*r)["metadata"].value("resourceVersion", "");
  const api::ShadowPlacementStatus before = std::exchange(run.written, status);
  if (before.phase != status.phase) {
    listener_.phaseChanged(run.in, before.phase, status, run.now);
    // A placement's end is worth a log line: a failure at WARN (it needs someone), else INFO.
    if (status.phase == api::Phase::Failed)
      log::warn(
          "placement failed",
          {{"placement", run.in.key()}, {"reason", status.reason}, {"message", status.message}});
    else if (api::isTerminal(status.phase))
      log::info("placement decided", {{"placement", run.in.key()},
                                      {"phase", api::toString(status.phase)},
                                      {"node", status.selectedNode}});
  }
  if (status.extensions > before.extensions)
    listener_.observationExtended(run.in);
  return okStatus();
}

Status PlanExecutor::patchVirtualMachine(Run& run, const write::PatchVirtualMachine& p) {
  auto r =
      client_.patch(api::virtualMachines(), {run.in.ns, p.name}, kube::PatchType::Merge, p.patch);
  if (!r.ok())
    return r.error().wrap("while patching VirtualMachine " + run.in.ns + "/" + p.name);
  return okStatus();
}

Status PlanExecutor::createMigration(Run& run, const write::CreateMigration& m) {
  auto r = client_.create(api::migrations(), run.in.ns, m.migration);
  if (!r.ok() && !r.error().is(ErrorKind::AlreadyExists))
    return r.error().wrap("while creating VirtualMachineInstanceMigration " + nameOf(m.migration));
  return okStatus();
}

Status PlanExecutor::applyMirror(Run& run, const write::ApplyMirror& a) {
  return applyMirrorObjects(client_, run.in.ns, a.objects);
}

void PlanExecutor::reportFailure(Run& run, const Plan& plan, const Error& error) {
  api::ShadowPlacementStatus status = plan.statusOnFailure.value_or(run.written);
  if (!error.retryable()) {
    // The same request would get the same answer: say so on the placement, not only in the log.
    // A decided or deleted placement keeps its conditions (a failed clean-up is only an Event).
    const bool active = !api::isTerminal(status.phase) && !run.in.deleting;
    if (active) {
      status.setCondition(api::condition::Placed, false, toString(error.kind), error.message,
                          run.in.generation, run.now);
    }
    if (active && error.is(ErrorKind::Invalid)) {
      // An object the API server refuses as invalid never becomes valid by retrying: the
      // placement fails, its slot among the probing placements is released, shadows go.
      status.setPhase(api::Phase::Failed, "Invalid", error.message);
      choices_.forget(run.in.key());
      (void)deleteShadows(run);
    }
    events_.post(run.in.object, runtime::EventType::Warning, toString(error.kind), "Reconcile",
                 error.message);
  }
  if (status == run.written || run.finalizerFailed)
    return;
  if (const Status s = writeStatus(run, status); !s.ok()) {
    log::warn("could not record a failed step in status",
              {{"placement", run.in.key()}, {"error", s.error().message}});
  }
}

}  // namespace umbra::controller
