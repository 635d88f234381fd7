#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controller/first_pass_choices.h"
#include "kube/store.h"
#include "runtime/action.h"

namespace umbra::controller {

// The start every pass of the ShadowPool and RebalancePolicy controllers shares: an object gone
// from the cache forgets what was kept for it; a cache that still holds a resourceVersion our own
// write replaced waits for the watch (WriteExpectations); and one object gets at most one pass
// every `minGap` (the events a pass's own writes cause are folded into the next one, which sees
// them in the caches).
class PassGate {
 public:
  explicit PassGate(std::chrono::milliseconds minGap) : minGap_(minGap) {}
  // nullopt: run the pass now (recorded as run); otherwise the Action to return instead.
  std::optional<runtime::Action> admit(const std::string& key, const kube::ObjectPtr& cached,
                                       SteadyTime now);
  // The versions of `key` the pass's own writes replaced.
  void replaced(const std::string& key, const std::vector<std::string>& versions);

 private:
  const std::chrono::milliseconds minGap_;
  WriteExpectations expectations_;
  std::mutex mutex_;
  std::map<std::string, SteadyTime> lastPass_;
};

}  // namespace umbra::controller
