#pragma once

// Internal to plan*.cc: a plan being built, and the steps each phase's planner shares.
#include "controller/plan.h"

namespace umbra::controller {

class Draft {
 public:
  Draft(const PlacementInput& in, const World& world, const config::OperatorConfig& config,
        SystemTime now);

  const PlacementInput& in;
  const World& world;
  const config::OperatorConfig& config;
  const SystemTime now;
  api::ShadowPlacementStatus status;  // being rebuilt by this pass
  // A new placement's first pass: it creates the shadows and writes nothing else.
  bool firstPass = false;
  Plan out;

  const api::PlacementSettings& settings() const { return *in.settings; }
  // How the shadows are built: the settings, or Synthetic ones when mirroring fell back.
  std::optional<api::PlacementSettings> fallback;
  const api::PlacementSettings& shadowSettings() const { return fallback ? *fallback : settings(); }
  // Every node the target could go to, with why not (placement::classify), under the spec's cost
  // cap and the operator's node prices.
  std::vector<placement::Verdict> classify() const {
    return placement::classify(world.nodes, *target().requirements, settings().nodeSelector,
                               {settings().maxCostPerHour, &config.placement.nodePrices});
  }
  const TargetView& target() const { return *world.target; }
  int64_t generation() const { return in.generation; }

  void add(Write w) { out.writes.push_back(std::move(w)); }
  void event(runtime::EventType type, std::string reason, std::string action, std::string note);
  // Queues the status write when this pass changed the status.
  void writeStatus();
  // Ends the plan with `next`.
  Plan done(runtime::Action next, std::string why);
  // Failed with the reason: status, a Warning Event, shadows deleted.
  Plan fail(const std::string& reason, const std::string& message);
  // The placement's shadows, all in one request, if any are left.
  void deleteShadows();
};

// The phases' planners (plan_probe.cc, plan_decide.cc).
Plan planSelectCandidates(Draft& d);
Plan planProbe(Draft& d);
Plan planObserve(Draft& d);
Plan planPlace(Draft& d);
// fidelity Mirror (plan_mirror.cc), before the phase's planner: waits for or refuses a placement
// whose mirroring cannot run (a Plan), else sets the Mirroring condition and the fallback, and
// adds the mirroring objects the shadows lack.
std::optional<Plan> planMirror(Draft& d);

std::string twoDecimals(double v);
// Nodes that cannot host the VM, each with why, in status.candidates (at most 20).
void recordExcluded(Draft& d, const std::vector<placement::Verdict>& verdicts);

}  // namespace umbra::controller
