#pragma once

#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube_core/object.h"

namespace umbra::kube {

// Follows a store's changes in the order they happen, called under the store's write lock (as
// client-go keeps its indexers): keep it cheap and never call back into the store.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // `before` is null for an addition, `after` for a removal.
  virtual void changed(const std::string& key, const nlohmann::json* before,
                       const nlohmann::json* after) = 0;
};

// A thread-safe cache of objects keyed by "<ns>/<name>", with namespace and label indexes
// (client-go's ThreadSafeStore with its two most used indexers). Objects are immutable once
// stored; readers share them.
class Store {
 public:
  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> byNamespace(const std::string& ns) const;
  std::vector<ObjectPtr> byLabel(const std::string& label, const std::string& value) const;
  size_t countByLabel(const std::string& label, const std::string& value) const;
  size_t size() const;

  // Inserts or replaces; returns the previous object or nullptr. `stored`, when given, receives
  // the object now in the store (no second lookup).
  ObjectPtr upsert(nlohmann::json obj, ObjectPtr* stored = nullptr);
  // Removes; returns the removed object or nullptr.
  ObjectPtr erase(const std::string& key);
  // Replaces the whole content in one swap (a relist); returns the previous content.
  std::unordered_map<std::string, ObjectPtr> replace(std::vector<nlohmann::json> objects);

  // Registers an observer (non-owning; it must unobserve before it dies). The current content is
  // replayed to it as additions first. Const: observers derive views, the content is unchanged.
  void observe(StoreObserver* observer) const;
  void unobserve(StoreObserver* observer) const;

 private:
  void indexLocked(const std::string& key, const nlohmann::json& obj);
  void unindexLocked(const std::string& key, const nlohmann::json& obj);
  std::vector<ObjectPtr> collectLocked(const std::set<std::string>* keys) const;
  void notifyLocked(const std::string& key, const ObjectPtr& before, const ObjectPtr& after) const;

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, std::set<std::string>> byNamespace_;
  std::map<std::string, std::set<std::string>> byLabel_;  // "k=v" -> keys
  mutable std::vector<StoreObserver*> observers_;         // guarded by mutex_
};

}  // namespace umbra::kube
