#pragma once

#include <optional>

#include "common/clock.h"

namespace umbra::runtime {

// How urgently a queued key is wanted: High keys are handed out before every Normal one
// (controller-runtime's priority queue).
enum class Priority { Normal, High };

// What a reconcile asks for next (kube-rs `Action`): run again after `requeueAfter`, or only when
// a watched object changes (nullopt). A zero delay queues the key again at once, behind the work
// already waiting at its priority.
struct Action {
  std::optional<Duration> requeueAfter;
  Priority priority = Priority::Normal;

  static Action after(Duration delay) { return Action{delay, Priority::Normal}; }
  static Action awaitChange() { return Action{std::nullopt, Priority::Normal}; }
  static Action now(Priority priority = Priority::Normal) {
    return Action{Duration::zero(), priority};
  }
  bool requeues() const { return requeueAfter.has_value(); }
  friend bool operator==(const Action&, const Action&) = default;
};

}  // namespace umbra::runtime
