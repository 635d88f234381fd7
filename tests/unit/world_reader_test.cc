// WorldReader on in-memory caches: what other placements have under way is reserved on the nodes
// they are headed for, so that a burst of placements spreads instead of piling onto a few nodes.
#include <gtest/gtest.h>

#include "controller/fair_queue.h"
#include "controller/world_reader.h"
#include "fakes/fake_metrics_source.h"
#include "fakes/no_server.h"

namespace umbra::controller {
namespace {

using Json = nlohmann::json;

// Reads the caches only: any call to the API server is a test failure.
using testing::NoServer;

Json node(const std::string& name) {
  return {{"metadata", {{"name", name}, {"labels", {{"kubevirt.io/schedulable", "true"}}}}},
          {"spec", Json::object()},
          {"status",
           {{"allocatable", {{"cpu", "16"}, {"memory", "64Gi"}}},
            {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

Json vm(const std::string& name, const std::string& cpu) {
  return {{"metadata", {{"namespace", "ns"}, {"name", name}}},
          {"spec",
           {{"runStrategy", "Halted"},
            {"template",
             {{"spec",
               {{"domain",
                 {{"cpu", {{"cores", 4}}},
                  {"memory", {{"guest", "4Gi"}}},
                  {"resources", {{"requests", {{"cpu", cpu}, {"memory", "4Gi"}}}}}}}}}}}}}};
}

Json placement(const std::string& name, const std::string& target, Json status) {
  return {{"metadata", {{"namespace", "ns"}, {"name", name}, {"uid", "uid-" + name}}},
          {"spec", {{"target", {{"kind", "VirtualMachine"}, {"name", target}}}}},
          {"status", std::move(status)}};
}

class WorldReaderTest : public ::testing::Test {
 protected:
  WorldReaderTest()
      : reader_({placements_, vmis_, vms_, nodes_, pods_, migrations_, clusterTypes_, types_},
                server_, metrics_, forecaster_, choices_) {
    for (const char* n : {"a", "b", "c", "d"})
      nodes_.upsert(node(n));
    vms_.upsert(vm("web", "2"));
    vms_.upsert(vm("other", "3"));
  }
  double requestedOn(const World& w, const std::string& node) const {
    for (const auto& v : w.nodes) {
      if (v.name == node)
        return v.requested.cpu;
    }
    return -1;
  }
  World observe(const Json& sp) {
    placements_.upsert(sp);
    auto in = WorldReader::input(sp, api::PlacementDefaults{});
    EXPECT_TRUE(in.ok());
    auto w = reader_.observe(*in, SystemTime(std::chrono::seconds(1800000000)));
    EXPECT_TRUE(w.ok());
    return *w;
  }

  kube::Store placements_, vmis_, vms_, nodes_, pods_, migrations_, clusterTypes_, types_;
  NoServer server_;
  testing::FakeMetricsSource metrics_;
  model::WindowMeanForecaster forecaster_;
  FirstPassChoices choices_;
  WorldReader reader_;
};

TEST_F(WorldReaderTest, CandidatesOtherPlacementsProbeReserveTheirShareWhileChoosing) {
  placements_.upsert(placement(
      "other-sp", "other",
      {{"phase", "Observing"},
       {"shadows", {{{"node", "a"}, {"name", "s-a"}}, {{"node", "b"}, {"name", "s-b"}}}}}));
  const World w = observe(placement("web-sp", "web", Json::object()));
  EXPECT_DOUBLE_EQ(requestedOn(w, "a"), 1.5) << "it lands on one of its two candidates";
  EXPECT_DOUBLE_EQ(requestedOn(w, "b"), 1.5);
  EXPECT_DOUBLE_EQ(requestedOn(w, "c"), 0);
}

// Choosing candidates: every feasible node ranked by its own forecast (its CPU pressure here), in
// one read of the metrics for all of them.
TEST_F(WorldReaderTest, ChoosingRanksEveryFeasibleNodeByItsForecastInOneRead) {
  metrics_.setSteal("a", 0.2);
  metrics_.setSteal("b", 0.01);
  metrics_.setSteal("c", 0.1);
  metrics_.setSteal("d", 0.05);
  const World w = observe(placement("web-sp", "web", Json::object()));
  EXPECT_EQ(w.forecastRanking, (std::vector<std::string>{"b", "d", "c", "a"}));
  EXPECT_EQ(metrics_.nodeCalls.load(), 1);
  EXPECT_EQ(metrics_.calls.load(), 0) << "no shadow to read yet";
  // Once probing, no more ranking.
  const World later = observe(placement(
      "web-sp", "web", {{"phase", "Observing"}, {"shadows", {{{"node", "b"}, {"name", "s-b"}}}}}));
  EXPECT_TRUE(later.forecastRanking.empty());
  EXPECT_EQ(metrics_.nodeCalls.load(), 1);
  // Prometheus away: no ranking, and why.
  metrics_.setUnavailable(true);
  const World away = observe(placement("web-sp", "web", Json::object()));
  EXPECT_TRUE(away.forecastRanking.empty());
  EXPECT_NE(away.forecastRankingProblem.find("connection refused"), std::string::npos)
      << away.forecastRankingProblem;
}

TEST_F(WorldReaderTest, AFirstPassChoiceNotYetInStatusIsReservedToo) {
  placements_.upsert(placement("other-sp", "other", Json::object()));
  choices_.remember("ns/other-sp", "uid-other-sp", {{"c", "s-c", api::ShadowPhase::Pending}});
  const World w = observe(placement("web-sp", "web", Json::object()));
  EXPECT_DOUBLE_EQ(requestedOn(w, "c"), 3);
}

TEST_F(WorldReaderTest, AMoveUnderWayReservesItsNodeUntilTheVmRunsThere) {
  placements_.upsert(placement("other-sp", "other",
                               {{"phase", "Placing"},
                                {"selectedNode", "d"},
                                {"moves", {{{"node", "d"}, {"phase", "Moving"}}}}}));
  Json decided = placement("web-sp", "web",
                           {{"phase", "Placing"},
                            {"observedGeneration", 0},
                            {"selectedNode", "a"},
                            {"candidates", {{{"node", "a"}}}}});
  EXPECT_DOUBLE_EQ(requestedOn(observe(decided), "d"), 3);
  vmis_.upsert({{"metadata", {{"namespace", "ns"}, {"name", "other"}}},
                {"spec", vm("other", "3")["spec"]["template"]["spec"]},
                {"status", {{"phase", "Running"}, {"nodeName", "d"}}}});
  EXPECT_DOUBLE_EQ(requestedOn(observe(decided), "d"), 3) << "counted once, as a running VMI";
}

TEST_F(WorldReaderTest, DecidedAndFinishedPlacementsReserveNothing) {
  placements_.upsert(placement(
      "done", "other", {{"phase", "Placed"}, {"shadows", {{{"node", "a"}, {"name", "s-a"}}}}}));
  const World w = observe(placement("web-sp", "web", Json::object()));
  EXPECT_DOUBLE_EQ(requestedOn(w, "a"), 0);
}

// KubeVirt uninstalled before Umbra: listing VMIs is NotFound (as the API server answers for a
// kind it does not serve, tests/integration/kube_client_test.cc); a deleted placement then has no
// shadow left and its finalizer goes instead of holding its namespace's deletion forever.
TEST(WorldReaderUninstall, ADeletedPlacementsShadowsAreGoneWhenTheirKindIsNotServed) {
  struct KindGone : NoServer {
    Result<Json> list(const kube::ResourceType& t, const std::string&,
                      const kube::ListOptions&) override {
      return Error::make(ErrorKind::NotFound, "GET /apis/" + t.apiVersion() + "/" + t.resource +
                                                  ": 404 page not found");
    }
  } server;
  kube::Store placements, vmis, vms, nodes, pods, migrations, clusterTypes, types;
  testing::FakeMetricsSource metrics;
  model::WindowMeanForecaster forecaster;
  FirstPassChoices choices;
  WorldReader reader({placements, vmis, vms, nodes, pods, migrations, clusterTypes, types}, server,
                     metrics, forecaster, choices);
  Json sp = placement("web-sp", "web", {{"phase", "Observing"}});
  sp["metadata"]["deletionTimestamp"] = "2026-12-05T10:00:00Z";
  sp["metadata"]["finalizers"] = Json::array({"umbra.io/cleanup"});
  auto in = WorldReader::input(sp, api::PlacementDefaults{});
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(in->deleting);
  auto w = reader.observe(*in, SystemTime(std::chrono::seconds(1800000000)));
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->shadowsLeft, 0u);
}

// Slots round robin across namespaces (issue 25, fair sharing): a namespace that came first with
// many placements does not keep the others waiting.
TEST(FairQueue, SlotsGoRoundRobinAcrossNamespacesFirstComeWithinOne) {
  // Namespace a created four placements at 10:00, b one at 10:05 and c one at 10:06; a already
  // holds two slots.
  const std::vector<Waiting> waiting = {
      {"a", "2026-12-05T10:00:01Z", "a/1"}, {"a", "2026-12-05T10:00:02Z", "a/2"},
      {"a", "2026-12-05T10:00:03Z", "a/3"}, {"a", "2026-12-05T10:00:04Z", "a/4"},
      {"b", "2026-12-05T10:05:00Z", "b/1"}, {"c", "2026-12-05T10:06:00Z", "c/1"}};
  const std::map<std::string, int> active = {{"a", 2}};
  const auto position = [&](const std::string& key, int cap = 1000) {
    return fairQueuePosition(waiting, key, active, cap);
  };
  EXPECT_EQ(position("b/1"), 0) << "its namespace holds nothing: its turn is 0";
  EXPECT_EQ(position("c/1"), 1) << "after b/1, created earlier on the same turn";
  EXPECT_EQ(position("a/1"), 2) << "a holds two slots: turn 2";
  EXPECT_EQ(position("a/2"), 3) << "first come, first served within a";
  EXPECT_EQ(position("a/4"), 5);
  // Without the other namespaces, a's placements go in creation order.
  EXPECT_EQ(fairQueuePosition({waiting[0], waiting[1], waiting[2]}, "a/3", active, 1000), 2);
  // a at its cap of 3 slots: only a/1 may still go, the rest hold no one up.
  EXPECT_EQ(position("c/1", 3), 1);
  EXPECT_EQ(position("a/1", 3), 2);
  EXPECT_EQ(fairQueuePosition(waiting, "nobody", active, 3), 0);
}

TEST_F(WorldReaderTest, AWaitingPlacementCountsItsNamespacesSlotsAndWhoGoesFirst) {
  const auto in = [](const std::string& ns, const std::string& name, const std::string& created,
                     Json status) {
    Json sp = placement(name, "web", std::move(status));
    sp["metadata"]["namespace"] = ns;
    sp["metadata"]["creationTimestamp"] = created;
    return sp;
  };
  placements_.upsert(in("ns", "busy-1", "2026-12-05T09:00:00Z", {{"phase", "Observing"}}));
  placements_.upsert(in("ns", "busy-2", "2026-12-05T09:00:00Z", {{"phase", "Probing"}}));
  placements_.upsert(in("ns", "early", "2026-12-05T10:00:00Z",
                        {{"phase", "Pending"}, {"reason", "Queued"}}));
  placements_.upsert(in("other", "late", "2026-12-05T10:05:00Z", Json::object()));
  const World mine = observe(in("ns", "web-sp", "2026-12-05T10:01:00Z", Json::object()));
  EXPECT_EQ(mine.probing, 2);
  EXPECT_EQ(mine.probingInNamespace, 2);
  EXPECT_EQ(mine.queuedAhead, 2) << "early (same namespace, earlier) and late (turn 0)";
}

}  // namespace
}  // namespace umbra::controller
