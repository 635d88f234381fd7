#include "simulator/kubevirt_sim.h"

#include <algorithm>
#include <optional>
#include <set>

#include "api/shadow_placement.h"
#include "common/log.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"
#include "placement/candidates.h"
#include "simulator/kubevirt_sim_internal.h"
#include "simulator/workloads.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
using namespace sim_detail;
}  // namespace

KubeVirtSimulator::KubeVirtSimulator(kube::KubeClient& client, sim::ClusterSpec cluster,
                                     const sim::TraceSet* traces, SimulatorOptions options)
    : client_(client),
      options_(options),
      traces_(traces),
      sim_(std::move(cluster), options.seed, traces) {}

KubeVirtSimulator::~KubeVirtSimulator() {
  for (auto* i :
       {&nodes_, &vms_, &vmis_, &migrations_, &pods_, &services_, &pools_, &virtualServices_}) {
    if (*i)
      (*i)->stop();
  }
}

Json KubeVirtSimulator::nodeObject(const sim::NodeSpec& n) const {
  Json labels = {{"kubernetes.io/hostname", n.name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"kubevirt.io/schedulable", "true"},
                 {"type", "umbra-sim"}};
  for (const auto& [k, v] : n.labels)
    labels[k] = v;
  Json taints = Json::array();
  for (const auto& t : n.taints) {
    Json taint = {{"key", t.key}, {"effect", t.effect}};
    if (!t.value.empty())
      taint["value"] = t.value;
    taints.push_back(taint);
  }
  Json node = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", n.name}, {"labels", labels}, {"annotations", {{"umbra.io/simulated", "true"}}}}},
      {"spec", Json::object()}};
  if (!taints.empty())
    node["spec"]["taints"] = taints;
  return node;
}

Status KubeVirtSimulator::start(std::chrono::milliseconds syncTimeout) {
  nodes_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{kube::resources::nodes(), ""}, kube::EventHandlers{});
  vms_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{api::virtualMachines(), ""}, kube::EventHandlers{});
  vmis_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{api::virtualMachineInstances(), ""}, kube::EventHandlers{});
  migrations_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{api::migrations(), ""}, kube::EventHandlers{});
  pods_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{kube::resources::pods(), ""}, kube::EventHandlers{});
  services_ = std::make_unique<kube::Informer>(
      client_, kube::ReflectorOptions{kube::resources::services(), ""}, kube::EventHandlers{});
  for (auto* i : {&nodes_, &vms_, &vmis_, &migrations_, &pods_, &services_})
    (*i)->start();
  for (auto* i : {&nodes_, &vms_, &vmis_, &migrations_, &pods_, &services_}) {
    if (!(*i)->waitForSync(syncTimeout))
      return Error::make(ErrorKind::Timeout, "informer did not sync within " +
                                                 std::to_string(syncTimeout.count()) +
                                                 " ms (are KubeVirt's CRDs installed?)");
  }
  // VirtualMachinePools, when their CRD is installed (a cluster without it runs VMs only).
  auto served = client_.send(
      kube::HttpRequest{"GET", api::virtualMachinePools().groupVersionPath(), {}, "", "", false});
  if (served.ok()) {
    pools_ = std::make_unique<kube::Informer>(
        client_, kube::ReflectorOptions{api::virtualMachinePools(), ""}, kube::EventHandlers{});
    pools_->start();
    if (!pools_->waitForSync(syncTimeout))
      return Error::make(ErrorKind::Timeout,
                         "the VirtualMachinePool informer did not sync within " +
                             std::to_string(syncTimeout.count()) + " ms");
  } else {
    log::info("pool.kubevirt.io/v1beta1 is not served: the VirtualMachinePool controller is off",
              {{"reason", served.error().message}});
  }
  // Istio's VirtualServices, when their CRD is installed: umbra-sim plays the mesh's mirroring.
  if (client_
          .send(kube::HttpRequest{
              "GET", api::virtualServices().groupVersionPath(), {}, "", "", false})
          .ok()) {
    virtualServices_ = std::make_unique<kube::Informer>(
        client_, kube::ReflectorOptions{api::virtualServices(), ""}, kube::EventHandlers{});
    virtualServices_->start();
    if (!virtualServices_->waitForSync(syncTimeout))
      return Error::make(ErrorKind::Timeout, "the VirtualService informer did not sync within " +
                                                 std::to_string(syncTimeout.count()) + " ms");
  }
  // Create the nodes, or adopt those a previous run left (their labels and taints follow the file).
  for (const auto& n : sim_.cluster().nodes) {
    Json desired = nodeObject(n);
    auto existing = client_.get(kube::resources::nodes(), {"", n.name});
    if (existing.ok()) {
      Json updated = *existing;
      updated["metadata"]["labels"] = desired["metadata"]["labels"];
      updated["spec"]["taints"] = desired["spec"].value("taints", Json::array());
      auto r = client_.update(kube::resources::nodes(), updated);
      if (!r.ok())
        return Error::make(r.error().kind, "node " + n.name + ": " + r.error().message);
    } else if (existing.error().is(ErrorKind::NotFound)) {
      auto r = client_.create(kube::resources::nodes(), "", desired);
      if (!r.ok())
        return Error::make(r.error().kind, "node " + n.name + ": " + r.error().message);
    } else {
      return Error::make(existing.error().kind, "node " + n.name + ": " + existing.error().message);
    }
  }
  readySince_ = now();
  heartbeat(true);
  lastTick_ = SteadyClock::now();
  log::info("simulated nodes ready", {{"cluster", sim_.cluster().name},
                                      {"nodes", std::to_string(sim_.cluster().nodes.size())}});
  return okStatus();
}

void KubeVirtSimulator::heartbeat(bool force) {
  const auto t = SteadyClock::now();
  if (!force && t - lastHeartbeat_ < HeartbeatEvery)
    return;
  lastHeartbeat_ = t;
  const std::string stamp = now();
  const std::string micro = kube::formatMicroTime(std::chrono::system_clock::now());
  for (const auto& n : sim_.cluster().nodes) {
    // Status: capacity, the Ready condition with a fresh heartbeat.
    const std::string cpu = cpuText(n.cpuCores);
    const std::string memory = kube::formatMebibytes(n.memoryBytes);
    const auto cond = [&](const std::string& type, const std::string& status,
                          const std::string& reason) {
      return Json{{"type", type},
                  {"status", status},
                  {"reason", reason},
                  {"lastHeartbeatTime", stamp},
                  {"lastTransitionTime", readySince_}};  // no transition since start
    };
    Json capacity = {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}};
    for (const auto& [name, amount] : n.devices)
      capacity[name] = std::to_string(static_cast<int64_t>(amount));
    const Json status = {
        {"status",
         {{"capacity", capacity},
          {"allocatable", capacity},
          {"conditions", Json::array({cond("Ready", "True", "KubeletReady"),
                                      cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                                      cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                                      cond("PIDPressure", "False", "KubeletHasSufficientPID")})},
          {"nodeInfo",
           {{"kubeletVersion", "v1.37.2-umbra-sim"},
            {"operatingSystem", "linux"},
            {"architecture", "amd64"},
            {"containerRuntimeVersion", "umbra-sim://1"},
            {"kernelVersion", ""},
            {"osImage", "umbra-sim"},
            {"kubeProxyVersion", ""},
            {"machineID", ""},
            {"systemUUID", ""},
            {"bootID", ""}}}}}};
    // Keep the whole condition list current: a strategic merge would merge by type, a merge
    // patch replaces the list, which is what we want.
    auto r = client_.patch(kube::resources::nodes(), {"", n.name}, kube::PatchType::Merge, status,
                           {}, "status");
    if (!r.ok()) {
      log::warn("node heartbeat failed", {{"node", n.name}, {"error", r.error().describe()}});
      continue;
    }
    // Admission taints a new node not-ready; the node lifecycle controller lifts it once it sees
    // Ready, after a monitor period. Lift it now, as a kubelet coming up Ready would see it lifted.
    const Json taints = (*r)["spec"].value("taints", Json::array());
    Json kept = Json::array();
    for (const auto& taint : taints) {
      const std::string key = taint.value("key", "");
      if (key != "node.kubernetes.io/not-ready" && key != "node.kubernetes.io/unreachable")
        kept.push_back(taint);
    }
    if (kept.size() != taints.size()) {
      (void)client_.patch(kube::resources::nodes(), {"", n.name}, kube::PatchType::Merge,
                          {{"spec", {{"taints", kept}}}});
    }
    // The node's Lease, as the kubelet renews it.
    const Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", n.name}, {"namespace", "kube-node-lease"}}},
                        {"spec",
                         {{"holderIdentity", n.name},
                          {"leaseDurationSeconds", options_.leaseDuration.count()},
                          {"renewTime", micro}}}};
    auto renewed = client_.patch(kube::resources::leases(), {"kube-node-lease", n.name},
                                 kube::PatchType::Merge, {{"spec", lease["spec"]}});
    if (!renewed.ok() && renewed.error().is(ErrorKind::NotFound))
      (void)client_.create(kube::resources::leases(), "kube-node-lease", lease);
  }
}

std::vector<placement::NodeView> KubeVirtSimulator::nodeViews(const std::string& skipVmi) const {
  const std::vector<kube::ObjectPtr> vmiObjects = vmis_->store().list();
  const std::vector<kube::ObjectPtr> podObjects = pods_->store().list();
  std::vector<const Json*> vmis, pods;
  vmis.reserve(vmiObjects.size());
  pods.reserve(podObjects.size());
  for (const auto& v : vmiObjects)
    vmis.push_back(v.get());
  for (const auto& p : podObjects)
    pods.push_back(p.get());
  const auto requested = placement::requestedPerNode(vmis, pods, skipVmi);
  std::vector<placement::NodeView> views;
  for (const auto& n : nodes_->store().list()) {
    if ((*n)["metadata"].value("annotations", Json::object()).value("umbra.io/simulated", "") !=
        "true")
      continue;  // a node some other agent plays
    auto view = placement::nodeViewOf(*n);
    if (const auto it = requested.find(view.name); it != requested.end())
      view.requested = it->second;
    views.push_back(std::move(view));
  }
  return views;
}

void KubeVirtSimulator::syncWorkloads() {
  // The physics runs what is Running, where it runs, with counters that survive migrations and
  // start over for a new VMI of the same name.
  // VMIs on nodes this simulation does not own (real ones, another simulator's) are not ours.
  std::set<std::string> ours;
  for (const auto& n : sim_.cluster().nodes)
    ours.insert(n.name);
  std::map<std::string, const Json*> running;
  const auto all = vmis_->store().list();
  for (const auto& ptr : all) {
    const Json& v = *ptr;
    const Json st = v.value("status", Json::object());
    if (st.value("phase", "") == "Running" && ours.count(st.value("nodeName", "")) != 0)
      running[keyOf(v)] = &v;
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = vmiInfo_.begin(); it != vmiInfo_.end();) {
    const auto r = running.find(it->first);
    if (r == running.end() ||
        (*r->second)["metadata"].value("uid", "") != workloadUid_[it->first]) {
      sim_.removeWorkload(it->first);
      workloadUid_.erase(it->first);
      it = vmiInfo_.erase(it);
    } else {
      ++it;
    }
  }
  // Mirror shadows need their target first: add plain workloads, then mirrors.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [key, vp] : running) {
      const Json& v = *vp;
      const std::string node = v["status"].value("nodeName", "");
      bool paused = false;
      for (const auto& c : v["status"].value("conditions", Json::array()))
        paused |= c.value("type", "") == "Paused" && c.value("status", "") == "True";
      if (const sim::WorkloadState* w = sim_.workload(key)) {
        if (pass == 0) {
          if (w->node != node)
            (void)sim_.moveWorkload(key, node);
          sim_.setPaused(key, paused);
          // Labels changed on a running VMI (virt-handler's kubernetes_vmi_label_* follow them).
          auto& info = vmiInfo_[key];
          info.labels.clear();
          const Json labelsNow = v["metadata"].value("labels", Json::object());
          for (const auto& [k, val] : labelsNow.items())
            if (val.is_string())
              info.labels[k] = val.get<std::string>();
          if (const std::string group = sharingGroup(v); group != w->spec.sharedBy) {
            sim_.setSharedBy(key, group);
            log::info("VMI shares its group's demand",
                      {{"vmi", key}, {"group", group.empty() ? "<none>" : group}});
          }
          // A hotplug made effective (its size is read from the VMI's status).
          std::string ignored;
          const sim::WorkloadSpec now =
              workloadOf(v, sim_.cluster().physics, traces_, options_.seed, ignored);
          if (now.vcpus != w->spec.vcpus || now.memoryBytes != w->spec.memoryBytes) {
            sim_.resizeWorkload(key, now.vcpus, now.memoryBytes);
            log::info("VMI resized in the simulation",
                      {{"vmi", key}, {"vcpus", std::to_string(now.vcpus)}});
          }
        }
        continue;
      }
      std::string warning;
      sim::WorkloadSpec spec =
          workloadOf(v, sim_.cluster().physics, traces_, options_.seed, warning);
      if ((spec.source.kind == sim::SourceKind::Mirror) != (pass == 1))
        continue;
      spec.sharedBy = sharingGroup(v);
      if (!warning.empty() && warned_[key] != warning) {
        warned_[key] = warning;
        log::warn("VMI annotation ignored", {{"vmi", key}, {"reason", warning}});
      }
      if (auto st = sim_.addWorkload(spec, node); !st.ok()) {
        log::warn("VMI not simulated", {{"vmi", key}, {"error", st.error().message}});
        continue;
      }
      sim_.setPaused(key, paused);
      workloadUid_[key] = v["metadata"].value("uid", "");
      VmiInfo info{
          v["metadata"].value("namespace", ""), v["metadata"].value("name", ""), "Running", {}};
      const Json labels = v["metadata"].value("labels", Json::object());
      for (const auto& [k, val] : labels.items()) {
        if (val.is_string())
          info.labels[k] = val.get<std::string>();
      }
      vmiInfo_[key] = std::move(info);
    }
  }
}

void KubeVirtSimulator::tick() {
  heartbeat(false);
  syncVms();
  syncVmis();
  syncMigrations();
  syncPools();
  syncWorkloads();
  applyMesh();
  const auto t = SteadyClock::now();
  const double dt = std::chrono::duration<double>(t - lastTick_).count();
  lastTick_ = t;
  if (dt > 0) {
    const std::lock_guard<std::mutex> lock(mutex_);
    sim_.step(dt, options_.traceSpeed);
  }
  // Forget timers of objects that are gone.
  std::erase_if(scheduledAt_, [&](const auto& kv) { return !vmis_->store().get(kv.first); });
  std::erase_if(migrating_, [&](const auto& kv) { return !migrations_->store().get(kv.first); });
  std::erase_if(workloadUpdates_, [&](const auto& kv) { return !vmis_->store().get(kv.first); });
  std::erase_if(warned_, [&](const auto& kv) { return !vmis_->store().get(kv.first); });
}

std::string KubeVirtSimulator::metrics() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return renderMetrics(sim_, vmiInfo_);
}

size_t KubeVirtSimulator::runningVmis() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return vmiInfo_.size();
}

}  // namespace umbra::simulator
