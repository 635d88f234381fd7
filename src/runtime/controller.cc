#include "runtime/controller.h"

#include "common/log.h"
#include "runtime/error_policy.h"

namespace umbra::runtime {

Controller::Controller(std::string name, WorkQueue& queue, ReconcileFn reconcile, int workers,
                       ReconcileMetrics* metrics)
    : name_(std::move(name)),
      queue_(queue),
      reconcile_(std::move(reconcile)),
      workers_(workers),
      metrics_(metrics) {}

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
    const auto started = std::chrono::steady_clock::now();
    Result<Action> result = [&]() -> Result<Action> {
      try {
        return reconcile_(*key);
      } catch (const std::exception& e) {
        return Error::bug(std::string("reconcile threw: ") + e.what());
      }
    }();
    ++reconciles_;
    if (metrics_ != nullptr) {
      metrics_->reconciled(
          name_, result.ok() ? "success" : toString(result.error().kind),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    handle(*key, result);
    queue_.done(*key);
  }
}

void Controller::handle(const std::string& key, const Result<Action>& result) {
  if (result.ok()) {
    queue_.forget(key);
    if (!result->requeueAfter) {
      return;
    }
    if (*result->requeueAfter <= Duration::zero()) {
      queue_.add(key, result->priority);
    } else {
      queue_.addAfter(key, *result->requeueAfter);
    }
    return;
  }
  ++errors_;
  const Error& err = result.error();
  const Retry retry = errorPolicy(err);
  switch (retry.how) {
    case Retry::How::Never:
      log::warn("reconcile failed; not retried until the object or what it watches changes",
                {{"controller", name_}, {"key", key}, {"error", err.describe()}});
      queue_.forget(key);
      return;
    case Retry::How::After:
      log::info("reconcile failed, retrying when the server asked",
                {{"controller", name_}, {"key", key}, {"error", err.describe()}});
      queue_.addAfter(key, retry.delay);
      return;
    case Retry::How::Backoff:
      log::info("reconcile failed, will retry",
                {{"controller", name_}, {"key", key}, {"error", err.describe()}});
      queue_.addRateLimited(key);
      return;
  }
}

}  // namespace umbra::runtime
