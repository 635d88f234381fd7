#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "integration/common.h"
#include "kube/rest_client.h"
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

// A TCP relay to the API server (TLS passes through untouched) that can stall: while stalled it
// forwards nothing the server sends, as an overloaded API server answers nothing.
class StallingProxy {
 public:
  StallingProxy(std::string host, int port) : host_(std::move(host)), port_(port) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listen_, 16) != 0 ||
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    listenPort_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~StallingProxy() {
    stop_ = true;
    if (acceptor_.joinable())
      acceptor_.join();
    for (auto& t : relays_)
      t.join();
    ::close(listen_);
  }
  int port() const { return listenPort_; }
  void stall(bool on) { stalled_ = on; }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      const int client = ::accept(listen_, nullptr, nullptr);
      if (client < 0)
        continue;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      relays_.emplace_back([this, client, server] { relay(client, server); });
    }
  }
  void relay(int client, int server) {
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, static_cast<short>(stalled_ ? 0 : POLLIN), 0}};
      if (::poll(p, 2, 100) < 0)
        break;
      bool closed = false;
      for (int i = 0; i < 2 && !closed; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        closed = n <= 0 || ::write(i == 0 ? server : client, buf, static_cast<size_t>(n)) != n;
      }
      if (closed)
        break;
    }
    ::close(client);
    ::close(server);
  }

  std::string host_;
  int port_ = 0;
  int listen_ = -1;
  int listenPort_ = 0;
  std::atomic<bool> stop_{false}, stalled_{false};
  std::thread acceptor_;
  std::vector<std::thread> relays_;  // touched by the acceptor thread only, joined after it
};

// An API server that stops answering costs leadership within the renew deadline (plus a retry
// period and one bounded request), not after the client's general 30 s timeout: the elector's
// connection bounds each request by half the renew deadline (LeaderElector::clientConfig).
TEST_F(LeaderElectionTest, AnUnansweringApiServerCostsLeadershipWithinTheRenewDeadline) {
  auto cluster = kube::loadKubeconfig(ControlPlane::instance().kubeconfig());
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const std::string hostPort = cluster->server.substr(cluster->server.find("://") + 3);
  const auto colon = hostPort.rfind(':');
  StallingProxy proxy(hostPort.substr(0, colon), std::stoi(hostPort.substr(colon + 1)));
  ASSERT_GT(proxy.port(), 0);
  cluster->server = "https://" + hostPort.substr(0, colon) + ":" + std::to_string(proxy.port());
  const runtime::LeaderElectionConfig election{ns_.name(), "umbra-leader", "slow", 4s, 2s, 1s,
                                               false};
  auto client =
      kube::RestClient::fromConfig(runtime::LeaderElector::clientConfig(*cluster, election));
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ((*client)->config().requestTimeout, 1s);
  runtime::LeaderElector elector(**client, election);
  std::atomic<bool> lost{false};
  std::atomic<std::chrono::steady_clock::time_point> lostAt{};
  elector.start([] {}, [&] {
    lostAt = std::chrono::steady_clock::now();
    lost = true;
  });
  ASSERT_TRUE(eventually([&] { return elector.isLeader(); }, 10s));
  const auto stalledAt = std::chrono::steady_clock::now();
  proxy.stall(true);
  ASSERT_TRUE(eventually([&] { return lost.load(); }, 15s)) << "still leading on a silent server";
  const auto after = lostAt.load() - stalledAt;
  std::fprintf(stderr, "[leader] leadership lost %lld ms after the API server went silent\n",
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(after).count()));
  EXPECT_LE(after, 2s + 1s + 1s + 1500ms) << "renew deadline + retry period + one request";
  proxy.stall(false);
  elector.stop();
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
