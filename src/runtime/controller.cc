#include "runtime/controller.h"

#include "common/log.h"

namespace umbra::runtime {

Controller::Controller(std::string name, WorkQueue& queue, ReconcileFn reconcile, int workers)
    : name_(std::move(name)), queue_(queue), reconcile_(std::move(reconcile)), workers_(workers) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  for (int i = 0; i < workers_; ++i) {
    threads_.emplace_back([this] { work(); });
  }
}

void Controller::stop() {
  if (threads_.empty()) {
    return;
  }
  queue_.shutDownWithDrain();
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

void Controller::work() {
  while (auto key = queue_.get()) {
    Result<Action> result = [&]() -> Result<Action> {
      try {
        return reconcile_(*key);
      } catch (const std::exception& e) {
        return Error::bug(std::string("reconcile threw: ") + e.what());
      }
    }();
    ++reconciles_;
    handle(*key, result);
    queue_.done(*key);
  }
}

void Controller::handle(const std::string& key, const Result<Action>& result) {
  if (result.ok()) {
    queue_.forget(key);
    if (result->requeues()) {
      queue_.addAfter(key, result->after());
    }
    return;
  }
  ++errors_;
  const Error& err = result.error();
  if (err.is(ErrorKind::Terminal)) {
    log::warn("reconcile failed terminally",
              {{"controller", name_}, {"key", key}, {"error", err.message}});
    queue_.forget(key);
    return;
  }
  log::info("reconcile failed, will retry",
            {{"controller", name_}, {"key", key}, {"error", err.describe()}});
  if (err.retryAfter) {
    queue_.addAfter(key, *err.retryAfter);
  } else {
    queue_.addRateLimited(key);
  }
}

}  // namespace umbra::runtime
