#include "controller/world_reader.h"

#include "kube_core/time.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;

namespace {

// When a VMI entered Running, as virt-controller records it (status.phaseTransitionTimestamps).
std::optional<SystemTime> runningSince(const Json& vmi) {
  const Json status = vmi.value("status", Json::object());
  for (const auto& t : status.value("phaseTransitionTimestamps", Json::array())) {
    if (t.value("phase", "") == "Running")
      return kube::parseTime(t.value("phaseTransitionTimestamp", ""));
  }
  return std::nullopt;
}

bool isShadowOf(const Json& vmi, const std::string& ns) {
  const Json& m = vmi["metadata"];
  return m.value("namespace", "") == ns &&
         m.value("labels", Json::object()).value(api::RoleLabel, "") == "shadow";
}

bool observationEnded(const PlacementInput& in, SystemTime now) {
  const auto& st = in.status;
  if (st.phase != api::Phase::Observing || !st.observationStartedAt || !in.settings)
    return false;
  return now >= *st.observationStartedAt +
                    toDuration(in.settings->observationDuration) * (1 + st.extensions);
}

// Who goes first among placements of one target: one already moving it, then those probing it,
// then the earliest created (by name on a tie).
struct Precedence {
  int rank = 2;
  std::string created;  // RFC 3339 in UTC: orders as text
  std::string name;
  auto operator<=>(const Precedence&) const = default;
};

// status.<key> of a placement as text, without copying its status ("" when absent).
std::string statusField(const Json& sp, const char* key) {
  const auto status = sp.find("status");
  if (status == sp.end() || !status->is_object())
    return "";
  const auto v = status->find(key);
  return v != status->end() && v->is_string() ? v->get<std::string>() : "";
}

int rankOf(const std::string& phase) {
  if (phase == api::toString(api::Phase::Placing))
    return 0;
  if (phase == api::toString(api::Phase::Probing) || phase == api::toString(api::Phase::Observing))
    return 1;
  return 2;
}

bool targets(const Json& sp, const std::string& ns, const Json& target) {
  const auto spec = sp.find("spec");
  if (spec == sp.end() || !spec->is_object())
    return false;
  const auto t = spec->find("target");
  return t != spec->end() && *t == target && sp["metadata"].value("namespace", "") == ns;
}

}  // namespace

WorldReader::WorldReader(Caches caches, kube::KubeClient& client, telemetry::MetricsSource& metrics,
                         model::Forecaster& forecaster, const FirstPassChoices& choices)
    : caches_(caches),
      client_(client),
      metrics_(metrics),
      forecaster_(forecaster),
      choices_(choices),
      usage_(caches.nodes, caches.vmis, caches.pods) {}

Result<PlacementInput> WorldReader::input(const Json& cached,
                                          const api::PlacementDefaults& defaults) {
  PlacementInput in;
  in.object = cached;
  const Json& meta = cached["metadata"];
  in.ns = meta.value("namespace", "");
  in.name = meta.value("name", "");
  in.uid = meta.value("uid", "");
  in.generation = meta.value("generation", static_cast<int64_t>(0));
  in.deleting = meta.contains("deletionTimestamp");
  for (const auto& f : meta.value("finalizers", Json::array()))
    in.hasFinalizer = in.hasFinalizer || f == api::FinalizerName;
  in.created = kube::parseTime(meta.value("creationTimestamp", ""));
  auto settings = api::settingsFrom(cached, defaults);
  if (settings.ok())
    in.settings = *settings;
  else
    in.settingsError = settings.error().message;
  auto status = api::statusFromJson(cached.value("status", Json::object()));
  if (!status.ok())
    return status.error().wrap("ShadowPlacement " + in.key());
  in.status = std::move(status).value();
  return in;
}

Result<World> WorldReader::observe(const PlacementInput& in, SystemTime now) const {
  World w;
  if (in.deleting) {
    UMBRA_TRY(w.shadowsLeft, shadowsOnServer(in));  // the cache may lag our own creates
    return w;
  }
  readShadows(in, w);
  if (api::isTerminal(in.status.phase) || !in.settings)
    return w;
  w.target = target(in);
  if (w.target && !w.target->unavailable.empty())
    return Error::make(ErrorKind::Unavailable, in.key() + ": " + w.target->unavailable);
  const bool selecting =
      in.status.phase == api::Phase::New || in.status.phase == api::Phase::Pending;
  const bool placing = in.status.phase == api::Phase::Placing;
  if (selecting) {
    w.adopted = adopted(in);
  }
  if (selecting && w.adopted.empty()) {
    w.probing = probing();
    w.queuedAhead = queuedAhead(in);
  }
  if (w.target && !placing)
    holder(in, w);
  const bool deciding = w.target && w.target->requirements && observationEnded(in, now);
  if (deciding)
    w.evidence = evidence(in, *w.target, now);
  if ((selecting && w.adopted.empty()) || deciding || placing)
    w.nodes = nodes(in, w, selecting);
  if (placing)
    w.migration = migration(in);
  return w;
}

std::optional<TargetView> WorldReader::target(const PlacementInput& in) const {
  const bool isVm = in.settings->targetKind == api::TargetKind::VirtualMachine;
  const std::string key = in.ns + "/" + in.settings->targetName;
  const kube::ObjectPtr target = (isVm ? caches_.vms : caches_.vmis).get(key);
  if (!target)
    return std::nullopt;
  TargetView t;
  t.spec = isVm ? (*target)["spec"]["template"].value("spec", Json::object())
                : (*target).value("spec", Json::object());
  t.hasRunningField = isVm && (*target)["spec"].contains("running");
  t.runStrategy = isVm ? (*target)["spec"].value("runStrategy", "") : "";
  auto runSpec = runSpecOf(*target, isVm);
  auto req = runSpec.ok() ? placement::requirementsOf(*runSpec)
                          : Result<placement::TargetRequirements>(runSpec.error());
  const Status sriov = req.ok() ? addSriovResources(in.ns, *runSpec, *req) : okStatus();
  if (!req.ok())
    t.invalid = req.error().message;
  else if (!sriov.ok() && sriov.error().retryable())
    t.unavailable = sriov.error().message;  // e.g. the API server unavailable: retried
  else if (!sriov.ok())
    t.invalid = sriov.error().message;
  else
    t.requirements = *req;
  // Umbra's own earlier pin is not a constraint of the VM's.
  const std::string pinned = (*target)["metadata"]
                                 .value("annotations", Json::object())
                                 .value(api::PinnedNodeAnnotation, "");
  t.pinnedNode = pinned;
  if (t.requirements && !pinned.empty()) {
    auto& selector = t.requirements->nodeSelector;
    const auto it = selector.find("kubernetes.io/hostname");
    if (it != selector.end() && it->second == pinned)
      selector.erase(it);
  }
  if (const kube::ObjectPtr vmi = caches_.vmis.get(key)) {
    t.vmiExists = true;
    t.runningOn = (*vmi).value("status", Json::object()).value("nodeName", "");
    t.vmiPhase = (*vmi).value("status", Json::object()).value("phase", "");
    for (const auto& c :
         (*vmi).value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == "PodScheduled" && c.value("status", "") == "False" &&
          c.value("reason", "") == "Unschedulable")
        t.unschedulable = c.value("message", "Unschedulable");
      if (c.value("type", "") == "LiveMigratable" && c.value("status", "") == "False")
        t.notMigratable = c.value("reason", "NotLiveMigratable") + ": " + c.value("message", "");
    }
  }
  return t;
}

std::vector<api::ShadowStatus> WorldReader::adopted(const PlacementInput& in) const {
  if (auto remembered = choices_.recall(in.key(), in.uid))
    return *remembered;
  std::map<std::string, std::string> byNode;  // node -> shadow name, in node order
  for (const auto& v :
       caches_.vmis.byLabel(api::PlacementLabel, placement::placementLabelValue(in.name))) {
    const Json& m = (*v)["metadata"];
    if (!isShadowOf(*v, in.ns) || m.contains("deletionTimestamp"))
      continue;
    for (const auto& owner : m.value("ownerReferences", Json::array())) {
      if (owner.value("uid", "") == in.uid)
        byNode[m["labels"].value(api::ShadowNodeLabel, "")] = m.value("name", "");
    }
  }
  std::vector<api::ShadowStatus> shadows;
  for (const auto& [node, name] : byNode) {
    if (!node.empty())
      shadows.push_back({node, name, api::ShadowPhase::Pending});
  }
  return shadows;
}

// What the nodes already hold, less the target itself and this placement's own shadows, plus what
// other placements have under way there (reservations()).
std::vector<placement::NodeView> WorldReader::nodes(const PlacementInput& in, const World& w,
                                                    bool selecting) const {
  std::vector<std::string> exclude{in.ns + "/" + in.settings->targetName};
  for (const auto& [name, view] : w.shadows)
    exclude.push_back(in.ns + "/" + name);
  auto views = usage_.nodes(exclude);
  const auto reserved = reservations(in, selecting);
  for (auto& v : views) {
    if (const auto it = reserved.find(v.name); it != reserved.end())
      v.requested.add(it->second);
  }
  return views;
}

// The requests of other placements' targets on the nodes they are headed for, before the VMIs
// land there (the scheduler's "assumed pods"): a move under way reserves its node; while
// candidates are chosen, each candidate another placement is probing reserves its share, so that
// a burst of placements spreads over the nodes instead of all probing, and moving to, the same
// few.
std::map<std::string, placement::Resources> WorldReader::reservations(const PlacementInput& in,
                                                                      bool selecting) const {
  std::map<std::string, placement::Resources> reserved;
  const auto remembered =
      selecting ? choices_.nodesByPlacement() : std::map<std::string, std::vector<std::string>>{};
  for (const auto& sp : caches_.placements.list()) {
    const std::string key = kube::keyOf(*sp);
    if (key == in.key())
      continue;
    // Only a move under way, or (while selecting) probing, reserves: skip the rest unparsed.
    const std::string phase = statusField(*sp, "phase");
    const bool moving = phase == api::toString(api::Phase::Placing);
    const bool early = phase.empty() || phase == api::toString(api::Phase::Pending) ||
                       phase == api::toString(api::Phase::Probing) ||
                       phase == api::toString(api::Phase::Observing);
    if (!moving && !(selecting && early))
      continue;
    auto status = api::statusFromJson((*sp).value("status", Json::object()));
    if (!status.ok() || api::isTerminal(status->phase))
      continue;
    // A move reserves the whole target on its node; a placement still probing will land on one
    // of its n candidates, so each of them reserves 1/n of it (the expected load).
    std::vector<std::string> nodes;
    if (!status->moves.empty() && status->moves.back().phase == api::MovePhase::Moving)
      nodes.push_back(status->moves.back().node);
    if (nodes.empty() && selecting) {
      for (const auto& s : status->shadows)
        if (s.phase != api::ShadowPhase::Dropped)
          nodes.push_back(s.node);
      if (const auto it = remembered.find(key); it != remembered.end() && status->shadows.empty())
        nodes.insert(nodes.end(), it->second.begin(), it->second.end());
    }
    if (nodes.empty())
      continue;
    const double share = 1.0 / static_cast<double>(nodes.size());
    std::string on;
    const auto req = targetRequests(*sp, on);
    if (!req)
      continue;
    for (const auto& node : nodes) {
      if (node == on)
        continue;  // it is there: the node's usage counts it already
      reserved[node].add(*req, share);
    }
  }
  return reserved;
}

// What a placement's target requests, and the node its VMI is on ("" if none).
std::optional<placement::Resources> WorldReader::targetRequests(const Json& sp,
                                                                std::string& on) const {
  const Json target = sp["spec"].value("target", Json::object());
  const bool isVm = target.value("kind", "") == "VirtualMachine";
  const std::string key = sp["metadata"].value("namespace", "") + "/" + target.value("name", "");
  const kube::ObjectPtr t = (isVm ? caches_.vms : caches_.vmis).get(key);
  if (!t)
    return std::nullopt;
  const kube::ObjectPtr vmi = caches_.vmis.get(key);
  on = vmi ? (*vmi).value("status", Json::object()).value("nodeName", "") : "";
  auto spec = runSpecOf(*t, isVm);
  if (!spec.ok())
    return std::nullopt;
  auto req = placement::requirementsOf(*spec);
  if (!req.ok())
    return std::nullopt;
  return req->requests;
}

Status WorldReader::addSriovResources(const std::string& ns, const Json& spec,
                                     placement::TargetRequirements& req) const {
  for (const auto& network : placement::sriovNetworks(spec)) {
    const auto slash = network.find('/');
    const std::string nadNs = slash == std::string::npos ? ns : network.substr(0, slash);
    const std::string name = slash == std::string::npos ? network : network.substr(slash + 1);
    const std::string what = "spec.networks: NetworkAttachmentDefinition " + nadNs + "/" + name;
    auto nad = client_.get(api::networkAttachmentDefinitions(), {nadNs, name});
    if (!nad.ok())
      return Error::make(nad.error().retryable() ? ErrorKind::Unavailable : ErrorKind::Terminal,
                         what + " of an SR-IOV interface: " + nad.error().message);
    const std::string resource = (*nad)["metadata"]
                                     .value("annotations", Json::object())
                                     .value("k8s.v1.cni.cncf.io/resourceName", "");
    if (resource.empty())
      return Error::make(ErrorKind::Terminal,
                         what + " has no k8s.v1.cni.cncf.io/resourceName annotation: the SR-IOV "
                                "device it needs is unknown");
    req.requests.extended[resource] += 1;
  }
  return okStatus();
}

Result<Json> WorldReader::runSpecOf(const Json& target, bool isVm) const {
  if (!isVm)
    return target.value("spec", Json::object());
  const Json& spec = target["spec"];
  Json vmiSpec = spec.value("template", Json::object()).value("spec", Json::object());
  const Json ref = spec.value("instancetype", Json::object());
  if (ref.empty())
    return vmiSpec;
  const std::string kind = ref.value("kind", "VirtualMachineClusterInstancetype");
  const std::string name = ref.value("name", "");
  const bool cluster = kind == "VirtualMachineClusterInstancetype" ||
                       kind == "virtualmachineclusterinstancetype";
  const kube::ObjectPtr it =
      cluster ? caches_.clusterInstancetypes.get(name)
              : caches_.instancetypes.get(target["metadata"].value("namespace", "") + "/" + name);
  if (!it)
    return Error::make(ErrorKind::Terminal, "spec.instancetype: " + kind + " \"" + name +
                                                "\" does not exist");
  return placement::applyInstancetype(vmiSpec, {kind + "/" + name, (*it).value("spec", Json::object())});
}

std::optional<MigrationView> WorldReader::migration(const PlacementInput& in) const {
  if (in.status.moves.empty() || in.status.moves.back().migration.empty())
    return std::nullopt;
  const kube::ObjectPtr m = caches_.migrations.get(in.ns + "/" + in.status.moves.back().migration);
  if (!m)
    return std::nullopt;
  const Json status = (*m).value("status", Json::object());
  MigrationView v{status.value("phase", ""), ""};
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Failed" && c.value("status", "") == "True")
      v.reason = c.value("message", c.value("reason", ""));
  }
  return v;
}

int WorldReader::probing() const {
  int active = choices_.count();  // probing, with their status still to come
  for (const auto& other : caches_.placements.list()) {
    const std::string ph = statusField(*other, "phase");
    active +=
        (ph == api::toString(api::Phase::Probing) || ph == api::toString(api::Phase::Observing))
            ? 1
            : 0;
  }
  return active;
}

// Placements waiting for a slot (no status yet, or Queued) created before this one.
int WorldReader::queuedAhead(const PlacementInput& in) const {
  const Json& meta = in.object["metadata"];
  const Precedence mine{2, meta.value("creationTimestamp", ""), in.key()};
  const auto remembered = choices_.keys();
  int ahead = 0;
  for (const auto& other : caches_.placements.list()) {
    const Json& m = (*other)["metadata"];
    const std::string key = kube::keyOf(*other);
    const std::string phase = statusField(*other, "phase");
    const std::string reason = statusField(*other, "reason");
    const bool waiting = (phase.empty() && remembered.count(key) == 0) ||
                         (phase == api::toString(api::Phase::Pending) && reason == "Queued");
    if (key == in.key() || !waiting || m.contains("deletionTimestamp"))
      continue;
    if (Precedence{2, m.value("creationTimestamp", ""), key} < mine)
      ++ahead;
  }
  return ahead;
}

// The active placement of the same target that goes first, if it is not this one.
void WorldReader::holder(const PlacementInput& in, World& w) const {
  const Json& target = in.object["spec"]["target"];
  const auto remembered = choices_.keys();
  const auto precedence = [&](const Json& sp, const std::string& key) {
    const std::string phase = statusField(sp, "phase");
    return Precedence{remembered.count(key) ? 1 : rankOf(phase),
                      sp["metadata"].value("creationTimestamp", ""), key};
  };
  Precedence best = precedence(in.object, in.key());
  for (const auto& other : caches_.placements.list()) {
    if (!targets(*other, in.ns, target))
      continue;
    const std::string key = kube::keyOf(*other);
    const std::string phase = statusField(*other, "phase");
    if (key == in.key() ||
        (*other)["metadata"].contains("deletionTimestamp"))
      continue;
    if (phase == api::toString(api::Phase::Placed) ||
        phase == api::toString(api::Phase::Recommended) ||
        phase == api::toString(api::Phase::Failed))
      continue;
    const Precedence p = precedence(*other, key);
    if (p < best) {
      best = p;
      w.heldBy = (*other)["metadata"].value("name", "");
      w.heldByPhase = phase.empty() ? "New" : phase;
    }
  }
}

void WorldReader::readShadows(const PlacementInput& in, World& w) const {
  const auto view = [](const Json& vmi) {
    return ShadowView{vmi.value("status", Json::object()).value("phase", ""),
                      kube::parseTime(vmi["metadata"].value("creationTimestamp", "")),
                      runningSince(vmi)};
  };
  for (const auto& v :
       caches_.vmis.byLabel(api::PlacementLabel, placement::placementLabelValue(in.name))) {
    if (isShadowOf(*v, in.ns)) {
      w.shadows[(*v)["metadata"].value("name", "")] = view(*v);
      ++w.shadowsLeft;
    }
  }
  for (const auto& s : in.status.shadows) {
    if (w.shadows.count(s.name) == 0) {
      if (const kube::ObjectPtr vmi = caches_.vmis.get(in.ns + "/" + s.name))
        w.shadows[s.name] = view(*vmi);
    }
  }
}

Result<size_t> WorldReader::shadowsOnServer(const PlacementInput& in) const {
  kube::ListOptions selector;
  selector.labelSelector = placement::shadowSelector(in.name);
  auto list = client_.list(api::virtualMachineInstances(), in.ns, selector);
  if (!list.ok())
    return list.error().wrap("while listing the shadows of " + in.key());
  return (*list)["items"].size();
}

Evidence WorldReader::evidence(const PlacementInput& in, const TargetView& target,
                               SystemTime now) const {
  Evidence e;
  e.model = forecaster_.name();
  std::vector<telemetry::ShadowRef> refs;
  for (const auto& s : in.status.shadows) {
    if (s.phase == api::ShadowPhase::Running)
      refs.push_back({in.ns, s.name, s.node});
  }
  e.observed = refs.size();
  auto observed = metrics_.observe(refs, *in.status.observationStartedAt, now,
                                   toDuration(in.settings->observationInterval));
  if (!observed.ok()) {
    e.problem = observed.error().message;
    return e;
  }
  const model::TargetProfile profile{target.requirements->size.cpu,
                                     target.requirements->size.memory,
                                     in.ns + "/" + in.settings->targetName};
  for (const auto& candidate : *observed) {
    if (!candidate.gap.empty()) {
      e.gap = candidate.node + ": " + candidate.gap;
      return e;
    }
  }
  for (auto& candidate : *observed) {
    if (const auto node = caches_.nodes.get(candidate.node)) {
      const auto nv = placement::nodeViewOf(*node);
      candidate.nodeCpuCores = nv.allocatable.cpu;
      candidate.nodeMemoryBytes = nv.allocatable.memory;
    }
    auto f = forecaster_.forecast(candidate, profile);
    if (!f.ok()) {
      e.problem = f.error().message;
      return e;
    }
    e.forecasts.push_back({candidate.node, f->p50, f->confidence, f->cpuStderr});
    for (const auto& n : candidate.notes)
      e.missingOptional.insert(n.substr(0, n.find(':')));
  }
  return e;
}

}  // namespace umbra::controller
