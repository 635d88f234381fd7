#pragma once

// umbra-sim playing a service mesh's request mirroring (Istio; ../shared/kubevirt/API-NOTES.md
// section 15): the requests of a VirtualService's HTTP route go to its destinations, and each of
// its `mirrors` (or the older `mirror` with `mirrorPercentage`) receives a copy of `percentage` of
// them, fire and forget. Hosts are Services in the VirtualService's namespace unless qualified
// (`name`, `name.ns`, `name.ns.svc[.cluster.local]`); a Service's selector picks the VMIs whose
// virt-launcher pods carry its labels. In the simulation a mirror's guest gets that share of the
// demand of every VMI behind the route's destinations.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/simulation.h"

namespace umbra::simulator {

// A running VMI as the mesh sees it: "ns/name" and its labels.
struct MeshEndpoint {
  std::string key, ns;
  std::map<std::string, std::string> labels;
};

// Per VMI that receives mirrored requests: whose requests, and the share of them.
std::map<std::string, std::vector<sim::DemandSource::MirrorInput>> mirroredRequests(
    const std::vector<nlohmann::json>& virtualServices, const std::vector<nlohmann::json>& services,
    const std::vector<MeshEndpoint>& vmis);

}  // namespace umbra::simulator
