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

}  // namespace

WorldReader::WorldReader(Caches caches, kube::KubeClient& client, telemetry::MetricsSource& metrics,
                         model::Forecaster& forecaster, const FirstPassChoices& choices,
                         int maxConcurrentPlacements, int perNamespaceCap)
    : caches_(caches),
      client_(client),
      metrics_(metrics),
      forecaster_(forecaster),
      maxConcurrentPlacements_(maxConcurrentPlacements),
      perNamespaceCap_(perNamespaceCap),
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
    const auto active = probingByNamespace();
    for (const auto& [ns, n] : active)
      w.probing += n;
    const auto mine = active.find(in.ns);
    w.probingInNamespace = mine == active.end() ? 0 : mine->second;
    w.queuedAhead = queuedAhead(in, active);
  }
  if (w.target && !placing)
    holder(in, w);
  const bool deciding = w.target && w.target->requirements && observationEnded(in, now);
  if (deciding)
    w.evidence = evidence(in, *w.target, now);
  if ((selecting && w.adopted.empty()) || deciding || placing)
    w.nodes = nodes(in, w, selecting);
  // Only a placement about to choose: not one queued for a slot or waiting for its target.
  if (selecting && w.adopted.empty() && w.target && w.target->requirements && w.heldBy.empty() &&
      w.probing + w.queuedAhead < maxConcurrentPlacements_ &&
      w.probingInNamespace < perNamespaceCap_)
    rankByForecast(in, w, now);
  if (placing)
    w.migration = migration(in);
  const bool probing =
      in.status.phase == api::Phase::Probing || in.status.phase == api::Phase::Observing;
  if (in.settings->fidelity == api::Fidelity::Mirror && w.target && (selecting || probing)) {
    auto mirror = mirrorView(in, *w.target);
    if (!mirror.ok())
      return mirror.error().wrap(in.key());
    w.mirror = std::move(mirror).value();
  }
  return w;
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

void WorldReader::readShadows(const PlacementInput& in, World& w) const {
  const auto view = [](const Json& vmi) {
    const Json& meta = vmi["metadata"];
    const Json labels = meta.value("labels", Json::object());
    return ShadowView{vmi.value("status", Json::object()).value("phase", ""),
                      kube::parseTime(meta.value("creationTimestamp", "")),
                      runningSince(vmi),
                      meta.value("uid", ""),
                      labels.value(api::ShadowNodeLabel, ""),
                      labels.value(api::FidelityLabel, "")};
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
  // The kind is not served (KubeVirt uninstalled before Umbra): its CRD took every VMI with it,
  // so none is left and the finalizer may go instead of holding the namespace forever.
  if (!list.ok() && list.error().is(ErrorKind::NotFound))
    return size_t{0};
  if (!list.ok())
    return list.error().wrap("while listing the shadows of " + in.key());
  return (*list)["items"].size();
}

void WorldReader::rankByForecast(const PlacementInput& in, World& w, SystemTime now) const {
  const auto verdicts =
      placement::classify(w.nodes, *w.target->requirements, in.settings->nodeSelector);
  std::vector<std::string> feasible;
  for (const auto& v : verdicts) {
    if (v.feasible)
      feasible.push_back(v.node);
  }
  if (feasible.empty())
    return;
  const auto window = std::max<std::chrono::milliseconds>(std::chrono::minutes(5),
                                                          in.settings->observationDuration);
  auto observed = metrics_.observeNodes(feasible, now - toDuration(window), now,
                                        toDuration(in.settings->observationInterval));
  if (!observed.ok()) {
    w.forecastRankingProblem = observed.error().message;
    return;
  }
  if (!observed->empty() && !observed->front().frame.times.empty())
    forecaster_.prefetch(feasible,
                         SystemTime(std::chrono::seconds(observed->front().frame.times.back())));
  for (auto& c : *observed) {
    if (const auto node = caches_.nodes.get(c.node)) {
      const auto nv = placement::nodeViewOf(*node);
      c.nodeCpuCores = nv.allocatable.cpu;
      c.nodeMemoryBytes = nv.allocatable.memory;
    }
  }
  // No key: a ranking is not a decision whose outcome is recorded.
  const auto ranking =
      model::rankNodes(forecaster_, *observed,
                       {w.target->requirements->size.cpu, w.target->requirements->size.memory, ""},
                       in.settings->weights);
  if (ranking.ranked.empty()) {
    w.forecastRankingProblem = "no node could be forecast from its own telemetry";
    return;
  }
  for (const auto& r : ranking.ranked)
    w.forecastRanking.push_back(r.node);
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
    e.forecasts.push_back({candidate.node, f->p50, f->confidence, f->cpuStderr, f->cpuModelSd});
    for (const auto& n : candidate.notes)
      e.missingOptional.insert(n.substr(0, n.find(':')));
  }
  return e;
}

}  // namespace umbra::controller
