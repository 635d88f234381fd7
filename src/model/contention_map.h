#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "placement/scoring.h"

namespace umbra::model {

// What is known about a candidate when the decision is made: the probe's observation (means and
// spreads over the observation window), the node's demand forecast over the horizon, and how big
// the target is next to the node. The inputs of the contention mapping (part (b) of the
// forecaster).
struct ContentionInputs {
  double shadowSteal = 0, shadowStealSd = 0;  // the shadow's vCPU delay fraction
  // A Synthetic shadow's probe: the share of memory-kernel speed lost to co-runners (0: none).
  double probeLoss = 0, probeLossSd = 0;
  double nodeUtilNow = 0;                   // node CPU utilisation during the observation
  double nodeUtilP50 = 0, nodeUtilP90 = 0;  // demand forecast, mean over the horizon steps
  // The 95th percentile of the node's CPU utilisation over its last day (288 steps of 300 s of
  // its history; nodeUtilNow without one): its daily peak, which a 24-hour outcome meets.
  double nodeUtilDayP95 = 0;
  // The standard deviation of the node's CPU utilisation over its last hour (12 steps of its
  // history; 0 without one): how much its load swings (what LoadVariationRiskBalancing weighs).
  double nodeUtilHourSd = 0;
  double memoryPressure = 0, memoryPressureSd = 0;
  double ioWait = 0, ioWaitSd = 0;
  double networkLatency = 0, networkLatencySd = 0;  // seconds
  double targetVcpus = 1;
  double cpuShare = 0;     // target vCPUs / node cores (0 when the node's size is unknown)
  double memoryShare = 0;  // target memory / node memory
};

// What a placed VM actually experienced over the window after its placement, beside what was
// known at the decision. Recorded by the operator after every placement, and produced offline by
// the simulator (sim_outcomes.h).
struct Outcome {
  int64_t time = 0;    // unix seconds of the decision
  std::string source;  // "operator" | "sim"
  std::string target, node;
  ContentionInputs inputs;
  placement::Contention actual;  // means over the outcome window
};

struct ContentionQuantiles {
  placement::Contention p50, p90;
};

// Maps ContentionInputs to the contention the target would meet. Two kinds:
//  - the prior, used until outcomes exist: the shadow's observed means, CPU steal scaled up by the
//    forecast node utilisation times the target's vCPUs / 8, p90 = p50 + 1.28 standard deviations;
//  - learned: per output, a linear quantile regression (pinball loss at 0.5 and 0.9) on fixed
//    features of the inputs (for steal, a piecewise-linear function of the node's forecast load
//    and of its daily peak, plus the target's share, and how much its load swings), fitted to
//    outcomes. It predicts what the outcomes measured: the operator's, the mean or the p95
//    (model.outcomeStatistic) over model.outcomeWindow; `umbra train-contention`'s simulated
//    ones, the mean or the p95 of 300 s means (--statistic) over --window-steps.
class ContentionMap {
 public:
  static ContentionMap prior();
  // Needs at least MinOutcomes outcomes. Deterministic. The CPU head weighs the shadow's own
  // observations (its steal and spread, steal x load, the probe's loss and spread) only when they
  // earn their place: both heads, with and without them, are fitted on the older four fifths of
  // the decisions and judged on the newest fifth, by the regret of choosing each decision's
  // lowest prediction among its candidates (consecutive outcomes with one time are one decision),
  // or, with fewer than MinJudgedDecisions decisions of two or more candidates there (the
  // operator records one outcome per decision), by the CPU prediction's pinball loss. They stay
  // only if they do better by more than twice the standard error of the paired difference (per
  // decision, or per outcome); with too little to judge (fewer than 5 outcomes held out), they
  // stay, as before the guard. Without them, the map predicts from what the node's history and telemetry show,
  // so a decision made through it cannot do worse than the node forecast because of a shadow's
  // noise.
  static Result<ContentionMap> fit(const std::vector<Outcome>& outcomes);
  static constexpr size_t MinJudgedDecisions = 10;
  struct ShadowTermsVerdict {
    bool kept = true;
    std::string judgedBy = "unjudged";  // "regret" | "loss" | "unjudged"
    double with = 0, without = 0;       // the held-out regret (or loss) with and without them
    size_t judged = 0;                  // held-out decisions (regret) or outcomes (loss)
  };
  bool shadowTerms() const { return verdict_.kept; }
  const ShadowTermsVerdict& shadowTermsVerdict() const { return verdict_; }
  static constexpr size_t MinOutcomes = 20;

  // What a candidate's inputs were read from: a shadow's observation, or the node alone (before
  // any shadow: the node's CPU pressure where the shadow's steal would be, and no probe).
  enum class Reading { Shadow, NodeOnly };
  // With Reading::NodeOnly, a map that keeps the shadow's terms predicts CPU with the head fitted
  // without them (nodeCpuHead), not with shadow terms that were never read.
  ContentionQuantiles predict(const ContentionInputs& in, Reading reading = Reading::Shadow) const;
  // Mean pinball loss (at 0.5 and 0.9) over the outcomes, each output relative to the mean size
  // of its actual values: the yardstick of champion/challenger.
  double loss(const std::vector<Outcome>& outcomes) const;

  bool learned() const { return learned_; }
  // The part of the CPU prediction's error that is the model's, not the observation's, and that
  // differs between the candidates of one decision, relative to the predicted level (errors grow
  // with contention): sqrt(sum (r_i - r_j)^2 / 2 / sum (p_i^2 + p_j^2) / 2) over pairs of outcomes
  // decided together, r the p50 residuals and p the predictions (all residuals against all
  // predictions when no two share a decision). The error of a prediction p is about
  // cpuDiscrepancy() x p. More observation does not shrink it. 0 for the prior (unknown).
  double cpuDiscrepancy() const { return cpuDiscrepancy_; }
  size_t trainedOn() const { return trainedOn_; }
  // "contention/prior", "contention/learned(412 outcomes)", or with the shadow's terms left out
  // "contention/learned(412 outcomes, node terms only)".
  std::string describe() const;

  // JSON, written through a temporary file and a rename; errors name the path.
  Status save(const std::string& path) const;
  static Result<ContentionMap> load(const std::string& path);

  static constexpr int Outputs = 4;  // cpuContention, memoryPressure, ioWait, networkLatency
  static constexpr int MaxFeatures = 15;
  struct Head {
    int features = 0;
    std::array<double, MaxFeatures> mean{}, sd{};
    std::array<double, MaxFeatures + 1> w50{}, w90{};  // [0] is the intercept
  };

 private:
  bool learned_ = false;
  size_t trainedOn_ = 0;
  double cpuDiscrepancy_ = 0;
  ShadowTermsVerdict verdict_;
  std::array<Head, Outputs> heads_{};
  // When the shadow's terms are kept: the CPU head fitted on the same outcomes without them, for
  // node-only readings. Absent otherwise, and in files written before it (those predict node-only
  // readings with heads_[0], as they did).
  std::optional<Head> nodeCpuHead_;
  static ContentionMap fitHeads(const std::vector<Outcome>& outcomes, bool shadowTerms);
};

// Outcomes as JSON lines. Appending writes one whole line with a single write(2), so concurrent
// appends and crashes never interleave or truncate a record. Reading skips nothing silently: a
// malformed line is an error naming the file and the line.
Status appendOutcome(const std::string& path, const Outcome& o);
Result<std::vector<Outcome>> readOutcomes(const std::string& path);

}  // namespace umbra::model
