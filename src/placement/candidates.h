#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "common/result.h"

namespace umbra::placement {

using Json = nlohmann::json;

namespace dra {
struct Needs;  // placement/dra.h
}

struct Resources {
  double cpu = 0;     // cores
  double memory = 0;  // bytes
  // Extended resources by name: device plugins' (nvidia.com/..., devices.kubevirt.io/...) and
  // hugepages-<size> (bytes). Empty for most VMs.
  std::map<std::string, double> extended;

  void add(const Resources& r, double share = 1.0);
  void subtract(const Resources& r);
};

// What the full VM needs from a node, read from a VMI spec (a VMI's `spec`, or a VM's
// `spec.template.spec`).
struct TargetRequirements {
  Resources requests;  // what the scheduler reserves for it
  Resources size;      // what it can use: vCPUs and guest memory (shadows are a fraction of this)
  std::map<std::string, std::string> nodeSelector;
  Json requiredAffinityTerms = Json::array();  // nodeSelectorTerms, OR'ed
  Json tolerations = Json::array();
  // What KubeVirt adds to the virt-launcher pod: kubernetes.io/arch from spec.architecture,
  // cpumanager=true for dedicated CPUs. Both are also in nodeSelector; kept apart for messages.
  std::string architecture;
  bool dedicatedCpus = false;
  // spec.resourceClaims (DRA): the names of its entries. What they need from nodes is read from
  // the API by the caller into `dra`; a target with claims and no `dra` fits nowhere.
  std::vector<std::string> resourceClaims;
  std::shared_ptr<const dra::Needs> dra;
};

// A VM's instancetype, as far as scheduling is concerned (instancetype.kubevirt.io spec).
// Applied to the VMI spec before requirementsOf(): KubeVirt expands it the same way.
struct Instancetype {
  std::string name;  // "<kind>/<name>", for messages
  Json spec;         // the instancetype's spec
};
// The VMI spec with the instancetype's cpu.guest (as sockets), memory.guest, dedicated CPUs,
// hugepages, GPUs, host devices and nodeSelector applied; its overcommitPercent sets the memory
// request (pkg/instancetype/apply). Errors name the instancetype's field.
Result<Json> applyInstancetype(const Json& vmiSpec, const Instancetype& it);

// KubeVirt's default: without explicit requests a VMI requests vCPUs / cpuAllocationRatio.
inline constexpr double CpuAllocationRatio = 10.0;

// Errors are Terminal and name the field ("spec.domain.resources.requests.cpu: \"x\" ...").
Result<TargetRequirements> requirementsOf(const Json& vmiSpec);

// A node as the classifier sees it.
struct NodeView {
  std::string name;
  std::map<std::string, std::string> labels;
  Json taints = Json::array();
  bool ready = false;
  bool unschedulable = false;
  Resources allocatable;
  Resources requested;          // sum of requests of VMIs and pods already on the node
  std::string priceAnnotation;  // its umbra.io/price-per-hour annotation, "" if none
};

NodeView nodeViewOf(const Json& node);

// What one VMI or pod holds on its node.
struct NodeRequests {
  std::string node;
  Resources requests;
};
// A VMI holds its requests on status.nodeName unless Succeeded or Failed; nullopt otherwise.
std::optional<NodeRequests> vmiNodeRequests(const Json& vmi);
// A pod holds its containers' requests on spec.nodeName unless Succeeded or Failed. virt-launcher
// pods hold nothing here: they carry their VMI's requests, counted with the VMI.
std::optional<NodeRequests> podNodeRequests(const Json& pod);
// Adds up the requests of running/pending VMIs (status.nodeName) and non-terminated pods
// (spec.nodeName) per node. The objects are read in place (non-owning pointers into a cache).
// `skipVmi` (a key "ns/name") is left out: the target itself.
std::map<std::string, Resources> requestedPerNode(const std::vector<const Json*>& vmis,
                                                  const std::vector<const Json*>& pods,
                                                  const std::string& skipVmi = "");

struct Verdict {
  std::string node;
  bool feasible = false;
  std::string reason;  // why not, for infeasible nodes
  double score = 0;    // static score: free share left after placing the target (higher first)
  std::optional<double> costPerHour;  // the VM's share of the node's price, when priced
};

// A cap on what the VM may cost per hour on a node: its dominant share of the node's allocatable
// (the larger of its CPU and memory requests over the node's) times the node's price per hour
// (api::NodePrices). With a cap, a node over it, or without a price, is not feasible.
struct CostCap {
  std::optional<double> maxPerHour;
  const api::NodePrices* prices = nullptr;
};
// The node's price per hour: its umbra.io/price-per-hour annotation, else the table's price of
// its label's value; nullopt when neither.
std::optional<double> nodePricePerHour(const NodeView& node, const api::NodePrices& prices);
// The VM's share of it (see CostCap).
std::optional<double> costPerHour(const NodeView& node, const Resources& requests,
                                  const api::NodePrices& prices);

// The Multus networks ("ns/name" or "name") of a VMI spec's SR-IOV interfaces, one per
// interface: KubeVirt requests one device of the network's resource for each.
std::vector<std::string> sriovNetworks(const Json& vmiSpec);

// Classifies every node: Ready, not cordoned, kubevirt.io/schedulable=true, the target's
// nodeSelector (architecture and dedicated CPUs included) and required node affinity, the CR's
// extra selector, taints tolerated, and allocatable - requested >= the target's requests, extended
// resources (GPUs, host devices, hugepages) included. Feasible nodes come first, best score first,
// then by name (deterministic).
std::vector<Verdict> classify(const std::vector<NodeView>& nodes, const TargetRequirements& target,
                              const std::map<std::string, std::string>& extraSelector,
                              const CostCap& cost = {});

// The first `count` feasible nodes of classify()'s result.
std::vector<std::string> topCandidates(const std::vector<Verdict>& verdicts, int count);

// `count` candidates taken in turn from two rankings of the feasible nodes (the node-history
// forecast's first, then the static score's), skipping nodes already taken: a node either ranking
// likes is probed. Fewer if the rankings hold fewer distinct nodes.
std::vector<std::string> mixedCandidates(const std::vector<std::string>& byForecast,
                                         const std::vector<std::string>& byStatic, int count);

// Exposed for tests.
bool matchesNodeSelectorTerm(const Json& term, const NodeView& node);
bool tolerates(const Json& tolerations, const Json& taint);

}  // namespace umbra::placement
