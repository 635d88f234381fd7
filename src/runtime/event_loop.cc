#include "runtime/event_loop.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdlib>
#include <thread>

namespace umbra::runtime {

struct EventLoop::Impl {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  boost::asio::signal_set signals{io};
  std::thread thread;
  int signalsSeen = 0;

  void awaitSignal(const std::shared_ptr<std::function<void(int)>>& cb) {
    signals.async_wait([this, cb](const boost::system::error_code& ec, int sig) {
      if (ec) {
        return;
      }
      if (++signalsSeen > 1) {
        std::_Exit(130);
      }
      (*cb)(sig);
      awaitSignal(cb);
    });
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

EventLoop::~EventLoop() {
  stop();
}

SteadyTime EventLoop::now() const {
  return std::chrono::steady_clock::now();
}

void EventLoop::schedule(Duration delay, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(impl_->io, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) {
      fn();
    }
  });
}

void EventLoop::post(std::function<void()> fn) {
  boost::asio::post(impl_->io, std::move(fn));
}

void EventLoop::handleShutdownSignals(std::function<void(int)> onSignal) {
  auto cb = std::make_shared<std::function<void(int)>>(std::move(onSignal));
  boost::asio::post(impl_->io, [this, cb] {
    impl_->signals.add(SIGTERM);
    impl_->signals.add(SIGINT);
    impl_->awaitSignal(cb);
  });
}

void EventLoop::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  impl_->guard.reset();
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace umbra::runtime
