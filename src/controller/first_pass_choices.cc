#include "controller/first_pass_choices.h"

#include <algorithm>

namespace umbra::controller {

void FirstPassChoices::remember(const std::string& key, const std::string& uid,
                                std::vector<api::ShadowStatus> shadows) {
  const std::lock_guard<std::mutex> lock(mutex_);
  choices_[key] = Choice{uid, std::move(shadows)};
}

std::optional<std::vector<api::ShadowStatus>> FirstPassChoices::recall(
    const std::string& key, const std::string& uid) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = choices_.find(key);
  if (it == choices_.end() || it->second.uid != uid)
    return std::nullopt;
  return it->second.shadows;
}

void FirstPassChoices::forget(const std::string& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  choices_.erase(key);
}

std::set<std::string> FirstPassChoices::keys() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::set<std::string> out;
  for (const auto& [key, choice] : choices_)
    out.insert(key);
  return out;
}

std::map<std::string, std::vector<std::string>> FirstPassChoices::nodesByPlacement() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [key, choice] : choices_) {
    for (const auto& s : choice.shadows)
      out[key].push_back(s.node);
  }
  return out;
}

void WriteExpectations::replaced(const std::string& key, const std::vector<std::string>& versions) {
  if (versions.empty())
    return;
  const std::lock_guard<std::mutex> lock(mutex_);
  auto& v = replaced_[key];
  v.insert(v.end(), versions.begin(), versions.end());
}

bool WriteExpectations::isStale(const std::string& key, const std::string& version) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = replaced_.find(key);
  if (it == replaced_.end())
    return false;
  if (std::find(it->second.begin(), it->second.end(), version) != it->second.end())
    return true;
  replaced_.erase(it);  // the cache caught up with our writes
  return false;
}

void WriteExpectations::forget(const std::string& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  replaced_.erase(key);
}

}  // namespace umbra::controller
