#pragma once

// What one pass of an InstancetypeTrial knows: the trial as read (TrialInput) and a snapshot of
// its target, the candidate types, its shadows, the mesh and its shadows' measurements
// (TrialWorld). Plain values: planTrial() decides on them with no I/O.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/instancetype_trial.h"
#include "common/clock.h"
#include "controller/object_input.h"
#include "controller/world.h"
#include "kube_core/object.h"
#include "placement/trial.h"

namespace umbra::controller {

using TrialInput = ObjectInput<api::TrialSpec, api::TrialStatus>;

struct TrialTarget {
  bool exists = false;   // the VirtualMachine
  bool running = false;  // its VMI is Running
  kube::Json vmiSpec;    // what the shadows copy (the running VMI's spec)
  std::optional<api::InstancetypeRef> instancetype;  // the VM's spec.instancetype
};

// A candidate type as the caches have it.
struct TrialType {
  std::string problem;  // why it cannot be tried ("" when it can): it does not exist, its spec
  placement::Instancetype instancetype;
  placement::TypeSize size;
  double costPerHour = 0;
};

struct TrialShadow {
  std::string name, uid, phase;
  bool deleting = false;
  std::string failure;  // why KubeVirt failed it, when it did
  std::optional<SystemTime> created;
};

struct TrialWorld {
  TrialTarget target;
  MirrorView mirror;  // the mesh and the target's Service (placement/mirror.h objects)
  std::map<std::string, TrialType> types;            // by name: the candidates' and the catalogue's
  std::vector<placement::CatalogueEntry> catalogue;  // every type of the candidates' kinds
  std::map<std::string, TrialShadow> shadows;        // by candidate type
  std::map<std::string, placement::ShadowReading> readings;  // by candidate type, when read
  // The VM's memory in use, its peak since the trial began (GiB); unknown before a reading.
  std::optional<double> memoryInUseGiB;
  std::string metricsProblem;  // why a running candidate's reading is missing ("" if none is)
};

}  // namespace umbra::controller
