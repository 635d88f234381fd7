#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scaling/scalers.h"
#include "sim/trace.h"

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

// A number as printf's %g writes it ("0.15", "1e-05"): the settings' labels.
std::string compactNumber(double v);

// One setting of one scaler: every scaler is run at several settings of its main knob, so that
// they are compared at equal slack (on their trade-off curves), not at one chosen point each.
struct ScalerSetting {
  std::string scaler, label;  // label: "reactive target=0.8"
  double value = 0;
  bool isDefault = false;
};
// Static; reactive at targets 0.5-0.9; VPA and Autopilot at margins 0-0.5; Umbra at
// under-provisioned shares 0.25-10 % and target utilisations 0.6-0.9; the oracle.
std::vector<ScalerSetting> scalerSettings();
// The scaler a setting names, for `target` (`policy`: Umbra's options for it).
std::unique_ptr<scaling::Scaler> makeScaler(const ScalerSetting& s, const ScalingTarget& target,
                                            const scaling::PolicyOptions& policy,
                                            double stepSeconds);
// Under-provisioned minutes a scaler's curve gives at `slack`: linear between the settings on its
// frontier (those no other setting beats on both slack and under-provisioning); NaN outside the
// slack they span. `points`: (slack, under-provisioned minutes) per setting.
double underAtSlack(std::vector<std::pair<double, double>> points, double slack);

// The benchmark's targets from a trace's utilisation `values` (fractions), evaluated from `split`,
// with the engine's forecasts (fractions) per decision:
//  - vCPUs: whole vCPUs from 1 to the trace's cores; a raise serves after 45 s (a hotplug
//    migration), a cut restarts the VM (90 s down); the requested size at first;
//  - memory: 256Mi steps from 1Gi to the trace's memory, live changes after 45 s;
//  - a pool: the trace scaled so that its training 99th percentile needs 8 replicas (up to what
//    the trace at full capacity needs), a new replica serves after 90 s; nullopt for an idle
//    series (99th percentile under 1 %).
std::optional<ScalingTarget> vcpuTarget(const sim::Trace& trace, const std::vector<double>& values,
                                        size_t split,
                                        const std::vector<scaling::DemandForecast>& forecasts);
std::optional<ScalingTarget> memoryTarget(const sim::Trace& trace,
                                          const std::vector<double>& values, size_t split,
                                          const std::vector<scaling::DemandForecast>& forecasts);
std::optional<ScalingTarget> poolTarget(const std::string& id, const std::vector<double>& values,
                                        size_t split,
                                        const std::vector<scaling::DemandForecast>& forecasts);

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
