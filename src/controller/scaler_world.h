#pragma once

// What one pass of a PredictiveScaler knows: the scaler as read (ScalerInput) and a snapshot of
// its target and the target's demand (ScalerWorld). Plain values: planScaler() decides on them
// with no I/O.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/predictive_scaler.h"
#include "controller/object_input.h"
#include "kube_core/object.h"
#include "model/series_forecast.h"

namespace umbra::controller {

using ScalerInput = ObjectInput<api::ScalerSpec, api::ScalerStatus>;

// A VirtualMachine target: its template (what is asked) and its VMI (what runs).
struct VmTarget {
  bool exists = false;
  int sockets = 1, coresPerSocket = 1;  // the template's; coresPerSocket = cores x threads
  double guest = 0;                     // the template's memory.guest, bytes (0: unset)
  bool running = false;                 // a Running VMI
  int vmiSockets = 0, maxSockets = 0;   // the VMI's spec (0: not set: cannot hotplug vCPUs)
  double vmiGuest = 0, maxGuest = 0, guestAtBoot = 0;  // bytes (0: unset)
  bool hotplugPending = false;                         // HotVCPUChange / HotMemoryChange on the VMI
  bool migrating = false;                              // a migration of the VMI in flight
  std::string restartRequired;                         // the VM's RestartRequired message
  std::string notMigratable;                           // the VMI's LiveMigratable=False message
};

// A VirtualMachinePool target.
struct PoolTarget {
  bool exists = false;
  int replicas = 0;       // spec.replicas
  int readyReplicas = 0;  // status
  bool paused = false;
  double vcpusPerVm = 1;  // from its template
};

struct ScalerWorld {
  VmTarget vm;
  PoolTarget pool;
  std::string targetProblem;  // why the target cannot be read at all ("" when it can)
  // The operator's demand network (read-only, shared), when it has a trained one.
  std::shared_ptr<const model::SeriesMethod> network;
  int networkHorizon = 0;
  std::string networkName;
  // The target's demand on the scaler's grid, oldest first (a pool: the sum over its VMIs; gaps
  // carry the last value): CPU cores used, guest memory used (bytes).
  std::vector<double> cpuCores, memoryBytes;
  size_t presentSteps = 0;     // steps with data
  std::string metricsProblem;  // why there is no demand to read ("" if there is)
};

}  // namespace umbra::controller
