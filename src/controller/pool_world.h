#pragma once

// What one pass of a ShadowPool knows: the pool as read (PoolInput) and a snapshot of its
// workload, its shadows, the trigger, the demand, its notices and reserved nodes (PoolWorld).
// Plain values: planPool() decides on them with no I/O.
#include <optional>
#include <string>
#include <vector>

#include "api/shadow_pool.h"
#include "common/clock.h"
#include "controller/object_input.h"
#include "kube_core/object.h"

namespace umbra::controller {

using PoolInput = ObjectInput<api::ShadowPoolSpec, api::ShadowPoolStatus>;

// One shadow: a VirtualMachine owned by the pool, and its VMI.
struct PoolShadow {
  std::string name;
  std::optional<SystemTime> created;
  bool deleting = false;
  bool halted = false;       // the VM's runStrategy is Halted
  bool vmi = false;          // a VMI exists (not being deleted)
  bool running = false;      // ... in phase Running
  bool paused = false;       // ... with Paused=True
  bool serving = false;      // the VM's template and its VMI carry the Service's label
  bool stateActive = false;  // umbra.io/shadow-state=active on the VM
  std::string node;
  int sockets = 0;   // the VMI's current sockets (status.currentCPUTopology, else spec)
  double guest = 0;  // the VMI's current guest memory, bytes
  std::optional<SystemTime> activationStarted, servingSince, hotplugDone;
  double activationTrigger = 0;
  bool coldStart = false;  // created serving because no dormant shadow was left
};

struct NoticeView {
  kube::Json object;
  std::optional<api::LoadNoticeSpec> spec;
  std::string error;  // why the spec cannot be used
  std::string phase;  // as its status shows now
  int extraShadows = 0;
};

struct ReservedNode {
  std::string name;
  bool labelled = false, tainted = false;
  kube::Json taints = kube::Json::array();  // as they are now
  std::string resourceVersion;
};

struct PoolWorld {
  // The VM template the shadows copy (metadata + spec); null with workloadProblem set.
  kube::Json shadowTemplate;
  std::string workloadProblem;
  int fullSockets = 1, coresPerSocket = 1;
  double fullGuest = 0;             // bytes
  std::vector<PoolShadow> shadows;  // by name
  // The VMIs carrying the Service's label (the workload's own and the serving shadows).
  int servingVmis = 0;
  double servingVcpus = 0;
  std::optional<double> trigger;
  std::string triggerProblem;
  // The serving VMIs' CPU cores used, on the pool's grid, oldest first (gaps carry the last).
  std::vector<double> demand;
  std::string demandProblem;
  std::vector<NoticeView> notices;
  std::vector<ReservedNode> reserved;
};

}  // namespace umbra::controller
