#include "controller/trial_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "placement/mirror.h"

namespace umbra::controller {

using api::TrialCandidate;
using kube::Json;
using runtime::EventType;
using namespace trial_write;
namespace state = api::candidate_state;
namespace phase = api::trial_phase;
namespace cond = api::trial_condition;

namespace {

const auto ms = placement::formatMs;
const auto price = placement::formatPrice;

struct Pass {
  const TrialInput& in;
  const TrialWorld& w;
  const TrialSettings& settings;
  SystemTime now;
  TrialPlan p;
  api::TrialStatus st;

  const api::TrialSpec& spec() const { return *in.spec; }
  double share() const { return spec().percentage / 100; }
  void event(EventType type, const std::string& reason, const std::string& note) {
    p.writes.push_back(PostEvent{type, reason, "Trial", note});
  }
  void condition(const char* type, bool value, const std::string& why, const std::string& text) {
    setCondition(st.conditions, type, value, why, text, in.generation, now);
  }
  // Every shadow of the trial not already going, but those `keep` keeps.
  void deleteShadows(const std::function<bool(const std::string&)>& keep) {
    for (const auto& [type, shadow] : w.shadows)
      if (!shadow.deleting && !keep(type))
        p.writes.push_back(DeleteShadow{shadow.name});
  }
  void writeStatusIfChanged() {
    if (api::toJson(st) != api::toJson(in.status))
      p.writes.push_back(WriteStatus{st});
  }
  void startShadow(TrialCandidate& c) {
    c.state = state::Running;
    c.shadow = placement::trialShadowName(in.name, c.ref.name);
    if (!w.shadows.count(c.ref.name))
      p.writes.push_back(CreateShadow{placement::buildTrialShadowVmi(
          in.object, w.target.vmiSpec, w.types.at(c.ref.name).instancetype, share(),
          settings.defaults)});
  }
  void running(TrialCandidate& c);
  void fillSlots();
  bool explore();
  void complete();
  void applyMirror();
  void finished();
  void run();
};

// A Running candidate: its shadow started, serving, measured at the end of its observation (or
// dropped at half of it when clearly worse).
void Pass::running(TrialCandidate& c) {
  const auto shadow = w.shadows.find(c.ref.name);
  if (shadow != w.shadows.end() && shadow->second.phase == "Failed") {
    c.state = state::Failed;
    c.reason = "its shadow failed" +
               (shadow->second.failure.empty() ? std::string() : ": " + shadow->second.failure);
    return;
  }
  if (!c.startedAt) {
    const auto limit = settings.defaults.shadowStartTimeout;
    if (shadow == w.shadows.end())
      startShadow(c);
    else if (shadow->second.phase == "Running")
      c.startedAt = now;
    else if (shadow->second.created && now - *shadow->second.created > limit) {
      c.state = state::Failed;  // e.g. no node has room for its vCPUs
      c.reason = "its shadow did not start within shadows.startTimeout (" +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) +
                 " s): " +
                 (shadow->second.failure.empty() ? "still " + shadow->second.phase
                                                 : shadow->second.failure);
    }
    return;
  }
  if (shadow == w.shadows.end()) {
    c.state = state::Failed;
    c.reason = "its shadow " + c.shadow + " was deleted during its observation";
    return;
  }
  const auto reading = w.readings.find(c.ref.name);
  if (reading == w.readings.end())
    return;
  const auto elapsed = now - *c.startedAt;
  const bool over = elapsed >= spec().duration;
  if (reading->second.requests <= 0) {
    if (over) {
      c.state = state::Failed;
      c.reason = "no mirrored request reached its shadow in its observation";
    }
    return;
  }
  const api::TrialMeasurement m = placement::atFullLoad(reading->second, share(), c.vcpus);
  const double slo = spec().p95LatencyMs;
  if (over) {
    c.state = state::Measured;
    c.measured = m;
    const std::string tight = placement::memoryShortfall(c.memoryGiB, st.memoryInUseGiB);
    c.meetsSlo = m.p95Ms <= slo && m.utilisation < 0.99 && tight.empty();
    c.reason = "p95 " + ms(m.p95Ms) + " at full load (SLO " + ms(slo) + "), " +
               std::to_string(static_cast<int>(std::lround(100 * m.utilisation))) +
               " % of its vCPUs busy" + (tight.empty() ? "" : "; " + tight);
    event(EventType::Normal, "CandidateMeasured", c.ref.name + ": " + c.reason);
  } else if (elapsed >= spec().duration / 2 && placement::clearlyWorse(m, slo)) {
    c.state = state::Dropped;
    c.measured = m;
    c.meetsSlo = false;
    c.reason = "dropped at half its observation: p95 " + ms(m.p95Ms) +
               " at full load, over twice the SLO (" + ms(slo) + ")";
    event(EventType::Normal, "CandidateDropped", c.ref.name + ": " + c.reason);
  }
}

// Free slots go to the cheapest queued types; one dearer than a type that already meets the SLO
// could not be recommended, so it is not tried.
void Pass::fillSlots() {
  int busy = 0;
  std::optional<double> cheapestMeeting;
  std::vector<TrialCandidate*> queued;
  for (auto& c : st.candidates) {
    busy += c.state == state::Running;
    if (c.state == state::Measured && c.meetsSlo)
      cheapestMeeting = std::min(cheapestMeeting.value_or(c.costPerHour), c.costPerHour);
    if (c.state == state::Queued)
      queued.push_back(&c);
  }
  std::stable_sort(queued.begin(), queued.end(),
                   [](const auto* a, const auto* b) { return a->costPerHour < b->costPerHour; });
  for (TrialCandidate* c : queued) {
    if (const auto tight = placement::memoryShortfall(c->memoryGiB, st.memoryInUseGiB);
        !tight.empty()) {
      c->state = state::Dropped;
      c->reason = "not tried: " + tight;
    } else if (cheapestMeeting && c->costPerHour >= *cheapestMeeting) {
      c->state = state::Dropped;
      c->reason = "not tried: it costs " + price(c->costPerHour) +
                  ", no less than a type that meets the SLO (" + price(*cheapestMeeting) + ")";
    } else if (busy < spec().maxConcurrentShadows) {
      startShadow(*c);
      ++busy;
    }
  }
}

// explore.neighbours (placement::nextToExplore). True when a type joined the queue.
bool Pass::explore() {
  if (!spec().neighbours || static_cast<int>(st.candidates.size()) >= spec().maxCandidates)
    return false;
  auto next = placement::nextToExplore(st.candidates, w.catalogue);
  const auto type = next ? w.types.find(next->first.name) : w.types.end();
  if (type == w.types.end() || !type->second.problem.empty())
    return false;
  TrialCandidate c{next->first};
  c.explored = true;
  c.vcpus = type->second.size.vcpus;
  c.memoryGiB = type->second.size.memoryGiB;
  c.costPerHour = type->second.costPerHour;
  st.candidates.push_back(c);
  event(EventType::Normal, "CandidateAdded", next->second);
  return true;
}

void Pass::complete() {
  const auto ranked = placement::rankCandidates(st.candidates);
  st.phase = phase::Completed;
  st.completedAt = now;
  const auto current = st.current ? w.types.find(st.current->name) : w.types.end();
  if (current != w.types.end() && st.startedAt)
    st.shadowCostPercent = placement::shadowCostPercent(
        st.candidates, share(), spec().duration, current->second.costPerHour, now - *st.startedAt);
  const double slo = spec().p95LatencyMs;
  if (!ranked.empty() && ranked.front()->meetsSlo) {
    const TrialCandidate& best = *ranked.front();
    st.recommendation = best.ref;
    st.recommendationReason = "the cheapest type that meets the SLO: " + best.ref.name + " at " +
                              price(best.costPerHour) + ", p95 " + ms(best.measured->p95Ms) +
                              " at full load (SLO " + ms(slo) + ")";
    if (st.current && st.current->name != best.ref.name)
      if (const TrialCandidate* now = st.candidate(st.current->name); now && now->vcpus > 0)
        st.recommendationReason +=
            "; the current " + now->ref.name + " costs " + price(now->costPerHour);
    condition(cond::Completed, true, "Recommended", st.recommendationReason);
    event(EventType::Normal, "Recommended", st.recommendationReason);
  } else {
    st.recommendation.reset();
    st.recommendationReason = ranked.empty()
                                  ? "no candidate could be measured"
                                  : "no candidate meets the SLO (" + ms(slo) + "); the fastest, " +
                                        ranked.front()->ref.name + ", has p95 " +
                                        ms(ranked.front()->measured->p95Ms) + " at full load";
    condition(cond::Completed, true, "NoCandidateMeetsSLO", st.recommendationReason);
    event(EventType::Warning, "NoCandidateMeetsSLO", st.recommendationReason);
  }
}

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

}  // namespace

TrialPlan planTrial(const TrialInput& in, const TrialWorld& w, const TrialSettings& settings,
                    SystemTime now) {
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
