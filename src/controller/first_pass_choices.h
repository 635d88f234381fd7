#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/shadow_placement_status.h"

namespace umbra::controller {

// The candidate sets that new placements' first passes created shadows for, before any status
// recorded them (the first pass creates shadows and nothing else; the next pass writes status).
// Guarantees: a choice is recalled only for the placement object (uid) that made it, so a
// placement deleted and re-created under the same name chooses afresh. Thread-safe.
// Caveats: memory only; after a restart the owned shadows in the cache stand in for it.
class FirstPassChoices {
 public:
  void remember(const std::string& key, const std::string& uid,
                std::vector<api::ShadowStatus> shadows);
  std::optional<std::vector<api::ShadowStatus>> recall(const std::string& key,
                                                       const std::string& uid) const;
  void forget(const std::string& key);
  // The placements with a remembered choice: probing with their status still to come (they hold
  // a slot of maxConcurrentPlacements).
  std::set<std::string> keys() const;
  // Every remembered choice's nodes, by placement key.
  std::map<std::string, std::vector<std::string>> nodesByPlacement() const;

 private:
  struct Choice {
    std::string uid;
    std::vector<api::ShadowStatus> shadows;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Choice> choices_;
};

// The resourceVersions of a placement that our own writes replaced (client-go controllers'
// "expectations"): a cache that still holds one of them predates our write, whose watch event
// re-queues the key. A pass on it would act on what it already did and meet a Conflict.
// Thread-safe.
class WriteExpectations {
 public:
  // Records that our writes replaced these versions of `key`.
  void replaced(const std::string& key, const std::vector<std::string>& versions);
  // True when `version` is one our writes replaced: wait for the watch. A newer version clears
  // what was recorded for the key.
  bool isStale(const std::string& key, const std::string& version);
  void forget(const std::string& key);

 private:
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> replaced_;
};

}  // namespace umbra::controller
