#pragma once

// What a pass of the custom-resource controllers (PredictiveScaler, ShadowPool, RebalancePolicy)
// reads first: the object as cached, its identity, its typed spec (or why it cannot be used) and
// the part of its status the pass reads back.
#include <optional>
#include <string>

#include "common/log.h"
#include "common/result.h"
#include "kube_core/object.h"

namespace umbra::controller {

template <typename Spec, typename Status>
struct ObjectInput {
  kube::Json object;  // as cached: the subject of Events, the owner of what the pass creates
  std::string ns, name, uid;
  int64_t generation = 0;
  std::optional<Spec> spec;  // nullopt: invalid, see specError
  std::string specError;
  Status status;
  std::string key() const { return ns + "/" + name; }
};

// `object` read with its kind's typed readers. A status no Umbra wrote is logged (naming `kind`)
// and started afresh.
template <typename Spec, typename Status>
ObjectInput<Spec, Status> readInput(const kube::Json& object,
                                    Result<Spec> (*specFrom)(const kube::Json&),
                                    Result<Status> (*statusFrom)(const kube::Json&),
                                    const char* kind) {
  ObjectInput<Spec, Status> in;
  in.object = object;
  const kube::Json& meta = object["metadata"];
  in.ns = meta.value("namespace", "");
  in.name = meta.value("name", "");
  in.uid = meta.value("uid", "");
  in.generation = meta.value("generation", static_cast<int64_t>(0));
  auto spec = specFrom(object);
  if (spec.ok())
    in.spec = std::move(spec).value();
  else
    in.specError = spec.error().message;
  auto status = statusFrom(object.value("status", kube::Json::object()));
  if (status.ok())
    in.status = std::move(status).value();
  else
    log::warn(std::string(kind) + " status not understood; starting afresh",
              {{"object", in.key()}, {"error", status.error().message}});
  return in;
}

}  // namespace umbra::controller
