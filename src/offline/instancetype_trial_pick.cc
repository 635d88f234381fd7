#include "offline/instancetype_trial_pick.h"

#include <algorithm>
#include <map>
#include <optional>

namespace umbra::offline {

// The p95 a candidate's shadow reports over the trial, scaled to full load: its vCPUs slowed to
// the share serve the share of the requests, so its latencies are the full-size type's stretched
// by 1/share, and the mesh's histogram (Envoy's buckets, on the stretched scale) is read by
// histogram_quantile's linear interpolation, as the controller reads it.
double trialP95(const InstanceType& t, const ControllerTrial& c) {
  std::vector<double> below(sim::LatencyBucketsMs.size(), 0);
  double all = 0;
  for (size_t s = c.from; s < c.to; ++s) {
    const double lambda = c.busy[s] / c.model.cpuSecondsPerRequest;
    if (lambda <= 0)
      continue;
    const double speed = t.dedicated ? 1.0 : 1 - c.shadowHost[s];
    const sim::LatencyDistribution d({lambda, t.vcpus, speed / c.model.cpuSecondsPerRequest},
                                     c.model);
    all += lambda;
    for (size_t i = 0; i < below.size(); ++i)  // the bucket's bound at full load, in seconds
      below[i] += d.saturated() ? 0 : lambda * d.cdf(sim::LatencyBucketsMs[i] / 1000 * c.share);
  }
  if (all <= 0)
    return 0;
  double lower = 0, previous = 0;
  for (size_t i = 0; i < below.size(); ++i) {
    const double f = below[i] / all;
    if (f >= 0.95)
      return c.share *
             (lower + (sim::LatencyBucketsMs[i] - lower) * (0.95 - previous) / (f - previous));
    lower = sim::LatencyBucketsMs[i];
    previous = f;
  }
  return c.share * sim::LatencyBucketsMs.back();
}

PickerResult controllerPick(const std::vector<InstanceType>& types, const InstanceType& requested,
                            const ControllerTrial& c) {
  std::vector<const InstanceType*> u1;
  for (const auto& t : types)
    if (t.name.rfind("u1.", 0) == 0)
      u1.push_back(&t);
  std::sort(u1.begin(), u1.end(), [](const auto* a, const auto* b) {  // as neighboursOf()
    return a->vcpus != b->vcpus ? a->vcpus < b->vcpus : a->memoryGiB < b->memoryGiB;
  });
  const double inUse = *std::max_element(c.memory.begin() + static_cast<std::ptrdiff_t>(c.from),
                                         c.memory.begin() + static_cast<std::ptrdiff_t>(c.to));
  size_t at = 0;
  while (at < u1.size() && u1[at]->name != requested.name)
    ++at;
  std::map<size_t, bool> meets;  // tried: meets the SLO
  double shadowCost = 0;
  int rounds = 0;
  const auto tryTypes = [&](std::vector<size_t> ks) {
    bool any = false;
    for (size_t k : ks) {
      if (k >= u1.size() || meets.count(k) || u1[k]->memoryGiB < inUse * 1.1)
        continue;
      meets[k] = trialP95(*u1[k], c) <= 1000 * c.slo;
      shadowCost += c.share * u1[k]->pricePerHour;
      any = true;
    }
    rounds += any;
    return any;
  };
  tryTypes({at, at == 0 ? u1.size() : at - 1});
  for (int guard = 0; guard < 8; ++guard) {
    std::optional<size_t> best;
    for (const auto& [k, ok] : meets)
      if (ok && (!best || u1[k]->pricePerHour < u1[*best]->pricePerHour))
        best = k;
    if (best ? !tryTypes({*best == 0 ? u1.size() : *best - 1})
             : !tryTypes({meets.empty() ? at + 1 : meets.rbegin()->first + 1}))
      break;
  }
  const InstanceType* pick = nullptr;
  for (const auto& [k, ok] : meets)
    if (ok && (!pick || u1[k]->pricePerHour < pick->pricePerHour))
      pick = u1[k];
  if (!pick)
    pick = &requested;  // no type meets the SLO: no recommendation, the VM stays
  PickerResult r;
  r.picker = "umbra-controller";
  r.type = pick->name;
  r.costPerHour = pick->pricePerHour;
  r.decisionHours = rounds * c.hours;
  r.trialCostShare = rounds > 0 ? shadowCost / (rounds * requested.pricePerHour) : 0;
  return r;
}

}  // namespace umbra::offline
