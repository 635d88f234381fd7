// RebalancePolicyReconciler's execute step: the plan's writes in order, each idempotent.
#include <utility>

#include "common/log.h"
#include "common/overloaded.h"
#include "controller/object_fields.h"
#include "controller/rebalance_reconciler.h"
#include "controller/status_write.h"

namespace umbra::controller {

using kube::Json;
using namespace rebalance_write;
using fields::ownedBy;

Status RebalancePolicyReconciler::execute(const RebalanceInput& in, const RebalancePlan& plan,
                                          std::vector<std::string>& replaced) {
  std::string version = in.object["metadata"].value("resourceVersion", "");
  bool acted = false;  // a migration or companion was made or removed
  // An object this policy made before a restart, or someone else's by that name.
  const auto created = [&](const kube::ResourceType& type, const Json& object,
                           const std::string& what) -> Status {
    const std::string name = object["metadata"].value("name", "");
    auto r = d_.client.create(type, in.ns, object);
    if (!r.ok() && !r.error().is(ErrorKind::AlreadyExists))
      return r.error().wrap("while creating " + what + " " + in.ns + "/" + name);
    if (!r.ok()) {
      auto existing = d_.client.get(type, {in.ns, name});
      if (existing.ok() && !ownedBy(*existing, in.uid))
        return Error::make(ErrorKind::Conflict, what + " " + in.ns + "/" + name +
                                                    " exists and is not RebalancePolicy " +
                                                    in.key() + "'s");
    }
    acted = true;
    return okStatus();
  };
  for (const auto& w : plan.writes) {
    Status st = std::visit(
        Overloaded{
            [&](const CreateMigration& m) -> Status {
              UMBRA_CHECK(created(api::migrations(), m.migration, "migration"));
              const std::lock_guard<std::mutex> lock(mutex_);
              started_[in.ns + "/" + m.vm] = {m.migration["metadata"].value("name", ""),
                                              d_.clock.now()};
              log::info("migration started",
                        {{"policy", in.key()},
                         {"vm", m.vm},
                         {"migration", m.migration["metadata"].value("name", "")}});
              return okStatus();
            },
            [&](const CreateCompanion& c) -> Status {
              UMBRA_CHECK(created(api::virtualMachineInstances(), c.vmi, "companion VMI"));
              log::info("companion created",
                        {{"policy", in.key()}, {"companion", c.vmi["metadata"].value("name", "")}});
              return okStatus();
            },
            [&](const DeleteCompanion& d) -> Status {
              auto r = d_.client.remove(api::virtualMachineInstances(), {in.ns, d.name}, {});
              if (!r.ok() && !r.error().is(ErrorKind::NotFound))
                return r.error().wrap("while deleting companion VMI " + in.ns + "/" + d.name);
              acted = true;
              log::info("companion deleted", {{"policy", in.key()}, {"companion", d.name}});
              return okStatus();
            },
            [&](const WriteStatus& s) -> Status {
              UMBRA_TRY(const std::string written,
                        patchOwnStatus(d_.client, api::rebalancePolicies(), {in.ns, in.name},
                                       api::toJson(s.status), version, acted,
                                       "RebalancePolicy " + in.key()));
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
