// Planning Placing -> Placed: move the target to the chosen node, then wait until the world shows
// it there. A move that fails goes to the next candidate that can take the VM now, or Failed.
#include <set>

#include "controller/plan_draft.h"
#include "kube_core/quantity.h"
#include "placement/shadow.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;
using namespace std::chrono_literals;

namespace {

constexpr auto MoveRecheck = 5s;
// A migration created by a move that the cache has not shown after this long is gone.
constexpr auto MigrationGrace = 60s;

bool needsMigration(const TargetView& t, const std::string& node) {
  return t.vmiExists && !t.runningOn.empty() && t.runningOn != node;
}

kube::Json migrationOf(const Draft& d, const std::string& name, const std::string& node) {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachineInstanceMigration"},
          {"metadata",
           {{"name", name},
            {"namespace", d.in.ns},
            {"labels", {{api::PlacementLabel, placement::placementLabelValue(d.in.name)}}},
            {"ownerReferences",
             kube::Json::array({{{"apiVersion", std::string(api::Group) + "/" + api::Version},
                                 {"kind", "ShadowPlacement"},
                                 {"name", d.in.name},
                                 {"uid", d.in.uid},
                                 {"controller", true}}})}}},
          {"spec",
           {{"vmiName", d.settings().targetName},
            {"addedNodeSelector", {{"kubernetes.io/hostname", node}}}}}};
}

constexpr const char* HostnameKey = "kubernetes.io/hostname";

// Umbra's preferred node affinity term for `node` (pinPolicy Preferred).
kube::Json preferredTerm(const std::string& node) {
  return {{"weight", 100},
          {"preference",
           {{"matchExpressions", kube::Json::array({{{"key", HostnameKey},
                                                     {"operator", "In"},
                                                     {"values", kube::Json::array({node})}}})}}}};
}

// The VM template patch that pins it to `node` under `policy`, replacing Umbra's earlier pin
// (the annotated node) whichever form it took, and nothing of the user's.
kube::Json pinPatch(const TargetView& t, const std::string& node, api::PinPolicy policy) {
  // The user's own hostname selector (not Umbra's earlier pin) already keeps the VM there: it is
  // the user's, Umbra neither annotates nor ever removes it.
  const std::string selected =
      t.spec.value("nodeSelector", kube::Json::object()).value(HostnameKey, "");
  const bool usersPin = !selected.empty() && selected != t.pinnedNode;
  kube::Json patch = kube::Json::object();
  if (!usersPin)
    patch["metadata"]["annotations"][api::PinnedNodeAnnotation] = node;
  kube::Json& spec = patch["spec"]["template"]["spec"];
  const kube::Json affinity =
      t.spec.value("affinity", kube::Json::object())
          .value("nodeAffinity", kube::Json::object())
          .value("preferredDuringSchedulingIgnoredDuringExecution", kube::Json::array());
  kube::Json terms = kube::Json::array();
  bool hadOurs = false;
  for (const auto& term : affinity) {
    const bool ours = !t.pinnedNode.empty() && term == preferredTerm(t.pinnedNode);
    hadOurs = hadOurs || ours;
    if (!ours)
      terms.push_back(term);
  }
  if (usersPin) {
    // Nothing to pin: the user's selector (which made `node` the only candidate) holds it.
  } else if (policy == api::PinPolicy::Preferred) {
    terms.push_back(preferredTerm(node));
    if (!selected.empty())
      spec["nodeSelector"][HostnameKey] = nullptr;  // Umbra's earlier required pin
  } else {
    spec["nodeSelector"][HostnameKey] = node;
  }
  if (policy == api::PinPolicy::Preferred || hadOurs)
    spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = terms;
  return patch;
}

// The writes that move the target to `node`, and what they do in words: a VM's template gets the
// nodeSelector (a stopped VM is started); a VMI running elsewhere is live-migrated (its spec is
// immutable) by `migration`, owned by the placement.
std::string addMoveWrites(Draft& d, const std::string& node, const std::string& migration) {
  const TargetView& t = d.target();
  std::string how;
  if (d.settings().targetKind == api::TargetKind::VirtualMachine) {
    kube::Json patch = pinPatch(t, node, d.settings().pinPolicy);
    if (!t.vmiExists) {
      patch["spec"]["runStrategy"] = "Always";  // start it; works without virt-api
      if (t.hasRunningField)
        patch["spec"]["running"] = nullptr;  // deprecated and exclusive with runStrategy
    }
    d.add(write::PatchVirtualMachine{d.settings().targetName, std::move(patch)});
    const std::string pinned = d.settings().pinPolicy == api::PinPolicy::Preferred
                                   ? "template node affinity preferred"
                                   : "template nodeSelector set";
    how = t.vmiExists ? pinned : pinned + " and started";
  }
  if (migration.empty())
    return how.empty() ? "already running there" : how;
  d.add(write::CreateMigration{migrationOf(d, migration, node)});
  return how + (how.empty() ? "" : "; ") + "migration " + migration + " from " + t.runningOn +
         " created";
}

// The decided node if it can take the VM now and was not tried, else the next ranked candidate
// that can. `why` collects what ruled the others out.
std::optional<std::string> nextNode(const Draft& d, std::string& why) {
  std::set<std::string> tried;
  for (const auto& m : d.status.moves)
    tried.insert(m.node);
  std::map<std::string, placement::Verdict> verdicts;
  for (auto& v : d.classify())
    verdicts[v.node] = v;
  std::vector<std::string> order{d.status.selectedNode};
  for (const auto& c : d.status.candidates) {
    if (c.excluded.empty())
      order.push_back(c.node);
  }
  std::set<std::string> seen;
  for (const auto& node : order) {
    if (node.empty() || !seen.insert(node).second)
      continue;
    const auto v = verdicts.find(node);
    const std::string no = tried.count(node) != 0 ? "a move there failed"
                           : v == verdicts.end()  ? "no such node any more"
                           : !v->second.feasible  ? v->second.reason
                                                  : "";
    if (no.empty())
      return node;
    why.append(why.empty() ? "" : "; ").append(node).append(": ").append(no);
  }
  return std::nullopt;
}

// A VM Umbra started whose VMI never ran: KubeVirt keeps a pending VMI on the node it was
// created for, so it is stopped before the VM is started anywhere else.
bool startedButNeverRan(const Draft& d) {
  const TargetView& t = d.target();
  bool started = false;
  for (const auto& m : d.status.moves)
    started = started || m.action.find("started") != std::string::npos;
  return started && d.settings().targetKind == api::TargetKind::VirtualMachine && t.vmiExists &&
         t.vmiPhase != "Running";
}

void stopVm(Draft& d) {
  if (d.target().runStrategy != "Halted")
    d.add(write::PatchVirtualMachine{d.settings().targetName,
                                     {{"spec", {{"runStrategy", "Halted"}}}}});
}

// The VMI runs elsewhere and KubeVirt says it cannot be live-migrated: the decision stands as a
// recommendation, and nothing is moved (virt-api would refuse the migration).
Plan planNotMigratable(Draft& d, const std::string& node) {
  const std::string message = "selected " + node + ", but the VMI is not live-migratable (" +
                              d.target().notMigratable + "): nothing was moved; it runs on " +
                              d.target().runningOn;
  d.status.selectedNode = node;
  d.status.setPhase(api::Phase::Recommended, "NotLiveMigratable", message);
  d.status.setCondition(api::condition::Placed, false, "NotLiveMigratable", message, d.generation(),
                        d.now);
  d.writeStatus();
  d.event(EventType::Warning, "NotLiveMigratable", "Place", message);
  d.deleteShadows();
  return d.done(Action::awaitChange(), "not live-migratable");
}

// Starts a move to the next node that can take the VM: writes, status Placing/Moving, an Event.
Plan startMove(Draft& d) {
  std::string why;
  const auto node = nextNode(d, why);
  if (node && needsMigration(d.target(), *node) && !d.target().notMigratable.empty())
    return planNotMigratable(d, *node);
  if (!node) {
    const bool stop = startedButNeverRan(d);
    if (stop)
      stopVm(d);  // nothing is left pending on a node that cannot run it
    return d.fail("NoFeasibleCandidate", "no candidate can take the VM now (" + why + ")" +
                                             (stop ? "; the VM was stopped again" : ""));
  }
  if (startedButNeverRan(d)) {
    stopVm(d);
    const std::string message = "stopping the VM (it never ran on " + d.status.moves.back().node +
                                ") before starting it on " + *node;
    d.status.setPhase(api::Phase::Placing, "Restarting", message);
    d.writeStatus();
    return d.done(Action::after(MoveRecheck), "stopping before a new move");
  }
  // Should a write fail, what was decided so far is recorded, so that the retry does not
  // observe again.
  d.out.statusOnFailure = d.status;
  const bool redecided = *node != d.status.selectedNode;
  d.status.selectedNode = *node;
  const std::string migration =
      needsMigration(d.target(), *node)
          ? placement::migrationName(d.in.name, d.in.uid, d.status.moves.size() + 1)
          : "";
  const std::string how = addMoveWrites(d, *node, migration);
  d.status.moves.push_back(
      {*node, migration, how, api::MovePhase::Moving, api::wholeSeconds(d.now), ""});
  const std::string message =
      "moving to " + *node + ": " + how + (redecided ? " (instead of: " + why + ")" : "");
  d.status.setPhase(api::Phase::Placing, "Moving", message);
  d.status.setCondition(api::condition::Placed, false, "Moving", message, d.generation(), d.now);
  d.writeStatus();
  d.event(EventType::Normal, "Moving", "Place", message);
  d.deleteShadows();  // the decision is made: stop probing
  return d.done(Action::after(MoveRecheck), "moving");
}

// The world shows the target running on the node: Placed.
Plan planMoved(Draft& d) {
  api::MoveStatus& m = d.status.moves.back();
  m.phase = api::MovePhase::Succeeded;
  const std::string decided = d.status.conditionMessage(api::condition::Decided);
  // pinPolicy UntilRunning: the VM runs there now; the pin goes, so that drains and later
  // placements may move it.
  const bool unpin = d.settings().targetKind == api::TargetKind::VirtualMachine &&
                     d.settings().pinPolicy == api::PinPolicy::UntilRunning &&
                     d.target().pinnedNode == m.node;  // Umbra's own pin, never the user's
  if (unpin)
    d.add(write::PatchVirtualMachine{
        d.settings().targetName,
        {{"metadata", {{"annotations", {{api::PinnedNodeAnnotation, nullptr}}}}},
         {"spec", {{"template", {{"spec", {{"nodeSelector", {{HostnameKey, nullptr}}}}}}}}}}});
  const std::string message = "placed on " + m.node + ": " + m.action +
                              (unpin ? "; pin removed once running (pinPolicy UntilRunning)" : "") +
                              " (" + (decided.empty() ? "decided" : decided) + ")";
  d.status.setPhase(api::Phase::Placed, "Placed", message);
  d.status.setCondition(api::condition::Placed, true, "Placed", message, d.generation(), d.now);
  d.writeStatus();
  d.event(EventType::Normal, "Placed", "Place", message);
  d.deleteShadows();
  return d.done(Action::awaitChange(), "placed");
}

// Why the current move failed, from what the world shows; "" while it may still succeed.
std::string moveFailure(const Draft& d, const api::MoveStatus& m) {
  const TargetView& t = d.target();
  const Duration since = m.startedAt ? d.now - *m.startedAt : Duration::zero();
  if (!m.migration.empty()) {
    if (d.world.migration && d.world.migration->phase == "Failed")
      return "migration " + m.migration + " failed: " + d.world.migration->reason;
    if (d.world.migration && d.world.migration->phase == "Succeeded")
      return "migration " + m.migration + " succeeded but the VMI runs on " + t.runningOn;
    if (!d.world.migration && since > MigrationGrace)
      return "migration " + m.migration + " is gone";
    return "";
  }
  if (t.vmiPhase == "Failed" || t.vmiPhase == "Succeeded")
    return "the VMI ended (" + t.vmiPhase + ") before it ran on " + m.node;
  if (t.vmiPhase == "Running" && t.runningOn != m.node)
    return "the VMI runs on " + t.runningOn + ", not on " + m.node;
  if (!t.unschedulable.empty())
    return "the VMI cannot be scheduled on " + m.node + ": " + t.unschedulable;
  const auto timeout = toDuration(d.config.placement.shadowStartTimeout);
  if (since > timeout)
    return "the VM did not run on " + m.node + " within " +
           kube::formatDuration(d.config.placement.shadowStartTimeout);
  return "";
}

Plan planAwaitMove(Draft& d) {
  const TargetView& t = d.target();
  api::MoveStatus& m = d.status.moves.back();
  if (t.vmiExists && t.vmiPhase == "Running" && t.runningOn == m.node)
    return planMoved(d);
  const std::string failed = moveFailure(d, m);
  if (failed.empty())
    return d.done(Action::after(MoveRecheck), "moving");
  m.phase = api::MovePhase::Failed;
  m.reason = failed;
  d.event(EventType::Warning, "MoveFailed", "Place", m.node + ": " + failed);
  return startMove(d);
}

}  // namespace

Plan planPlace(Draft& d) {
  if (!d.status.moves.empty() && d.status.moves.back().phase == api::MovePhase::Moving)
    return planAwaitMove(d);
  return startMove(d);
}

}  // namespace umbra::controller
