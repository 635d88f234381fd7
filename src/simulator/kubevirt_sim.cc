#include "simulator/kubevirt_sim.h"

#include <algorithm>
#include <optional>
#include <set>

#include "api/quantity.h"
#include "api/shadow_placement.h"
#include "common/log.h"
#include "placement/candidates.h"
#include "runtime/time_format.h"
#include "simulator/workloads.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* NodeNameLabel = "kubevirt.io/nodeName";
constexpr auto HeartbeatEvery = 10s;

std::string keyOf(const Json& o) {
  return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
}

std::string now() {
  return runtime::formatTime(std::chrono::system_clock::now());
}

Json condition(const std::string& type, bool status, const std::string& reason = "",
               const std::string& message = "") {
  Json c = {{"type", type},
            {"status", status ? "True" : "False"},
            {"lastProbeTime", nullptr},
            {"lastTransitionTime", now()}};
  if (!reason.empty())
    c["reason"] = reason;
  if (!message.empty())
    c["message"] = message;
  return c;
}

bool finalPhase(const std::string& p) {
  return p == "Succeeded" || p == "Failed";
}

std::string cpuText(double cores) {
  return api::formatMilliCpu(cores);
}

// Writes a VMI (no status subresource: status travels with the object). A Conflict or NotFound
// means our cache is behind; the next tick sees the new state and tries again.
void writeVmi(kube::KubeClient& client, const Json& vmi, const std::string& what) {
  auto r = client.update(api::virtualMachineInstances(), vmi);
  if (!r.ok() && !r.error().is(ErrorKind::Conflict) && !r.error().is(ErrorKind::NotFound))
    log::warn("cannot update VMI",
              {{"vmi", keyOf(vmi)}, {"step", what}, {"error", r.error().describe()}});
}

}  // namespace

KubeVirtSimulator::KubeVirtSimulator(kube::KubeClient& client, sim::ClusterSpec cluster,
                                     const sim::TraceSet* traces, SimulatorOptions options)
    : client_(client),
      options_(options),
      traces_(traces),
      sim_(std::move(cluster), options.seed, traces) {}

KubeVirtSimulator::~KubeVirtSimulator() {
  for (auto* i : {&nodes_, &vms_, &vmis_, &migrations_, &pods_}) {
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
  for (auto* i : {&nodes_, &vms_, &vmis_, &migrations_, &pods_})
    (*i)->start();
  for (auto* i : {&nodes_, &vms_, &vmis_, &migrations_, &pods_}) {
    if (!(*i)->waitForSync(syncTimeout))
      return Error::make(ErrorKind::Timeout, "informer did not sync within " +
                                                 std::to_string(syncTimeout.count()) +
                                                 " ms (are KubeVirt's CRDs installed?)");
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
  const std::string micro = runtime::formatMicroTime(std::chrono::system_clock::now());
  for (const auto& n : sim_.cluster().nodes) {
    // Status: capacity, the Ready condition with a fresh heartbeat.
    const std::string cpu = cpuText(n.cpuCores);
    const std::string memory = api::formatMebibytes(n.memoryBytes);
    const auto cond = [&](const std::string& type, const std::string& status,
                          const std::string& reason) {
      return Json{{"type", type},
                  {"status", status},
                  {"reason", reason},
                  {"lastHeartbeatTime", stamp},
                  {"lastTransitionTime", readySince_}};  // no transition since start
    };
    const Json status = {
        {"status",
         {{"capacity", {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}}},
          {"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}}},
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

Result<std::string> KubeVirtSimulator::schedule(const Json& vmiSpec,
                                                std::vector<placement::NodeView>& views,
                                                const std::map<std::string, std::string>& extra,
                                                const std::string& avoidNode) {
  auto req = placement::requirementsOf(vmiSpec);
  if (!req.ok())
    return req.error();
  const auto verdicts = placement::classify(views, *req, extra);
  std::string why;
  int shown = 0;
  for (const auto& v : verdicts) {
    if (v.feasible && v.node != avoidNode) {
      // Assume it, as the kube-scheduler does: later VMIs of the same round see its requests
      // before the cache does.
      for (auto& view : views) {
        if (view.name == v.node) {
          view.requested.cpu += req->requests.cpu;
          view.requested.memory += req->requests.memory;
        }
      }
      return v.node;
    }
    if (shown++ < 6)
      why += (why.empty() ? "" : "; ") + v.node + ": " +
             (v.node == avoidNode ? std::string("the VMI runs there") : v.reason);
  }
  return Error::make(ErrorKind::Conflict, "0/" + std::to_string(views.size()) +
                                              " nodes are available: " + why +
                                              (verdicts.size() > 6 ? "; ..." : ""));
}

void KubeVirtSimulator::syncVms() {
  // VMs with a migration in flight keep their VMI's selector as it is.
  std::set<std::string> migrating;
  for (const auto& m : migrations_->store().list()) {
    if (!finalPhase((*m).value("status", Json::object()).value("phase", "")))
      migrating.insert((*m)["metadata"].value("namespace", "") + "/" +
                       (*m)["spec"].value("vmiName", ""));
  }
  for (const auto& vmPtr : vms_->store().list()) {
    const Json& vm = *vmPtr;
    const std::string key = keyOf(vm);
    const std::string ns = vm["metadata"].value("namespace", "");
    const std::string name = vm["metadata"].value("name", "");
    const Json spec = vm.value("spec", Json::object());
    std::string strategy = spec.value("runStrategy", "");
    if (strategy.empty())
      strategy = spec.value("running", false) ? "Always" : "Halted";
    const kube::ObjectPtr vmiPtr = vmis_->store().get(key);
    const std::string vmiPhase =
        vmiPtr ? (*vmiPtr).value("status", Json::object()).value("phase", "") : "";
    const bool deleting = vmiPtr && (*vmiPtr)["metadata"].contains("deletionTimestamp");
    const bool run =
        strategy == "Always" || strategy == "RerunOnFailure" ||
        (strategy == "Once" && !vm.value("status", Json::object()).value("created", false));

    if (run && !vmiPtr && vm["metadata"].value("deletionTimestamp", "").empty()) {
      const Json tmpl = spec.value("template", Json::object());
      Json meta = tmpl.value("metadata", Json::object());
      meta.erase("creationTimestamp");
      meta["name"] = name;
      meta["namespace"] = ns;
      meta["labels"]["vm.kubevirt.io/name"] = name;
      meta["ownerReferences"] = Json::array({{{"apiVersion", "kubevirt.io/v1"},
                                              {"kind", "VirtualMachine"},
                                              {"name", name},
                                              {"uid", vm["metadata"].value("uid", "")},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}});
      const Json vmi = {{"apiVersion", "kubevirt.io/v1"},
                        {"kind", "VirtualMachineInstance"},
                        {"metadata", meta},
                        {"spec", tmpl.value("spec", Json::object())}};
      auto r = client_.create(api::virtualMachineInstances(), ns, vmi);
      if (r.ok())
        log::info("VM started: VMI created", {{"vm", key}});
      else if (!r.error().is(ErrorKind::AlreadyExists))
        log::warn("cannot create VMI", {{"vm", key}, {"error", r.error().describe()}});
    } else if (vmiPtr && !deleting &&
               ((!run && strategy != "Once") || (vmiPhase == "Failed" && strategy != "Once") ||
                (strategy == "Always" && vmiPhase == "Succeeded"))) {
      auto r = client_.remove(api::virtualMachineInstances(), {ns, name}, {});
      if (r.ok())
        log::info(run ? "VMI ended: deleted for a restart" : "VM stopped: VMI deleted",
                  {{"vm", key}});
    } else if (vmiPtr && vmiPhase == "Running" && !migrating.count(key)) {
      // LiveUpdate: virt-controller copies the template's nodeSelector and affinity to the VMI.
      // It takes effect at the next migration, it moves nothing by itself.
      const Json tmplSpec = spec.value("template", Json::object()).value("spec", Json::object());
      Json vmi = *vmiPtr;
      bool changed = false;
      for (const char* field : {"nodeSelector", "affinity"}) {
        const Json want = tmplSpec.value(field, Json());
        const Json have = vmi["spec"].value(field, Json());
        if (want != have) {
          if (want.is_null())
            vmi["spec"].erase(field);
          else
            vmi["spec"][field] = want;
          changed = true;
        }
      }
      if (changed) {
        writeVmi(client_, vmi, "live update of nodeSelector/affinity");
        log::info("VMI placement constraints updated from its VM (LiveUpdate)", {{"vm", key}});
      }
    }

    // The VM's status, as virt-controller reports it.
    std::string printable = "Stopped";
    if (vmiPtr) {
      const Json vs = (*vmiPtr).value("status", Json::object());
      bool paused = false;
      bool unschedulable = false;
      for (const auto& c : vs.value("conditions", Json::array())) {
        paused |= c.value("type", "") == "Paused" && c.value("status", "") == "True";
        unschedulable |= c.value("reason", "") == "Unschedulable";
      }
      if (deleting)
        printable = "Stopping";
      else if (vmiPhase == "Running")
        printable = migrating.count(key) ? "Migrating" : paused ? "Paused" : "Running";
      else if (vmiPhase == "Succeeded")
        printable = "Succeeded";
      else if (vmiPhase == "Failed")
        printable = "CrashLoopBackOff";
      else
        printable = unschedulable ? "ErrorUnschedulable" : "Starting";
    }
    const Json status = vm.value("status", Json::object());
    const bool ready = printable == "Running" || printable == "Migrating";
    if (status.value("printableStatus", "") != printable || status.value("ready", false) != ready ||
        status.value("created", false) != (vmiPtr != nullptr)) {
      Json patch = {{"status",
                     {{"printableStatus", printable},
                      {"ready", ready},
                      {"created", vmiPtr != nullptr},
                      {"runStrategy", strategy},
                      {"conditions",
                       Json::array({condition("Ready", ready, ready ? "" : "VMINotRunning")})}}}};
      auto r = client_.patch(api::virtualMachines(), {ns, name}, kube::PatchType::Merge, patch, {},
                             "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update VM status", {{"vm", key}, {"error", r.error().describe()}});
    }
  }
}

void KubeVirtSimulator::syncVmis() {
  const auto t = SteadyClock::now();
  std::optional<std::vector<placement::NodeView>> views;
  for (const auto& ptr : vmis_->store().list()) {
    const Json& current = *ptr;
    if (current["metadata"].contains("deletionTimestamp"))
      continue;
    const std::string key = keyOf(current);
    const std::string ns = current["metadata"].value("namespace", "");
    const std::string name = current["metadata"].value("name", "");
    const Json status = current.value("status", Json::object());
    const std::string phase = status.value("phase", "");
    if (phase.empty() || phase == "Pending") {
      if (!views)
        views = nodeViews("");  // once per round; schedule() adds what it places
      auto node = schedule(current.value("spec", Json::object()), *views, {}, "");
      Json vmi = current;
      vmi["apiVersion"] = "kubevirt.io/v1";
      vmi["kind"] = "VirtualMachineInstance";
      if (node.ok()) {
        vmi["status"]["phase"] = "Scheduled";
        vmi["status"]["nodeName"] = *node;
        vmi["status"]["conditions"] = Json::array({condition("PodScheduled", true)});
        vmi["metadata"]["labels"][NodeNameLabel] = *node;
        writeVmi(client_, vmi, "schedule");
        scheduledAt_[key] = t;
        log::info("VMI scheduled", {{"vmi", key}, {"node", *node}});
        continue;
      }
      const std::string message = node.error().message;
      const Json conds = status.value("conditions", Json::array());
      if (phase == "Pending" && !conds.empty() && conds[0].value("message", "") == message)
        continue;  // already said so
      vmi["status"]["phase"] = "Pending";
      vmi["status"]["conditions"] =
          Json::array({condition("PodScheduled", false, "Unschedulable", message)});
      writeVmi(client_, vmi, "unschedulable");
      log::info("VMI unschedulable", {{"vmi", key}, {"reason", message}});
    } else if (phase == "Scheduled") {
      const auto it = scheduledAt_.find(key);
      if (it != scheduledAt_.end() && t - it->second < options_.bootDelay)
        continue;
      Json vmi = current;
      vmi["apiVersion"] = "kubevirt.io/v1";
      vmi["kind"] = "VirtualMachineInstance";
      vmi["status"]["phase"] = "Running";
      Json conds = Json::array({condition("PodScheduled", true), condition("Ready", true),
                                condition("LiveMigratable", true)});
      if (current["spec"].value("startStrategy", "") == "Paused")
        conds.push_back(condition("Paused", true, "PausedByUser", "VMI was paused by user"));
      vmi["status"]["conditions"] = conds;
      vmi["status"]["guestOSInfo"] = {{"name", "umbra-sim"}};
      // As virt-controller records them: when each phase began.
      if (!vmi["status"].contains("phaseTransitionTimestamps"))
        vmi["status"]["phaseTransitionTimestamps"] = Json::array();
      vmi["status"]["phaseTransitionTimestamps"].push_back(
          {{"phase", "Running"}, {"phaseTransitionTimestamp", now()}});
      writeVmi(client_, vmi, "boot");
      scheduledAt_.erase(key);
      log::info("VMI running", {{"vmi", key}, {"node", status.value("nodeName", "")}});
    }
  }
}

void KubeVirtSimulator::syncMigrations() {
  const auto t = SteadyClock::now();
  for (const auto& ptr : migrations_->store().list()) {
    const Json& m = *ptr;
    const std::string key = keyOf(m);
    const std::string ns = m["metadata"].value("namespace", "");
    const Json status = m.value("status", Json::object());
    const std::string phase = status.value("phase", "");
    if (finalPhase(phase))
      continue;
    const std::string vmiName = m["spec"].value("vmiName", "");
    const kube::ObjectPtr vmiPtr = vmis_->store().get(std::string(ns).append("/").append(vmiName));
    const auto setStatus = [&](Json st) {
      auto r = client_.patch(api::migrations(), {ns, m["metadata"].value("name", "")},
                             kube::PatchType::Merge, {{"status", st}}, {}, "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update migration status",
                  {{"migration", key}, {"error", r.error().describe()}});
    };
    const auto fail = [&](const std::string& message) {
      setStatus(
          {{"phase", "Failed"},
           {"conditions", Json::array({condition("Failed", true, "MigrationFailed", message)})}});
      migratingSince_.erase(key);
      log::info("migration failed", {{"migration", key}, {"reason", message}});
    };
    const std::string vmiPhase =
        vmiPtr ? (*vmiPtr).value("status", Json::object()).value("phase", "") : "";
    if (phase.empty() || phase == "Pending") {
      if (!vmiPtr) {
        fail("VMI " + vmiName + " does not exist");
        continue;
      }
      if (vmiPhase != "Running") {
        fail("VMI " + vmiName + " is not running (phase " + (vmiPhase.empty() ? "none" : vmiPhase) +
             ")");
        continue;
      }
      // The VMI's own selector wins on key collisions.
      const Json own = (*vmiPtr)["spec"].value("nodeSelector", Json::object());
      std::map<std::string, std::string> added;
      const Json wanted = m["spec"].value("addedNodeSelector", Json::object());
      for (const auto& [k, v] : wanted.items()) {
        if (!own.contains(k) && v.is_string())
          added[k] = v.get<std::string>();
      }
      const std::string source = (*vmiPtr)["status"].value("nodeName", "");
      auto views = nodeViews(std::string(ns).append("/").append(vmiName));  // leaves its source
      auto target = schedule((*vmiPtr)["spec"], views, added, source);
      if (!target.ok()) {
        fail("no node to migrate to: " + target.error().message);
        continue;
      }
      const Json state = {{"sourceNode", source},
                          {"targetNode", *target},
                          {"startTimestamp", now()},
                          {"migrationUid", m["metadata"].value("uid", "")},
                          {"mode", "PreCopy"}};
      Json vmi = *vmiPtr;
      vmi["status"]["migrationState"] = state;
      writeVmi(client_, vmi, "migration start");
      setStatus({{"phase", "Running"}, {"migrationState", state}});
      migratingSince_[key] = t;
      log::info("migration running", {{"migration", key}, {"from", source}, {"to", *target}});
    } else {
      const auto it = migratingSince_.find(key);
      if (it != migratingSince_.end() && t - it->second < options_.migrationDelay)
        continue;
      Json state = status.value("migrationState", Json::object());
      const std::string target = state.value("targetNode", "");
      if (!vmiPtr || target.empty()) {
        fail(vmiPtr ? "migration state lost"
                    : "VMI " + vmiName + " went away during the migration");
        continue;
      }
      state["completed"] = true;
      state["endTimestamp"] = now();
      Json vmi = *vmiPtr;
      vmi["status"]["nodeName"] = target;
      vmi["status"]["migrationState"] = state;
      vmi["metadata"]["labels"][NodeNameLabel] = target;
      auto r = client_.update(api::virtualMachineInstances(), vmi);
      if (!r.ok())
        continue;  // try again next tick
      setStatus({{"phase", "Succeeded"}, {"migrationState", state}});
      migratingSince_.erase(key);
      log::info("migration succeeded", {{"migration", key}, {"node", target}});
    }
  }
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
        }
        continue;
      }
      std::string warning;
      sim::WorkloadSpec spec =
          workloadOf(v, sim_.cluster().physics, traces_, options_.seed, warning);
      if ((spec.source.kind == sim::SourceKind::Mirror) != (pass == 1))
        continue;
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
  syncWorkloads();
  const auto t = SteadyClock::now();
  const double dt = std::chrono::duration<double>(t - lastTick_).count();
  lastTick_ = t;
  if (dt > 0) {
    const std::lock_guard<std::mutex> lock(mutex_);
    sim_.step(dt, options_.traceSpeed);
  }
  // Forget timers of objects that are gone.
  std::erase_if(scheduledAt_, [&](const auto& kv) { return !vmis_->store().get(kv.first); });
  std::erase_if(migratingSince_,
                [&](const auto& kv) { return !migrations_->store().get(kv.first); });
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
