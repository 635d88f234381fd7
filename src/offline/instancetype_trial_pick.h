#pragma once

// `umbra bench instancetypes`: the InstancetypeTrial controller's own algorithm as a picker
// (docs/instancetype-trials.md), beside the benchmark's Umbra picker that sizes by a latency model
// at a forecast peak (docs/instancetypes.md).
#include <vector>

#include "offline/instancetype_bench.h"
#include "sim/requests.h"

namespace umbra::offline {

// What the InstancetypeTrial controller sees of a trial (docs/instancetype-trials.md).
struct ControllerTrial {
  const std::vector<double>& busy;        // the VM's busy cores a step
  const std::vector<double>& memory;      // its working set a step, GiB
  const std::vector<double>& shadowHost;  // the steal where the shadows run
  size_t from, to;                        // the trial's steps
  const sim::RequestModel& model;
  double slo;  // seconds
  double share;
  double hours;  // one observation
};

// The p95 a candidate's shadow reports over the trial, scaled to full load (ms): the full-size
// type's latencies stretched by 1/share, read through the mesh's histogram (Envoy's buckets) by
// histogram_quantile's linear interpolation.
double trialP95(const InstanceType& t, const ControllerTrial& c);

// The controller's trial of a u1 VM (examples/09): the requested type and one size down measured
// side by side, then explore.neighbours (the best's next size down while it meets the SLO, else
// the next size up); a type below the VM's peak memory in use + 10 % is not tried. The cheapest
// type meeting the SLO, else the VM stays as it is. Every round is read over the same trial
// window (the controller runs them one after the other).
PickerResult controllerPick(const std::vector<InstanceType>& types, const InstanceType& requested,
                            const ControllerTrial& c);

}  // namespace umbra::offline
