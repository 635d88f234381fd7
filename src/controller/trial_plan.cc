#include "controller/trial_pass.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "placement/mirror.h"

namespace umbra::controller {

using kube::Json;

namespace trial_pass {

// The NetworkPolicy, the shadows' Services and the VirtualService, once every serving candidate's
// shadow is in the cache (their UIDs own the objects), when one is missing or the VirtualService
// mirrors to other shadows.
void Pass::applyMirror() {
  std::vector<placement::MirroredShadow> live;
  for (const auto& c : st.candidates) {
    if (c.state != state::Running)
      continue;
    const auto s = w.shadows.find(c.ref.name);
    if (s == w.shadows.end() || s->second.uid.empty() || s->second.deleting)
      return;
    live.push_back({s->second.name, s->second.uid, c.ref.name, api::TrialTypeLabel});
  }
  if (live.empty())
    return;
  std::vector<std::string> hosts;
  bool complete = w.mirror.egressPolicy && w.mirror.virtualService;
  for (const auto& s : live) {
    hosts.push_back(s.name);
    complete = complete && w.mirror.services.count(s.name) != 0;
  }
  std::sort(hosts.begin(), hosts.end());
  if (complete && hosts == w.mirror.mirrored)
    return;
  const placement::MirrorScope scope = placement::trialMirrorScope(in.object);
  ApplyMirror apply;
  apply.objects.push_back(
      placement::buildShadowEgressPolicy(scope, live, settings.defaults.meshNamespace));
  for (const auto& s : live)
    apply.objects.push_back(placement::buildShadowService(scope, w.mirror.service, s));
  apply.objects.push_back(
      placement::buildMirrorVirtualService(scope, w.mirror.service, live, spec().percentage));
  p.writes.push_back(std::move(apply));
}

// Completed or Failed: the shadows go; mode Apply switches the VM once.
void Pass::finished() {
  deleteShadows([](const std::string&) { return false; });
  if (st.phase == phase::Completed && spec().mode == api::Mode::Apply && st.recommendation &&
      !st.applied && w.target.exists) {
    const api::InstancetypeRef& to = *st.recommendation;
    if (w.target.instancetype && *w.target.instancetype == to) {
      event(EventType::Normal, "Unchanged",
            "VirtualMachine " + in.ns + "/" + spec().target + " already has " + to.name);
    } else {
      p.writes.push_back(SetInstancetype{to});
      event(EventType::Normal, "Applied",
            "VirtualMachine " + in.ns + "/" + spec().target + " now has instancetype " + to.name +
                " (more vCPUs or memory are hotplugged, anything else waits for a restart)");
    }
    st.applied = true;
  }
  writeStatusIfChanged();
  p.why = "trial " + st.phase;
}

// Pending or Running: the mesh, the candidates' shadows, the queue, the outcome.
void Pass::run() {
  const api::TrialSpec& s = spec();
  std::vector<api::InstancetypeRef> wanted = s.candidates;
  if (s.aroundCurrent && w.target.instancetype) {  // the VM's type and its sizes down and up
    const auto [down, up] = placement::neighboursOf(w.target.instancetype->name, w.catalogue);
    for (const auto& r : {std::optional(*w.target.instancetype), down, up})
      if (r && static_cast<int>(wanted.size()) < s.maxCandidates)
        wanted.push_back(*r);
  }
  for (const auto& ref : wanted)  // a new trial, or candidates added to its spec
    if (!st.candidate(ref.name))
      st.candidates.push_back(TrialCandidate{ref});
  for (auto& c : st.candidates) {
    const auto t = w.types.find(c.ref.name);
    const bool open = c.state == state::Queued || c.state == state::Running;
    if (t == w.types.end() || !t->second.problem.empty()) {
      if (open) {
        c.state = state::Failed;
        c.reason = t == w.types.end() ? c.ref.kind + " " + c.ref.name + " does not exist"
                                      : t->second.problem;
      }
      continue;
    }
    c.vcpus = t->second.size.vcpus;
    c.memoryGiB = t->second.size.memoryGiB;
    c.costPerHour = t->second.costPerHour;
  }
  const bool serving = std::any_of(st.candidates.begin(), st.candidates.end(), [](const auto& c) {
    return c.state == state::Running && c.startedAt;
  });
  if (!w.mirror.problemReason.empty()) {
    const bool said = std::any_of(st.conditions.begin(), st.conditions.end(), [&](const auto& c) {
      return c.type == cond::Mirroring && c.status == "False" && c.message == w.mirror.problem;
    });
    condition(cond::Mirroring, false, w.mirror.problemReason, w.mirror.problem);
    if (serving) {  // the measurement would stop: the trial cannot finish honestly
      st.phase = phase::Failed;
      st.completedAt = now;
      st.recommendationReason = "mirroring stopped during the trial: " + w.mirror.problem;
      condition(cond::Completed, true, "MirrorLost", st.recommendationReason);
      event(EventType::Warning, "MirrorLost", st.recommendationReason);
      deleteShadows([](const std::string&) { return false; });
    } else {
      st.phase = phase::Pending;
      if (!said)
        event(EventType::Warning, "MirrorUnavailable", w.mirror.problem);
      p.next = runtime::Action::after(settings.interval);
    }
    writeStatusIfChanged();
    p.why = "mirroring: " + w.mirror.problemReason;
    return;
  }
  char share[64];
  std::snprintf(share, sizeof(share), "%g %% of Service %s's requests to each shadow", s.percentage,
                w.mirror.service["metadata"].value("name", "").c_str());
  condition(cond::Mirroring, true, "Mirrored", share);
  if (st.candidates.empty()) {  // explore.aroundCurrent with nothing to explore around
    st.phase = phase::Failed;
    st.recommendationReason =
        "VirtualMachine " + in.ns + "/" + s.target + " has no spec.instancetype to explore around";
    condition(cond::Completed, true, "NoCandidates", st.recommendationReason);
    event(EventType::Warning, "NoCandidates", st.recommendationReason);
    writeStatusIfChanged();
    return;
  }
  if (w.memoryInUseGiB)  // a peak since the start: the last one read holds when a read fails
    st.memoryInUseGiB = w.memoryInUseGiB;
  if (st.phase != phase::Running) {
    st.phase = phase::Running;
    st.startedAt = now;
    st.current = w.target.instancetype;
    event(EventType::Normal, "Started",
          std::to_string(st.candidates.size()) + " candidate types, " +
              std::to_string(s.maxConcurrentShadows) + " shadows at a time, " + share);
  }
  for (auto& c : st.candidates)
    if (c.state == state::Running)
      running(c);
  // Prometheus failing leaves a trial waiting: a condition (and one Event when it turns False)
  // says so instead of a trial that looks stuck; unknown until a shadow is first read.
  if (!w.metricsProblem.empty()) {
    if (st.conditionStatus(cond::MetricsAvailable) != "False")
      event(EventType::Warning, "MetricsUnavailable", w.metricsProblem);
    condition(cond::MetricsAvailable, false, "MetricsUnavailable", w.metricsProblem);
  } else if (!w.readings.empty()) {  // a shadow read, not only the VM's memory
    condition(cond::MetricsAvailable, true, "Read",
              "the shadows' requests, latency and CPU read from Prometheus");
  }
  fillSlots();
  const auto open = [&] {
    return std::any_of(st.candidates.begin(), st.candidates.end(), [](const auto& c) {
      return c.state == state::Running || c.state == state::Queued;
    });
  };
  if (!open() && explore())
    fillSlots();
  // Shadows of candidates no longer serving (and of none: left by an older spec) go.
  deleteShadows([&](const std::string& type) {
    const TrialCandidate* c = st.candidate(type);
    return c && c->state == state::Running;
  });
  if (!open()) {
    complete();
    p.next = runtime::Action::now();  // the finished pass: shadows go, mode Apply switches
  } else {
    applyMirror();
    p.next = runtime::Action::after(settings.interval);
  }
  writeStatusIfChanged();
  p.why = "trial " + st.phase;
}

}  // namespace trial_pass

TrialPlan planTrial(const TrialInput& in, const TrialWorld& w, const TrialSettings& settings,
                    SystemTime now) {
  using namespace trial_pass;
  Pass pass{in, w, settings, now, {}, in.status};
  api::TrialStatus& st = pass.st;
  st.observedGeneration = in.generation;
  if (!in.spec) {
    const bool said = st.phase == phase::Failed && st.recommendationReason == in.specError;
    st.phase = phase::Failed;
    st.recommendationReason = in.specError;
    pass.condition(cond::Completed, true, "InvalidSpec", in.specError);
    pass.deleteShadows([](const std::string&) { return false; });
    pass.writeStatusIfChanged();
    if (!said)
      pass.event(EventType::Warning, "InvalidSpec", in.specError);
    pass.p.why = "invalid spec";
    return std::move(pass.p);
  }
  if (st.phase == phase::Completed || st.phase == phase::Failed) {
    pass.finished();
    return std::move(pass.p);
  }
  pass.run();
  return std::move(pass.p);
}

}  // namespace umbra::controller
