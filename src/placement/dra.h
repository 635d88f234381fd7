#pragma once

// Dynamic Resource Allocation (resource.k8s.io/v1) as the scheduler's DRA plugin sees it, for
// feasibility: which nodes have free devices for a VMI's resource claims.
//
// Read from the API: the ResourceSlices drivers publish (devices per node, or shared by the nodes
// a selector or allNodes names), the allocated ResourceClaims (devices taken), the DeviceClasses
// and the VMI's claims (ResourceClaim or ResourceClaimTemplate). A request needs `count` devices
// (or, for allocationMode All, every matching device, at least one) that match its class's and
// its own CEL selectors; `firstAvailable` is satisfied by its first sub-request that fits. A claim
// already allocated is bound to its allocation's node selector. Not evaluated (the scheduler
// still decides; a wrong guess ends as an Unschedulable VMI, which fails the placement with the
// scheduler's reason): `constraints` (matchAttribute), device taints, consumable capacity,
// partitionable devices' shared counters, admin access.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube_core/resource.h"
#include "placement/dra_cel.h"

namespace umbra::placement {

struct NodeView;

namespace dra {

// One alternative way to satisfy a request (`exactly`, or one of `firstAvailable`).
struct Alternative {
  std::string name;  // a firstAvailable sub-request's name ("" for exactly)
  std::string deviceClass;
  std::vector<Selector> selectors;  // the DeviceClass's, then the request's
  int64_t count = 1;
  bool all = false;  // allocationMode All
};

struct Request {
  std::string name;
  std::vector<Alternative> alternatives;
};

struct Claim {
  std::string name;   // the entry in the VMI's spec.resourceClaims
  std::string label;  // "ResourceClaimTemplate ns/name", for messages
  std::vector<Request> requests;
  // status.allocation.nodeSelector of an allocated claim (its devices are already its own); null
  // when the allocation has none (devices every node reaches).
  std::optional<Json> allocatedNodeSelector;
};

// Devices not allocated to any claim, per node, after every ResourceSlice was read.
struct Inventory {
  std::map<std::string, std::vector<Device>> byNode;
  // Devices of pools shared by several nodes: the slice's nodeSelector (null for allNodes).
  std::vector<std::pair<Json, Device>> shared;
};

// What a VMI needs from DRA, as TargetRequirements carries it.
struct Needs {
  std::vector<Claim> claims;
  Inventory inventory;
};

// The devices of the latest generation of each pool, minus those allocated by `claims`
// (status.allocation.devices.results) except the claims named in `own` ("ns/name").
Inventory inventoryOf(const std::vector<const Json*>& slices,
                      const std::vector<const Json*>& claims, const std::vector<std::string>& own);

// A ResourceClaimSpec's requests with their classes' selectors; `classes` maps a DeviceClass name
// to the object (a missing one is an error naming it). Errors name the field.
Result<std::vector<Request>> requestsOf(const Json& claimSpec, const std::map<std::string, Json>& classes,
                                        const std::string& label);

// The DeviceClass names a ResourceClaimSpec references.
std::vector<std::string> deviceClassesOf(const Json& claimSpec);

// "" if the node can satisfy every claim, else why not ("no free device of class gpu.example.com
// for ResourceClaimTemplate ns/t request gpu"). `chosen`, if given, receives the devices picked
// per claim and request, keyed "<claim>\n<request>" where the request is as the allocation
// result names it ("<request>" or "<request>/<sub-request>").
std::string shortfall(const Needs& needs, const NodeView& node,
                      std::map<std::string, std::vector<Device>>* chosen = nullptr);

// How needsOf() reads the API: a KubeClient in the operator and in umbra-sim.
struct Source {
  // One object ("" namespace for cluster-scoped types); errors keep their kind (NotFound, ...).
  std::function<Result<Json>(const kube::ResourceType&, const std::string& ns,
                             const std::string& name)>
      get;
  // Every object of a type, in all namespaces: a List object.
  std::function<Result<Json>(const kube::ResourceType&)> list;
};

// What a VMI spec's resourceClaims (in namespace `ns`) need, read from the API: its claims or
// claim templates, their DeviceClasses, every ResourceSlice and every allocated claim. nullptr for
// a VMI without claims. Errors name the field and object; a missing object is Terminal, an
// unavailable API keeps its (retryable) kind.
Result<std::shared_ptr<const Needs>> needsOf(const Json& vmiSpec, const std::string& ns,
                                             const Source& api);

}  // namespace dra
}  // namespace umbra::placement
