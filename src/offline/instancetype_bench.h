#pragma once

// The instance-type benchmark (umbra bench instancetypes, docs/instancetypes.md): workloads from VM
// traces, each serving requests (sim/requests.h) with a hidden CPU cost per request and service
// variability, on hosts whose steal follows machine traces; pickers choose a KubeVirt common
// instancetype for the evaluation part: the requested type (static), a VPA-style rightsizer
// (percentile of usage plus a margin, rounded up to the cheapest type that holds it), Umbra's
// trial (small shadows of candidate types fed a mirrored share of the requests, then the cheapest
// type whose predicted p95 at the forecast peak meets the SLO) and a clairvoyant oracle.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/trace.h"

namespace umbra::offline {

struct InstancetypePrices {
  // Price per vCPU-hour and per GiB-hour, and the premium of a dedicated vCPU: assumptions of the
  // benchmark (docs/instancetypes.md), not facts of any cloud.
  double vcpu = 0.03, gib = 0.004, dedicatedPremium = 0.15;
};

struct InstanceType {
  std::string name;  // u1.large
  int vcpus = 1;
  double memoryGiB = 1;
  bool dedicated = false;  // cx1: dedicated vCPUs, no steal
  double pricePerHour = 0;
};

// KubeVirt v1.9.0's bundled common-instancetypes v1.7.0 (API-NOTES section 14): u1 (shared
// cores, 4 GiB a vCPU), cx1 (dedicated, 2 GiB a vCPU) and m1 (8 GiB a vCPU), 1 to 32 vCPUs.
std::vector<InstanceType> commonInstancetypes(const InstancetypePrices& prices);

struct InstancetypeBenchOptions {
  double trainShare = 0.7;  // the first part of each trace; the rest is evaluated
  double sloFactor = 5;     // the SLO: p95 latency at most this many times the request's CPU time
  // VPA-style settings (percentile of usage, margin): VPA's recommender targets p90 with a 15 %
  // safety margin; the higher ones are a cautious operator's.
  std::vector<std::pair<double, double>> vpaSettings = {
      {0.9, 0.15}, {0.95, 0.15}, {0.99, 0.15}, {0.99, 0.5}};
  double mirrorShare = 0.02;   // of the requests, to each trial shadow
  int trialSteps = 24;         // two hours of 5-minute steps, at the end of the training part
  double peakQuantile = 0.99;  // Umbra's forecast peak: this quantile of the training demand...
  double peakMargin = 0.1;     // ...plus this much
  double memoryMargin = 0.1;   // every picker: the working set's peak plus this, must fit
  uint64_t seed = 1;
};

struct PickerResult {
  // static, vpa-p90+15%, ..., umbra, umbra-without-trial, oracle
  std::string picker;
  std::string type;
  double costPerHour = 0;
  double sloMinutes = 0;  // evaluation minutes whose p95 exceeds the SLO (or memory does not fit)
  double decisionHours = 0;   // what the picker watched before deciding
  double trialCostShare = 0;  // Umbra: its shadows' cost over the trial / the workload's
};

struct WorkloadResult {
  std::string id;
  double cpuSecondsPerRequest = 0, serviceCv2 = 1;  // hidden
  std::vector<PickerResult> pickers;                // in the same order for every workload
  std::vector<std::string> trialLog;                // Umbra's candidates, what it measured
};

struct InstancetypeBenchReport {
  std::vector<WorkloadResult> workloads;
  int skipped = 0;  // traces without capacity or too short
};

InstancetypeBenchReport runInstancetypeBench(const sim::TraceSet& vms,
                                             const std::vector<const sim::Trace*>& hosts,
                                             const InstancetypeBenchOptions& o,
                                             const InstancetypePrices& prices);

}  // namespace umbra::offline
