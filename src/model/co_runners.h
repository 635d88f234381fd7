#pragma once

// A node's CPU history as the VMs on it now would have made it (issue 18, "forecast each
// co-runner"). A node's own history still holds the VMs that have left it and lacks the days of
// the VMs that came recently, so its daily peak describes yesterday's co-runners, not today's.
// Per-VMI CPU use (kubevirt_vmi_cpu_usage_seconds_total, labelled with the VMI's node) lets the
// operator rebuild the node's history for the VMs that run there now.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "telemetry/metrics_source.h"

namespace umbra::model {

// One VM's CPU use over the slots of a node's history (the same slots, the same length): the
// cores it used in each slot and where it ran then; `current`: it runs on the node now (how the
// caller knows is its own: the operator's form below takes the node of the VMI's last step).
struct VmCpuSlots {
  enum class Where : uint8_t { Absent, Here, Elsewhere };
  std::vector<double> cores;
  std::vector<Where> where;
  bool current = false;
};

// The node's utilisation (0..1 of `cores`) in every slot as if the VMs running on it now
// (`current`) had run on it all along, and no other VM had:
// - a VM that ran here then but not now (it left or moved away) is taken out;
// - a VM here now that ran elsewhere then (it moved here) is put in with what it used there;
// - a VM here now that did not run then (new) is put in at the mean of the slots where it ran:
//   the best a day-old VM's first hours tell about the rest of its day.
// What is left after the VMs are taken out is the node's own load (system daemons, pods), kept.
// Clamped to 0..1. VMs whose series are not as long as `nodeUtil` are ignored; with no VM the
// history is returned as it is.
std::vector<double> coRunnerHistory(std::span<const double> nodeUtil, double cores,
                                    std::span<const VmCpuSlots> vms);

// The operator's form: each node's history in `histories` (node -> utilisation at the steps of
// `vmis.times`, the same length) rebuilt from the VMIs' CPU use, a VMI being current on the node
// its last step ran on (one that left within the last rate window still counts). A node without a
// CPU count, or whose history has another length, is left as it is. Returns the nodes rebuilt.
size_t toCoRunnerHistories(std::map<std::string, std::vector<double>>& histories,
                           const telemetry::VmiCpuHistory& vmis);

}  // namespace umbra::model
