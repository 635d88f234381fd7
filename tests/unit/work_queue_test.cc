#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "fakes/manual_scheduler.h"
#include "runtime/controller.h"
#include "runtime/work_queue.h"

namespace umbra::runtime {
namespace {

using namespace std::chrono_literals;
using umbra::testing::ManualScheduler;

// Waits (bounded) for a worker thread to reach a state; false after 5 s.
bool spinUntil(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

TEST(WorkQueue, DeduplicatesWaitingKeys) {
  ManualScheduler s;
  WorkQueue q(s);
  q.add("ns/a");
  q.add("ns/a");
  q.add("ns/b");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get().value(), "ns/a");
  EXPECT_EQ(q.get().value(), "ns/b");
}

TEST(WorkQueue, HighPriorityKeysGoFirstAndAWaitingKeyMovesUp) {
  ManualScheduler s;
  WorkQueue q(s);
  using P = WorkQueue::Priority;
  q.add("ns/recheck-1");
  q.add("ns/recheck-2");
  q.add("ns/new-1", P::High);
  q.add("ns/recheck-2", P::High);  // waiting at Normal: moves up, behind ns/new-1
  q.add("ns/new-1");               // a Normal add does not move a High key down
  q.add("ns/new-2", P::High);
  EXPECT_EQ(q.len(), 4u);
  EXPECT_EQ(q.get().value(), "ns/new-1");
  EXPECT_EQ(q.get().value(), "ns/recheck-2");
  EXPECT_EQ(q.get().value(), "ns/new-2");
  EXPECT_EQ(q.get().value(), "ns/recheck-1");
  EXPECT_EQ(q.len(), 0u);
  // Added at High while in flight: re-queued at High when done.
  q.add("ns/other");
  q.add("ns/new-1", P::High);
  q.done("ns/new-1");
  EXPECT_EQ(q.get().value(), "ns/new-1");
  q.done("ns/new-1");
  EXPECT_EQ(q.get().value(), "ns/other");
}

TEST(WorkQueue, NormalKeysYieldWorkersToHighOnesInFlight) {
  ManualScheduler s;
  WorkQueueOptions options;
  options.normalSlotsWhileUrgent = 1;
  WorkQueue q(s, options);
  using P = WorkQueue::Priority;
  q.add("ns/new-1", P::High);
  q.add("ns/follow-up-1");
  q.add("ns/follow-up-2");
  EXPECT_EQ(q.get().value(), "ns/new-1");
  // ns/new-1 is in flight: one Normal slot.
  EXPECT_EQ(q.get().value(), "ns/follow-up-1");
  std::atomic<bool> handedOut{false};
  std::string second;
  std::thread worker([&] {
    second = q.get().value();
    handedOut = true;
  });
  std::this_thread::sleep_for(20ms);  // a bounded wait to observe "not yet": no timing asserted
  EXPECT_FALSE(handedOut) << "the only Normal slot is taken while High work is in flight";
  q.done("ns/follow-up-1");  // a slot frees up
  ASSERT_TRUE(spinUntil([&] { return handedOut.load(); }));
  worker.join();
  EXPECT_EQ(second, "ns/follow-up-2");
  // A new High key is still handed out at once, slots or not.
  q.add("ns/new-2", P::High);
  EXPECT_EQ(q.get().value(), "ns/new-2");
  q.done("ns/follow-up-2");
  q.add("ns/follow-up-3");
  q.add("ns/follow-up-4");
  EXPECT_EQ(q.get().value(), "ns/follow-up-3");
  handedOut = false;
  std::thread worker2([&] {
    second = q.get().value();
    handedOut = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(handedOut);
  // Once no High key is in flight, Normal keys take every worker again.
  q.done("ns/new-1");
  q.done("ns/new-2");
  ASSERT_TRUE(spinUntil([&] { return handedOut.load(); }));
  worker2.join();
  EXPECT_EQ(second, "ns/follow-up-4");
  q.shutDown();
}

TEST(WorkQueue, WithoutASlotLimitNormalKeysRunBesideHighOnes) {
  ManualScheduler s;
  WorkQueue q(s);
  q.add("ns/new", WorkQueue::Priority::High);
  q.add("ns/a");
  q.add("ns/b");
  EXPECT_EQ(q.get().value(), "ns/new");
  EXPECT_EQ(q.get().value(), "ns/a");
  EXPECT_EQ(q.get().value(), "ns/b");
}

TEST(WorkQueue, NeverHandsOneKeyToTwoWorkersAndRequeuesDirtiedKey) {
  ManualScheduler s;
  WorkQueue q(s);
  q.add("ns/a");
  const auto key = q.get();
  ASSERT_EQ(key.value(), "ns/a");
  q.add("ns/a");  // changed while in flight
  EXPECT_EQ(q.len(), 0u) << "an in-flight key must not be handed out again";
  q.done("ns/a");
  EXPECT_EQ(q.len(), 1u) << "the dirtied key is re-queued at done()";
  EXPECT_EQ(q.get().value(), "ns/a");
  q.done("ns/a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, AddAfterKeepsTheEarlierTime) {
  ManualScheduler s;
  WorkQueue q(s);
  q.addAfter("ns/a", 10s);
  q.addAfter("ns/a", 30s);  // later: ignored
  s.advance(9s);
  EXPECT_EQ(q.len(), 0u);
  s.advance(1s);
  EXPECT_EQ(q.len(), 1u);
  ASSERT_EQ(q.get().value(), "ns/a");
  q.done("ns/a");
  s.advance(60s);
  EXPECT_EQ(q.len(), 0u) << "the superseded 30 s timer must not add the key again";
}

TEST(WorkQueue, EarlierScheduleReplacesLater) {
  ManualScheduler s;
  WorkQueue q(s);
  q.addAfter("ns/a", 30s);
  q.addAfter("ns/a", 5s);
  s.advance(5s);
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, RateLimitedBacksOffExponentiallyPerKeyAndForgetResets) {
  ManualScheduler s;
  WorkQueue q(s, WorkQueueOptions{ExponentialBackoff{}, 1000, 1000});
  q.addRateLimited("ns/a");  // 5 ms
  q.addRateLimited("ns/b");  // 5 ms, independent key
  EXPECT_EQ(q.numRequeues("ns/a"), 1u);
  s.advance(5ms);
  EXPECT_EQ(q.len(), 2u);
  (void)q.get();
  (void)q.get();
  q.done("ns/a");
  q.done("ns/b");
  q.addRateLimited("ns/a");  // 10 ms
  s.advance(9ms);
  EXPECT_EQ(q.len(), 0u);
  s.advance(1ms);
  EXPECT_EQ(q.len(), 1u);
  q.forget("ns/a");
  EXPECT_EQ(q.numRequeues("ns/a"), 0u);
}

TEST(WorkQueue, OverallRateCapDelaysBeyondPerKeyBackoff) {
  ManualScheduler s;
  WorkQueue q(s, WorkQueueOptions{ExponentialBackoff{}, 10, 1});  // 10 qps, burst 1
  q.addRateLimited("ns/a");                                       // bucket: 0, per-key 5 ms
  q.addRateLimited("ns/b");                                       // bucket: 100 ms
  s.advance(5ms);
  EXPECT_EQ(q.len(), 1u);
  s.advance(95ms);
  EXPECT_EQ(q.len(), 2u);
}

TEST(WorkQueue, ShutDownReleasesBlockedWorkers) {
  ManualScheduler s;
  WorkQueue q(s);
  std::atomic<bool> returned{false};
  std::thread worker([&] {
    EXPECT_FALSE(q.get().has_value());
    returned = true;
  });
  q.shutDown();
  worker.join();
  EXPECT_TRUE(returned);
  q.add("ns/a");
  EXPECT_EQ(q.len(), 0u) << "adds after shutdown are dropped";
}

TEST(WorkQueue, DrainWaitsForInFlightWork) {
  ManualScheduler s;
  WorkQueue q(s);
  q.add("ns/a");
  q.add("ns/b");
  const auto key = q.get();
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    q.shutDownWithDrain();
    drained = true;
  });
  // The drainer cannot finish while ns/a is in flight.
  std::this_thread::sleep_for(20ms);  // a bounded wait to observe "not yet": no timing asserted
  EXPECT_FALSE(drained);
  q.done(*key);
  drainer.join();
  EXPECT_TRUE(drained);
  EXPECT_FALSE(q.get().has_value()) << "queued but unstarted keys are dropped by a drain";
}

TEST(WorkQueue, TimersFiringAfterDestructionAreHarmless) {
  ManualScheduler s;
  {
    WorkQueue q(s);
    q.addAfter("ns/a", 1s);
  }
  s.advance(2s);  // must not touch the destroyed queue
  SUCCEED();
}

TEST(Controller, RetriesErrorsWithBackoffAndStopsOnSuccess) {
  ManualScheduler s;
  WorkQueue q(s);
  std::atomic<int> calls{0};
  Controller c(
      "test", q,
      [&](const std::string&) -> Result<Action> {
        if (++calls < 3) {
          return Error::make(ErrorKind::Conflict, "stale");
        }
        return Action::awaitChange();
      },
      1);
  c.start();
  q.add("ns/a");
  // Each failure schedules a retry: fire timers until the third call succeeds.
  for (int i = 0; i < 200 && calls < 3; ++i) {
    s.advance(1s);
    std::this_thread::sleep_for(1ms);
  }
  c.stop();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(q.numRequeues("ns/a"), 0u) << "success forgets the failures";
}

TEST(Controller, TerminalErrorsAreNotRetried) {
  ManualScheduler s;
  WorkQueue q(s);
  std::atomic<int> calls{0};
  Controller c(
      "test", q,
      [&](const std::string&) -> Result<Action> {
        ++calls;
        return Error::make(ErrorKind::Terminal, "target missing");
      },
      2);
  c.start();
  q.add("ns/a");
  ASSERT_TRUE(spinUntil([&] { return calls >= 1; }));
  c.stop();  // drains: the error has been handled once this returns
  EXPECT_EQ(s.pending(), 0u) << "no retry is scheduled for a terminal error";
  s.advance(2000s);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Controller, RequeueAfterSchedulesTheKey) {
  ManualScheduler s;
  WorkQueue q(s);
  std::atomic<int> calls{0};
  Controller c(
      "test", q,
      [&](const std::string&) -> Result<Action> {
        ++calls;
        return Action::after(30s);
      },
      1);
  c.start();
  q.add("ns/a");
  ASSERT_TRUE(spinUntil([&] { return calls >= 1 && s.pending() >= 1; }));
  s.advance(30s);
  ASSERT_TRUE(spinUntil([&] { return calls >= 2; }));
  c.stop();
  EXPECT_GE(calls.load(), 2);
}

}  // namespace
}  // namespace umbra::runtime
