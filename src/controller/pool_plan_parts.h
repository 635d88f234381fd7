#pragma once

// Internal to pool_plan*.cc: what planPool() is built from. Pure.
#include <string>

#include "controller/pool_world.h"

namespace umbra::controller::pool_parts {

inline constexpr double GiB = 1024.0 * 1024 * 1024;
// The capacity target when the trigger is an application metric (no utilisation threshold).
inline constexpr double DefaultUtilisation = 0.8;

std::string num(double v);  // "%.3g"
double seconds(Duration d);

enum class Phase { Creating, Dormant, Activating, Active };
// A shadow's phase, from its VM's marks and labels and its VMI.
Phase phaseOf(const PoolShadow& s, api::DormantState dormant);
const char* toString(Phase p);

// The dormant shadow's size: a share of the workload's, at least 1 socket and 1Gi (KubeVirt
// hotplugs memory from 1Gi); 0 guest when the workload sets none.
int baselineSockets(const api::ShadowPoolSpec& s, const PoolWorld& w);
double baselineGuest(const api::ShadowPoolSpec& s, const PoolWorld& w);

// The VirtualMachine of a new shadow: the workload's template without the Service's label (with
// it, and running, when `serving`: a cold start), at the baseline size, on (and tolerating) the
// reserved hosts, owned by the pool, halted.
kube::Json shadowVm(const PoolInput& in, const PoolWorld& w, const std::string& name, bool serving);

// Demand (vCPUs' worth) expected over the horizon: the forecast engine's p50 and p90 (their
// highest over the horizon), or the newest demand when the history is too short to forecast.
struct Prediction {
  double p50 = 0, p90 = 0;
  std::string model;
  bool forecast = false;
};
Prediction predict(const api::ShadowPoolSpec& s, const PoolWorld& w);

// A notice's phase at `now`: Scheduled before its lead time, Active until its end, then Expired.
std::string noticePhase(const api::LoadNoticeSpec& n, SystemTime now);

// The last activation into `st.lastActivation`, from its shadow's marks: when, which shadow, the
// trigger's value, seconds to serving and to full capacity; counted (an activation and the cold
// start it saved, or a cold start) once, when its serving time is first known.
void recordLastActivation(const PoolInput& in, const PoolWorld& w, api::ShadowPoolStatus& st);

// status.shadows: every shadow's name, phase (or Deleting) and node.
kube::Json shadowsReport(const PoolWorld& w, api::DormantState dormant);
// status.trigger, status.predicted and the cost's summary into `report`.
void addMeasures(kube::Json& report, const PoolInput& in, const PoolWorld& w,
                 const Prediction& pred, const api::ShadowPoolStatus& st, SystemTime now);

}  // namespace umbra::controller::pool_parts
