#pragma once
// Intervals for the placement benchmark's headline: paired VMs (an arrival that the placer judged,
// the best peer of its run and the oracle all placed), grouped by run (one seed's world).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace umbra::model {

// One VM's p95 slowdown under the placer judged, under the best peer of its run and the oracle.
struct PairedVm {
  size_t run = 0;
  double placer = 0, peer = 0, oracle = 0;
};

struct Interval {
  double mean = 0, lo = 0, hi = 0;
};

using PairedStat = std::function<double(const std::vector<PairedVm>&)>;

// The statistic on every pair, with a 95 % percentile bootstrap interval that resamples VMs within
// each run: each seed's world taken as given. It ignores how much the worlds themselves differ.
Interval bootstrapWithinRuns(const std::vector<PairedVm>& pairs, size_t runs,
                             const PairedStat& stat, int resamples = 2000,
                             uint64_t seed = 12345);

// The same, resampling the runs (with replacement) and then VMs within each drawn run: a two-stage
// (cluster) bootstrap, so that the seed-to-seed spread widens the interval. One placement changes
// the world the next arrivals meet, so the VMs of one run are not independent draws. With few runs
// it still understates the spread (a bootstrap over 3 clusters has 10 distinct draws).
Interval bootstrapRunsAndVms(const std::vector<PairedVm>& pairs, size_t runs,
                             const PairedStat& stat, int resamples = 2000,
                             uint64_t seed = 12345);

// The statistic on each run's pairs alone (NaN for a run without pairs).
std::vector<double> perRun(const std::vector<PairedVm>& pairs, size_t runs, const PairedStat& stat);

// Mean of one field, and the two statistics of the headline.
double meanOf(const std::vector<PairedVm>& pairs, double PairedVm::*field);
double placerOverPeer(const std::vector<PairedVm>& pairs);  // 0 when the peer's mean is 0
double gapClosed(const std::vector<PairedVm>& pairs);       // 0 when peer and oracle tie

}  // namespace umbra::model
