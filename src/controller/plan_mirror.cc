// Planning fidelity Mirror: whether the mesh can copy the target's requests to the shadows, the
// fallback to Synthetic probes, and the mirroring objects (placement/mirror.h).
#include "controller/plan_draft.h"
#include "kube_core/quantity.h"
#include "placement/mirror.h"

namespace umbra::controller {

using runtime::Action;
using runtime::EventType;
using namespace std::chrono_literals;

namespace {

// How the existing shadows probe ("" when there are none): a choice made once, kept.
std::string shadowsFidelity(const Draft& d) {
  for (const auto& [name, v] : d.world.shadows) {
    if (!v.fidelity.empty())
      return v.fidelity;
  }
  return "";
}

std::string percent(double p) {
  std::string s = twoDecimals(p);
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.')
    s.pop_back();
  return s + " %";
}

// The NetworkPolicy, the shadows' Services and the VirtualService, when one of them is missing
// or the VirtualService mirrors to other hosts than the live shadows. Waits until every live
// shadow is in the cache (their UIDs own the objects).
void applyMirrorObjects(Draft& d, const MirrorView& m) {
  std::vector<placement::MirroredShadow> live;
  for (const auto& s : d.status.shadows) {
    if (s.phase == api::ShadowPhase::Dropped)
      continue;
    const auto it = d.world.shadows.find(s.name);
    if (it == d.world.shadows.end() || it->second.uid.empty())
      return;
    live.push_back({s.name, it->second.uid, it->second.node.empty() ? s.node : it->second.node});
  }
  if (live.empty())
    return;
  std::vector<std::string> hosts;
  bool complete = m.egressPolicy && m.virtualService;
  for (const auto& s : live) {
    hosts.push_back(s.name);
    complete = complete && m.services.count(s.name) != 0;
  }
  std::sort(hosts.begin(), hosts.end());
  if (complete && hosts == m.mirrored)
    return;
  write::ApplyMirror apply;
  const placement::MirrorScope scope = placement::placementMirrorScope(d.in.object);
  apply.objects.push_back(
      placement::buildShadowEgressPolicy(scope, live, d.config.placement.meshNamespace));
  for (const auto& s : live)
    apply.objects.push_back(placement::buildShadowService(scope, m.service, s));
  apply.objects.push_back(placement::buildMirrorVirtualService(scope, m.service, live,
                                                               d.settings().mirroring.percentage));
  d.add(std::move(apply));
}

// Synthetic shadows instead: the condition says why, and a Warning Event once.
void fallBack(Draft& d, const MirrorView& m) {
  d.fallback = d.settings();
  d.fallback->fidelity = api::Fidelity::Synthetic;
  if (d.firstPass)
    return;  // the status comes next pass, and the condition and the Event with it
  if (m.problem.empty() && !d.in.status.conditionStatus(api::condition::Mirroring).empty())
    return;  // the mesh came later: the condition still says why these shadows are Synthetic
  const std::string why =
      m.problem.empty() ? "mirroring could not start when the shadows were made" : m.problem;
  const std::string message =
      why + "; probing with Synthetic load instead (spec.shadow.mirroring.fallback)";
  const bool news = std::none_of(
      d.in.status.conditions.begin(), d.in.status.conditions.end(), [&](const api::Condition& c) {
        return c.type == api::condition::Mirroring && c.message == message;
      });
  d.status.setCondition(api::condition::Mirroring, false,
                        m.problemReason.empty() ? "FellBack" : m.problemReason, message,
                        d.generation(), d.now);
  if (news)
    d.event(EventType::Warning, "MirrorUnavailable", "SelectCandidates", message);
}

}  // namespace

std::optional<Plan> planMirror(Draft& d) {
  if (d.settings().fidelity != api::Fidelity::Mirror || !d.world.mirror)
    return std::nullopt;
  const MirrorView& m = *d.world.mirror;
  const auto& s = d.settings();
  const std::string existing = shadowsFidelity(d);
  if (existing == api::toString(api::Fidelity::Synthetic)) {
    fallBack(d, m);  // chosen when the shadows were made, and kept
    return std::nullopt;
  }
  if (m.problemReason.empty()) {
    const std::string service = m.service["metadata"].value("name", "");
    d.status.setCondition(api::condition::Mirroring, true, "Mirroring",
                          "the mesh copies " + percent(s.mirroring.percentage) + " of Service " +
                              service + "'s requests to each shadow",
                          d.generation(), d.now);
    applyMirrorObjects(d, m);
    return std::nullopt;
  }
  if (!existing.empty())  // mirroring stopped under running shadows: what they see is not it
    return d.fail("MirrorLost", m.problem);
  // A target still starting, or its Service applied after the placement (kubectl apply -f dir/
  // creates in name order): wait as for a missing target.
  const auto waited = d.in.created ? d.now - *d.in.created : Duration::zero();
  const auto limit = toDuration(d.config.placement.targetWaitTimeout);
  const bool transient = m.problemReason == "TargetNotRunning" || m.problemReason == "NoService";
  d.status.setCondition(api::condition::Mirroring, false, m.problemReason, m.problem,
                        d.generation(), d.now);
  if (transient && waited < limit) {
    d.status.setPhase(api::Phase::Pending, "MirrorUnavailable",
                      m.problem + "; waiting up to " +
                          kube::formatDuration(d.config.placement.targetWaitTimeout));
    d.writeStatus();
    return d.done(Action::after(std::min<Duration>(limit - waited, 5s)), "mirror unavailable");
  }
  if (!s.mirroring.fallbackSynthetic)
    return d.fail("MirrorUnavailable", m.problem);
  fallBack(d, m);
  return std::nullopt;
}

}  // namespace umbra::controller
