#pragma once

// Writing a controller's own status after a pass (PredictiveScaler, ShadowPool).
#include <string>

#include "common/result.h"
#include "kube/client.h"

namespace umbra::controller {

// A merge patch of .status conditional on `version` (the resourceVersion the pass read): a pass
// that read a stale cache gets a Conflict and is retried instead of overwriting newer progress.
// When the pass has already changed something else (`acted`: a target resized, a shadow
// activated), the record of that change must not be lost to the stale read (the retry would find
// the change made and record nothing), so a Conflict is written again unconditionally: only this
// controller writes the status, and the newest pass's wins. Returns the new resourceVersion;
// errors name `what`.
Result<std::string> patchOwnStatus(kube::KubeClient& client, const kube::ResourceType& type,
                                   const kube::ObjectRef& ref, const kube::Json& status,
                                   const std::string& version, bool acted, const std::string& what);

}  // namespace umbra::controller
