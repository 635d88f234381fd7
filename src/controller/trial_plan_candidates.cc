// planTrial()'s candidates: a running candidate measured (or dropped, or failed), the queue
// filled cheapest first, the neighbours explored, the outcome ranked.
#include <algorithm>
#include <cmath>

#include "controller/trial_pass.h"

namespace umbra::controller::trial_pass {

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
  const bool over = elapsed >= spec().duration * (1 + c.extensions);
  if (reading->second.requests <= 0) {
    if (over) {
      c.state = state::Failed;
      c.reason = "no mirrored request reached its shadow in its observation";
    }
    return;
  }
  const api::TrialMeasurement m = placement::atFullLoad(reading->second, share(), c.vcpus);
  const double slo = spec().p95LatencyMs;
  const double confidence = placement::trialConfidence(reading->second.requests);
  if (over && confidence < 1 && c.extensions < placement::MaxTrialExtensions) {
    ++c.extensions;  // too few requests for a p95: observe once more, as placements do
    event(EventType::Normal, "ObservationExtended",
          c.ref.name + ": " + std::to_string(std::lround(reading->second.requests)) +
              " requests so far, too few for a p95; observing for another " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(spec().duration).count()) +
              " s");
  } else if (over) {
    c.state = state::Measured;
    c.measured = m;
    c.confidence = confidence;
    const std::string tight = placement::memoryShortfall(c.memoryGiB, st.memoryInUseGiB);
    c.meetsSlo = m.p95Ms <= slo && m.utilisation < 0.99 && tight.empty();
    c.reason = "p95 " + ms(m.p95Ms) + " at full load (SLO " + ms(slo) + "), " +
               std::to_string(static_cast<int>(std::lround(100 * m.utilisation))) +
               " % of its vCPUs busy" + (tight.empty() ? "" : "; " + tight) +
               (confidence < 1
                    ? "; low confidence: " + std::to_string(std::lround(reading->second.requests)) +
                          " requests"
                    : "");
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

}  // namespace umbra::controller::trial_pass
