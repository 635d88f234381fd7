#include "offline/instancetype_bench.h"
#include "offline/instancetype_trial_pick.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <random>

#include "model/series_forecast.h"
#include "sim/cluster.h"
#include "sim/requests.h"

namespace umbra::offline {
namespace {

constexpr double StepMinutes = 5;
constexpr double GiB = 1024.0 * 1024 * 1024;
constexpr double StealStep = 0.01;  // steal is tabulated in these steps

// The largest offered load (busy vCPUs' worth of work, at full speed) `vcpus` vCPUs at `speed`
// serve with P(latency <= slo) >= 0.95: latency grows with the load (bisection).
double maxLoad(int vcpus, double speed, double sloSeconds, const sim::RequestModel& m) {
  const auto meets = [&](double load) {
    const double mu = speed / m.cpuSecondsPerRequest;
    const sim::LatencyDistribution l({load / m.cpuSecondsPerRequest, vcpus, mu}, m);
    return !l.saturated() && l.cdf(sloSeconds) >= 0.95;
  };
  double lo = 0, hi = vcpus * speed;
  if (!meets(1e-6))
    return 0;                     // even an idle server misses it (a request slower than the SLO)
  for (int i = 0; i < 20; ++i) {  // to a millionth of the vCPUs
    const double mid = 0.5 * (lo + hi);
    (meets(mid) ? lo : hi) = mid;
  }
  return lo;
}

// maxLoad for every vCPU count of `types` and every tabulated steal, for one request model.
class Capacity {
 public:
  Capacity(double sloSeconds, const sim::RequestModel& m) : slo_(sloSeconds), model_(m) {}
  double at(int vcpus, double steal) {
    const int q = static_cast<int>(std::lround(std::clamp(steal, 0.0, 0.5) / StealStep));
    const auto key = std::make_pair(vcpus, q);
    auto it = table_.find(key);
    if (it == table_.end())
      it = table_.emplace(key, maxLoad(vcpus, 1 - q * StealStep, slo_, model_)).first;
    return it->second;
  }

 private:
  double slo_;
  sim::RequestModel model_;
  std::map<std::pair<int, int>, double> table_;
};

const InstanceType* cheapest(const std::vector<InstanceType>& types,
                             const std::function<bool(const InstanceType&)>& ok) {
  const InstanceType* best = nullptr;
  for (const auto& t : types) {
    if (ok(t) && (!best || t.pricePerHour < best->pricePerHour))
      best = &t;
  }
  return best;
}

std::vector<double> slice(const std::vector<double>& v, size_t from, size_t to) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from),
          v.begin() + static_cast<std::ptrdiff_t>(to)};
}

}  // namespace

std::vector<InstanceType> commonInstancetypes(const InstancetypePrices& p) {
  std::vector<InstanceType> out;
  const auto add = [&](const std::string& series, const char* size, int vcpus, double gib,
                       bool dedicated) {
    const double cpu = vcpus * p.vcpu * (dedicated ? 1 + p.dedicatedPremium : 1);
    out.push_back({series + "." + size, vcpus, gib, dedicated, cpu + gib * p.gib});
  };
  // API-NOTES section 14 (common-clusterinstancetypes-bundle v1.7.0).
  add("u1", "medium", 1, 4, false);
  add("u1", "large", 2, 8, false);
  add("u1", "xlarge", 4, 16, false);
  add("u1", "2xlarge", 8, 32, false);
  add("u1", "4xlarge", 16, 64, false);
  add("u1", "8xlarge", 32, 128, false);
  add("u1", "small", 1, 2, false);
  add("u1", "2xmedium", 2, 4, false);
  add("cx1", "medium", 1, 2, true);
  add("cx1", "large", 2, 4, true);
  add("cx1", "xlarge", 4, 8, true);
  add("cx1", "2xlarge", 8, 16, true);
  add("cx1", "4xlarge", 16, 32, true);
  add("cx1", "8xlarge", 32, 64, true);
  add("m1", "large", 2, 16, false);
  add("m1", "xlarge", 4, 32, false);
  add("m1", "2xlarge", 8, 64, false);
  add("m1", "4xlarge", 16, 128, false);
  add("m1", "8xlarge", 32, 256, false);
  return out;
}

InstancetypeBenchReport runInstancetypeBench(const sim::TraceSet& vms,
                                             const std::vector<const sim::Trace*>& hosts,
                                             const InstancetypeBenchOptions& o,
                                             const InstancetypePrices& prices) {
  InstancetypeBenchReport report;
  const auto types = commonInstancetypes(prices);
  const sim::QueueCurve runQueue = sim::Physics{}.cpu;  // docs/simulation.md, the CPU curve
  for (const auto& [id, trace] : vms.series) {
    const size_t n = trace.slots();
    const size_t split = static_cast<size_t>(o.trainShare * static_cast<double>(n));
    if (hosts.empty() || n < 3 * 288 || split < static_cast<size_t>(o.trialSteps) + 288 ||
        trace.cpuCores <= 0) {
      ++report.skipped;
      continue;
    }
    std::mt19937_64 rng(std::hash<std::string>{}(id) ^ (o.seed * 0x9e3779b97f4a7c15ULL));
    std::uniform_real_distribution<double> unit(0, 1);
    // Hidden: the requests' CPU cost and variability, the host the VM runs on and how packed.
    sim::RequestModel model;
    model.cpuSecondsPerRequest =
        std::clamp(0.02 * std::exp(0.5 * std::normal_distribution<>()(rng)), 0.005, 0.2);
    model.serviceCv2 = 0.5 + 2.5 * unit(rng);
    const auto hostSteal = [&](const sim::Trace& host, double packing, size_t offset) {
      std::vector<double> steal(n);
      for (size_t t = 0; t < n; ++t)
        steal[t] = runQueue.at(std::min(1.0, host.cpu[(t + offset) % host.slots()] * packing));
      return steal;
    };
    const sim::Trace& host = *hosts[rng() % hosts.size()];
    const auto steal = hostSteal(host, 1.0 + 0.8 * unit(rng), rng() % host.slots());
    std::vector<double> busy(n), mem(n);
    for (size_t t = 0; t < n; ++t) {
      busy[t] = std::max(0.0, static_cast<double>(trace.cpu[t])) * trace.cpuCores;
      mem[t] = std::max(0.0, static_cast<double>(trace.memory[t])) * trace.memoryBytes / GiB;
    }
    const double slo = o.sloFactor * model.cpuSecondsPerRequest;
    Capacity truth(slo, model);
    const auto sloMinutes = [&](const InstanceType& t) {
      double minutes = 0;
      for (size_t s = split; s < n; ++s) {
        const double at = truth.at(t.vcpus, t.dedicated ? 0 : steal[s]);
        if (busy[s] > at || mem[s] > t.memoryGiB)
          minutes += StepMinutes;
      }
      return minutes;
    };
    WorkloadResult w;
    w.id = id;
    w.cpuSecondsPerRequest = model.cpuSecondsPerRequest;
    w.serviceCv2 = model.serviceCv2;
    const auto result = [&](const InstanceType* t, double hours) {
      PickerResult r;
      if (!t)
        return r;
      r.type = t->name;
      r.costPerHour = t->pricePerHour;
      r.sloMinutes = sloMinutes(*t);
      r.decisionHours = hours;
      return r;
    };
    const double trainHours = static_cast<double>(split) * StepMinutes / 60;
    const auto train = [&](const std::vector<double>& v) { return slice(v, 0, split); };

    // The requested type: the VM's own size, in u1.
    const InstanceType* requested = cheapest(types, [&](const InstanceType& t) {
      return t.name.rfind("u1.", 0) == 0 && t.vcpus >= std::lround(trace.cpuCores) &&
             t.memoryGiB >= trace.memoryBytes / GiB * 0.999;
    });
    if (!requested) {
      ++report.skipped;
      continue;
    }
    w.pickers.push_back(result(requested, 0));
    w.pickers.back().picker = "static";
    // VPA-style: the percentile of usage plus the margin, the cheapest type of any series; one
    // picker per setting (the best of them is the peer, cli/bench_instancetypes.cc).
    for (const auto& [percentile, margin] : o.vpaSettings) {
      const double cpu = model::quantileOf(train(busy), percentile) * (1 + margin);
      const double memory = model::quantileOf(train(mem), percentile) * (1 + margin);
      PickerResult r = result(
          cheapest(types,
                   [&](const InstanceType& t) { return t.vcpus >= cpu && t.memoryGiB >= memory; }),
          trainHours);
      char name[48];
      std::snprintf(name, sizeof(name), "vpa-p%.0f+%.0f%%", 100 * percentile, 100 * margin);
      r.picker = name;
      w.pickers.push_back(r);
    }

    // Umbra: a small Mirror shadow fed mirrorShare of the requests over the last trialSteps of
    // the training part measures the requests' CPU cost (CPU seconds over requests: its counters
    // and the mesh's) and their variability (at its low load its latency histogram is the
    // service time's); the shared pool's steal comes from the cluster's node metrics (steal on
    // eight of the pool's nodes over the training part, their p99), not from the VM's own host.
    const size_t trialFrom = split - static_cast<size_t>(o.trialSteps);
    std::vector<double> pool;
    std::vector<double> shadowHost;  // the steal where the trial's shadow runs: one pool node
    for (int h = 0; h < 8; ++h) {
      const sim::Trace& other = *hosts[rng() % hosts.size()];
      const auto s = hostSteal(other, 1.0 + 0.8 * unit(rng), rng() % other.slots());
      pool.insert(pool.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(split));
      if (h == 0)
        shadowHost = s;
    }
    // What the shadow reports, and nothing else: its CPU seconds over its requests (the cost per
    // request, from the requests it served: a sample of them) and its requests' mean latency per
    // step (the mesh histogram's _sum over _count), on its own queue — one vCPU at the quota the
    // operator gives a Mirror shadow (the share of the VM's vCPUs, at least 10m) on its node.
    // The variability follows from the mean by Pollaczek-Khinchine (M/G/1): mean - s =
    // rho s (1 + cv^2) / (2 (1 - rho)); too little queueing to read it: cv^2 taken as 1.
    double requests = 0;
    for (size_t t = trialFrom; t < split; ++t)
      requests += o.mirrorShare * busy[t] / model.cpuSecondsPerRequest * StepMinutes * 60;
    const int samples = static_cast<int>(std::clamp(requests, 2.0, 20000.0));
    std::gamma_distribution<double> service(1 / model.serviceCv2,
                                            model.cpuSecondsPerRequest * model.serviceCv2);
    double sum = 0;
    for (int i = 0; i < samples; ++i)
      sum += service(rng);
    sim::RequestModel measured;
    measured.cpuSecondsPerRequest = sum / samples;
    const double quota = std::max(0.01, o.mirrorShare * requested->vcpus);
    double excess = 0, queueing = 0, serviceTime = 0;
    for (size_t t = trialFrom; t < split; ++t) {
      const double speed = quota * (1 - shadowHost[t]);
      const double lambda = o.mirrorShare * busy[t] / model.cpuSecondsPerRequest;
      const double served = lambda * StepMinutes * 60;
      const sim::LatencyDistribution truth({lambda, 1, speed / model.cpuSecondsPerRequest}, model);
      if (served < 1 || truth.saturated())
        continue;
      // The step's mean over its requests: the true mean and the error of a mean of `served`.
      const double mean =
          truth.meanSeconds() * (1 + std::normal_distribution<>()(rng) *
                                         std::sqrt(std::max(1.0, model.serviceCv2) / served));
      const double s = measured.cpuSecondsPerRequest / speed;
      const double rho = lambda * s;
      if (rho >= 0.95)
        continue;
      excess += served * (mean - s);
      queueing += served * rho * s / (2 * (1 - rho));
      serviceTime += served * s;
    }
    // Readable when the queueing term is at least a twentieth of the service time.
    measured.serviceCv2 =
        queueing > 0.05 * serviceTime ? std::clamp(excess / queueing - 1, 0.05, 20.0) : 1.0;
    const double sharedSteal = model::quantileOf(pool, 0.99);
    // The forecast peak of the work (the mesh counts the VM's requests) and of memory.
    const double peak = model::quantileOf(train(busy), o.peakQuantile) * (1 + o.peakMargin);
    const double memoryNeed =
        *std::max_element(mem.begin(), mem.begin() + static_cast<std::ptrdiff_t>(split)) *
        (1 + o.memoryMargin);
    const auto umbraPick = [&](const sim::RequestModel& requestModel) {
      Capacity predicted(slo, requestModel);
      const InstanceType* t = cheapest(types, [&](const InstanceType& x) {
        return x.memoryGiB >= memoryNeed &&
               peak <= predicted.at(x.vcpus, x.dedicated ? 0 : sharedSteal);
      });
      if (!t)  // nothing meets it: the most capable type that holds the memory
        t = cheapest(types, [&](const InstanceType& x) {
          return x.vcpus == 32 && x.dedicated && x.memoryGiB >= memoryNeed;
        });
      return t;
    };
    const double trialHours = o.trialSteps * StepMinutes / 60;
    PickerResult umbra = result(umbraPick(measured), trialHours);
    umbra.picker = "umbra";
    // The shadow, sized as the operator sizes Mirror shadows: mirrorShare of the VM's vCPUs, 2 %
    // of its memory but at least half a GiB for the guest.
    umbra.trialCostShare = (std::max(0.5, 0.02 * requested->memoryGiB) * prices.gib +
                            o.mirrorShare * requested->vcpus * prices.vcpu) /
                           requested->pricePerHour;
    w.pickers.push_back(umbra);
    // The ablation: the same without the trial's variability (cv2 taken as 1; the CPU cost per
    // request is the VM's own CPU seconds over its requests, no shadow needed).
    sim::RequestModel assumed = measured;
    assumed.serviceCv2 = 1;
    PickerResult noTrial = result(umbraPick(assumed), trainHours);
    noTrial.picker = "umbra-without-trial";
    w.pickers.push_back(noTrial);
    w.pickers.push_back(controllerPick(types, *requested,
                                       ControllerTrial{busy, mem, shadowHost, trialFrom, split,
                                                       model, slo, o.mirrorShare, trialHours}));
    for (const auto& t : types)
      if (t.name == w.pickers.back().type)
        w.pickers.back().sloMinutes = sloMinutes(t);
    char log[160];
    std::snprintf(log, sizeof(log),
                  "measured %.1f ms a request, cv2 %.2f (%d requests); pool steal p99 %.3f",
                  1000 * measured.cpuSecondsPerRequest, measured.serviceCv2, samples, sharedSteal);
    w.trialLog.push_back(log);

    // The oracle: the cheapest type with no SLO minute in the evaluation part, else the fewest.
    const InstanceType* oracle = nullptr;
    double oracleMinutes = 0;
    for (const auto& t : types) {
      const double m = sloMinutes(t);
      if (!oracle || m < oracleMinutes ||
          (m == oracleMinutes && t.pricePerHour < oracle->pricePerHour)) {
        oracle = &t;
        oracleMinutes = m;
      }
    }
    w.pickers.push_back(result(oracle, 0));
    w.pickers.back().picker = "oracle";
    report.workloads.push_back(std::move(w));
  }
  return report;
}

}  // namespace umbra::offline
