// The simulation core: physics, determinism, trace and cluster parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "sim/cluster.h"
#include "sim/files.h"
#include "sim/requests.h"
#include "sim/simulation.h"
#include "sim/trace.h"

namespace umbra::sim {
namespace {

constexpr double GiB = 1024.0 * 1024 * 1024;

ClusterSpec twoNodes(double interference = 0.0) {
  ClusterSpec c;
  c.name = "test";
  c.physics.noise = 0;  // exact figures
  c.physics.measurementNoise = 0;
  c.physics.interference = interference;
  c.physics.classes["cache-heavy"] = {1.5, 3.0};
  c.physics.classes["sensitive"] = {3.0, 0.5};
  for (const char* n : {"a", "b"}) {
    NodeSpec s;
    s.name = n;
    s.cpuCores = 8;
    s.memoryBytes = 32 * GiB;
    c.nodes.push_back(s);
  }
  return c;
}

WorkloadSpec steady(const std::string& id, double vcpus, double level,
                    const std::string& klass = "neutral") {
  WorkloadSpec w;
  w.id = id;
  w.vcpus = vcpus;
  w.memoryBytes = 4 * GiB;
  w.interferenceClass = klass;
  w.source.kind = SourceKind::Profile;
  w.source.profile = "steady";
  w.source.level = level;
  return w;
}

// The request model's queue: exact where queueing theory is (M/M/1's exponential sojourn time,
// Erlang C's textbook value), and what serving more with fewer or slower vCPUs must do.
TEST(RequestsTest, MM1IsExactAndErlangCMatchesTheTextbook) {
  RequestModel m;
  m.cpuSecondsPerRequest = 0.1;  // mu = 10 per second
  m.serviceCv2 = 1;
  const LatencyDistribution l({6, 1, 10}, m);  // lambda 6: the sojourn time is Exp(4)
  EXPECT_NEAR(l.meanSeconds(), 0.25, 1e-9);
  EXPECT_NEAR(l.quantile(0.95), std::log(20.0) / 4, 2e-3);
  EXPECT_NEAR(l.cdf(0.25), 1 - std::exp(-1.0), 2e-3);
  EXPECT_NEAR(erlangC(2, 1.0), 1.0 / 3, 1e-12);  // two servers, one Erlang
  EXPECT_NEAR(erlangC(1, 0.6), 0.6, 1e-12);      // M/M/1: P(wait) = rho
}

TEST(RequestsTest, LatencyGrowsWithLoadVariabilityAndFewerServersAndSaturates) {
  RequestModel m;
  const auto p95 = [&](double lambda, int k, double mu, double cv2 = 1) {
    m.serviceCv2 = cv2;
    return LatencyDistribution({lambda, k, mu}, m).quantile(0.95);
  };
  EXPECT_LT(p95(50, 4, 50), p95(150, 4, 50));      // more load
  EXPECT_LT(p95(150, 4, 50), p95(150, 4, 50, 4));  // more variable requests
  // Allen-Cunneen: the M/M/k mean wait, C / (k mu - lambda), times (1 + cv^2) / 2.
  m.serviceCv2 = 3;
  EXPECT_NEAR(LatencyDistribution({150, 4, 50}, m).meanSeconds(),
              0.02 + erlangC(4, 3.0) / (200 - 150) * 2, 1e-12);
  EXPECT_LT(p95(150, 8, 50), p95(150, 4, 50));     // more vCPUs
  EXPECT_LT(p95(150, 4, 50), p95(150, 4, 40));     // slower vCPUs (steal, the quota)
  const LatencyDistribution over({250, 4, 50}, m);
  EXPECT_TRUE(over.saturated());
  EXPECT_DOUBLE_EQ(over.servedRate(), 200) << "what four vCPUs complete";
  EXPECT_DOUBLE_EQ(over.quantile(0.5), LatencyDistribution::SaturatedSeconds);
}

TEST(RequestsTest, AServingWorkloadCountsItsRequestsAndTheirLatencyBuckets) {
  ClusterSpec c;
  NodeSpec n;
  n.name = "a";
  n.cpuCores = 8;
  c.nodes.push_back(n);
  c.physics.noise = 0;
  Simulation s(c, 1);
  WorkloadSpec w;
  w.id = "ns/web";
  w.vcpus = 4;
  w.source.kind = SourceKind::Profile;
  w.source.profile = "steady";
  w.source.level = 0.5;  // 2 busy cores
  w.requests = RequestModel{0.02, 1};
  ASSERT_TRUE(s.addWorkload(w, "a").ok());
  for (int i = 0; i < 10; ++i)
    s.step(1);
  const auto& counters = s.workload("ns/web")->counters;
  EXPECT_NEAR(counters.requests / 10, 2 / 0.02, 10) << "2 busy cores at 20 ms a request";
  EXPECT_LE(counters.requestBuckets.front(), counters.requestBuckets.back());
  EXPECT_NEAR(counters.requestBuckets.back(), counters.requests, 1e-6 * counters.requests);
  const double mean = counters.requestSeconds / counters.requests;
  EXPECT_GT(mean, 0.02) << "service time plus some queueing";
  EXPECT_LT(mean, 0.05);

  // The same on a node a neighbour keeps busy: the run queue slows every request.
  Simulation crowded(c, 1);
  ASSERT_TRUE(crowded.addWorkload(w, "a").ok());
  WorkloadSpec neighbour = w;
  neighbour.id = "ns/batch";
  neighbour.vcpus = 6;
  neighbour.requests.reset();
  neighbour.source.level = 1.0;  // 6 busy cores: 8 of 8 wanted
  ASSERT_TRUE(crowded.addWorkload(neighbour, "a").ok());
  for (int i = 0; i < 10; ++i)
    crowded.step(1);
  const auto& busy = crowded.workload("ns/web")->counters;
  EXPECT_GT(busy.requestSeconds / busy.requests, 1.2 * mean)
      << "slower vCPUs: longer service and more waiting";
}

TEST(QueueCurveTest, ZeroWhenIdleAndGrowingTowardsSaturation) {
  const QueueCurve q;
  EXPECT_EQ(q.at(0), 0);
  double last = 0;
  for (double rho = 0.05; rho <= 1.0; rho += 0.05) {
    EXPECT_GT(q.at(rho), last) << rho;
    last = q.at(rho);
  }
  // Nonlinear: the last 10 % of utilisation costs more than the first 80 %.
  EXPECT_GT(q.at(1.0) - q.at(0.9), 5 * q.at(0.8));
}

TEST(PhysicsTest, DelayIsZeroOnAnIdleNode) {
  Simulation sim(twoNodes(), 1);
  sim.step(15);
  EXPECT_EQ(sim.node("a")->runQueueDelay, 0);
  EXPECT_EQ(sim.node("a")->counters.pressureCpuWaiting, 0);
  // An idle probe on an otherwise idle node sees (next to) no steal.
  WorkloadSpec probe;
  probe.id = "ns/probe";
  ASSERT_TRUE(sim.addWorkload(probe, "a").ok());
  sim.step(15);
  EXPECT_LT(sim.workload("ns/probe")->steal, 1e-9);
}

TEST(PhysicsTest, ContentionIsMonotonicInLoad) {
  Simulation sim(twoNodes(), 1);
  ASSERT_TRUE(sim.addWorkload(steady("ns/watched", 2, 0.5), "a").ok());
  double lastDelay = -1, lastSteal = -1, lastMemory = -1, lastIo = -1;
  for (int k = 0; k < 14; ++k) {
    sim.step(15);
    const auto* w = sim.workload("ns/watched");
    const auto* n = sim.node("a");
    EXPECT_GE(n->runQueueDelay, lastDelay) << k;
    EXPECT_GE(w->steal, lastSteal) << k;
    EXPECT_GE(n->memoryPressure, lastMemory) << k;
    EXPECT_GE(n->ioWait, lastIo) << k;
    lastDelay = n->runQueueDelay;
    lastSteal = w->steal;
    lastMemory = n->memoryPressure;
    lastIo = n->ioWait;
    ASSERT_TRUE(sim.addWorkload(steady("ns/load-" + std::to_string(k), 2, 0.8), "a").ok());
  }
  EXPECT_GT(lastSteal, 0.3) << "14 busy 2-vCPU neighbours on 8 cores must hurt";
  EXPECT_GT(lastMemory, 0) << "15 x 4 GiB VMs on 32 GiB";
}

TEST(PhysicsTest, ANodeNeverGivesMoreCpuThanItHas) {
  Simulation sim(twoNodes(), 1);
  for (int k = 0; k < 12; ++k)  // 24 vCPUs at full load on 8 cores
    ASSERT_TRUE(sim.addWorkload(steady("ns/vm-" + std::to_string(k), 2, 1.0), "a").ok());
  for (int i = 0; i < 100; ++i)
    sim.step(15);
  const NodeState& n = *sim.node("a");
  EXPECT_LE(n.cpuBusy, 8.0 + 1e-9);
  double running = 0;
  for (const auto& [id, w] : sim.workloads())
    running += w.counters.cpuRunning;
  EXPECT_LE(running, 8.0 * sim.elapsed() + 1e-6);
  // Every CPU-second of the node is accounted for in exactly one mode.
  const auto& c = n.counters;
  EXPECT_NEAR(c.user + c.system + c.idle + c.iowait + c.steal, 8.0 * sim.elapsed(), 1e-6);
  // Overloaded: each VM waits for the share it does not get.
  EXPECT_GE(sim.workload("ns/vm-0")->steal, 1.0 - 8.0 / 24.0);
}

TEST(PhysicsTest, WithoutInterferenceNodeUtilisationExplainsEverything) {
  Simulation sim(twoNodes(0.0), 1);
  // Same total demand on both nodes, different mixes and classes.
  ASSERT_TRUE(sim.addWorkload(steady("ns/a1", 4, 0.75, "sensitive"), "a").ok());
  ASSERT_TRUE(sim.addWorkload(steady("ns/a2", 2, 0.75, "cache-heavy"), "a").ok());
  ASSERT_TRUE(sim.addWorkload(steady("ns/b1", 3, 0.75), "b").ok());
  ASSERT_TRUE(sim.addWorkload(steady("ns/b2", 3, 0.75, "sensitive"), "b").ok());
  sim.step(15);
  EXPECT_DOUBLE_EQ(sim.node("a")->cpuUtilization, sim.node("b")->cpuUtilization);
  for (const char* id : {"ns/a1", "ns/a2", "ns/b1", "ns/b2"}) {
    EXPECT_DOUBLE_EQ(sim.workload(id)->steal, sim.node("a")->runQueueDelay) << id;
    EXPECT_EQ(sim.workload(id)->interference, 0) << id;
  }
}

// Interference is the co-runners' doing and slows everyone on the node through one mechanism:
// work needs more CPU time. The node's utilisation and run queue show part of it; the slowdown
// is what the VM's user feels.
TEST(PhysicsTest, InterferenceShowsPartlyInNodeSignalsAndWhollyInTheSlowdown) {
  Simulation quiet(twoNodes(0.5), 1);
  Simulation noisy(twoNodes(0.5), 1);
  for (auto* sim : {&quiet, &noisy})
    ASSERT_TRUE(sim->addWorkload(steady("ns/victim", 2, 0.5, "sensitive"), "a").ok());
  ASSERT_TRUE(quiet.addWorkload(steady("ns/neighbour", 2, 0.5), "a").ok());
  ASSERT_TRUE(noisy.addWorkload(steady("ns/neighbour", 2, 0.5, "cache-heavy"), "a").ok());
  quiet.step(15);
  noisy.step(15);
  const auto* qv = quiet.workload("ns/victim");
  const auto* nv = noisy.workload("ns/victim");
  EXPECT_GT(nv->interference, 2 * qv->interference);
  // Work takes longer: the node is busier and its run queue longer (node-exporter, PSI).
  EXPECT_GT(noisy.node("a")->cpuUtilization, quiet.node("a")->cpuUtilization);
  EXPECT_GT(noisy.node("a")->runQueueDelay, quiet.node("a")->runQueueDelay);
  // The victim's steal is the node's run-queue delay only; its slowdown compounds interference.
  EXPECT_DOUBLE_EQ(nv->steal, noisy.node("a")->runQueueDelay);
  EXPECT_NEAR(nv->slowdown, 1 - (1 - nv->steal) * (1 - nv->interference), 1e-12);
  EXPECT_GT(nv->slowdown - qv->slowdown, 5 * (nv->steal - qv->steal))
      << "most of the harm is invisible to steal";
}

// A shadow at 10m of one vCPU is throttled by its own quota; run_delay counts that as steal, so
// what it reads must have the throttled time taken out (cAdvisor's counter), or an idle node would
// look contended.
TEST(PhysicsTest, AShadowsOwnQuotaIsThrottlingNotContention) {
  Simulation sim(twoNodes(), 1);
  WorkloadSpec shadow;
  shadow.id = "ns/shadow";
  shadow.vcpus = 1;
  shadow.cpuLimit = 0.01;  // an idle guest wants 30m
  ASSERT_TRUE(sim.addWorkload(shadow, "a").ok());
  sim.step(60);
  const auto& c = sim.workload("ns/shadow")->counters;
  EXPECT_NEAR(c.cpuRunning, 0.01 * 60, 1e-9) << "held at its quota";
  EXPECT_NEAR(c.cpuThrottled, 0.02 * 60, 1e-9);
  const double raw = c.cpuDelay / (c.cpuDelay + c.cpuRunning);
  EXPECT_NEAR(raw, 2.0 / 3.0, 1e-9) << "the guest's steal: throttled 2/3 of its runnable time";
  const double delay = c.cpuDelay - c.cpuThrottled;
  EXPECT_LT(delay / (delay + c.cpuRunning), 1e-9) << "an idle node: no run-queue delay";
  EXPECT_LT(sim.workload("ns/shadow")->queueDelay, 1e-9);
}

// A probe's two kernels: the run queue and the quota slow both; co-runners' memory pressure
// slows the memory kernel only. The ratio of their rates reads the interference and nothing else.
TEST(PhysicsTest, TheProbeReadsInterferenceAndNotSteal) {
  const auto probeLoss = [](double interference, const std::string& neighbourClass,
                            double neighbourVcpus, double neighbourLevel) {
    Simulation sim(twoNodes(interference), 1);
    for (int k = 0; k < 3; ++k)
      EXPECT_TRUE(sim.addWorkload(steady("ns/n" + std::to_string(k), neighbourVcpus, neighbourLevel,
                                         neighbourClass),
                                  "a")
                      .ok());
    WorkloadSpec probe;
    probe.id = "ns/probe";
    probe.vcpus = 1;
    probe.cpuLimit = 0.02;
    probe.source.kind = SourceKind::Probe;
    probe.source.level = 0.5;
    EXPECT_TRUE(sim.addWorkload(probe, "a").ok());
    for (int i = 0; i < 20; ++i)
      sim.step(15);
    const auto* p = sim.workload("ns/probe");
    const auto& c = p->counters;
    EXPECT_GT(c.probeAluOps, 0);
    EXPECT_NEAR(c.probeAluSeconds, c.probeMemorySeconds, 1e-9) << "equal time in each kernel";
    const double ratio =
        (c.probeMemoryOps / c.probeMemorySeconds) / (c.probeAluOps / c.probeAluSeconds);
    EXPECT_NEAR(1 - ratio, p->interference, 1e-9);
    return std::pair(1 - ratio, p->queueDelay);
  };
  // Overloaded (12 cores wanted of 8), no interference: heavy steal, no loss.
  const auto [busyLoss, busyDelay] = probeLoss(0, "neutral", 4, 1.0);
  EXPECT_GT(busyDelay, 0.3);
  EXPECT_NEAR(busyLoss, 0, 1e-9);
  // Three cores of cache-heavy work on eight (4.5 with the cycles they lose): little steal, a
  // clear loss.
  const auto [cacheLoss, cacheDelay] = probeLoss(0.3, "cache-heavy", 2, 0.5);
  EXPECT_LT(cacheDelay, 0.05);
  EXPECT_GT(cacheLoss, 0.15);
}

// The probe as its script runs under a CFS quota, measured on a real kernel (bench/probe_noise.py,
// bench/results/probe_noise.md): about one pair of chunks a 15 s slot at 10m, whose loss over
// 5 minutes spreads between copies by about 0.05 on a quiet node.
TEST(PhysicsTest, TheProbeRunsItsScriptsChunksAndTimesThemAsMeasured) {
  // 10m, cpuPercent 50: busy 50 ms of each cycle, so one pair (3.7 s under the quota), then 9 s.
  EXPECT_NEAR(probePairsPerSecond(0.005, 0.01), 1 / (3.7 + 9), 1e-9);
  // 160m: busy 0.8 s, four pairs of 0.23 s.
  EXPECT_NEAR(probePairsPerSecond(0.08, 0.16), 4 / (4 * 0.037 / 0.16 + 9), 1e-9);
  EXPECT_EQ(probePairsPerSecond(0, 0.01), 0) << "a bursty probe's quiet phase runs nothing";
  EXPECT_NEAR(probeChunkError(0.04), 0.295, 1e-9);
  EXPECT_GT(probeChunkError(0.02), 0.165);
  EXPECT_LT(probeChunkError(0.02), 0.295);
  EXPECT_EQ(probeChunkError(1.0), probeChunkError(0.16)) << "constant beyond what was measured";

  ClusterSpec c = twoNodes();
  c.physics.measurementNoise = 0.02;
  Simulation sim(c, 1);
  constexpr int Probes = 40;
  for (int k = 0; k < Probes; ++k) {
    WorkloadSpec probe;
    probe.id = "ns/probe-" + std::to_string(k);
    probe.vcpus = 1;
    probe.cpuLimit = 0.01;
    probe.memoryBytes = 0.125 * GiB;
    probe.source.kind = SourceKind::Probe;
    probe.source.level = 0.005;  // as placement::syntheticScript's PERMILLE=5 at 10m
    ASSERT_TRUE(sim.addWorkload(probe, "a").ok());
  }
  for (int i = 0; i < 20; ++i)
    sim.step(15);
  double pairs = 0, sum = 0, sumSq = 0;
  for (int k = 0; k < Probes; ++k) {
    const auto& w = sim.workload("ns/probe-" + std::to_string(k))->counters;
    pairs += w.probeAluOps / Probes;
    const double loss =
        1 - (w.probeMemoryOps / w.probeMemorySeconds) / (w.probeAluOps / w.probeAluSeconds);
    sum += loss;
    sumSq += loss * loss;
  }
  EXPECT_NEAR(pairs, 300 / (3.7 + 9), 3) << "one chunk of each kernel a cycle";
  const double sd = std::sqrt(sumSq / Probes - (sum / Probes) * (sum / Probes));
  EXPECT_GT(sd, 0.03) << "measured between copies at 10m: 0.048";
  EXPECT_LT(sd, 0.07) << "measured between copies at 10m: 0.048";
}

TEST(PhysicsTest, CountersCarryMeasurementNoiseAroundTheTruth) {
  ClusterSpec noisy = twoNodes();
  noisy.physics.measurementNoise = 0.05;
  Simulation exact(twoNodes(), 1);
  Simulation measured(noisy, 1);
  for (auto* sim : {&exact, &measured})
    ASSERT_TRUE(sim->addWorkload(steady("ns/vm", 4, 0.9), "a").ok());
  double maxError = 0;
  for (int i = 0; i < 400; ++i) {
    const double before = measured.node("a")->counters.user;
    const double beforeExact = exact.node("a")->counters.user;
    exact.step(15);
    measured.step(15);
    const double d = measured.node("a")->counters.user - before;
    const double de = exact.node("a")->counters.user - beforeExact;
    maxError = std::max(maxError, std::abs(d / de - 1));
  }
  EXPECT_GT(maxError, 0.05) << "each slot's increase is off by a few per cent";
  EXPECT_LT(maxError, 0.16) << "clipped at three standard deviations";
  EXPECT_NEAR(measured.node("a")->counters.user / exact.node("a")->counters.user, 1, 0.01)
      << "and right on average";
  EXPECT_DOUBLE_EQ(measured.workload("ns/vm")->slowdown, exact.workload("ns/vm")->slowdown)
      << "the truth itself is not noisy";
}

TEST(PhysicsTest, MirrorShadowsCarryAShareOfTheTargetsDemand) {
  Simulation sim(twoNodes(), 1);
  ASSERT_TRUE(sim.addWorkload(steady("ns/web", 4, 0.5), "a").ok());
  WorkloadSpec mirror;
  mirror.id = "ns/web-shadow-b";
  mirror.vcpus = 1;
  mirror.source.kind = SourceKind::Mirror;
  mirror.source.mirrors = {{"ns/web", 0.1}};
  ASSERT_TRUE(sim.addWorkload(mirror, "b").ok());
  sim.step(15);
  EXPECT_DOUBLE_EQ(sim.workload("ns/web-shadow-b")->demand.cpu, 0.1 * 2.0);
  // Two routes mirrored to it (a Service of two VMs, 10 % and 5 %): the shares add up; the
  // source changes while it runs (a VirtualService written after the shadow started).
  ASSERT_TRUE(sim.addWorkload(steady("ns/api", 2, 0.5), "a").ok());
  DemandSource both = mirror.source;
  both.mirrors.push_back({"ns/api", 0.05});
  sim.setSource("ns/web-shadow-b", both);
  sim.step(15);
  EXPECT_DOUBLE_EQ(sim.workload("ns/web-shadow-b")->demand.cpu, 0.1 * 2.0 + 0.05 * 1.0);
}

TEST(SimulationTest, DeterministicForASeed) {
  const auto run = [](uint64_t seed) {
    ClusterSpec c = twoNodes(0.3);
    c.physics.noise = 0.1;
    c.nodes[0].background = {"spiky", "", 0.3, 1, 0.1};
    Simulation sim(c, seed);
    (void)sim.addWorkload(steady("ns/x", 2, 0.6, "cache-heavy"), "a");
    WorkloadSpec y = steady("ns/y", 2, 0.6);
    y.source.profile = "bursty";
    (void)sim.addWorkload(y, "a");
    for (int i = 0; i < 500; ++i)
      sim.step(15);
    return sim.workload("ns/x")->counters.cpuDelay + sim.node("a")->counters.idle;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(SimulationTest, TraceSpeedMovesTheDemandClockNotTheCounters) {
  ClusterSpec c = twoNodes();
  Simulation fast(c, 1);
  Simulation slow(c, 1);
  WorkloadSpec w = steady("ns/x", 2, 0.5);
  w.source.profile = "diurnal";
  ASSERT_TRUE(fast.addWorkload(w, "a").ok());
  ASSERT_TRUE(slow.addWorkload(w, "a").ok());
  for (int i = 0; i < 60; ++i) {
    fast.step(1, 600);  // ten simulated minutes per second
    slow.step(1);
  }
  EXPECT_EQ(fast.elapsed(), 60);
  EXPECT_EQ(fast.demandTime(), 36000);
  EXPECT_EQ(slow.demandTime(), 60);
  // Counters integrate over the real 60 s either way; the demand followed the faster clock.
  EXPECT_LE(fast.workload("ns/x")->counters.cpuRunning, 2.0 * 60);
  EXPECT_NE(fast.workload("ns/x")->demand.cpu, slow.workload("ns/x")->demand.cpu);
  EXPECT_DOUBLE_EQ(fast.workload("ns/x")->demand.cpu, fast.demandAt(w, 59 * 600.0).cpu)
      << "a step uses the demand at its start";
}

TEST(SimulationTest, MovesAndRemovalsKeepCountersAndRejectUnknownNodes) {
  Simulation sim(twoNodes(), 1);
  ASSERT_TRUE(sim.addWorkload(steady("ns/x", 2, 0.5), "a").ok());
  EXPECT_FALSE(sim.addWorkload(steady("ns/x", 2, 0.5), "a").ok()) << "duplicate";
  EXPECT_FALSE(sim.addWorkload(steady("ns/y", 2, 0.5), "nowhere").ok());
  EXPECT_FALSE(sim.addWorkload(steady("ns/z", 2, 0.5, "unknown-class"), "a").ok());
  sim.step(15);
  const double before = sim.workload("ns/x")->counters.cpuRunning;
  ASSERT_TRUE(sim.moveWorkload("ns/x", "b").ok());
  sim.step(15);
  EXPECT_GT(sim.workload("ns/x")->counters.cpuRunning, before);
  EXPECT_GT(sim.node("b")->cpuBusy, 0);
  EXPECT_EQ(sim.node("a")->cpuBusy, 0);
  sim.removeWorkload("ns/x");
  sim.step(15);
  EXPECT_EQ(sim.node("b")->cpuBusy, 0);
}

// Pre-copy live migration (docs/simulation.md, "Live migration").
TEST(LiveMigrationTest, AnIdleGuestMovesInOneRoundPlusTheSwitchOver) {
  MigrationLink link;
  link.bandwidthBytesPerSecond = 1 * GiB;
  const auto m = preCopy(4 * GiB, 0, link);
  EXPECT_TRUE(m.succeeded);
  EXPECT_NEAR(m.seconds, 4.0, 1e-9);
  EXPECT_NEAR(m.bytesSent, 4 * GiB, 1);
  EXPECT_EQ(m.rounds, 2);  // the whole memory, then an empty stop-and-copy
}

TEST(LiveMigrationTest, DirtyingStretchesAMigrationGeometrically) {
  MigrationLink link;
  link.bandwidthBytesPerSecond = 1 * GiB;
  const auto m = preCopy(4 * GiB, 0.25 * GiB, link);
  ASSERT_TRUE(m.succeeded);
  // 4 + 1 + 0.25 (the last round, under 0.9 s, is the stop-and-copy): the rounds shrink by a
  // quarter each.
  EXPECT_NEAR(m.seconds, 5.25, 1e-9);
  EXPECT_EQ(m.rounds, 3);
  const auto busier = preCopy(4 * GiB, 0.5 * GiB, link);
  ASSERT_TRUE(busier.succeeded);
  EXPECT_GT(busier.seconds, m.seconds);
  EXPECT_GT(busier.bytesSent, m.bytesSent);
}

TEST(LiveMigrationTest, AGuestDirtyingFasterThanTheLinkIsAbortedAsKubeVirtDoes) {
  MigrationLink link;
  link.bandwidthBytesPerSecond = 1 * GiB;
  // 8 GiB: completion limit 1200 s, so the progress timeout aborts it: its remaining pages never
  // shrink, from the first round on.
  const auto stuck = preCopy(8 * GiB, 1.5 * GiB, link);
  EXPECT_FALSE(stuck.succeeded);
  EXPECT_EQ(stuck.failure, "Live migration stuck for 150 seconds and has been aborted");
  EXPECT_NEAR(stuck.seconds, 150, 1e-6);
  // Half a GiB over a slow link that shrinks by 1 % a round: progress, but past 150 s/GiB = 75 s.
  link.bandwidthBytesPerSecond = 0.1 * GiB;
  const auto slow = preCopy(0.5 * GiB, 0.099 * GiB, link);
  EXPECT_FALSE(slow.succeeded);
  EXPECT_EQ(slow.failure, "Live migration is not completed after 75 seconds and has been aborted");
  EXPECT_NEAR(slow.seconds, 75, 1e-6);
}

TEST(LiveMigrationTest, TheSimulationGivesABusyGuestsDirtyRateAndTheSlowerNodesFreeLink) {
  auto cluster = twoNodes();
  cluster.nodes[1].networkBytesPerSecond = 100.0 * 1024 * 1024;
  Simulation sim(cluster, 1);
  ASSERT_TRUE(sim.addWorkload(steady("ns/busy", 4, 0.5), "a").ok());
  auto pinned = steady("ns/pinned", 1, 0.5);
  pinned.dirtyBytesPerSecond = 5e6;
  ASSERT_TRUE(sim.addWorkload(pinned, "a").ok());
  sim.step(15);
  EXPECT_NEAR(sim.dirtyRate("ns/busy"), 2 * cluster.physics.dirtyBytesPerCoreSecond, 1e-6);
  EXPECT_EQ(sim.dirtyRate("ns/pinned"), 5e6);
  EXPECT_EQ(sim.dirtyRate("ns/none"), 0);
  EXPECT_NEAR(sim.migrationLink("a", "b").bandwidthBytesPerSecond, 100.0 * 1024 * 1024, 1);
  sim.setPaused("ns/busy", true);
  sim.step(15);
  EXPECT_EQ(sim.dirtyRate("ns/busy"), 0) << "a paused guest dirties nothing";
}

TEST(TraceTest, ResamplesAndMarksGaps) {
  std::istringstream csv(
      "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n"
      "vm_1,0,0.2,0.5,10,20\n"
      "vm_1,150,0.4,0.5,10,20\n"  // same 300 s slot: averaged
      "vm_1,300,0.5,,,\n"         // memory unknown, not zero
      "vm_1,1200,0.1,0.3,0,0\n"   // slots 2 and 3 missing
      "vm_2,0,1.3,0.1,1,1\n");    // clipped to 1
  TraceSet set;
  ASSERT_TRUE(parseTraceCsv(csv, "t.csv", 300, {1024, 1024}, set).ok());
  ASSERT_EQ(set.series.size(), 2u);
  const Trace& t = set.series.at("vm_1");
  ASSERT_EQ(t.slots(), 5u);
  EXPECT_NEAR(t.cpu[0], 0.3, 1e-6);
  EXPECT_NEAR(t.memory[1], 0.5, 1e-6) << "an unknown value carries the last one forward";
  EXPECT_EQ(t.gaps(), 2u);
  EXPECT_EQ(t.observed[2], 0);
  EXPECT_NEAR(t.cpu[3], 0.5, 1e-6) << "gaps hold the last observation";
  EXPECT_NEAR(t.disk[0], 10 * 1024, 1e-3) << "KB/s to bytes/s";
  EXPECT_NEAR(t.at(150).cpu, 0.4, 1e-6) << "interpolated halfway between slots 0 and 1";
  EXPECT_NEAR(t.at(t.seconds()).cpu, t.cpu[0], 1e-6) << "wraps around";
  EXPECT_NEAR(set.series.at("vm_2").cpu[0], 1.0, 1e-6);
}

TEST(TraceTest, ErrorsNameTheLineAndColumn) {
  const auto error = [](const std::string& text) {
    std::istringstream in(text);
    TraceSet set;
    const Status st = parseTraceCsv(in, "t.csv", 300, {}, set);
    return st.ok() ? std::string("ok") : st.error().message;
  };
  const std::string header = "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
  EXPECT_EQ(error("id,time\n").substr(0, 6), "t.csv:");
  EXPECT_EQ(error(header + "vm,0,abc,0,0,0\n"),
            "t.csv:2: cpu_util: not a non-negative number \"abc\"");
  EXPECT_EQ(error(header + "vm,-5,0,0,0,0\n"),
            "t.csv:2: timestamp_s: not a non-negative number \"-5\"");
  EXPECT_EQ(error(header + "vm,0,0,0\n"), "t.csv:2: expected 6 fields");
  EXPECT_EQ(error(header + "a,0,0,0,0,0\nb,0,0,0,0,0\na,300,0,0,0,0\n"),
            "t.csv:4: series_id: a appears twice (rows must be sorted by series)");
  // Found by tests/fuzz/fuzz_trace_csv: a time whose slot does not fit in size_t was converted
  // before it was checked (undefined behaviour); a number longer than 63 characters was read as
  // its first 63.
  EXPECT_EQ(error(header + "vm,1e300,0,0,0,0\n"),
            "t.csv:2: timestamp_s: too far from the series start");
  EXPECT_EQ(error(header + "vm,0,0." + std::string(70, '1') + "x,0,0,0\n").substr(0, 21),
            "t.csv:2: cpu_util: no");
}

TEST(TraceTest, MetaGivesSizes) {
  std::istringstream csv(
      "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\nbitbrains_rnd_001,0,0.5,0.5,0,0\n");
  std::istringstream meta(
      "series_id,source_file,start_unix_s,duration_s,n_samples,median_step_s,max_gap_s,cpu_cores,"
      "cpu_capacity_mhz,mem_capacity_kb,capacity_changed\n"
      "bitbrains_rnd_001,rnd/2013-8/1.csv,1375308176,2591725,8627,300,2179,2,5852.0,8388608,0\n");
  TraceSet set;
  ASSERT_TRUE(parseTraceCsv(csv, "t.csv", 300, {}, set).ok());
  ASSERT_TRUE(parseTraceMeta(meta, "t_meta.csv", set).ok());
  EXPECT_EQ(set.series.at("bitbrains_rnd_001").cpuCores, 2);
  EXPECT_EQ(set.series.at("bitbrains_rnd_001").memoryBytes, 8388608.0 * 1024);
}

// Files written on Windows load like the others; a metadata file without capacity columns loads
// for forecasting and is refused, naming it, where VMs are sized from it (placement).
TEST(TraceTest, CrlfFilesLoadAndCapacitiesAreNeededOnlyForPlacement) {
  std::istringstream csv(
      "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\r\n"
      "vm_1,0,0.5,0.5,0,0\r\nvm_1,300,0.25,0.5,0,0\r\n");
  std::istringstream meta("series_id,cpu_cores,mem_capacity_kb\r\nvm_1,4,1048576\r\n");
  TraceSet set;
  ASSERT_TRUE(parseTraceCsv(csv, "t.csv", 300, {}, set).ok());
  ASSERT_TRUE(parseTraceMeta(meta, "t_meta.csv", set).ok());
  EXPECT_NEAR(set.series.at("vm_1").cpu[1], 0.25, 1e-6);
  EXPECT_EQ(set.series.at("vm_1").cpuCores, 4) << "the CR of the last column is not part of it";
  EXPECT_EQ(set.series.at("vm_1").memoryBytes, 1048576.0 * 1024);

  std::istringstream noCapacity("series_id,source_file\nvm_1,x.csv\n");
  ASSERT_TRUE(parseTraceMeta(noCapacity, "n_meta.csv", set).ok());
  auto cluster = parseCluster("name: c\nnodes: [{name: a, cpu: 4, memory: 8Gi}]\n", "c.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const Status st = checkTraces(*cluster, set, "c.yaml");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "n_meta.csv:1: needs cpu_cores|cpu_num and mem_capacity_kb|mem_size_normalized "
            "columns to size the VMs");
  std::istringstream noId("id,cpu_cores\nvm_1,4\n");
  EXPECT_EQ(parseTraceMeta(noId, "i_meta.csv", set).error().message,
            "i_meta.csv:1: needs a series_id column");
}

TEST(ClusterTest, TheExampleClustersParse) {
  auto small = loadCluster(UMBRA_SOURCE_DIR "/examples/clusters/small.yaml");
  ASSERT_TRUE(small.ok()) << small.error().message;
  EXPECT_EQ(small->nodes.size(), 6u);
  EXPECT_EQ(small->nodes[2].cpuSpeed, 1.2);
  EXPECT_EQ(small->nodes[4].taints.at(0).key, "dedicated");
  auto medium = loadCluster(UMBRA_SOURCE_DIR "/examples/clusters/medium.yaml");
  ASSERT_TRUE(medium.ok()) << medium.error().message;
  EXPECT_EQ(medium->nodes.size(), 50u);
  EXPECT_EQ(medium->nodes[0].name, "general-00");
}

TEST(ClusterTest, BadInputNamesTheFileAndField) {
  const auto error = [](const std::string& yaml) {
    auto r = parseCluster(yaml, "c.yaml");
    return r.ok() ? std::string("ok") : r.error().message;
  };
  const std::string node = "nodes:\n  - {name: a, cpu: 4, memory: 8Gi";
  EXPECT_EQ(error(node + "}\n"), "ok");
  EXPECT_EQ(error(node + ", memroy: 1}\n"), "c.yaml: nodes[0].memroy: unknown field");
  EXPECT_EQ(error("nodes:\n  - {name: a, cpu: lots, memory: 8Gi}\n"),
            "c.yaml: nodes[0].cpu: must be a number or a quantity, got \"lots\"");
  EXPECT_EQ(error("nodes:\n  - {name: a, cpu: 4}\n"), "c.yaml: nodes[0].memory: is required");
  EXPECT_EQ(error(node + ", background: {profile: wavy, level: 0.1}}\n"),
            "c.yaml: nodes[0].background.profile: must be steady, diurnal, spiky or bursty, got "
            "\"wavy\"");
  EXPECT_EQ(error(node + "}\n  - {name: a, cpu: 4, memory: 8Gi}\n"),
            "c.yaml: nodes[1].name: duplicate node a");
  EXPECT_EQ(error("physics: {noise: 2}\n" + node + "}\n"),
            "c.yaml: physics.noise: must be at most 0.500000, got 2");
  EXPECT_EQ(error("physics: {dirtyRatePerCore: fast}\n" + node + "}\n"),
            "c.yaml: physics.dirtyRatePerCore: must be a number or a quantity, got \"fast\"");
  auto dirty = parseCluster("physics: {dirtyRatePerCore: 32Mi}\n" + node + "}\n", "c.yaml");
  ASSERT_TRUE(dirty.ok());
  EXPECT_EQ(dirty->physics.dirtyBytesPerCoreSecond, 32.0 * 1024 * 1024);
  EXPECT_EQ(error("nodes: [\n"), error("nodes: [\n"));  // a YAML syntax error, not a crash
  EXPECT_EQ(error("nodes: [\n").substr(0, 13), "c.yaml: line ");
  EXPECT_EQ(loadCluster("/nonexistent/c.yaml").error().message,
            "/nonexistent/c.yaml: cannot read: No such file or directory");
}

}  // namespace
}  // namespace umbra::sim
