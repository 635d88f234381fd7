// ShadowPoolReconciler's execute step: the plan's writes in order, each idempotent.
#include <algorithm>
#include <utility>

#include "api/kubevirt_subresources.h"
#include "api/shadow_placement.h"
#include "common/log.h"
#include "common/overloaded.h"
#include "controller/object_fields.h"
#include "controller/pool_reconciler.h"
#include "controller/status_write.h"
#include "kube_core/time.h"

namespace umbra::controller {

using kube::Json;
using namespace pool_write;
using fields::ownedBy;

namespace {

// A 409 from a KubeVirt subresource that says the state is already the one asked for.
bool alreadyDone(const Error& e) {
  return e.is(ErrorKind::Conflict) &&
         (e.message.find("already running") != std::string::npos ||
          e.message.find("not paused") != std::string::npos ||
          e.message.find("already paused") != std::string::npos ||
          e.message.find("does not support manual start requests") != std::string::npos);
}

}  // namespace

Status ShadowPoolReconciler::serve(const PoolInput& in, const ServeShadow& s) {
  const api::ShadowPoolSpec& spec = *in.spec;
  const Json labelValue = s.serve ? Json(spec.serviceValue) : Json();
  Json vmPatch = {
      {"metadata", {{"labels", {{api::ShadowStateLabel, s.serve ? "active" : "dormant"}}}}},
      {"spec", {{"template", {{"metadata", {{"labels", {{spec.serviceKey, labelValue}}}}}}}}}};
  if (s.stamp)
    vmPatch["metadata"]["annotations"][api::ServingSinceAnnotation] =
        kube::formatMicroTime(d_.clock.wallNow());
  if (!s.serve)
    vmPatch["metadata"]["annotations"][api::ServingSinceAnnotation] = nullptr;
  // The VMI and its virt-launcher pod first: traffic stops at once when the shadow stops serving,
  // and the VM records that it serves (and since when) only once traffic can reach it.
  const auto runtimeLabels = [&]() -> Status {
    const Json patch = {{"metadata", {{"labels", {{spec.serviceKey, labelValue}}}}}};
    auto r = d_.client.patch(api::virtualMachineInstances(), {in.ns, s.name},
                             kube::PatchType::Merge, patch);
    if (!r.ok() && !r.error().is(ErrorKind::NotFound))
      return r.error().wrap("while labelling VMI " + in.ns + "/" + s.name);
    kube::ListOptions o;
    o.labelSelector = "vm.kubevirt.io/name=" + s.name;
    auto pods = d_.client.list(kube::resources::pods(), in.ns, o);
    if (!pods.ok())
      return pods.error().wrap("while listing the virt-launcher pod of " + in.ns + "/" + s.name);
    for (const auto& pod : (*pods)["items"]) {
      auto p = d_.client.patch(kube::resources::pods(), {in.ns, pod["metadata"].value("name", "")},
                               kube::PatchType::Merge, patch);
      if (!p.ok() && !p.error().is(ErrorKind::NotFound))
        return p.error().wrap("while labelling the virt-launcher pod of " + in.ns + "/" + s.name);
    }
    return okStatus();
  };
  UMBRA_CHECK(runtimeLabels());
  auto r =
      d_.client.patch(api::virtualMachines(), {in.ns, s.name}, kube::PatchType::Merge, vmPatch);
  if (!r.ok())
    return r.error().wrap("while labelling shadow VM " + in.ns + "/" + s.name);
  log::info(s.serve ? "shadow serving" : "shadow no longer serving",
            {{"pool", in.key()}, {"shadow", s.name}});
  return okStatus();
}

Status ShadowPoolReconciler::execute(const PoolInput& in, const PoolPlan& plan,
                                     std::vector<std::string>& replaced) {
  std::string version = in.object["metadata"].value("resourceVersion", "");
  bool acted = false;  // a shadow or node was changed
  const auto subresource = [&](const kube::HttpRequest& r, const std::string& what) -> Status {
    auto done = d_.client.send(r);
    if (!done.ok() && !alreadyDone(done.error()))
      return done.error().wrap("while " + what);
    acted = true;
    return okStatus();
  };
  for (const auto& w : plan.writes) {
    Status st = std::visit(
        Overloaded{
            [&](const ReserveNode& n) -> Status {
              const Json patch = {
                  {"metadata", {{"resourceVersion", n.resourceVersion}, {"labels", n.labels}}},
                  {"spec", {{"taints", n.taints}}}};
              auto r = d_.client.patch(kube::resources::nodes(), {"", n.node},
                                       kube::PatchType::Merge, patch);
              if (!r.ok())
                return r.error().wrap("while reserving node " + n.node);
              acted = true;
              return okStatus();
            },
            [&](const CreateShadow& c) -> Status {
              const std::string name = c.vm["metadata"].value("name", "");
              auto r = d_.client.create(api::virtualMachines(), in.ns, c.vm);
              if (!r.ok() && !r.error().is(ErrorKind::AlreadyExists))
                return r.error().wrap("while creating shadow VM " + in.ns + "/" + name);
              if (!r.ok()) {
                // Ours from a pass before a restart, or someone else's VM by that name.
                auto existing = d_.client.get(api::virtualMachines(), {in.ns, name});
                if (existing.ok() && !ownedBy(*existing, in.uid))
                  return Error::make(ErrorKind::Conflict,
                                     "VirtualMachine " + in.ns + "/" + name +
                                         " exists and is not a shadow of ShadowPool " + in.key());
              }
              acted = true;
              log::info("shadow created", {{"pool", in.key()}, {"shadow", name}});
              return okStatus();
            },
            [&](const StartShadow& s) -> Status {
              return subresource(api::startVm(in.ns, s.name, s.paused),
                                 "starting shadow " + in.ns + "/" + s.name);
            },
            [&](const MarkActivation& m) -> Status {
              Json annotations =
                  m.clear ? Json{{api::ActivationStartedAnnotation, nullptr},
                                 {api::ActivationTriggerAnnotation, nullptr},
                                 {api::ColdStartAnnotation, nullptr}}
                          : Json{{api::ActivationStartedAnnotation, kube::formatMicroTime(m.at)},
                                 {api::ActivationTriggerAnnotation, std::to_string(m.trigger)}};
              auto r =
                  d_.client.patch(api::virtualMachines(), {in.ns, m.name}, kube::PatchType::Merge,
                                  {{"metadata", {{"annotations", annotations}}}});
              if (!r.ok())
                return r.error().wrap("while marking shadow " + in.ns + "/" + m.name);
              acted = true;
              return okStatus();
            },
            [&](const UnpauseShadow& u) -> Status {
              return subresource(api::unpauseVmi(in.ns, u.name),
                                 "unpausing shadow " + in.ns + "/" + u.name);
            },
            [&](const PauseShadow& p) -> Status {
              return subresource(api::pauseVmi(in.ns, p.name),
                                 "pausing shadow " + in.ns + "/" + p.name);
            },
            [&](const ServeShadow& s) -> Status {
              acted = true;
              return serve(in, s);
            },
            [&](const ResizeShadow& r) -> Status {
              Json domain = {{"cpu", {{"sockets", r.sockets}}}};
              if (!r.guest.empty())
                domain["memory"] = {{"guest", r.guest}};
              auto p =
                  d_.client.patch(api::virtualMachines(), {in.ns, r.name}, kube::PatchType::Merge,
                                  {{"spec", {{"template", {{"spec", {{"domain", domain}}}}}}}});
              if (!p.ok())
                return p.error().wrap("while resizing shadow " + in.ns + "/" + r.name);
              acted = true;
              return okStatus();
            },
            [&](const DeleteShadow& d) -> Status {
              auto r = d_.client.remove(api::virtualMachines(), {in.ns, d.name}, {});
              if (!r.ok() && !r.error().is(ErrorKind::NotFound))
                return r.error().wrap("while deleting shadow " + in.ns + "/" + d.name);
              acted = true;
              log::info("shadow deleted", {{"pool", in.key()}, {"shadow", d.name}});
              return okStatus();
            },
            [&](const WriteStatus& s) -> Status {
              UMBRA_TRY(
                  const std::string written,
                  patchOwnStatus(d_.client, api::shadowPools(), {in.ns, in.name},
                                 api::toJson(s.status), version, acted, "ShadowPool " + in.key()));
              replaced.push_back(std::exchange(version, written));
              return okStatus();
            },
            [&](const WriteNoticeStatus& n) -> Status {
              auto r = d_.client.patch(api::loadNotices(), {in.ns, n.name}, kube::PatchType::Merge,
                                       {{"status", n.status}}, {}, "status");
              if (!r.ok() && !r.error().is(ErrorKind::NotFound))
                return r.error().wrap("while writing the status of LoadNotice " + in.ns + "/" +
                                      n.name);
              return okStatus();
            },
            [&](const PostEvent& e) -> Status {
              d_.events.post(in.object, e.type, e.reason, e.action, e.note);
              return okStatus();
            },
        },
        w);
    if (!st.ok())
      return st;
  }
  return okStatus();
}

}  // namespace umbra::controller
