#pragma once

#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "scaling/anomaly.h"

namespace umbra::scaling {

// What can be allocated to a target and how a change takes effect (seconds after the decision).
// Units are the resource's own: vCPUs (sockets), bytes of guest memory, pool replicas.
struct Resource {
  double step = 1;  // allocations are multiples of this
  double min = 1, max = 1;
  double upSeconds = 0;  // a raise serves after this (hotplug migration, a new VM's cold start)
  // A cut restarts the target, which then serves nothing for this long (KubeVirt cannot unplug
  // vCPUs: fewer sockets set RestartRequired); 0 when a cut is live (memory down to the boot size,
  // a pool scaling in).
  double cutRestartSeconds = 0;

  // `v` rounded up to a multiple of `step`, within [min, max].
  double quantize(double v) const;
};

// A per-step forecast of the target's demand, in the resource's units.
struct DemandForecast {
  std::vector<double> p50, p90;
};

// What a scaler sees at a decision (the end of a step).
struct Observation {
  std::span<const double> demand;  // every step so far, the newest last
  double allocation = 0;           // in effect now
  // The forecast from this step on (step 1 is the next one); empty for scalers that do not read
  // one.
  const DemandForecast* forecast = nullptr;
};

// A scaler decides, at the end of each step, the allocation for the next ones. One object per
// target (it keeps that target's state).
class Scaler {
 public:
  virtual ~Scaler() = default;
  virtual std::string name() const = 0;
  // The allocation wanted from now on (quantized by the caller).
  virtual double decide(const Observation& o) = 0;
};

// The requested size, never changed.
std::unique_ptr<Scaler> staticScaler(double size);

// HPA-style: when utilisation has been above target x (1 + tolerance) for `upSteps` steps, or
// below target x (1 - tolerance), the allocation becomes ceil(allocation x utilisation / target)
// (the HPA formula); a cut takes the highest such recommendation of the last `downWindowSteps`
// (the HPA's scale-down stabilisation window, 300 s by default).
struct ReactiveOptions {
  double target = 0.8;
  double tolerance = 0.1;  // HPA's default
  int upSteps = 1;
  int downWindowSteps = 1;
};
std::unique_ptr<Scaler> reactiveScaler(ReactiveOptions options = {});

// VPA-style (the Kubernetes VPA recommender): percentiles of a histogram of usage samples whose
// weights decay with a 24-hour half-life; target = p90 x 1.15 (its safety margin), lower bound
// p50 x 1.15, upper bound p95 x 1.15. Like VPA's updater it changes the allocation to the target
// only when the allocation is outside [lower, upper].
struct VpaOptions {
  double stepSeconds = 300;
  double halfLifeSeconds = 24 * 3600;
  double targetPercentile = 0.9, lowerPercentile = 0.5, upperPercentile = 0.95;
  double margin = 0.15;
  double histogramMax = 1;  // samples are binned in 200 equal buckets up to this (the most a
                            // target can be given)
};
std::unique_ptr<Scaler> vpaScaler(VpaOptions options = {});

// Autopilot's moving-window recommender (Rzadca et al., EuroSys 2020, section 3.2): the
// `percentile` of usage samples weighted by an exponential decay of `halfLifeSeconds`
// (S_p), or the maximum over the last `maxWindowSeconds` (S_max, when percentile is 1), plus
// a safety margin, applied at every step.
struct AutopilotOptions {
  double stepSeconds = 300;
  double percentile = 0.95;
  double halfLifeSeconds = 12 * 3600;
  double maxWindowSeconds = 24 * 3600;
  double margin = 0.1;
  double histogramMax = 1;
};
std::unique_ptr<Scaler> autopilotScaler(AutopilotOptions options = {});

// Clairvoyant: allocates exactly the demand of the next `lookahead` steps (their maximum), read
// from the whole series it is given; a cut goes only as low as the next `cutLookahead` steps
// allow (long when a cut restarts the target). The limit, not a scaler anyone can run.
std::unique_ptr<Scaler> oracleScaler(std::vector<double> wholeSeries, int lookahead = 2,
                                     int cutLookahead = 2);

// Umbra's policy: the forecast engine's p50/p90 over the lead time, the headroom tuned by what
// happened, an aggressive strategy while a surge is detected, and anti-flapping.
struct PolicyOptions {
  // The allocation is at least the forecast median over this; 1 (the default) leaves the
  // headroom to the forecast's band and the under-provisioning target below.
  double targetUtilisation = 1;
  int leadSteps = 2;  // the steps ahead the allocation must cover
  // Feedback (adaptive conformal inference, Gibbs and Candes 2021): the upper estimate is
  // p50 + m (p90 - p50); after each step m += gain (under - targetUnderShare), where under is 1
  // when the step's demand exceeded the allocation; m stays in [0, maxMultiple].
  double targetUnderShare = 0.01;
  double gain = 0.05;
  double initialMultiple = 1;
  // A step is under-provisioned when its demand exceeds this share of the allocation: 1 when the
  // demand is known (the benchmark); below 1 when what is measured is what was served (a
  // saturated VM reads at its allocation).
  double saturatedShare = 1;
  double maxMultiple = 20;
  int downWindowSteps = 6;    // a cut takes the highest wish of this many steps (30 minutes)
  double cutTolerance = 0.1;  // and only when that is below the allocation by more than this share
  // When a cut restarts the target (vCPUs), the window is this long instead (6 hours): a restart
  // is worth it only for a lasting drop.
  bool cutsRestart = false;
  int restartCutWindowSteps = 72;
  // While a surge is detected (and `holdSteps` after), at least the newest demand times this.
  double aggressiveFactor = 1.5;
  int holdSteps = 6;
  AnomalyOptions anomaly;
};

// Why the policy wants what it wants (status and Events say it).
struct PolicyDecision {
  double wish = 0;      // before anti-flapping
  double decided = 0;   // after
  double multiple = 0;  // the feedback's current headroom multiple
  bool aggressive = false;
  AnomalyReport anomaly;
  std::string reason;
};

class UmbraPolicy final : public Scaler {
 public:
  explicit UmbraPolicy(PolicyOptions options = {});
  std::string name() const override { return "umbra"; }
  double decide(const Observation& o) override;
  const PolicyDecision& last() const { return last_; }
  // Off: decisions do not move the headroom multiple (a replay of steps whose allocations are
  // not known).
  void setFeedback(bool on) { feedback_ = on; }

 private:
  PolicyOptions o_;
  bool feedback_ = true;
  double multiple_;
  DemandForecast previous_;  // the forecast made at the last decision (its step 1 is now)
  SurgeDetector detector_;
  std::deque<double> wishes_;
  int holdLeft_ = 0;
  PolicyDecision last_;
};

// A histogram of samples whose weights halve every `halfLifeSteps` added samples (VPA's and
// Autopilot's), in `buckets` equal buckets over [0, max]; values above max go to the last one.
class DecayingHistogram {
 public:
  DecayingHistogram(double max, double halfLifeSteps, int buckets = 200);
  void add(double v);
  // The upper edge of the bucket in which the cumulative weight reaches q of the total; 0 when
  // empty.
  double percentile(double q) const;

 private:
  double max_, decay_;
  std::vector<double> w_;
  double total_ = 0;
};

}  // namespace umbra::scaling
