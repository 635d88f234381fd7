#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "common/result.h"
#include "placement/candidates.h"

namespace umbra::placement {

// Deterministic name `<placement>-shadow-<node>`, so that a retried create meets AlreadyExists
// instead of making a twin. Names longer than 63 characters keep a readable prefix and end in a
// hash of the full name (the name also becomes a label value on the launcher pod).
std::string shadowName(const std::string& placement, const std::string& node);

// The migration of a placement's `attempt`-th move (1-based): `<placement>-<uid[:8]>-<attempt>`,
// so that a placement re-created under the same name never meets an old migration, and a retried
// create of the same attempt meets AlreadyExists. Long names keep a prefix and end in a hash.
std::string migrationName(const std::string& placement, const std::string& uid, size_t attempt);

// The value of a placement's umbra.io/placement label: its name, or, for a name over the 63
// characters a label value may hold, a readable prefix ending in a hash of the whole name.
std::string placementLabelValue(const std::string& placement);

// The label selector of a placement's shadows ("umbra.io/placement=<name>,umbra.io/role=shadow").
std::string shadowSelector(const std::string& placement);

// The shadow's CPU limit and memory: the target's size times the fractions, raised to the floors.
Resources shadowResources(const TargetRequirements& target, const api::PlacementSettings& s,
                          const api::PlacementDefaults& d);

// Cloud-init user data that runs the Synthetic load profile and the probe (docs/simulation.md, "The
// probe"): busy `cpuPercent` of the shadow's CPU limit (`limitCores`) in wall time, at least one
// pair of chunks a cycle. A chunk outlasts a small quota's share of a 100 ms period, so the quota
// throttles it anyway (bench/probe_noise.py); the kernels' ratio cancels that. Always <= 2048
// bytes (KubeVirt's inline limit).
std::string syntheticUserData(const api::SyntheticLoad& load, double limitCores = 1.0);
// The guest script inside it (write_files' /usr/local/bin/umbra-load), for `umbra probe-script`.
std::string syntheticScript(const api::SyntheticLoad& load, double limitCores = 1.0);

// A throttled copy of the target, pinned to `node`:
//  - CPU request = limit = shadowResources().cpu, one vCPU; memory guest = request = limit;
//  - the target's containerDisk image if it has one, else the probe image; never its volumes;
//  - nodeSelector {kubernetes.io/hostname: node}, the target's tolerations;
//  - labels umbra.io/placement and umbra.io/role=shadow; an ownerReference to the placement;
//  - cloud-init for Synthetic.
// `placement` is the ShadowPlacement object (metadata.name/namespace/uid); `targetSpec` is the
// target VMI's spec or the VM's template spec.
Json buildShadowVmi(const Json& placement, const Json& targetSpec, const std::string& node,
                    const api::PlacementSettings& settings, const api::PlacementDefaults& defaults);

}  // namespace umbra::placement
