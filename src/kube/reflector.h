#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <string>

#include "common/result.h"
#include "kube/client.h"
#include "kube/store.h"

namespace umbra::kube {

// Callbacks for store changes. Called on the reflector's thread, after the store is updated.
struct EventHandlers {
  std::function<void(const ObjectPtr&)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr&)> onDelete;
};

struct ReflectorOptions {
  ResourceType type;
  std::string ns;  // "" = all namespaces
  std::string labelSelector;
  std::string fieldSelector;
  int64_t pageSize = 500;
  // Watch requests ask the server to end the stream after a random time in [min, 2*min]
  // (client-go).
  std::chrono::seconds minWatchTimeout{300};
  uint64_t seed = 1;
  // metadata.managedFields are dropped before an object enters the store, as controller-runtime's
  // TransformStripManagedFields and the apiserver's own informers do: nothing reading a cache needs
  // them, they are often half of an object, and every copy taken from the store pays for them. An
  // update sent from a cached copy keeps the server's managedFields (a request without the field
  // does not clear it).
  bool keepManagedFields = false;
};

// List+watch into a Store. A state machine {Empty, Listing, Watching} (kube-rs watcher):
//  - Empty -> Listing: LIST every page; the store is replaced in one swap and handlers see the
//    difference (so objects deleted while we were away produce onDelete).
//  - Watching: WATCH from the last resourceVersion with bookmarks; a stream the server closes
//    is resumed from the last seen resourceVersion (no loss, no duplicates).
//  - 410 Gone (HTTP or an ERROR event) -> Empty: relist.
//  - Other errors: jittered backoff 0.8 s -> 30 s, reset after 120 s of healthy streaming.
class Reflector {
 public:
  enum class State { Empty, Listing, Watching };

  Reflector(KubeClient& client, ReflectorOptions options, Store& store, EventHandlers handlers);

  // Runs until `cancel` fires. Owned by the caller's thread.
  void run(const CancellationPtr& cancel);

  bool hasSynced() const { return synced_.load(); }
  State state() const { return state_.load(); }
  std::string lastResourceVersion() const;
  const ReflectorOptions& options() const { return options_; }
  // Counters for tests and logs.
  int relists() const { return relists_.load(); }
  int watchesStarted() const { return watches_.load(); }
  // Test hook: the next watch starts from this resourceVersion (to force a 410).
  void setResourceVersionForTest(const std::string& rv);

 private:
  Status listAndReplace();
  Status watchOnce(const CancellationPtr& cancel);
  void setResourceVersion(const std::string& rv);
  void applyEvent(WatchEvent& event);
  void transform(Json& obj) const;

  KubeClient& client_;
  ReflectorOptions options_;
  Store& store_;
  EventHandlers handlers_;
  std::mt19937_64 rng_;  // jitters watch timeouts; used only on the run() thread
  std::atomic<State> state_{State::Empty};
  std::atomic<bool> synced_{false};
  std::atomic<int> relists_{0};
  std::atomic<int> watches_{0};
  mutable std::mutex rvMutex_;
  std::string resourceVersion_;
  std::string what_;
};

}  // namespace umbra::kube
