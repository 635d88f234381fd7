#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/simulation.h"

namespace umbra::simulator {

// Annotations (on a VMI, or on a VM's template) that choose what the simulated guest does:
//   umbra.io/sim-workload      trace:<series id>[@<offset seconds>] |
//                              profile:<steady|diurnal|spiky|bursty>:<level> | idle
//   umbra.io/sim-class         an interference class of the cluster's physics (default neutral)
//   umbra.io/sim-demand-vcpus  what the demand's CPU fraction is of (default: the vCPUs)
//   umbra.io/sim-pool          VMIs with the same value (in a namespace) share one demand: the
//                              pool controller sets it on its VMs' template, so a pool's load is
//                              spread over its running VMs
//   umbra.io/mirror-of, umbra.io/mirror-percentage: a Mirror shadow's target VMI and share
//   umbra.io/sim-dirty-rate    bytes per second the guest dirties (a quantity, e.g. 2Gi), for
//                              its live migrations; default: per busy core (physics)
//   sidecar.istio.io/inject: "true"  a serving workload behind Istio's proxy: its demand is
//                              requests (sim/requests.h), reported as Istio's metrics
//   umbra.io/sim-requests      <CPU time per request>[,cv2=<x>] (default 20ms, cv2=1)
inline constexpr const char* WorkloadAnnotation = "umbra.io/sim-workload";
inline constexpr const char* ClassAnnotation = "umbra.io/sim-class";
inline constexpr const char* MirrorOfAnnotation = "umbra.io/mirror-of";
// The vCPUs a trace's or profile's CPU fraction is of (default: the VMI's own vCPUs), so that a
// VM that hotplugs vCPUs serves more of the same demand instead of growing its demand with them.
inline constexpr const char* DemandVcpusAnnotation = "umbra.io/sim-demand-vcpus";
inline constexpr const char* PoolAnnotation = "umbra.io/sim-pool";
inline constexpr const char* MirrorPercentageAnnotation = "umbra.io/mirror-percentage";
inline constexpr const char* DirtyRateAnnotation = "umbra.io/sim-dirty-rate";
inline constexpr const char* SidecarAnnotation = "sidecar.istio.io/inject";
inline constexpr const char* RequestsAnnotation = "umbra.io/sim-requests";

// The simulated workload of a VMI: its size from spec.domain (vCPUs = sockets x cores x
// threads, guest memory, CPU limit) and its demand from the annotations above; without them a
// shadow (umbra.io/role=shadow) runs the load its cloud-init script describes (Synthetic) or
// idles (Passive), and any other VMI replays a trace picked by a hash of its name (or, without
// traces, a steady 30 % load). A bad annotation falls back to that default and sets `warning`.
sim::WorkloadSpec workloadOf(const nlohmann::json& vmi, const sim::Physics& physics,
                             const sim::TraceSet* traces, uint64_t seed, std::string& warning);

}  // namespace umbra::simulator
