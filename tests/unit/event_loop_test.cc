#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <future>

#include "runtime/event_loop.h"

namespace umbra::runtime {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, TimersFireInOrderOnTheLoopThread) {
  EventLoop loop;
  std::promise<std::vector<int>> done;
  auto order = std::make_shared<std::vector<int>>();
  loop.schedule(30ms, [order, &done] {
    order->push_back(2);
    done.set_value(*order);
  });
  loop.schedule(1ms, [order] { order->push_back(1); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), (std::vector<int>{1, 2}));
}

TEST(EventLoop, SigtermCallsTheShutdownHandler) {
  EventLoop loop;
  std::promise<int> got;
  loop.handleShutdownSignals([&](int sig) { got.set_value(sig); });
  // The handler is installed on the loop thread; a posted marker tells us it is in place.
  std::promise<void> installed;
  loop.post([&] { installed.set_value(); });
  installed.get_future().wait();
  std::raise(SIGTERM);
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), SIGTERM);
}

TEST(EventLoop, StopIsIdempotentAndDropsPendingTimers) {
  std::atomic<bool> fired{false};
  {
    EventLoop loop;
    loop.schedule(1h, [&] { fired = true; });
    loop.stop();
    loop.stop();
  }
  EXPECT_FALSE(fired);
}

}  // namespace
}  // namespace umbra::runtime
