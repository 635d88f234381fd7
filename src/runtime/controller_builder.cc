#include "runtime/controller_builder.h"

#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <cassert>

namespace umbra::runtime {

using kube::Json;
using kube::ObjectPtr;

std::string ownerKeyOf(const Json& object, const kube::ResourceType& owner) {
  const Json& meta = object.at("metadata");
  for (const auto& ref : meta.value("ownerReferences", Json::array())) {
    if (ref.value("controller", false) && ref.value("kind", "") == owner.kind &&
        ref.value("apiVersion", "").rfind(owner.group + "/", 0) == 0) {
      return meta.value("namespace", "") + "/" + ref.value("name", "");
    }
  }
  return "";
}

namespace {

bool sameWatch(const kube::ReflectorOptions& a, const kube::ReflectorOptions& b) {
  return a.type.group == b.type.group && a.type.resource == b.type.resource && a.ns == b.ns &&
         a.labelSelector == b.labelSelector && a.fieldSelector == b.fieldSelector;
}

}  // namespace

// One informer per watched resource: owns() and watches() of the same resource share it (the
// owner reference is tried first, then the mapper).
std::vector<ControllerBuilder::Watch> ControllerBuilder::merged(const std::vector<Watch>& all) {
  std::vector<Watch> out;
  for (const auto& w : all) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const Watch& o) { return sameWatch(o.options, w.options); });
    if (it == out.end()) {
      out.push_back(w);
      continue;
    }
    it->owned = it->owned || w.owned;
    if (!it->mapper) {
      it->mapper = w.mapper;
    } else if (w.mapper) {
      it->mapper = [a = it->mapper, b = w.mapper](const Json& o, const kube::Store& p) {
        auto keys = a(o, p);
        auto more = b(o, p);
        keys.insert(keys.end(), more.begin(), more.end());
        return keys;
      };
    }
  }
  return out;
}

ControllerBuilder::ControllerBuilder(std::string name, kube::KubeClient& client)
    : name_(std::move(name)), client_(client) {}

ControllerBuilder& ControllerBuilder::forResource(kube::ReflectorOptions primary,
                                                  PriorityOf priority) {
  primary_ = std::move(primary);
  priority_ = std::move(priority);
  return *this;
}

ControllerBuilder& ControllerBuilder::owns(kube::ReflectorOptions children) {
  watches_.push_back({std::move(children), {}, true});
  return *this;
}

ControllerBuilder& ControllerBuilder::watches(kube::ReflectorOptions related, KeyMapper mapper) {
  watches_.push_back({std::move(related), std::move(mapper), false});
  return *this;
}

ControllerBuilder& ControllerBuilder::reads(kube::ReflectorOptions cached) {
  watches_.push_back({std::move(cached), {}, false});
  return *this;
}

ControllerBuilder& ControllerBuilder::resyncEvery(std::chrono::seconds period) {
  resync_ = period;
  return *this;
}

ControllerBuilder& ControllerBuilder::workers(int n) {
  workers_ = n;
  return *this;
}

ControllerBuilder& ControllerBuilder::queueOptions(WorkQueueOptions options) {
  queueOptions_ = options;
  return *this;
}

ControllerBuilder& ControllerBuilder::metrics(ReconcileMetrics* reconciles, QueueMetrics* queue) {
  reconcileMetrics_ = reconciles;
  queueMetrics_ = queue;
  return *this;
}

std::unique_ptr<ManagedController> ControllerBuilder::build(Scheduler& scheduler) {
  assert(primary_ && "forResource() is required");
  std::unique_ptr<ManagedController> c(new ManagedController());
  ManagedController* self = c.get();
  c->name_ = name_;
  c->primaryType_ = primary_->type;
  c->priority_ = priority_;
  c->workers_ = workers_;
  c->reconcileMetrics_ = reconcileMetrics_;
  c->queue_ = std::make_unique<WorkQueue>(scheduler, queueOptions_);
  c->queue_->setMetrics(queueMetrics_);

  const auto primaryChanged = [self](const ObjectPtr& o) {
    const Priority p = self->priority_ ? self->priority_(*o) : Priority::Normal;
    self->enqueue(kube::keyOf(*o), p);
  };
  c->informers_.push_back(std::make_unique<kube::Informer>(
      client_, *primary_,
      kube::EventHandlers{
          primaryChanged,
          [primaryChanged](const ObjectPtr&, const ObjectPtr& n) { primaryChanged(n); },
          primaryChanged},
      resync_));
  for (const auto& w : merged(watches_)) {
    if (!w.owned && !w.mapper) {
      c->informers_.push_back(
          std::make_unique<kube::Informer>(client_, w.options, kube::EventHandlers{}));
      continue;
    }
    const auto related = [self, mapper = w.mapper](const ObjectPtr& o) {
      const std::string owner = ownerKeyOf(*o, self->primaryType_);
      if (!owner.empty()) {
        self->enqueue(owner, Priority::Normal);
        return;
      }
      if (mapper) {
        for (const auto& key : mapper(*o, self->informers_.front()->store()))
          self->enqueue(key, Priority::Normal);
      }
    };
    c->informers_.push_back(std::make_unique<kube::Informer>(
        client_, w.options,
        kube::EventHandlers{
            related, [related](const ObjectPtr&, const ObjectPtr& n) { related(n); }, related}));
  }
  return c;
}

ManagedController::~ManagedController() {
  stop();
}

void ManagedController::enqueue(const std::string& key, Priority priority) {
  queue_->add(key, priority);
}

const kube::Store& ManagedController::store(const kube::ResourceType& type) const {
  for (const auto& i : informers_) {
    const kube::ResourceType& t = i->reflector().options().type;
    if (t.group == type.group && t.resource == type.resource)
      return i->store();
  }
  // A programming error, found at start-up: never hand out another resource's cache.
  std::fprintf(stderr, "ManagedController::store: no cache for %s.%s: add it to the builder\n",
               type.resource.c_str(), type.group.c_str());
  std::abort();
}

void ManagedController::startInformers() {
  for (auto& i : informers_)
    i->start();
}

bool ManagedController::waitForSync(std::chrono::milliseconds timeout, std::string& late) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& i : informers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!i->waitForSync(std::max(left, std::chrono::milliseconds(0)))) {
      late = i->reflector().options().type.resource;
      return false;
    }
  }
  return true;
}

bool ManagedController::hasSynced() const {
  for (const auto& i : informers_) {
    if (!i->hasSynced())
      return false;
  }
  return true;
}

void ManagedController::run(ReconcileFn reconcile) {
  controller_ = std::make_unique<Controller>(name_, *queue_, std::move(reconcile), workers_,
                                             reconcileMetrics_);
  controller_->start();
}

void ManagedController::stop() {
  if (controller_)
    controller_->stop();  // in-flight reconciles finish on live caches
  else if (queue_)
    queue_->shutDown();
  for (auto& i : informers_)
    i->stop();
}

}  // namespace umbra::runtime
