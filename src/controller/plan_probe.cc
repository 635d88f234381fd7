// Planning Pending -> Probing -> Observing: choose candidates, create shadows, wait for them.
#include "controller/plan_draft.h"
#include "kube_core/quantity.h"
#include "placement/shadow.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;
using namespace std::chrono_literals;

namespace {

constexpr auto UnschedulableRetry = 30s;
constexpr auto QueuedRetry = 5s;
constexpr auto ProbeRecheck = 2s;

Plan planUnschedulable(Draft& d, const std::vector<placement::Verdict>& verdicts) {
  recordExcluded(d, verdicts);
  std::string why = d.world.nodes.empty() ? "no nodes" : "";
  for (size_t i = 0; i < verdicts.size() && i < 3; ++i)
    why += (i ? "; " : "") + verdicts[i].node + ": " + verdicts[i].reason;
  const std::string message =
      "no feasible node (" + why + (verdicts.size() > 3 ? "; ..." : "") + ")";
  d.status.setPhase(api::Phase::Pending, "Unschedulable", message);
  d.writeStatus();
  d.event(EventType::Warning, "Unschedulable", "SelectCandidates", message);
  return d.done(Action::after(UnschedulableRetry), "unschedulable");
}

// Records the candidate set in status (Probing) and goes on probing in the same pass. `how` says
// how they were chosen, if there is something to say.
Plan startProbing(Draft& d, std::vector<api::ShadowStatus> shadows, const std::string& how = "") {
  std::string names;
  for (const auto& s : shadows)
    names += (names.empty() ? "" : ", ") + s.node;
  const std::string message = "probing " + std::to_string(shadows.size()) + " of " +
                              std::to_string(d.settings().candidateCount) +
                              " requested candidates: " + names +
                              (how.empty() ? "" : " (" + how + ")");
  d.status.shadows = std::move(shadows);
  d.status.extensions = 0;
  d.status.setPhase(api::Phase::Probing, "CandidatesSelected", message);
  if (!d.firstPass)
    d.event(EventType::Normal, "CandidatesSelected", "SelectCandidates", message);
  return planProbe(d);
}

// The shadows not dropped and not in the cache yet, built for creation.
void createMissingShadows(Draft& d) {
  write::CreateShadows create;
  for (const auto& s : d.status.shadows) {
    if (s.phase == api::ShadowPhase::Dropped || d.world.shadows.count(s.name) != 0)
      continue;
    create.vmis.push_back(placement::buildShadowVmi(d.in.object, d.target().spec, s.node,
                                                    d.shadowSettings(), d.config.placement));
  }
  if (!create.vmis.empty())
    d.add(std::move(create));
}

struct ShadowCount {
  int live = 0;
  int running = 0;
  bool dropped = false;
};

// Follows each shadow's VMI: Running is recorded; Failed, Succeeded or not started within
// startTimeout drops the candidate (its VMI is deleted, with a Warning Event).
ShadowCount followShadows(Draft& d) {
  ShadowCount n;
  const auto timeout = toDuration(d.config.placement.shadowStartTimeout);
  for (auto& s : d.status.shadows) {
    if (s.phase == api::ShadowPhase::Dropped)
      continue;
    ++n.live;
    const auto it = d.world.shadows.find(s.name);
    if (it == d.world.shadows.end())
      continue;  // created by this pass; the watch brings it
    const ShadowView& vmi = it->second;
    const bool late = vmi.created && d.now - *vmi.created > timeout;
    if (vmi.phase == "Running") {
      ++n.running;
      if (s.phase != api::ShadowPhase::Running) {
        s.phase = api::ShadowPhase::Running;
        s.runningSince = api::wholeSeconds(vmi.runningSince.value_or(d.now));
      }
    } else if (vmi.phase == "Failed" || vmi.phase == "Succeeded" || late) {
      s.phase = api::ShadowPhase::Dropped;
      s.reason = late ? "shadow did not start within " +
                            kube::formatDuration(d.config.placement.shadowStartTimeout)
                      : "shadow VMI " + vmi.phase;
      --n.live;
      n.dropped = true;
      d.add(write::DeleteShadow{s.name});
      d.event(EventType::Warning, "ShadowDropped", "Probe", s.node + ": " + s.reason);
    }
  }
  return n;
}

bool sameNames(const std::vector<api::ShadowStatus>& a, const std::vector<api::ShadowStatus>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name)
      return false;
  }
  return true;
}

}  // namespace

void recordExcluded(Draft& d, const std::vector<placement::Verdict>& verdicts) {
  constexpr size_t MaxShown = 20;
  std::erase_if(d.status.candidates, [](const auto& c) { return !c.excluded.empty(); });
  size_t shown = 0;
  for (const auto& v : verdicts) {
    if (!v.feasible && shown++ < MaxShown) {
      api::CandidateStatus c;
      c.node = v.node;
      c.excluded = v.reason;
      d.status.candidates.push_back(std::move(c));
    }
  }
}

Plan planSelectCandidates(Draft& d) {
  if (!d.world.adopted.empty()) {
    // Chosen by an earlier first pass whose status write is still to come: record that choice,
    // then forget the memory of it.
    Plan p = startProbing(d, d.world.adopted);
    p.writes.emplace_back(write::ForgetChoice{});
    return p;
  }
  if (d.world.probingInNamespace >= d.config.concurrentPlacementsPerNamespace) {
    d.status.setPhase(api::Phase::Pending, "Queued",
                      "waiting: " + std::to_string(d.world.probingInNamespace) +
                          " placements of this namespace are probing "
                          "(limits.concurrentPlacementsPerNamespace)");
    d.writeStatus();
    return d.done(Action::after(QueuedRetry), "queued (namespace)");
  }
  if (d.world.probing + d.world.queuedAhead >= d.config.maxConcurrentPlacements) {
    d.status.setPhase(api::Phase::Pending, "Queued",
                      "waiting: " + std::to_string(d.world.probing) +
                          " placements are probing (maxConcurrentPlacements), " +
                          std::to_string(d.world.queuedAhead) +
                          " queued ahead (round robin across namespaces)");
    d.writeStatus();
    return d.done(Action::after(QueuedRetry), "queued");
  }
  const auto verdicts = d.classify();
  // The nodes the forecast likes best and those requests like best, in turn: a node that looks
  // good only from its history is probed, and so is one that looks good only on paper.
  const int count = d.settings().candidateCount;
  const auto byStatic = placement::topCandidates(verdicts, count);
  std::vector<std::string> byForecast;
  for (const auto& node : d.world.forecastRanking) {
    if (std::any_of(verdicts.begin(), verdicts.end(),
                    [&](const auto& v) { return v.feasible && v.node == node; }))
      byForecast.push_back(node);
  }
  const auto chosen =
      byForecast.empty() ? byStatic : placement::mixedCandidates(byForecast, byStatic, count);
  if (chosen.empty())
    return planUnschedulable(d, verdicts);
  std::string how;
  if (!byForecast.empty()) {
    std::string fromForecast;
    for (const auto& node : chosen) {
      if (std::find(byStatic.begin(), byStatic.end(), node) == byStatic.end())
        fromForecast += (fromForecast.empty() ? "" : ", ") + node;
    }
    how = fromForecast.empty() ? "the node forecast agrees with requests"
                               : fromForecast + " by the node forecast, the rest by requests";
  } else if (!d.world.forecastRankingProblem.empty()) {
    how = "by requests: no node forecast: " + d.world.forecastRankingProblem;
  }
  std::vector<api::ShadowStatus> shadows;
  shadows.reserve(chosen.size());
  for (const auto& node : chosen)
    shadows.push_back({node, placement::shadowName(d.in.name, node), api::ShadowPhase::Pending});
  if (d.firstPass)
    d.add(write::RememberChoice{shadows});  // before the creates: a retry keeps the choice
  return startProbing(d, std::move(shadows), how);
}

Plan planProbe(Draft& d) {
  createMissingShadows(d);
  if (d.firstPass)
    return d.done(Action::now(), "first pass: shadows only");  // status, finalizer next pass
  const ShadowCount n = followShadows(d);
  if (n.live == 0)
    return d.fail("NoShadowStarted", "no shadow VMI started on any candidate");
  if (n.running < n.live) {
    // The status is written once while shadows start, not per shadow: a shadow that runs
    // already is recorded with the others (its runningSince is the VMI's own transition time,
    // so nothing is lost by waiting), unless one was dropped.
    if (!n.dropped && sameNames(d.in.status.shadows, d.status.shadows))
      d.status.shadows = d.in.status.shadows;
    d.status.setCondition(api::condition::ShadowsReady, false, "Starting",
                          "waiting for the shadow VMIs to run", d.generation(), d.now);
    d.writeStatus();
    return d.done(Action::after(ProbeRecheck), "shadows starting");
  }
  d.status.setCondition(api::condition::ShadowsReady, true, "Running",
                        std::to_string(n.live) + " shadows running", d.generation(), d.now);
  d.status.observationStartedAt = api::wholeSeconds(d.now);
  d.status.setPhase(api::Phase::Observing, "Observing",
                    "observing " + std::to_string(n.live) + " shadows for " +
                        kube::formatDuration(d.settings().observationDuration));
  d.writeStatus();
  d.event(EventType::Normal, "Observing", "Observe", d.status.message);
  return d.done(Action::after(toDuration(d.settings().observationDuration)), "observing");
}

}  // namespace umbra::controller
