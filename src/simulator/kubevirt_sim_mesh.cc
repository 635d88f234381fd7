// KubeVirtSimulator's service mesh: Istio's request mirroring, from the VirtualServices the API
// server holds (mesh.h), applied to the running workloads' demand.
#include "common/log.h"
#include "simulator/kubevirt_sim.h"
#include "simulator/mesh.h"
#include "simulator/workloads.h"

namespace umbra::simulator {

using kube::Json;

void KubeVirtSimulator::applyMesh() {
  if (!virtualServices_)
    return;
  std::vector<Json> routes, services;
  for (const auto& vs : virtualServices_->store().list())
    routes.push_back(*vs);
  for (const auto& s : services_->store().list())
    services.push_back(*s);
  const std::lock_guard<std::mutex> lock(mutex_);
  std::vector<MeshEndpoint> endpoints;
  for (const auto& [key, info] : vmiInfo_)
    endpoints.push_back({key, info.ns, info.labels});
  const auto mirrored = mirroredRequests(routes, services, endpoints);
  for (const auto& [key, inputs] : mirrored) {
    const sim::WorkloadState* w = sim_.workload(key);
    if (!w || (w->spec.source.kind == sim::SourceKind::Mirror && w->spec.source.mirrors == inputs))
      continue;
    sim::DemandSource source;
    source.kind = sim::SourceKind::Mirror;
    source.mirrors = inputs;
    sim_.setSource(key, source);
    // The copies are the original's requests: the same CPU time each, if the VMI has a sidecar.
    if (const sim::WorkloadState* original = sim_.workload(inputs.front().of);
        original && original->spec.requests && w->spec.requests)
      sim_.setRequests(key, original->spec.requests);
    meshMirrored_.insert(key);
    log::info("the mesh mirrors requests to VMI",
              {{"vmi", key}, {"sources", std::to_string(inputs.size())}});
  }
  for (auto it = meshMirrored_.begin(); it != meshMirrored_.end();) {
    if (mirrored.count(*it)) {
      ++it;
      continue;
    }
    // No mirror reaches it any more: its own demand again (as its annotations say).
    if (const kube::ObjectPtr vmi = vmis_->store().get(*it); vmi && sim_.workload(*it)) {
      std::string ignored;
      const sim::WorkloadSpec own =
          workloadOf(*vmi, sim_.cluster().physics, traces_, options_.seed, ignored);
      sim_.setSource(*it, own.source);
      sim_.setRequests(*it, own.requests);
      log::info("the mesh no longer mirrors requests to VMI", {{"vmi", *it}});
    }
    it = meshMirrored_.erase(it);
  }
}

}  // namespace umbra::simulator
