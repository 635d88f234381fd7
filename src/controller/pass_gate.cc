#include "controller/pass_gate.h"

namespace umbra::controller {

std::optional<runtime::Action> PassGate::admit(const std::string& key,
                                               const kube::ObjectPtr& cached, SteadyTime now) {
  if (!cached) {
    expectations_.forget(key);
    const std::lock_guard<std::mutex> lock(mutex_);
    lastPass_.erase(key);
    return runtime::Action::awaitChange();
  }
  if (expectations_.isStale(key, (*cached)["metadata"].value("resourceVersion", "")))
    return runtime::Action::awaitChange();
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = lastPass_.find(key);
  if (it != lastPass_.end() && now - it->second < minGap_)
    return runtime::Action::after(
        std::chrono::duration_cast<Duration>(minGap_ - (now - it->second)));
  lastPass_[key] = now;
  return std::nullopt;
}

void PassGate::replaced(const std::string& key, const std::vector<std::string>& versions) {
  expectations_.replaced(key, versions);
}

}  // namespace umbra::controller
