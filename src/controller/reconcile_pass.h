#pragma once

// Internal to the reconciler's .cc files: the world as read at the start of one pass.
#include <future>
#include <string>
#include <vector>

#include "controller/shadow_placement_reconciler.h"
#include "placement/candidates.h"

namespace umbra::controller {

struct ShadowPlacementReconciler::Pass {
  Json sp;  // the placement as cached
  std::string ns;
  std::string name;
  int64_t generation = 0;
  api::PlacementSettings settings;
  Json status;      // being rebuilt by this pass
  Json original;    // as read; writeStatus() skips an unchanged status
  Json target;      // the VM or VMI
  Json targetSpec;  // its VMI spec (a VM's template spec)
  placement::TargetRequirements req;
  SystemTime now;
  std::future<Result<Json>> finalizer;  // adding our finalizer, when this pass does
  bool shadowsOnly = false;  // a new placement's first pass: create the shadows, write nothing else
  std::vector<std::string> superseded;  // resourceVersions of the placement this pass wrote over
};

}  // namespace umbra::controller
