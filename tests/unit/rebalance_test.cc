// The rebalancing decision (src/rebalance), pure: which hosts count as overloaded, which VM goes,
// where, and within which budget; and the descheduler-style peers the benchmark runs beside it.
#include <gtest/gtest.h>

#include <cmath>

#include "offline/rebalance_bench.h"
#include "rebalance/rebalance.h"

namespace umbra::rebalance {
namespace {

constexpr double GiB = 1024.0 * 1024 * 1024;

Host host(const std::string& name, double load, double cores = 16) {
  Host h;
  h.name = name;
  h.cores = cores;
  h.memoryBytes = 128 * GiB;
  h.utilisation = h.sustained = h.forecast = h.forecastP90 = load;
  h.pressure = std::max(0.0, load - 0.5);
  return h;
}

Vm vm(const std::string& id, const std::string& on, double usage, double memoryGiB = 4,
      const std::string& ns = "default") {
  Vm v;
  v.id = ns + "/" + id;
  v.ns = ns;
  v.host = on;
  v.vcpus = 4;
  v.memoryBytes = memoryGiB * GiB;
  v.usage = v.usageP90 = usage;
  return v;
}

TEST(RebalanceTest, OnlyALoadThatLastedAndIsForecastToLastIsRelieved) {
  const std::vector<Vm> vms = {vm("a", "hot", 3), vm("b", "hot", 2)};
  auto hot = host("hot", 0.95);
  const Host cool = host("cool", 0.2);
  UmbraOptions o;
  EXPECT_EQ(planUmbra({hot, cool}, vms, o, {}, {}, 0).size(), 1u);

  auto spike = hot;
  spike.sustained = 0.6;  // high this minute only
  EXPECT_TRUE(planUmbra({spike, cool}, vms, o, {}, {}, 0).empty()) << "a spike is not a surge";
  auto fading = hot;
  fading.forecast = 0.6;  // the forecast expects it to pass
  EXPECT_TRUE(planUmbra({fading, cool}, vms, o, {}, {}, 0).empty()) << "a fading load stays";
}

TEST(RebalanceTest, TheVmThatIsEnoughWithTheLeastMemoryGoesElseTheBusiest) {
  // 16 cores at 0.95 against 0.8: 2.4 cores too many.
  const std::vector<Vm> vms = {vm("small-enough", "hot", 2.5, 2), vm("big-enough", "hot", 4, 16),
                               vm("too-little", "hot", 1, 1)};
  const auto moves = planUmbra({host("hot", 0.95), host("cool", 0.1)}, vms, {}, {}, {}, 0);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].vm, "default/small-enough");
  EXPECT_EQ(moves[0].to, "cool");
  EXPECT_NE(moves[0].reason.find("hot at 95% sustained, forecast 95%"), std::string::npos)
      << moves[0].reason;

  // None is enough on its own: the busiest goes first, then the next until the host is back.
  const std::vector<Vm> small = {vm("x", "hot", 1.5), vm("y", "hot", 1.2), vm("z", "hot", 0.5)};
  const auto two = planUmbra({host("hot", 0.95), host("cool", 0.1)}, small, {}, {}, {}, 0);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].vm, "default/x");
  EXPECT_EQ(two[1].vm, "default/y");
}

TEST(RebalanceTest, TheDestinationIsTheLowestForecastWithInterferenceCountedAndRoomLeft) {
  const std::vector<Vm> vms = {vm("a", "hot", 3)};
  auto quietButNoisy = host("noisy", 0.2);
  quietButNoisy.interference = 0.3;  // a probe there loses 30 %
  const auto moves =
      planUmbra({host("hot", 0.95), quietButNoisy, host("calm", 0.35)}, vms, {}, {}, {}, 0);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].to, "calm") << "0.35 + 3/16 beats 0.2 + 3/16 + 0.3";
  EXPECT_NE(moves[0].reason.find("calm forecast 54% with it"), std::string::npos)
      << moves[0].reason;

  // Nowhere stays under target - headroom (0.7) with it: no move rather than a new hot spot.
  EXPECT_TRUE(planUmbra({host("hot", 0.95), host("warm", 0.6)}, vms, {}, {}, {}, 0).empty());
  // Requests must fit.
  auto full = host("full", 0.1);
  full.requestedMemory = full.memoryBytes;
  EXPECT_TRUE(planUmbra({host("hot", 0.95), full}, vms, {}, {}, {}, 0).empty());
  // Two moves do not pile onto one destination past its room.
  const std::vector<Vm> pair = {vm("a", "hot", 3), vm("b", "hot2", 3)};
  const auto spread =
      planUmbra({host("hot", 0.95), host("hot2", 0.95), host("c1", 0.45), host("c2", 0.46)}, pair,
                {}, {}, {}, 0);
  ASSERT_EQ(spread.size(), 2u);
  EXPECT_NE(spread[0].to, spread[1].to);
}

TEST(RebalanceTest, BudgetsIntervalsAndMigratabilityAreRespected) {
  const std::vector<Host> hosts = {host("h1", 0.99), host("h2", 0.99), host("h3", 0.99),
                                   host("c1", 0.0, 64), host("c2", 0.0, 64)};
  std::vector<Vm> vms;
  for (const char* h : {"h1", "h2", "h3"}) {
    for (int i = 0; i < 3; ++i)
      vms.push_back(
          vm(std::string(h) + "-" + std::to_string(i), h, 1.0, 4, i == 0 ? "team-a" : "team-b"));
  }
  Budget b;
  b.cluster = 4;
  b.perNamespace = 3;
  b.outboundPerHost = 2;
  const auto moves = planUmbra(hosts, vms, {}, b, {}, 0);
  EXPECT_EQ(moves.size(), 4u) << "the cluster budget";
  std::map<std::string, int> perNs, perHost;
  for (const auto& m : moves) {
    ++perNs[m.vm.substr(0, m.vm.find('/'))];
    ++perHost[m.from];
  }
  for (const auto& [ns, n] : perNs)
    EXPECT_LE(n, 3) << ns;
  for (const auto& [h, n] : perHost)
    EXPECT_LE(n, 2) << h;

  // What is in flight counts.
  InFlight busy;
  busy.cluster = 3;
  EXPECT_EQ(planUmbra(hosts, vms, {}, b, busy, 0).size(), 1u);

  // A VM moved within its interval, one moving, one not live-migratable, one whose eviction
  // strategy says stay (None) or someone else moves it (External), one a disruption budget holds:
  // none goes.
  std::vector<Vm> held = {vm("recent", "h1", 3), vm("moving", "h1", 3),   vm("pinned", "h1", 3),
                          vm("stay", "h1", 3),   vm("external", "h1", 3), vm("budgeted", "h1", 3)};
  held[0].lastMovedAt = -100;  // 100 s ago, interval 3600 s
  held[1].moving = true;
  held[2].migratable = false;
  held[3].evictionStrategy = "None";
  held[4].evictionStrategy = "External";
  held[5].disruptionAllowed = false;
  EXPECT_TRUE(planUmbra({host("h1", 0.99), host("c1", 0.0)}, held, {}, {}, {}, 0).empty());
  held[0].lastMovedAt = -3600;
  const auto after = planUmbra({host("h1", 0.99), host("c1", 0.0)}, held, {}, {}, {}, 0);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].vm, "default/recent") << "past its interval it may go again";
  Vm live = vm("live", "h1", 3);
  live.evictionStrategy = "LiveMigrateIfPossible";
  EXPECT_EQ(planUmbra({host("h1", 0.99), host("c1", 0.0)}, {live}, {}, {}, {}, 0).size(), 1u);
}

TEST(RebalanceTest, MovesStillInFlightCountOnTheirDestination) {
  const std::vector<Vm> vms = {vm("a", "hot", 3), vm("b", "hot2", 3), vm("c", "hot", 3)};
  // A move of "c" to "calm" is under way: hot is still over the target without it (1 - 3/16),
  // and calm's forecast (0.35 + 3/16 with it) leaves no room for another 3 cores under 0.7, so
  // "a" goes to "other" instead.
  InFlight busy;
  busy.cluster = 1;
  busy.moves.push_back({"default/c", "hot", "calm", "", 3});
  const auto moves =
      planUmbra({host("hot", 1.0), host("calm", 0.35), host("other", 0.45)}, vms, {}, {}, busy, 0);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].to, "other");
  // Without it, calm is the pick.
  EXPECT_EQ(
      planUmbra({host("hot", 1.0), host("calm", 0.35), host("other", 0.45)}, vms, {}, {}, {}, 0)[0]
          .to,
      "calm");
}

TEST(RebalanceTest, CompanionsLeaveHostsNearingCapacityForTheCoolestHostThatIsNotTheirVms) {
  const std::vector<Host> hosts = {host("hot", 0.78), host("vm-host", 0.1), host("cool", 0.2),
                                   host("warm", 0.5)};
  Companion c{"default/a-companion", "vm-host", "hot", 1, 0.25 * GiB};
  auto moves = planCompanions(hosts, {c}, {}, {}, 0);
  ASSERT_EQ(moves.size(), 1u) << "0.78 is past target - headroom / 2 (0.75)";
  EXPECT_EQ(moves[0].to, "cool") << "not vm-host, though it is the coolest";
  EXPECT_NE(moves[0].reason.find("hot nearing capacity (forecast p90 78%)"), std::string::npos)
      << moves[0].reason;

  // Recently re-created: it stays, unless its VM landed beside it.
  c.lastMovedAt = -60;
  EXPECT_TRUE(planCompanions(hosts, {c}, {}, {}, 0).empty());
  Companion beside{"default/b-companion", "cool", "cool", 1, 0.25 * GiB, -60};
  moves = planCompanions(hosts, {beside}, {}, {}, 0);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].to, "vm-host");
  EXPECT_EQ(moves[0].reason, "its VM landed on cool");

  // A companion on a quiet host stays; the per-cycle cap holds.
  EXPECT_TRUE(planCompanions(hosts, {{"default/q", "vm-host", "warm"}}, {}, {}, 0).empty());
  std::vector<Companion> many(5, Companion{"default/m", "vm-host", "hot"});
  EXPECT_EQ(planCompanions(hosts, many, {}, {}, 0, 3).size(), 3u);
}

TEST(RebalanceTest, RelieveAndMigrateMovesTheBusiestVmPerOverutilisedNodeWhereRequestsAreLeast) {
  // Mean load 0.5; "hot" is above mean + 10 %. The scheduler sends the VM to the node with the
  // least requested, though its real load is the higher one.
  auto lowRequests = host("busy-but-few-requests", 0.6);
  auto manyRequests = host("idle-but-many-requests", 0.3);
  manyRequests.requestedCpu = 8;
  const std::vector<Vm> vms = {vm("small", "hot", 0.5), vm("big", "hot", 3)};
  const auto moves =
      planRelieveAndMigrate({host("hot", 0.9), lowRequests, manyRequests}, vms, {}, {}, {}, 0);
  ASSERT_EQ(moves.size(), 1u) << "one VM per overutilised node per cycle";
  EXPECT_EQ(moves[0].vm, "default/big");
  EXPECT_EQ(moves[0].to, "busy-but-few-requests");
  // Nothing above the deviation: nothing moves.
  EXPECT_TRUE(planRelieveAndMigrate({host("a", 0.5), host("b", 0.55)}, vms, {}, {}, {}, 0).empty());
}

TEST(RebalanceTest, LowNodeUtilizationMovesByRequestsOnlyWhenSomeNodeIsUnderutilised) {
  auto over = host("over", 0.1);
  over.requestedCpu = 10;  // 62 % requested of 16 cores
  auto under = host("under", 0.9);
  under.requestedCpu = 1;  // 6 %: real load does not matter to it
  const std::vector<Vm> vms = {vm("a", "over", 0.1), vm("b", "over", 0.1)};
  const auto moves = planLowNodeUtilization({over, under}, vms, {}, {}, {}, 0);
  ASSERT_FALSE(moves.empty());
  EXPECT_EQ(moves[0].to, "under");
  auto middle = under;
  middle.requestedCpu = 6;  // 37 %: no node is underutilised
  EXPECT_TRUE(planLowNodeUtilization({over, middle}, vms, {}, {}, {}, 0).empty());
}

// The benchmark end to end on a small world: every rebalancer runs, the budget holds, nothing is
// moved within its interval, and no rebalancing moves nothing.
TEST(RebalanceBenchTest, EveryRebalancerRunsOnTheSameStartWithinTheBudget) {
  sim::ClusterSpec cluster;
  cluster.name = "tiny";
  cluster.physics.noise = 0.02;
  for (int i = 0; i < 4; ++i) {
    sim::NodeSpec n;
    n.name = "n" + std::to_string(i);
    n.cpuCores = 8;
    n.memoryBytes = 64 * GiB;
    cluster.nodes.push_back(n);
  }
  sim::TraceSet traces;
  for (int k = 0; k < 3; ++k) {
    sim::Trace t;
    t.id = "vm" + std::to_string(k);
    t.cpuCores = 4;
    t.memoryBytes = 4 * GiB;
    for (int i = 0; i < 2016; ++i) {  // a week of 5-minute steps, a daily swing
      const double day = std::sin(2 * M_PI * i / 288.0 + k);
      t.cpu.push_back(static_cast<float>(0.45 + 0.35 * day));
      t.memory.push_back(0.5f);
      t.disk.push_back(0);
      t.network.push_back(0);
      t.observed.push_back(1);
    }
    traces.series[t.id] = t;
  }
  offline::RebalanceBenchOptions o;
  o.utilisation = 0.45;
  o.daySeconds = 6 * 3600;
  o.relieveDeviations = {0.1};
  o.relieveCycles = {60};
  auto report = offline::runRebalanceBench(cluster, traces, o);
  ASSERT_TRUE(report.ok()) << report.error().message;
  ASSERT_EQ(report->rebalancers.size(), 6u);
  EXPECT_EQ(report->rebalancers[0].rebalancer, "none");
  EXPECT_EQ(report->rebalancers[0].migrations, 0);
  EXPECT_EQ(report->rebalancers[5].rebalancer, "oracle");
  for (const auto& r : report->rebalancers) {
    EXPECT_EQ(r.movedWithinInterval, 0) << r.rebalancer;
    EXPECT_EQ(r.succeeded + r.failed <= r.migrations, true) << r.rebalancer;
    EXPECT_GT(r.vmMinutes, 0) << r.rebalancer;
  }
  // Umbra relieves this world's daily peaks (it once made them worse: its host forecasts lagged
  // the moves it had just made, and consecutive cycles piled VMs onto one host).
  EXPECT_LT(report->rebalancers[3].vmMinutesOverSlo, report->rebalancers[0].vmMinutesOverSlo);
  EXPECT_GT(report->rebalancers[3].companionVcpuShare, 0) << "Umbra runs its companions";
  EXPECT_EQ(report->rebalancers[4].companionVcpuShare, 0) << "the ablation runs none";
}

}  // namespace
}  // namespace umbra::rebalance
