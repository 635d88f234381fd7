#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/scheduler.h"
#include "kube/informer.h"
#include "runtime/controller.h"
#include "runtime/work_queue.h"

namespace umbra::runtime {

// The keys ("namespace/name" of primary objects) that an event on a watched object concerns.
// `primary` is the primary resource's cache, for mappers that look up who refers to the object.
using KeyMapper =
    std::function<std::vector<std::string>(const kube::Json& object, const kube::Store& primary)>;
// The queue priority of a primary object's key.
using PriorityOf = std::function<Priority(const kube::Json& primary)>;

class ManagedController;

// Wires a controller the way controller-runtime's builder.ControllerManagedBy(mgr).For().Owns()
// .Watches() and kube-rs's Controller::new().owns().watches().run() do: the builder owns the
// informers, the watch-to-key mappers, the work queue, the reconcile metrics and the error policy
// (runtime::errorPolicy), so a new controller is a reconciler plus a few lines of wiring:
//
//   auto c = ControllerBuilder("shadowplacement", client)
//                .forResource({api::shadowPlacements(), ns}, priorityOf)
//                .owns({api::virtualMachineInstances(), ""})
//                .watches({api::virtualMachines(), ns}, targetsOf)
//                .reads({kube::resources::nodes(), ""})
//                .build(loop);
//   Reconciler r(c->store(api::shadowPlacements()), ...);
//   c->startInformers(); c->waitForSync(2min); c->run([&](auto& key) { return r.reconcile(key); });
class ControllerBuilder {
 public:
  ControllerBuilder(std::string name, kube::KubeClient& client);

  // The primary resource: every change to one of its objects queues its key.
  ControllerBuilder& forResource(kube::ReflectorOptions primary, PriorityOf priority = {});
  // Objects the primary owns: a change queues the owner named by the object's controller
  // ownerReference (of the primary's kind), like controller-runtime's Owns(). owns() and
  // watches() of the same resource share one informer.
  ControllerBuilder& owns(kube::ReflectorOptions children);
  // Related objects: a change queues the keys `mapper` returns (Watches() with a map function).
  // Owned objects met here are mapped to their owner as well.
  ControllerBuilder& watches(kube::ReflectorOptions related, KeyMapper mapper);
  // A cache the reconciler reads but whose changes queue nothing (nodes, pods).
  ControllerBuilder& reads(kube::ReflectorOptions cached);
  // How often every primary object is reconciled even without a change (client-go resync).
  ControllerBuilder& resyncEvery(std::chrono::seconds period);
  ControllerBuilder& workers(int n);
  ControllerBuilder& queueOptions(WorkQueueOptions options);
  // Non-owning; they must outlive the controller. Either may be null.
  ControllerBuilder& metrics(ReconcileMetrics* reconciles, QueueMetrics* queue);

  // Builds the informers and the queue; nothing is started. The scheduler times the queue's
  // delayed keys and must outlive the controller.
  std::unique_ptr<ManagedController> build(Scheduler& scheduler);

 private:
  struct Watch {
    kube::ReflectorOptions options;
    KeyMapper mapper;  // empty: read-only
    bool owned = false;
  };
  static std::vector<Watch> merged(const std::vector<Watch>& all);
  std::string name_;
  kube::KubeClient& client_;
  std::optional<kube::ReflectorOptions> primary_;
  PriorityOf priority_;
  std::vector<Watch> watches_;
  std::chrono::seconds resync_{std::chrono::minutes(10)};
  int workers_ = 4;
  WorkQueueOptions queueOptions_;
  ReconcileMetrics* reconcileMetrics_ = nullptr;
  QueueMetrics* queueMetrics_ = nullptr;
};

// A built controller: its caches, its queue and its workers.
// Guarantees: stop() (or the destructor) drains the workers before it stops the informers, so no
// reconcile runs on a stopped cache.
class ManagedController {
 public:
  ~ManagedController();
  ManagedController(const ManagedController&) = delete;
  ManagedController& operator=(const ManagedController&) = delete;

  // The cache of a resource given to the builder; asserts that there is one.
  const kube::Store& store(const kube::ResourceType& type) const;
  void startInformers();
  // Blocks until every cache holds its first list; on timeout, false and `late` names the first
  // cache that had not.
  bool waitForSync(std::chrono::milliseconds timeout, std::string& late);
  bool hasSynced() const;
  // Starts the workers (after leader election, when there is one).
  void run(ReconcileFn reconcile);
  void stop();
  WorkQueue& queue() { return *queue_; }
  const std::string& name() const { return name_; }

 private:
  friend class ControllerBuilder;
  ManagedController() = default;
  void enqueue(const std::string& key, Priority priority);

  std::string name_;
  kube::ResourceType primaryType_;
  PriorityOf priority_;
  int workers_ = 1;
  ReconcileMetrics* reconcileMetrics_ = nullptr;
  std::unique_ptr<WorkQueue> queue_;
  std::vector<std::unique_ptr<kube::Informer>> informers_;  // [0] is the primary's
  std::unique_ptr<Controller> controller_;
};

// The "namespace/name" key of the primary object that `object`'s controller ownerReference names,
// when that owner is of `owner`'s kind and API group; "" otherwise.
std::string ownerKeyOf(const kube::Json& object, const kube::ResourceType& owner);

}  // namespace umbra::runtime
