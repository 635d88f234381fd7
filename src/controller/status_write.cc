#include "controller/status_write.h"

namespace umbra::controller {

Result<std::string> patchOwnStatus(kube::KubeClient& client, const kube::ResourceType& type,
                                   const kube::ObjectRef& ref, const kube::Json& status,
                                   const std::string& version, bool acted,
                                   const std::string& what) {
  kube::Json patch = {{"metadata", {{"resourceVersion", version}}}, {"status", status}};
  auto r = client.patch(type, ref, kube::PatchType::Merge, patch, {}, "status");
  if (!r.ok() && r.error().is(ErrorKind::Conflict) && acted) {
    patch.erase("metadata");
    r = client.patch(type, ref, kube::PatchType::Merge, patch, {}, "status");
  }
  if (!r.ok())
    return r.error().wrap("while writing the status of " + what);
  return (*r)["metadata"].value("resourceVersion", "");
}

}  // namespace umbra::controller
