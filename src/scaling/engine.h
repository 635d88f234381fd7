#pragma once

// One scaling pass for one target, as the operator runs it: the forecast engine fitted on the
// target's history, the policy's state rebuilt by replaying its newest steps, and the decision
// for now. Pure: the same history gives the same decision.
#include <string>
#include <vector>

#include "model/series_forecast.h"
#include "scaling/pattern.h"
#include "scaling/scalers.h"

namespace umbra::scaling {

struct PassInput {
  std::vector<double> demand;  // one value per step in the resource's units, oldest first
  double stepSeconds = 300;
  // The demand that is utilisation 1 for the forecast (the most the target may have); the engine
  // forecasts demand / upper, clamped to [0, 1].
  double upper = 1;
  Resource resource;
  PolicyOptions policy;   // policy.initialMultiple: the feedback's multiple from the last pass
  double allocation = 0;  // in effect now
  // At most this many of the newest steps are replayed to rebuild the surge detector's band
  // and the cut window (the rest trains the engine).
  size_t replaySteps = 300;
  // A network trained across many series (the operator's demand LSTM), borrowed read-only: it
  // joins the engine's members when its step and horizon fit (300 s, at least the horizon the
  // pass needs). Null: the per-target members only.
  const model::SeriesMethod* network = nullptr;
  int networkHorizon = 0;
  double networkStepSeconds = 300;
  std::string networkName;  // "lstm/<version>"
};

struct PassResult {
  bool forecasted = false;  // false: too little history, the policy kept up with the newest demand
  std::string model;  // "guarded-ensemble(linear-ar, recent-median, last-value, holt-winters)"
  DemandForecast forecast;  // resource units, the lead steps ahead
  PolicyDecision decision;
  double wanted = 0;  // quantized
  std::vector<Period> periods;
};

// Fewer steps than this: no forecast.
inline constexpr size_t MinForecastSteps = 24;

PassResult runPass(const PassInput& in);

}  // namespace umbra::scaling
