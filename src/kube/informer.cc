#include "kube/informer.h"

namespace umbra::kube {

Informer::Informer(KubeClient& client, ReflectorOptions options, EventHandlers handlers,
                   std::chrono::seconds resyncPeriod)
    : handlers_(std::move(handlers)),
      reflector_(client, std::move(options), store_, handlers_),
      resyncPeriod_(resyncPeriod),
      cancel_(std::make_shared<Cancellation>()) {}

Informer::~Informer() {
  stop();
}

void Informer::start() {
  watchThread_ = std::thread([this] { reflector_.run(cancel_); });
  if (resyncPeriod_.count() > 0 && handlers_.onUpdate) {
    resyncThread_ = std::thread([this] {
      while (!cancel_->waitFor(resyncPeriod_)) {
        if (!reflector_.hasSynced()) {
          continue;
        }
        for (const ObjectPtr& obj : store_.list()) {
          handlers_.onUpdate(obj, obj);
        }
      }
    });
  }
}

void Informer::stop() {
  cancel_->cancel();
  if (watchThread_.joinable()) {
    watchThread_.join();
  }
  if (resyncThread_.joinable()) {
    resyncThread_.join();
  }
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reflector_.hasSynced()) {
    if (std::chrono::steady_clock::now() >= deadline ||
        cancel_->waitFor(std::chrono::milliseconds(5))) {
      return reflector_.hasSynced();
    }
  }
  return true;
}

}  // namespace umbra::kube
