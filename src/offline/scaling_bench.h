#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scaling/scalers.h"

namespace umbra::offline {

// One target of the scaling benchmark: its demand on the trace's grid, in the resource's units,
// and where the evaluation starts (everything before `split` is history the scalers warm up on).
struct ScalingTarget {
  std::string id;
  std::vector<double> demand;
  size_t split = 0;
  scaling::Resource resource;
  double initial = 0;  // the allocation before the first decision (the requested size)
  // Umbra's forecasts, one per decision: forecasts[k] is made at the end of step split - 1 + k.
  std::vector<scaling::DemandForecast> forecasts;
};

// What one scaler did to one target over the evaluation part.
struct ScalingRun {
  double seconds = 0;
  double underSeconds = 0;       // demand above what served
  double allocatedIntegral = 0;  // allocation x seconds
  double slackIntegral = 0;      // (allocation - used) x seconds
  double shortfallIntegral = 0;  // (demand - served) x seconds, where positive
  double demandIntegral = 0;
  int actions = 0;
  std::vector<double> allocation;  // per evaluated step, what was allocated at its end
  // Umbra only: per evaluated step, whether a surge alarm was raised at that step.
  std::vector<uint8_t> alarmStarted;
};

// Replays the target's evaluation part against `scaler`: at the end of every step the scaler
// decides; a raise serves after resource.upSeconds (the old allocation serves until then), a cut
// either takes effect at once or restarts the target (nothing served for cutRestartSeconds).
ScalingRun simulateScaling(const ScalingTarget& target, scaling::Scaler& scaler,
                           double stepSeconds);

// A surge added to a series, with its label.
struct Surge {
  size_t start = 0, end = 0;  // steps [start, end)
  double amplitude = 0;       // added to the utilisation fraction (before clipping at 1)
};

// Adds surges to `values` (utilisation fractions) after `from`: each lifts the series by an
// amplitude drawn from [0.2, 0.5] of capacity for 6 to 36 steps (30 minutes to 3 hours), with
// 12 to 60 hours between surges; clipped at 1. A surge whose mean realised lift is below 0.1
// (the series was already near its capacity) is not added. Seeded: the same seed gives the same
// surges.
std::vector<Surge> injectSurges(std::vector<double>& values, size_t from, uint64_t seed);

// Alarms against labelled surges. An alarm raised within a surge detects it (the first one
// counts; its delay is the steps from the surge's start); an alarm outside every surge is a false
// positive.
struct DetectionScore {
  int surges = 0, detected = 0, falseAlarms = 0;
  double delaySum = 0;  // over detected surges
};
DetectionScore scoreDetection(const std::vector<Surge>& surges,
                              const std::vector<uint8_t>& alarmStarted, size_t split);

}  // namespace umbra::offline
