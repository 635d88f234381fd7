#pragma once

// One pass of planTrial() (trial_plan.h), split by responsibility: the candidates' lifecycle
// (trial_plan_candidates.cc) and the trial's (trial_plan.cc). Internal to src/controller.
#include <functional>
#include <string>

#include "controller/trial_plan.h"
#include "placement/trial.h"

namespace umbra::controller::trial_pass {

using api::TrialCandidate;
using runtime::EventType;
using namespace trial_write;
namespace state = api::candidate_state;
namespace phase = api::trial_phase;
namespace cond = api::trial_condition;

inline const auto ms = placement::formatMs;
inline const auto price = placement::formatPrice;

struct Pass {
  const TrialInput& in;
  const TrialWorld& w;
  const TrialSettings& settings;
  SystemTime now;
  TrialPlan p;
  api::TrialStatus st;

  const api::TrialSpec& spec() const { return *in.spec; }
  double share() const { return spec().percentage / 100; }
  void event(EventType type, const std::string& reason, const std::string& note) {
    p.writes.push_back(PostEvent{type, reason, "Trial", note});
  }
  void condition(const char* type, bool value, const std::string& why, const std::string& text) {
    setCondition(st.conditions, type, value, why, text, in.generation, now);
  }
  // Every shadow of the trial not already going, but those `keep` keeps.
  void deleteShadows(const std::function<bool(const std::string&)>& keep) {
    for (const auto& [type, shadow] : w.shadows)
      if (!shadow.deleting && !keep(type))
        p.writes.push_back(DeleteShadow{shadow.name});
  }
  void writeStatusIfChanged() {
    if (api::toJson(st) != api::toJson(in.status))
      p.writes.push_back(WriteStatus{st});
  }
  void startShadow(TrialCandidate& c) {
    c.state = state::Running;
    c.shadow = placement::trialShadowName(in.name, c.ref.name);
    if (!w.shadows.count(c.ref.name))
      p.writes.push_back(CreateShadow{placement::buildTrialShadowVmi(
          in.object, w.target.vmiSpec, w.types.at(c.ref.name).instancetype, share(),
          settings.defaults)});
  }
  void running(TrialCandidate& c);
  void fillSlots();
  bool explore();
  void complete();
  void applyMirror();
  void finished();
  void run();
};

}  // namespace umbra::controller::trial_pass
