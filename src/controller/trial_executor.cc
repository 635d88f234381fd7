// InstancetypeTrialReconciler's execute step: the plan's writes in order, each idempotent.
#include <utility>

#include "common/log.h"
#include "common/overloaded.h"
#include "controller/object_fields.h"
#include "controller/status_write.h"
#include "controller/trial_reconciler.h"
#include "controller/world_reader.h"

namespace umbra::controller {

using kube::Json;
using namespace trial_write;
using fields::ownedBy;

Status InstancetypeTrialReconciler::execute(const TrialInput& in, const TrialPlan& plan,
                                            std::vector<std::string>& replaced) {
  std::string version = in.object["metadata"].value("resourceVersion", "");
  bool acted = false;  // a shadow was made or removed, the VM changed
  for (const auto& w : plan.writes) {
    Status st = std::visit(
        Overloaded{
            [&](const CreateShadow& c) -> Status {
              const std::string name = c.vmi["metadata"].value("name", "");
              auto r = d_.client.create(api::virtualMachineInstances(), in.ns, c.vmi);
              if (!r.ok() && !r.error().is(ErrorKind::AlreadyExists))
                return r.error().wrap("while creating shadow VMI " + in.ns + "/" + name);
              if (!r.ok()) {  // made before a restart, or someone else's by that name
                auto existing = d_.client.get(api::virtualMachineInstances(), {in.ns, name});
                if (existing.ok() && !ownedBy(*existing, in.uid))
                  return Error::make(ErrorKind::Conflict,
                                     "VMI " + in.ns + "/" + name +
                                         " exists and is not InstancetypeTrial " + in.key() + "'s");
              }
              acted = true;
              log::info("trial shadow created", {{"trial", in.key()}, {"shadow", name}});
              return okStatus();
            },
            [&](const DeleteShadow& d) -> Status {
              auto r = d_.client.remove(api::virtualMachineInstances(), {in.ns, d.name}, {});
              if (!r.ok() && !r.error().is(ErrorKind::NotFound))
                return r.error().wrap("while deleting shadow VMI " + in.ns + "/" + d.name);
              acted = true;
              log::info("trial shadow deleted", {{"trial", in.key()}, {"shadow", d.name}});
              return okStatus();
            },
            [&](const ApplyMirror& a) -> Status {
              return applyMirrorObjects(d_.client, in.ns, a.objects);
            },
            [&](const SetInstancetype& s) -> Status {
              // KubeVirt stores a fresh revision for the new name (API-NOTES section 14): the old
              // revisionName must not pin the old type.
              const Json patch = {
                  {"spec",
                   {{"instancetype",
                     {{"name", s.ref.name}, {"kind", s.ref.kind}, {"revisionName", nullptr}}}}}};
              auto r = d_.client.patch(api::virtualMachines(), {in.ns, in.spec->target},
                                       kube::PatchType::Merge, patch, {});
              if (!r.ok())
                return r.error().wrap("while setting the instancetype of VirtualMachine " + in.ns +
                                      "/" + in.spec->target);
              acted = true;
              log::info(
                  "instancetype applied",
                  {{"trial", in.key()}, {"vm", in.spec->target}, {"instancetype", s.ref.name}});
              return okStatus();
            },
            [&](const WriteStatus& s) -> Status {
              UMBRA_TRY(const std::string written,
                        patchOwnStatus(d_.client, api::instancetypeTrials(), {in.ns, in.name},
                                       api::toJson(s.status), version, acted,
                                       "InstancetypeTrial " + in.key()));
              replaced.push_back(std::exchange(version, written));
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
