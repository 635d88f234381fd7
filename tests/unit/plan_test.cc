// plan(): every transition of the README's state machine and every special case, with no I/O.
// Each test names the mechanism it guards; scripts/check-mutations.py removes each mechanism in
// turn and checks that a test here fails.
#include <gtest/gtest.h>

#include "controller/plan.h"
#include "placement/shadow.h"

namespace umbra::controller {
namespace {

using namespace std::chrono_literals;
using api::Phase;
using api::ShadowPhase;
using runtime::Action;
using runtime::EventType;

const SystemTime T0 = SystemTime(std::chrono::seconds(1800000000));

// ---- inputs -------------------------------------------------------------------------------------

PlacementInput placementIn(Phase phase = Phase::New) {
  PlacementInput in;
  in.ns = "ns";
  in.name = "web";
  in.uid = "uid-1";
  in.generation = 2;
  in.hasFinalizer = phase != Phase::New;
  in.created = T0 - 10s;
  in.object = {{"metadata", {{"namespace", "ns"}, {"name", "web"}, {"uid", "uid-1"}}}};
  api::PlacementSettings s;
  s.targetName = "web";
  s.candidateCount = 3;
  s.observationDuration = 5min;
  s.observationInterval = 15s;
  s.minConfidence = 0.7;
  s.maxExtensions = 2;
  in.settings = s;
  in.status.phase = phase;
  if (phase != Phase::New)
    in.status.observedGeneration = in.generation;  // as every status write records
  return in;
}

placement::NodeView node(const std::string& name, double requestedCpu = 0) {
  placement::NodeView n;
  n.name = name;
  n.labels = {{"kubevirt.io/schedulable", "true"}, {"kubernetes.io/hostname", name}};
  n.ready = true;
  n.allocatable = {8, 32.0 * (1 << 30)};
  n.requested = {requestedCpu, 0};
  return n;
}

TargetView haltedVm() {
  TargetView t;
  t.spec = {{"domain", {{"cpu", {{"cores", 2}}}, {"memory", {{"guest", "2Gi"}}}}}};
  t.requirements = placement::TargetRequirements{};
  t.requirements->requests = {0.2, 2.0 * (1 << 30)};
  t.requirements->size = {2, 2.0 * (1 << 30)};
  return t;
}

World worldWith(std::vector<placement::NodeView> nodes) {
  World w;
  w.target = haltedVm();
  w.nodes = std::move(nodes);
  return w;
}

World threeNodes() {
  return worldWith({node("a"), node("b", 4), node("c", 2)});
}

std::vector<api::ShadowStatus> shadowsOn(std::initializer_list<const char*> nodes,
                                         ShadowPhase phase = ShadowPhase::Pending) {
  std::vector<api::ShadowStatus> out;
  for (const char* n : nodes)
    out.push_back({n, placement::shadowName("web", n), phase});
  return out;
}

PlacementInput probing(std::initializer_list<const char*> nodes) {
  PlacementInput in = placementIn(Phase::Probing);
  in.status.shadows = shadowsOn(nodes);
  return in;
}

// A world whose cache holds this placement's shadows in the given VMI phases.
World withShadows(World w, const std::vector<std::pair<const char*, const char*>>& phases,
                  SystemTime created = T0) {
  for (const auto& [n, phase] : phases) {
    w.shadows[placement::shadowName("web", n)] = ShadowView{phase, created, created + 20s};
    ++w.shadowsLeft;
  }
  return w;
}

PlacementInput observing(int extensions = 0) {
  PlacementInput in = placementIn(Phase::Observing);
  in.status.shadows = shadowsOn({"a", "b"}, ShadowPhase::Running);
  in.status.observationStartedAt = T0;
  in.status.extensions = extensions;
  return in;
}

World withEvidence(std::vector<placement::CandidateForecast> forecasts, std::string problem = "") {
  World w = withShadows(threeNodes(), {{"a", "Running"}, {"b", "Running"}});
  Evidence e;
  e.forecasts = std::move(forecasts);
  e.problem = std::move(problem);
  e.observed = 2;
  e.model = "test-model";
  w.evidence = e;
  return w;
}

placement::CandidateForecast forecast(const char* node, double steal, double confidence,
                                      double stderrCpu = 0) {
  placement::CandidateForecast f;
  f.node = node;
  f.predicted.cpuContention = steal;
  f.confidence = confidence;
  f.cpuStderr = stderrCpu;
  return f;
}

// Two close candidates observed with much noise: the decision's confidence is about 0.66.
std::vector<placement::CandidateForecast> unsureForecasts() {
  return {forecast("a", 0.10, 0.9, 0.05), forecast("b", 0.12, 0.9, 0.05)};
}

config::OperatorConfig defaults() {
  return config::OperatorConfig{};
}

Plan planAt(const PlacementInput& in, const World& w, SystemTime now = T0) {
  return plan(in, w, defaults(), now);
}

// ---- looking at a plan ------------------------------------------------------------------------

template <class W>
std::vector<W> all(const Plan& p) {
  std::vector<W> out;
  for (const auto& w : p.writes) {
    if (const auto* x = std::get_if<W>(&w))
      out.push_back(*x);
  }
  return out;
}

template <class W>
int indexOf(const Plan& p) {
  for (size_t i = 0; i < p.writes.size(); ++i) {
    if (std::holds_alternative<W>(p.writes[i]))
      return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> eventReasons(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& e : all<write::PostEvent>(p))
    out.push_back(e.reason);
  return out;
}

std::vector<std::string> createdNames(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& c : all<write::CreateShadows>(p)) {
    for (const auto& v : c.vmis)
      out.push_back(v["metadata"]["name"]);
  }
  return out;
}

const api::ShadowPlacementStatus& statusOf(const Plan& p) {
  static const api::ShadowPlacementStatus none;
  return p.status() ? *p.status() : none;
}

using Strings = std::vector<std::string>;

// ---- Pending -> Probing -------------------------------------------------------------------------

TEST(PlanTest, FirstPassOfANewPlacementCreatesItsShadowsAndNothingElse) {
  const Plan p = planAt(placementIn(Phase::New), threeNodes());
  EXPECT_EQ(createdNames(p), (Strings{"web-shadow-a", "web-shadow-c", "web-shadow-b"}));
  EXPECT_EQ(p.status(), nullptr) << "status, finalizer and Event come next pass";
  EXPECT_EQ(indexOf<write::AddFinalizer>(p), -1);
  EXPECT_TRUE(eventReasons(p).empty());
  EXPECT_EQ(p.next, Action::now());
}

TEST(PlanTest, FirstPassRemembersItsChoiceBeforeCreating) {
  const Plan p = planAt(placementIn(Phase::New), threeNodes());
  ASSERT_EQ(all<write::RememberChoice>(p).size(), 1u);
  EXPECT_EQ(all<write::RememberChoice>(p)[0].shadows.size(), 3u);
  EXPECT_LT(indexOf<write::RememberChoice>(p), indexOf<write::CreateShadows>(p));
}

TEST(PlanTest, NextPassAdoptsTheChosenShadowsInsteadOfChoosingAgain) {
  World w = threeNodes();
  w.adopted = shadowsOn({"b", "c", "d"});  // not what the nodes would give today
  w = withShadows(w, {{"b", "Scheduling"}, {"c", "Scheduling"}, {"d", "Scheduling"}});
  const Plan p = planAt(placementIn(Phase::New), w);
  EXPECT_EQ(indexOf<write::AddFinalizer>(p), 0) << "the finalizer goes first, concurrently";
  EXPECT_TRUE(createdNames(p).empty()) << "they exist";
  EXPECT_EQ(statusOf(p).phase, Phase::Probing);
  EXPECT_EQ(statusOf(p).shadows, shadowsOn({"b", "c", "d"}));
  EXPECT_EQ(eventReasons(p), Strings{"CandidatesSelected"});
  EXPECT_EQ(indexOf<write::ForgetChoice>(p), static_cast<int>(p.writes.size()) - 1)
      << "the memory is dropped only once the status holds the choice";
}

TEST(PlanTest, APlacementWithoutFinalizerPastItsFirstPassGetsOneFirst) {
  PlacementInput in = placementIn(Phase::Pending);
  in.hasFinalizer = false;
  const Plan p = planAt(in, threeNodes());
  EXPECT_EQ(indexOf<write::AddFinalizer>(p), 0);
}

TEST(PlanTest, APlacementWithItsFinalizerAddsNone) {
  const Plan p = planAt(placementIn(Phase::Pending), threeNodes());
  EXPECT_EQ(indexOf<write::AddFinalizer>(p), -1);
}

TEST(PlanTest, PendingChoosesTheTopCountFeasibleNodesAndRecordsProbing) {
  const Plan p = planAt(placementIn(Phase::Pending),
                        worldWith({node("a"), node("b"), node("c"), node("d"), node("e")}));
  EXPECT_EQ(statusOf(p).phase, Phase::Probing);
  EXPECT_EQ(statusOf(p).reason, "CandidatesSelected");
  EXPECT_EQ(statusOf(p).shadows.size(), 3u);
  EXPECT_EQ(createdNames(p).size(), 3u);
  EXPECT_EQ(all<write::RememberChoice>(p).size(), 0u) << "only a first pass needs the memory";
  EXPECT_EQ(statusOf(p).observedGeneration, 2);
}

TEST(PlanTest, TheCostCapLeavesOutNodesWhereTheVmCostsMore) {
  PlacementInput in = placementIn(Phase::Pending);
  in.settings->maxCostPerHour = 0.5;
  World w = worldWith({node("a"), node("b"), node("c")});
  for (auto& n : w.nodes)
    n.labels["node.kubernetes.io/instance-type"] = n.name == "b" ? "big" : "small";
  config::OperatorConfig c = defaults();
  // The VM takes max(0.2 / 8 cores, 2 / 32 GiB) = 1/16 of a node: 0.0625 on a, c; 1.0 on b.
  c.placement.nodePrices.perHour = {{"small", 1.0}, {"big", 16.0}};
  const Plan p = plan(in, w, c, T0);
  EXPECT_EQ(createdNames(p), (Strings{"web-shadow-a", "web-shadow-c"}))
      << "b is not a candidate (the decision lists it with the reason, placement_test)";
}

// The node forecast's favourites and the requests' favourites in turn: forecast #1, requests #1,
// forecast #2 (an infeasible node the forecast likes is not probed).
TEST(PlanTest, CandidatesMixTheNodeForecastsFavouritesWithTheRequestsFavourites) {
  World w = worldWith({node("a"), node("b", 1), node("c", 2), node("d", 3), node("e", 4)});
  w.nodes.back().ready = false;  // e: not feasible
  w.forecastRanking = {"e", "d", "a", "c", "b"};
  const Plan p = planAt(placementIn(Phase::Pending), w);
  const auto& shadows = statusOf(p).shadows;
  ASSERT_EQ(shadows.size(), 3u);
  EXPECT_EQ(shadows[0].node, "d") << "the forecast's best feasible node";
  EXPECT_EQ(shadows[1].node, "a") << "the least requested";
  EXPECT_EQ(shadows[2].node, "c") << "the forecast's next, a being taken";
  EXPECT_EQ(statusOf(p).message,
            "probing 3 of 3 requested candidates: d, a, c (d by the node forecast, the rest by "
            "requests)");
  // Without a ranking: requests alone, and why.
  w.forecastRanking.clear();
  w.forecastRankingProblem = "Prometheus is away";
  const Plan q = planAt(placementIn(Phase::Pending), w);
  ASSERT_EQ(statusOf(q).shadows.size(), 3u);
  EXPECT_EQ(statusOf(q).shadows[0].node, "a");
  EXPECT_EQ(statusOf(q).shadows[1].node, "b");
  EXPECT_NE(statusOf(q).message.find("(by requests: no node forecast: Prometheus is away)"),
            std::string::npos)
      << statusOf(q).message;
}

TEST(PlanTest, QueuedWhileMaxConcurrentPlacementsAreProbing) {
  World w = threeNodes();
  w.probing = defaults().maxConcurrentPlacements;
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).phase, Phase::Pending);
  EXPECT_EQ(statusOf(p).reason, "Queued");
  EXPECT_TRUE(createdNames(p).empty());
  EXPECT_EQ(p.next, Action::after(5s));
}

TEST(PlanTest, PlacementsQueuedEarlierTakeFreeSlotsFirst) {
  World w = threeNodes();
  w.probing = defaults().maxConcurrentPlacements - 1;  // one slot free
  w.queuedAhead = 1;                                   // for the one queued first
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).reason, "Queued");
  EXPECT_NE(statusOf(p).message.find("1 queued ahead"), std::string::npos);
  EXPECT_TRUE(createdNames(p).empty());
}

TEST(PlanTest, ANamespaceHoldingItsShareOfSlotsWaitsWhileOthersGo) {
  World w = threeNodes();
  w.probing = 5;
  w.probingInNamespace = defaults().concurrentPlacementsPerNamespace;
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).reason, "Queued");
  EXPECT_NE(statusOf(p).message.find("limits.concurrentPlacementsPerNamespace"), std::string::npos)
      << statusOf(p).message;
  EXPECT_TRUE(createdNames(p).empty());
  w.probingInNamespace = defaults().concurrentPlacementsPerNamespace - 1;
  EXPECT_EQ(createdNames(planAt(placementIn(Phase::Pending), w)).size(), 3u) << "one more fits";
}

TEST(PlanTest, APlacementPastItsDeadlineFailsWithItsLastStateAndItsShadowsGo) {
  // 5 min x (1 + 2 extensions) + 3 min start + 2 min target wait + 1 h grace = 1h20m.
  const World w = withShadows(threeNodes(), {{"a", "Running"}, {"b", "Running"}});
  PlacementInput in = observing();
  in.status.reason = "TelemetryGap";
  in.status.message = "no cpu_steal for web-shadow-a";
  const Plan before = planAt(in, w, *in.created + 80min - 1s);
  EXPECT_NE(statusOf(before).phase, Phase::Failed);
  const Plan p = planAt(in, w, *in.created + 80min);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "DeadlineExceeded");
  EXPECT_NE(statusOf(p).message.find("not placed within 1h20m"), std::string::npos)
      << statusOf(p).message;
  EXPECT_NE(statusOf(p).message.find("(last: TelemetryGap: no cpu_steal for web-shadow-a)"),
            std::string::npos);
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
  EXPECT_EQ(eventReasons(p), Strings{"DeadlineExceeded"});
  // Queued that long: the same.
  EXPECT_EQ(statusOf(planAt(placementIn(Phase::Pending), threeNodes(), T0 + 2h)).reason,
            "DeadlineExceeded");
  // A move under way finishes.
  PlacementInput placing = placementIn(Phase::Placing);
  EXPECT_NE(planAt(placing, w, T0 + 5h).why, "failed: DeadlineExceeded");
}

TEST(PlanTest, ASecondPlacementOfOneTargetWaitsNamingTheFirst) {
  World w = threeNodes();
  w.heldBy = "first";
  w.heldByPhase = "Observing";
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).phase, Phase::Pending);
  EXPECT_EQ(statusOf(p).reason, "TargetBusy");
  EXPECT_NE(statusOf(p).message.find("ShadowPlacement first (Observing)"), std::string::npos);
  EXPECT_EQ(statusOf(p).conditionStatus(api::condition::Placed), "False");
  EXPECT_TRUE(createdNames(p).empty());
  EXPECT_EQ(eventReasons(p), Strings{"TargetBusy"});
  EXPECT_EQ(p.next, Action::after(5s));
}

TEST(PlanTest, APlacementOvertakenWhileProbingStopsItsShadowsAndWaits) {
  World w = withShadows(threeNodes(), {{"a", "Running"}, {"b", "Running"}});
  w.heldBy = "first";
  w.heldByPhase = "Placing";
  const Plan p = planAt(observing(), w);
  EXPECT_EQ(statusOf(p).reason, "TargetBusy");
  EXPECT_TRUE(statusOf(p).shadows.empty());
  EXPECT_FALSE(statusOf(p).observationStartedAt);
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
}

TEST(PlanTest, AMovingPlacementIsNeverInterruptedByAnother) {
  PlacementInput in = placementIn(Phase::Placing);
  in.status.selectedNode = "a";
  in.status.moves.push_back({"a", "", "started", api::MovePhase::Moving, T0, ""});
  World w = threeNodes();
  w.heldBy = "other";
  w.heldByPhase = "Placing";
  const Plan p = planAt(in, w);
  EXPECT_NE(statusOf(p).reason, "TargetBusy");
}

TEST(PlanTest, ATargetDeletedWhileProbingFailsAtOnceAndStopsTheShadows) {
  World w = withShadows(threeNodes(), {{"a", "Running"}, {"b", "Running"}});
  w.target.reset();
  const Plan p = planAt(observing(), w, T0 + 10s);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "TargetDeleted");
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
}

TEST(PlanTest, NoFeasibleNodeStaysPendingUnschedulableWithEachReason) {
  placement::NodeView cordoned = node("a");
  cordoned.unschedulable = true;
  const Plan p = planAt(placementIn(Phase::Pending), worldWith({cordoned}));
  EXPECT_EQ(statusOf(p).phase, Phase::Pending);
  EXPECT_EQ(statusOf(p).reason, "Unschedulable");
  EXPECT_NE(statusOf(p).message.find("a: "), std::string::npos) << statusOf(p).message;
  EXPECT_EQ(eventReasons(p), Strings{"Unschedulable"});
  EXPECT_EQ(p.next, Action::after(30s));
}

TEST(PlanTest, AMissingTargetIsAwaitedForAWhile) {
  World w = threeNodes();
  w.target.reset();
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).phase, Phase::Pending);
  EXPECT_EQ(statusOf(p).reason, "TargetNotFound");
  ASSERT_TRUE(p.next.requeueAfter);
  EXPECT_LE(*p.next.requeueAfter, 5s);
}

TEST(PlanTest, ATargetMissingPastTheWaitFails) {
  World w = threeNodes();
  w.target.reset();
  const Plan p = planAt(placementIn(Phase::Pending), w, T0 + 3min);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "TargetNotFound");
  EXPECT_EQ(eventReasons(p), Strings{"TargetNotFound"});
  EXPECT_EQ(p.next, Action::awaitChange());
}

TEST(PlanTest, AnInvalidSpecFailsNamingTheField) {
  PlacementInput in = placementIn(Phase::Pending);
  in.settings.reset();
  in.settingsError = "ns/web: spec.observation.duration: \"5 minutes\" is not a duration";
  const Plan p = planAt(in, threeNodes());
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "InvalidSpec");
  EXPECT_EQ(statusOf(p).message, in.settingsError);
  EXPECT_EQ(statusOf(p).conditionStatus(api::condition::Placed), "False");
}

TEST(PlanTest, AnUnreadableTargetFails) {
  World w = threeNodes();
  w.target->requirements.reset();
  w.target->invalid = "spec.domain.resources.requests.cpu: \"x\" is not a quantity";
  const Plan p = planAt(placementIn(Phase::Pending), w);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "InvalidTarget");
}

// ---- Probing -> Observing -----------------------------------------------------------------------

TEST(PlanTest, ProbingCreatesOnlyTheShadowsMissingFromTheCache) {
  const Plan p = planAt(probing({"a", "b"}), withShadows(threeNodes(), {{"a", "Scheduling"}}));
  EXPECT_EQ(createdNames(p), Strings{"web-shadow-b"});
}

TEST(PlanTest, ProbingWaitsForEveryShadowToRun) {
  const Plan p = planAt(probing({"a", "b"}),
                        withShadows(threeNodes(), {{"a", "Running"}, {"b", "Scheduling"}}));
  EXPECT_EQ(statusOf(p).phase, Phase::Probing);
  EXPECT_EQ(statusOf(p).conditionStatus(api::condition::ShadowsReady), "False");
  EXPECT_EQ(p.next, Action::after(2s));
}

TEST(PlanTest, WhileShadowsStartTheStatusIsWrittenOnceNotPerShadow) {
  PlacementInput in = probing({"a", "b"});
  in.status.setCondition(api::condition::ShadowsReady, false, "Starting",
                         "waiting for the shadow VMIs to run", 2, T0);
  const Plan p =
      planAt(in, withShadows(threeNodes(), {{"a", "Running"}, {"b", "Scheduling"}}), T0 + 4s);
  EXPECT_EQ(p.status(), nullptr) << "a shadow that runs is recorded with the others";
}

TEST(PlanTest, AllShadowsRunningStartsTheObservation) {
  const Plan p =
      planAt(probing({"a", "b"}), withShadows(threeNodes(), {{"a", "Running"}, {"b", "Running"}}),
             T0 + 30s + 250ms);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Observing);
  EXPECT_EQ(st.observationStartedAt, T0 + 30s) << "whole seconds, as metav1.Time";
  EXPECT_EQ(st.shadows[0].phase, ShadowPhase::Running);
  EXPECT_EQ(st.shadows[0].runningSince, T0 + 20s) << "the VMI's own transition time";
  EXPECT_EQ(st.conditionStatus(api::condition::ShadowsReady), "True");
  EXPECT_EQ(eventReasons(p), Strings{"Observing"});
  EXPECT_EQ(p.next, Action::after(5min));
}

TEST(PlanTest, AFailedShadowDropsItsCandidate) {
  const Plan p = planAt(probing({"a", "b"}),
                        withShadows(threeNodes(), {{"a", "Failed"}, {"b", "Scheduling"}}));
  const auto& st = statusOf(p);
  EXPECT_EQ(st.shadows[0].phase, ShadowPhase::Dropped);
  EXPECT_EQ(st.shadows[0].reason, "shadow VMI Failed");
  EXPECT_EQ(st.liveShadows(), 1);
  ASSERT_EQ(all<write::DeleteShadow>(p).size(), 1u);
  EXPECT_EQ(all<write::DeleteShadow>(p)[0].name, "web-shadow-a");
  EXPECT_EQ(eventReasons(p), Strings{"ShadowDropped"});
}

TEST(PlanTest, AShadowThatDoesNotStartInTimeIsDropped) {
  const Plan p =
      planAt(probing({"a", "b"}),
             withShadows(threeNodes(), {{"a", "Scheduling"}, {"b", "Running"}}), T0 + 3min + 1s);
  EXPECT_EQ(statusOf(p).shadows[0].phase, ShadowPhase::Dropped);
  EXPECT_EQ(statusOf(p).shadows[0].reason, "shadow did not start within 3m");
  EXPECT_EQ(statusOf(p).phase, Phase::Observing) << "the remaining candidate runs";
}

TEST(PlanTest, NoShadowStartedFailsAndCleansUp) {
  const Plan p =
      planAt(probing({"a", "b"}), withShadows(threeNodes(), {{"a", "Failed"}, {"b", "Succeeded"}}));
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "NoShadowStarted");
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
}

// ---- Observing -> decision ----------------------------------------------------------------------

TEST(PlanTest, ObservingWaitsUntilTheWindowEnds) {
  const Plan p = planAt(observing(), withEvidence({}), T0 + 2min);
  EXPECT_TRUE(p.writes.empty());
  EXPECT_EQ(p.next, Action::after(3min));
}

TEST(PlanTest, EachExtensionLengthensTheWindow) {
  const Plan p = planAt(observing(1), withEvidence({}), T0 + 6min);
  EXPECT_TRUE(p.writes.empty());
  EXPECT_EQ(p.next, Action::after(4min));
}

TEST(PlanTest, WithoutTelemetryNothingIsDecided) {
  const Plan p = planAt(observing(), withEvidence({}, "prometheus: connection refused"), T0 + 5min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Observing);
  EXPECT_EQ(st.conditionStatus(api::condition::MetricsAvailable), "False");
  EXPECT_TRUE(st.selectedNode.empty());
  EXPECT_EQ(eventReasons(p), Strings{"TelemetryUnavailable"});
  EXPECT_EQ(st.reason, "TelemetryUnavailable") << "the phase shows the wait";
  EXPECT_EQ(p.next, Action::after(15s));
}

TEST(PlanTest, AWindowWithATelemetryGapStartsAgainAndDecidesNothing) {
  World w = withEvidence({forecast("a", 0.01, 0.9), forecast("b", 0.2, 0.9)});
  w.evidence->gap = "a: cpu_steal has no data for 300s of the window";
  const Plan p = planAt(observing(), w, T0 + 5min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Observing);
  EXPECT_EQ(st.reason, "TelemetryGap");
  EXPECT_TRUE(st.selectedNode.empty());
  EXPECT_EQ(st.observationStartedAt, T0 + 5min);
  EXPECT_EQ(st.conditionStatus(api::condition::MetricsAvailable), "False");
  EXPECT_EQ(eventReasons(p), Strings{"TelemetryGap"});
  EXPECT_EQ(p.next, Action::after(5min));
}

TEST(PlanTest, AnExtensionDecidedLateStillAddsAFullDurationOfData) {
  // The window ended at T0+5m; telemetry came back at T0+12m with low confidence.
  const Plan p = planAt(observing(), withEvidence(unsureForecasts()), T0 + 12min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.extensions, 1);
  ASSERT_TRUE(st.observationStartedAt);
  EXPECT_EQ(*st.observationStartedAt + 2 * 5min, T0 + 17min) << "ends one duration from now";
}

TEST(PlanTest, TheConfidenceIsKeptToTwoDecimalsAndNoShadowIsCountedOnceMoving) {
  const Plan p = planAt(
      observing(), withEvidence({forecast("a", 0.10, 0.9, 0.03), forecast("b", 0.12, 0.9, 0.03)}),
      T0 + 5min);
  const auto& st = statusOf(p);
  ASSERT_TRUE(st.confidence);
  EXPECT_DOUBLE_EQ(*st.confidence, 0.76) << "Phi(0.03 / (0.03 sqrt 2)) = 0.7602";
  EXPECT_EQ(st.phase, Phase::Placing);
  EXPECT_EQ(api::toJson(st)["shadowCount"], 0);
}

TEST(PlanTest, ExtendsWhileTheChoiceIsLessSureThanMinConfidence) {
  const Plan p = planAt(observing(), withEvidence(unsureForecasts()), T0 + 5min);
  EXPECT_EQ(statusOf(p).extensions, 1);
  EXPECT_EQ(statusOf(p).reason, "ObservationExtended");
  EXPECT_EQ(eventReasons(p), Strings{"ObservationExtended"});
  EXPECT_EQ(p.next, Action::after(5min));
}

// The observation is settled, the model's own error is what keeps the choice unsure: observing
// longer would not help, so it decides at once and says why.
TEST(PlanTest, UnsureOnlyFromTheModelsOwnErrorItDecidesWithoutExtending) {
  auto a = forecast("a", 0.10, 0.9, 0.005);
  auto b = forecast("b", 0.12, 0.9, 0.005);
  a.cpuModelSd = b.cpuModelSd = 0.05;
  const Plan p = planAt(observing(), withEvidence({a, b}), T0 + 5min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.extensions, 0);
  EXPECT_EQ(st.selectedNode, "a");
  ASSERT_TRUE(st.confidence);
  EXPECT_LT(*st.confidence, 0.8) << "the stated confidence counts the model's error";
  bool found = false;
  for (const auto& c : st.conditions) {
    if (c.type == api::condition::Decided) {
      found = true;
      EXPECT_EQ(c.reason, "LowConfidence");
      EXPECT_NE(c.message.find("the model's own uncertainty, which observing longer does not "
                               "shrink"),
                std::string::npos)
          << c.message;
    }
  }
  EXPECT_TRUE(found);
}

TEST(PlanTest, AfterTheLastExtensionItDecidesAndSaysConfidenceStayedLow) {
  const Plan p = planAt(observing(2), withEvidence(unsureForecasts()), T0 + 15min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Placing);
  EXPECT_EQ(st.reason, "Moving");
  EXPECT_EQ(st.selectedNode, "a");
  ASSERT_FALSE(st.conditions.empty());
  for (const auto& c : st.conditions) {
    if (c.type == api::condition::Decided) {
      EXPECT_EQ(c.reason, "LowConfidence");
    }
  }
}

TEST(PlanTest, TheDecisionRecordsRankedCandidatesAndTheModel) {
  const Plan p = planAt(
      observing(), withEvidence({forecast("a", 0.3, 0.9), forecast("b", 0.01, 0.95)}), T0 + 5min);
  const auto& st = statusOf(p);
  ASSERT_EQ(st.candidates.size(), 2u);
  EXPECT_EQ(st.candidates[0].node, "b");
  EXPECT_GT(st.candidates[0].score, st.candidates[1].score);
  EXPECT_EQ(st.selectedNode, "b");
  EXPECT_EQ(st.confidence, 1.0) << "far apart, no noise: certain";
  EXPECT_EQ(st.candidates[0].confidence, 0.95) << "the forecaster's own, per candidate";
  EXPECT_EQ(st.model, "test-model");
  EXPECT_EQ(st.decidedAt, T0 + 5min);
  EXPECT_EQ(st.conditionStatus(api::condition::MetricsAvailable), "True");
}

TEST(PlanTest, RecommendModeChangesNothingButStopsProbing) {
  PlacementInput in = observing();
  in.settings->mode = api::Mode::Recommend;
  const Plan p =
      planAt(in, withEvidence({forecast("a", 0.01, 0.9), forecast("b", 0.2, 0.9)}), T0 + 5min);
  EXPECT_EQ(statusOf(p).phase, Phase::Recommended);
  EXPECT_TRUE(all<write::PatchVirtualMachine>(p).empty());
  EXPECT_TRUE(all<write::CreateMigration>(p).empty());
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
  EXPECT_EQ(eventReasons(p), Strings{"Recommended"});
}

// ---- Placing -> Placed --------------------------------------------------------------------------

Plan decidedOn(const char* chosen, TargetView target,
               api::TargetKind kind = api::TargetKind::VirtualMachine) {
  PlacementInput in = observing();
  in.settings->targetKind = kind;
  World w = withEvidence({forecast(chosen, 0.01, 0.9), forecast("z", 0.3, 0.9)});
  w.target = std::move(target);
  return planAt(in, w, T0 + 5min);
}

TEST(PlanTest, AHaltedVmGetsTheNodeSelectorAndIsStarted) {
  const Plan p = decidedOn("a", haltedVm());
  const auto patches = all<write::PatchVirtualMachine>(p);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].patch["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "a");
  EXPECT_EQ(patches[0].patch["spec"]["runStrategy"], "Always");
  EXPECT_FALSE(patches[0].patch["spec"].contains("running"));
  EXPECT_TRUE(all<write::CreateMigration>(p).empty());
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Placing) << "not Placed before the VM runs there";
  EXPECT_EQ(st.reason, "Moving");
  EXPECT_EQ(st.conditionStatus(api::condition::Placed), "False");
  ASSERT_EQ(st.moves.size(), 1u);
  EXPECT_EQ(st.moves[0].node, "a");
  EXPECT_EQ(st.moves[0].phase, api::MovePhase::Moving);
  EXPECT_EQ(st.moves[0].action, "template nodeSelector set and started");
  EXPECT_EQ(st.moves[0].startedAt, T0 + 5min);
  EXPECT_EQ(eventReasons(p), Strings{"Moving"});
  EXPECT_LT(indexOf<write::PatchVirtualMachine>(p), indexOf<write::WriteStatus>(p))
      << "the move is recorded only after it was asked for";
  EXPECT_EQ(p.next, Action::after(5s));
}

TEST(PlanTest, TheDeprecatedRunningFieldIsClearedWhenStarting) {
  TargetView t = haltedVm();
  t.hasRunningField = true;
  const Plan p = decidedOn("a", t);
  EXPECT_TRUE(all<write::PatchVirtualMachine>(p)[0].patch["spec"]["running"].is_null());
  EXPECT_TRUE(all<write::PatchVirtualMachine>(p)[0].patch["spec"].contains("running"));
}

TEST(PlanTest, ARunningVmElsewhereIsPatchedAndLiveMigrated) {
  TargetView t = haltedVm();
  t.vmiExists = true;
  t.runningOn = "z";
  const Plan p = decidedOn("a", t);
  EXPECT_FALSE(all<write::PatchVirtualMachine>(p)[0].patch["spec"].contains("runStrategy"));
  const auto migrations = all<write::CreateMigration>(p);
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_EQ(migrations[0].migration["spec"]["addedNodeSelector"]["kubernetes.io/hostname"], "a");
  EXPECT_EQ(migrations[0].migration["spec"]["vmiName"], "web");
}

TEST(PlanTest, AVmiTargetIsOnlyMigrated) {
  TargetView t = haltedVm();
  t.vmiExists = true;
  t.runningOn = "z";
  const Plan p = decidedOn("a", t, api::TargetKind::VirtualMachineInstance);
  EXPECT_TRUE(all<write::PatchVirtualMachine>(p).empty());
  EXPECT_EQ(all<write::CreateMigration>(p).size(), 1u);
}

TEST(PlanTest, AVmAlreadyOnTheChosenNodeIsNotMigrated) {
  TargetView t = haltedVm();
  t.vmiExists = true;
  t.runningOn = "a";
  const Plan p = decidedOn("a", t);
  EXPECT_TRUE(all<write::CreateMigration>(p).empty());
}

TEST(PlanTest, AFailedMoveKeepsTheDecisionSoTheRetryDoesNotObserveAgain) {
  const Plan p = decidedOn("a", haltedVm());
  ASSERT_TRUE(p.statusOnFailure);
  EXPECT_EQ(p.statusOnFailure->phase, Phase::Placing);
  EXPECT_EQ(p.statusOnFailure->selectedNode, "a");
}

TEST(PlanTest, PlacingRetriesTheMoveFromTheRecordedDecision) {
  PlacementInput in = placementIn(Phase::Placing);
  in.status.selectedNode = "b";
  in.status.message = "selected b (score 99.00, confidence 0.90)";
  const Plan p = planAt(in, withShadows(threeNodes(), {{"b", "Running"}}));
  EXPECT_EQ(all<write::PatchVirtualMachine>(p).size(), 1u);
  EXPECT_EQ(statusOf(p).phase, Phase::Placing);
  EXPECT_EQ(statusOf(p).message, "moving to b: template nodeSelector set and started");
}

// A placement whose move to `node` is under way (by a migration when `migration` is set).
PlacementInput moving(const char* node, std::string migration = "") {
  PlacementInput in = placementIn(Phase::Placing);
  in.status.selectedNode = node;
  in.status.candidates = {{"a", 99, 0.9, {}, ""}, {"b", 90, 0.9, {}, ""}, {"c", 80, 0.9, {}, ""}};
  in.status.setCondition(api::condition::Decided, true, "Decided", "selected a (score 99.00)", 2,
                         T0);
  in.status.moves.push_back({node, std::move(migration), "template nodeSelector set and started",
                             api::MovePhase::Moving, T0, ""});
  return in;
}

World vmiOn(const char* node, const char* phase, World w = threeNodes()) {
  w.target->vmiExists = true;
  w.target->runningOn = node;
  w.target->vmiPhase = phase;
  w.target->pinnedNode = node;  // Umbra's move pinned it there
  return w;
}

TEST(PlanTest, AUsersOwnHostnamePinIsNeverAnnotatedNorRemoved) {
  // The user pinned the VM to a: a is the only candidate, and the pin stays the user's.
  TargetView pinned = haltedVm();
  pinned.spec["nodeSelector"] = {{"kubernetes.io/hostname", "a"}};
  const Plan move = decidedOn("a", pinned);
  const auto patches = all<write::PatchVirtualMachine>(move);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_FALSE(patches[0].patch.contains("metadata")) << patches[0].patch.dump();
  EXPECT_FALSE(patches[0].patch["spec"]["template"]["spec"].contains("nodeSelector"));
  World running = vmiOn("a", "Running");
  running.target->spec = pinned.spec;
  running.target->pinnedNode = "";  // no annotation: not Umbra's pin
  const Plan placed = planAt(moving("a"), running, T0 + 10s);
  EXPECT_EQ(statusOf(placed).phase, Phase::Placed);
  EXPECT_TRUE(all<write::PatchVirtualMachine>(placed).empty()) << "the user's pin is not removed";
}

TEST(PlanTest, PlacedOnlyOnceTheVmRunsOnTheChosenNode) {
  const Plan p = planAt(moving("a"), vmiOn("a", "Running"), T0 + 10s);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Placed);
  EXPECT_EQ(st.moves[0].phase, api::MovePhase::Succeeded);
  EXPECT_EQ(st.message,
            "placed on a: template nodeSelector set and started; pin removed once running "
            "(pinPolicy UntilRunning) (selected a (score 99.00))");
  const auto patches = all<write::PatchVirtualMachine>(p);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_TRUE(patches[0]
                  .patch["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"]
                  .is_null())
      << "the pin is removed";
  EXPECT_EQ(st.conditionStatus(api::condition::Placed), "True");
  EXPECT_EQ(eventReasons(p), Strings{"Placed"});
  EXPECT_EQ(p.next, Action::awaitChange());
}

TEST(PlanTest, WhileTheVmIsStillOnItsWayNothingIsWritten) {
  const Plan p = planAt(moving("a"), vmiOn("a", "Scheduled"), T0 + 10s);
  EXPECT_TRUE(p.writes.empty());
  EXPECT_EQ(p.next, Action::after(5s));
  World w = threeNodes();
  w.migration = MigrationView{"Running", ""};
  const Plan m = planAt(moving("a", "web-uid-1-1"), vmiOn("z", "Running", w), T0 + 10s);
  EXPECT_TRUE(m.writes.empty()) << "the migration runs";
}

TEST(PlanTest, AFailedMigrationMovesToTheNextCandidateThatCanTakeTheVm) {
  World w = vmiOn("z", "Running");
  w.migration = MigrationView{"Failed", "no node to migrate to: a: cordoned"};
  const Plan p = planAt(moving("a", placement::migrationName("web", "uid-1", 1)), w, T0 + 30s);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.phase, Phase::Placing);
  ASSERT_EQ(st.moves.size(), 2u);
  EXPECT_EQ(st.moves[0].phase, api::MovePhase::Failed);
  EXPECT_NE(st.moves[0].reason.find("no node to migrate to"), std::string::npos);
  EXPECT_EQ(st.moves[1].node, "b");
  EXPECT_EQ(st.selectedNode, "b");
  const auto migrations = all<write::CreateMigration>(p);
  ASSERT_EQ(migrations.size(), 1u);
  EXPECT_EQ(migrations[0].migration["metadata"]["name"],
            placement::migrationName("web", "uid-1", 2))
      << "a migration per attempt";
  EXPECT_EQ(migrations[0].migration["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_EQ(eventReasons(p), (Strings{"MoveFailed", "Moving"}));
}

TEST(PlanTest, AVmThatDoesNotRunOnTheNodeInTimeIsStoppedThenStartedOnTheNextCandidate) {
  const Plan p = planAt(moving("a"), vmiOn("a", "Scheduling"), T0 + 3min + 1s);
  const auto& st = statusOf(p);
  ASSERT_EQ(st.moves.size(), 1u);
  EXPECT_EQ(st.moves[0].phase, api::MovePhase::Failed);
  EXPECT_EQ(st.moves[0].reason, "the VM did not run on a within 3m");
  EXPECT_EQ(st.reason, "Restarting") << "a pending VMI keeps its node: stop it first";
  ASSERT_EQ(all<write::PatchVirtualMachine>(p).size(), 1u);
  EXPECT_EQ(all<write::PatchVirtualMachine>(p)[0].patch["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(eventReasons(p), Strings{"MoveFailed"});
  // Once the VMI is gone, the VM is started on b.
  PlacementInput next = moving("a");
  next.status = st;
  World stopped = threeNodes();
  stopped.target->runStrategy = "Halted";
  const Plan q = planAt(next, stopped, T0 + 3min + 10s);
  ASSERT_EQ(statusOf(q).moves.size(), 2u);
  EXPECT_EQ(statusOf(q).moves[1].node, "b");
  EXPECT_EQ(all<write::PatchVirtualMachine>(q)[0].patch["spec"]["runStrategy"], "Always");
  EXPECT_EQ(all<write::PatchVirtualMachine>(q)[0]
                .patch["metadata"]["annotations"]["umbra.io/pinned-node"],
            "b")
      << "Umbra's own pin is marked, so that it never limits a later placement";
}

TEST(PlanTest, AnUnschedulableVmiFailsTheMoveAtOnce) {
  World w = vmiOn("", "Pending");
  w.target->unschedulable = "0/1 nodes are available: 1 Insufficient cpu";
  const Plan p = planAt(moving("a"), w, T0 + 10s);
  EXPECT_EQ(statusOf(p).moves[0].phase, api::MovePhase::Failed);
  EXPECT_EQ(statusOf(p).moves[0].reason,
            "the VMI cannot be scheduled on a: 0/1 nodes are available: 1 Insufficient cpu")
      << "no need to wait for the start timeout";
}

TEST(PlanTest, WithNoCandidateLeftThePlacementFailsSayingWhy) {
  PlacementInput in = moving("c");
  in.status.moves.insert(in.status.moves.begin(), {{"a", "", "", api::MovePhase::Failed, T0, "x"},
                                                   {"b", "", "", api::MovePhase::Failed, T0, "y"}});
  const Plan p = planAt(in, vmiOn("", "Failed"), T0 + 30s);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "NoFeasibleCandidate");
  EXPECT_NE(statusOf(p).message.find("a: a move there failed"), std::string::npos)
      << statusOf(p).message;
  EXPECT_EQ(all<write::PatchVirtualMachine>(p)[0].patch["spec"]["runStrategy"], "Halted")
      << "the VM Umbra started is not left pending on a node that cannot run it";
}

TEST(PlanTest, TheDecisionChecksFeasibilityAgainRightBeforeActing) {
  World w = withEvidence({forecast("a", 0.01, 0.9), forecast("b", 0.05, 0.9)});
  w.nodes[0].unschedulable = true;  // a was cordoned while the shadows ran
  const Plan p = planAt(observing(), w, T0 + 5min);
  const auto& st = statusOf(p);
  EXPECT_EQ(st.selectedNode, "b");
  EXPECT_EQ(all<write::PatchVirtualMachine>(p)[0]
                .patch["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "b");
  EXPECT_NE(st.message.find("instead of: a: "), std::string::npos) << st.message;
}

TEST(PlanTest, MigrationsAreNamedPerPlacementObjectAndAttempt) {
  EXPECT_NE(placement::migrationName("web", "11111111-x", 1),
            placement::migrationName("web", "22222222-x", 1))
      << "a placement re-created under the same name";
  EXPECT_NE(placement::migrationName("web", "11111111-x", 1),
            placement::migrationName("web", "11111111-x", 2));
  EXPECT_LE(placement::migrationName(std::string(300, 'w'), "11111111-x", 1).size(), 253u);
}

// ---- the end and deletion -----------------------------------------------------------------------

TEST(PlanTest, ADecidedPlacementOnlyCleansUpLeftoverShadows) {
  const Plan left =
      planAt(placementIn(Phase::Placed), withShadows(threeNodes(), {{"a", "Running"}}));
  ASSERT_EQ(left.writes.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<write::DeleteShadows>(left.writes[0]));
  const Plan clean = planAt(placementIn(Phase::Failed), threeNodes());
  EXPECT_TRUE(clean.writes.empty());
  EXPECT_EQ(clean.next, Action::awaitChange());
}

TEST(PlanTest, DeletingRemovesTheShadowsBeforeTheFinalizer) {
  PlacementInput in = placementIn(Phase::Observing);
  in.deleting = true;
  World w;
  w.shadowsLeft = 2;
  const Plan p = planAt(in, w);
  EXPECT_EQ(all<write::DeleteShadows>(p).size(), 1u);
  EXPECT_EQ(indexOf<write::RemoveFinalizer>(p), -1);
  EXPECT_EQ(p.next, Action::after(1s));
}

TEST(PlanTest, DeletingReleasesTheFinalizerOnceNoShadowIsLeft) {
  PlacementInput in = placementIn(Phase::Observing);
  in.deleting = true;
  const Plan p = planAt(in, World{});
  EXPECT_GE(indexOf<write::RemoveFinalizer>(p), 0);
  EXPECT_GE(indexOf<write::ForgetChoice>(p), 0);
  EXPECT_EQ(p.next, Action::awaitChange());
}

TEST(PlanTest, ObservingWithoutAStartTimeFailsInsteadOfGuessing) {
  PlacementInput in = observing();
  in.status.observationStartedAt.reset();
  const Plan p = planAt(in, withEvidence({}), T0 + 5min);
  EXPECT_EQ(statusOf(p).phase, Phase::Failed);
  EXPECT_EQ(statusOf(p).reason, "InvalidStatus");
}

TEST(PlanTest, ConditionsCarryTheObservedGeneration) {
  const Plan p = planAt(probing({"a"}), withShadows(threeNodes(), {{"a", "Running"}}));
  for (const auto& c : statusOf(p).conditions)
    EXPECT_EQ(c.observedGeneration, 2) << c.type;
}

TEST(PlanTest, ThePlanIsAFunctionOfItsInputs) {
  const PlacementInput in = observing();
  const World w = withEvidence({forecast("a", 0.01, 0.9), forecast("b", 0.2, 0.9)});
  const Plan a = planAt(in, w, T0 + 5min);
  const Plan b = planAt(in, w, T0 + 5min);
  EXPECT_EQ(a.writes.size(), b.writes.size());
  EXPECT_EQ(*a.status(), *b.status());
  EXPECT_EQ(a.next, b.next);
}

TEST(PlanTest, ANewPlacementIsQueuedAheadOfReChecks) {
  kube::Json sp = {{"metadata", {{"name", "web"}}}};
  EXPECT_TRUE(awaitsShadows(sp));
  sp["status"]["phase"] = "Probing";
  EXPECT_FALSE(awaitsShadows(sp));
  sp = {{"metadata", {{"name", "web"}, {"deletionTimestamp", "2026-01-01T00:00:00Z"}}}};
  EXPECT_FALSE(awaitsShadows(sp));
}

}  // namespace
}  // namespace umbra::controller
