#include <thread>

#include "integration/common.h"
#include "runtime/event_recorder.h"
#include "runtime/leader_election.h"

namespace umbra::testing {
namespace {

using namespace std::chrono_literals;
using kube::Json;

// One candidate running on its own thread.
class Candidate {
 public:
  Candidate(const std::string& ns, const std::string& identity, bool releaseOnCancel)
      : client_(ControlPlane::instance().adminClient()),
        elector_(*client_, runtime::LeaderElectionConfig{ns, "umbra-leader", identity, 3s, 2s,
                                                         std::chrono::seconds(1), releaseOnCancel}),
        cancel_(std::make_shared<Cancellation>()) {
    thread_ = std::thread([this] {
      elector_.run(
          cancel_, [this] { startedAt_ = std::chrono::steady_clock::now(); }, [] {});
    });
  }
  ~Candidate() { stop(); }
  void stop() {
    cancel_->cancel();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  bool leading() const { return elector_.isLeader(); }
  std::chrono::steady_clock::time_point startedAt() const { return startedAt_; }

 private:
  std::unique_ptr<kube::KubeClient> client_;
  runtime::LeaderElector elector_;
  CancellationPtr cancel_;
  std::thread thread_;
  std::atomic<std::chrono::steady_clock::time_point> startedAt_{};
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

TEST_F(LeaderElectionTest, OnlyOneLeadsAndAReleasedLeaseIsTakenAtOnce) {
  Candidate a(ns_.name(), "a", true);
  ASSERT_TRUE(eventually([&] { return a.leading(); }, 10s));
  Candidate b(ns_.name(), "b", true);
  std::this_thread::sleep_for(2500ms);  // several retry periods
  EXPECT_FALSE(b.leading()) << "the lease is held and renewed by a";
  const auto stopped = std::chrono::steady_clock::now();
  a.stop();  // clean shutdown releases the lease
  ASSERT_TRUE(eventually([&] { return b.leading(); }, 10s));
  const auto handover = b.startedAt() - stopped;
  std::fprintf(stderr, "[leader] handover after release: %lld ms\n",
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(handover).count()));
  EXPECT_LT(handover, 3s) << "a released lease is taken within one retry period";
}

TEST_F(LeaderElectionTest, CrashedLeaderIsReplacedWithinTheLeaseDuration) {
  Candidate a(ns_.name(), "a", /*releaseOnCancel=*/false);  // stops renewing, does not release
  ASSERT_TRUE(eventually([&] { return a.leading(); }, 10s));
  Candidate b(ns_.name(), "b", true);
  std::this_thread::sleep_for(1500ms);
  ASSERT_FALSE(b.leading());
  const auto stopped = std::chrono::steady_clock::now();
  a.stop();
  ASSERT_TRUE(eventually([&] { return b.leading(); }, 15s));
  const auto handover = b.startedAt() - stopped;
  std::fprintf(stderr, "[leader] handover after crash: %lld ms (lease 3 s, retry 1 s)\n",
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(handover).count()));
  // b must wait out the lease (3 s from its last observation of a renewal), plus one retry period.
  EXPECT_GE(handover, 1s);
  EXPECT_LE(handover, 3s + 1s + 500ms);
  auto lease = ControlPlane::instance().adminClient()->get(kube::resources::leases(),
                                                           {ns_.name(), "umbra-leader"});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

// Events about a ConfigMap "subject" in a namespace of the test's own.
class EventRecorderTest : public ::testing::Test {
 protected:
  TestNamespace ns;
  std::unique_ptr<kube::KubeClient> client = ControlPlane::instance().adminClient();
};

TEST_F(EventRecorderTest, RepeatsAreAggregatedIntoOneEventSeries) {
  const std::string& ns_name = ns.name();
  auto cm = client->create(kube::resources::configMaps(), ns_name, configMap(ns_name, "subject"));
  ASSERT_TRUE(cm.ok());
  runtime::EventRecorder recorder(*client, "umbra-operator", "test-instance");
  for (int i = 0; i < 3; ++i) {
    const Status st = recorder.record(*cm, runtime::EventType::Warning, "ShadowFailed", "Probe",
                                      "shadow did not start on node-a");
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  ASSERT_TRUE(
      recorder.record(*cm, runtime::EventType::Normal, "Placed", "Place", "on node-b").ok());
  auto events = client->list(kube::resources::events(), ns.name(), {});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ((*events)["items"].size(), 2u);
  for (const auto& e : (*events)["items"]) {
    EXPECT_EQ(e["regarding"]["name"], "subject");
    EXPECT_EQ(e["regarding"]["uid"], (*cm)["metadata"]["uid"]);
    EXPECT_EQ(e["reportingController"], "umbra-operator");
    if (e["reason"] == "ShadowFailed") {
      EXPECT_EQ(e["type"], "Warning");
      EXPECT_EQ(e["series"]["count"], 3);
    } else {
      EXPECT_EQ(e["reason"], "Placed");
      EXPECT_FALSE(e.contains("series"));
    }
  }
}

TEST_F(EventRecorderTest, PostedEventsAreWrittenInTheBackgroundAndFlushedAtShutdown) {
  const std::string& ns_name = ns.name();
  auto cm = client->create(kube::resources::configMaps(), ns_name, configMap(ns_name, "subject"));
  ASSERT_TRUE(cm.ok());
  {
    runtime::EventRecorder recorder(*client, "umbra-operator", "test-instance");
    for (int i = 0; i < 3; ++i)
      recorder.post(*cm, runtime::EventType::Normal, "Step", "Probe", "step " + std::to_string(i));
    recorder.post(*cm, runtime::EventType::Normal, "Step", "Probe", "step 0");  // a repeat
    ASSERT_TRUE(recorder.flush());
    auto events = client->list(kube::resources::events(), ns.name(), {});
    ASSERT_TRUE(events.ok());
    ASSERT_EQ((*events)["items"].size(), 3u);
    for (const auto& e : (*events)["items"]) {
      EXPECT_EQ(e.contains("series") ? e["series"]["count"].get<int>() : 1,
                e["note"] == "step 0" ? 2 : 1)
          << e.dump();
    }
    recorder.post(*cm, runtime::EventType::Warning, "Last", "Probe", "at shutdown");
  }  // the destructor delivers what is queued
  auto events = client->list(kube::resources::events(), ns.name(), {});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ((*events)["items"].size(), 4u);
}

}  // namespace
}  // namespace umbra::testing
