#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "kube/reflector.h"
#include "kube/store.h"

namespace umbra::kube {

// A shared informer: a Reflector keeping a Store current on its own thread, event handlers, and a
// periodic resync that re-delivers every cached object as an update (client-go's resync), so a
// level-based controller revisits everything even when nothing changed.
// Guarantees: handlers run on the informer's threads, after the store is updated; stop() (or the
// destructor) cancels the watch and joins both threads.
class Informer {
 public:
  Informer(KubeClient& client, ReflectorOptions options, EventHandlers handlers,
           std::chrono::seconds resyncPeriod = std::chrono::seconds(0));
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();
  bool hasSynced() const { return reflector_.hasSynced(); }
  // Blocks until the first list is in the store; false on timeout or stop.
  bool waitForSync(std::chrono::milliseconds timeout);
  const Store& store() const { return store_; }
  const Reflector& reflector() const { return reflector_; }

 private:
  Store store_;
  EventHandlers handlers_;
  Reflector reflector_;
  std::chrono::seconds resyncPeriod_;
  CancellationPtr cancel_;
  std::thread watchThread_;
  std::thread resyncThread_;
};

}  // namespace umbra::kube
