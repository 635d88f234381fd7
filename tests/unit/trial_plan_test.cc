// planTrial() without I/O: each row is an InstancetypeTrial, its world (the target, the candidate
// types, the shadows, the mesh, the shadows' readings) and the writes that follow; and the pure
// pieces of placement/trial.h (the shadow, the scaling to full load, the ranking, neighbours).
#include <gtest/gtest.h>

#include "controller/trial_plan.h"
#include "controller/trial_reconciler.h"
#include "placement/mirror.h"
#include "placement/trial.h"

namespace umbra::controller {
namespace {

using kube::Json;
using namespace std::chrono_literals;
using namespace trial_write;
namespace state = api::candidate_state;

const SystemTime T0{std::chrono::seconds(1'800'000'000)};

TrialInput trial(const Json& extra = Json::object(), const api::TrialStatus& status = {}) {
  Json spec = {
      {"target", {{"name", "shop"}}},
      {"candidates",
       Json::array({{{"name", "u1.large"}}, {{"name", "u1.medium"}}, {{"name", "u1.xlarge"}}})},
      {"slo", {{"p95Latency", "100ms"}}},
      {"observation", {{"duration", "2m"}}},
      {"maxConcurrentShadows", 2}};
  if (extra.is_object())
    spec.update(extra);
  return InstancetypeTrialReconciler::input(
      {{"apiVersion", "umbra.io/v1alpha1"},
       {"kind", "InstancetypeTrial"},
       {"metadata", {{"name", "shop"}, {"namespace", "apps"}, {"uid", "u-1"}, {"generation", 2}}},
       {"spec", spec},
       {"status", api::toJson(status)}});
}

TrialType type(const std::string& name, int vcpus, int gib) {
  TrialType t;
  t.instancetype = {
      name, {{"cpu", {{"guest", vcpus}}}, {"memory", {{"guest", std::to_string(gib) + "Gi"}}}}};
  t.size = {vcpus, static_cast<double>(gib), false};
  t.costPerHour = placement::typeCostPerHour({}, name, t.size);
  return t;
}

TrialWorld world() {
  TrialWorld w;
  w.target.exists = w.target.running = true;
  w.target.instancetype = api::InstancetypeRef{"u1.large"};
  w.target.vmiSpec = {
      {"domain",
       {{"cpu", {{"sockets", 2}}}, {"memory", {{"guest", "8Gi"}}}, {"devices", Json::object()}}},
      {"volumes",
       Json::array({{{"name", "root"}, {"containerDisk", {{"image", "quay.io/shop:1"}}}}})}};
  w.mirror.service = {
      {"metadata", {{"name", "shop"}}},
      {"spec", {{"selector", {{"app", "shop"}}}, {"ports", Json::array({{{"port", 80}}})}}}};
  for (const auto& [n, c, g] : {std::tuple{"u1.small", 1, 2}, std::tuple{"u1.medium", 1, 4},
                                std::tuple{"u1.large", 2, 8}, std::tuple{"u1.xlarge", 4, 16}}) {
    w.types[n] = type(n, c, g);
    w.catalogue.push_back({{n}, w.types[n].size});
  }
  return w;
}

template <typename T>
std::vector<T> all(const TrialPlan& p) {
  std::vector<T> out;
  for (const auto& w : p.writes)
    if (const T* t = std::get_if<T>(&w))
      out.push_back(*t);
  return out;
}

// The status the pass wrote; one with phase "<not written>" when it wrote none (a row then fails
// on what it expects, not on an empty optional).
std::optional<api::TrialStatus> status(const TrialPlan& p) {
  const auto s = all<WriteStatus>(p);
  if (s.empty()) {
    api::TrialStatus none;
    none.phase = "<not written>";
    return none;
  }
  return s.back().status;
}

std::vector<std::string> reasons(const TrialPlan& p) {
  std::vector<std::string> out;
  for (const auto& e : all<PostEvent>(p))
    out.push_back(e.reason);
  return out;
}

const api::TrialCandidate& candidate(const api::TrialStatus& s, const std::string& name) {
  const auto* c = s.candidate(name);
  EXPECT_NE(c, nullptr) << name;
  static const api::TrialCandidate none;
  return c ? *c : none;
}

TrialSettings settings() {
  return {};
}

// A pass that has started the cheapest two types, their shadows serving since T0.
api::TrialStatus serving() {
  const TrialPlan first = planTrial(trial(), world(), settings(), T0 - 1min);
  api::TrialStatus s = *status(first);
  for (auto& c : s.candidates)
    if (c.state == state::Running)
      c.startedAt = T0;
  return s;
}

TrialWorld withShadows(const api::TrialStatus& s) {
  TrialWorld w = world();
  for (const auto& c : s.candidates)
    if (c.state == state::Running)
      w.shadows[c.ref.name] = {c.shadow, "uid-" + c.ref.name, "Running", false, ""};
  return w;
}

placement::ShadowReading reading(double p95AtShare, double busyCores = 0.01) {
  placement::ShadowReading r;
  r.requests = 600;
  r.requestsPerSecond = 5;
  r.p50Ms = p95AtShare / 3;
  r.p95Ms = p95AtShare;
  r.cpuCores = busyCores;
  return r;
}

TEST(TrialPlanTest, StartsTheCheapestTypesFirstWithinTheShadowCap) {
  const TrialPlan p = planTrial(trial(), world(), settings(), T0);
  const auto created = all<CreateShadow>(p);
  ASSERT_EQ(created.size(), 2u) << "maxConcurrentShadows 2";
  EXPECT_EQ(created[0].vmi["metadata"]["name"], "shop-u1-medium");
  EXPECT_EQ(created[1].vmi["metadata"]["name"], "shop-u1-large");
  const auto s = *status(p);
  EXPECT_EQ(s.phase, "Running");
  EXPECT_EQ(s.current->name, "u1.large");
  EXPECT_EQ(candidate(s, "u1.xlarge").state, state::Queued);
  EXPECT_EQ(s.conditionStatus("Mirroring"), "True");
  EXPECT_EQ(reasons(p), std::vector<std::string>{"Started"});
  EXPECT_TRUE(all<ApplyMirror>(p).empty()) << "the shadows are not in the cache yet";
}

TEST(TrialPlanTest, ARestartedPassMakesNoTwinAndAppliesTheMirrorOnceEveryShadowIsCached) {
  api::TrialStatus s = *status(planTrial(trial(), world(), settings(), T0 - 1min));
  TrialWorld w = withShadows(s);
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0);
  EXPECT_TRUE(all<CreateShadow>(p).empty());
  const auto mirror = all<ApplyMirror>(p);
  ASSERT_EQ(mirror.size(), 1u);
  ASSERT_EQ(mirror[0].objects.size(), 4u);  // fence, two Services, the VirtualService
  EXPECT_EQ(mirror[0].objects[0]["metadata"]["name"], "shop-trial-shadow-egress");
  EXPECT_EQ(mirror[0].objects[1]["spec"]["selector"][api::TrialTypeLabel], "u1.large");
  EXPECT_EQ(mirror[0].objects[1]["spec"]["selector"][api::TrialLabel], "shop");
  EXPECT_EQ(mirror[0].objects[3]["metadata"]["name"], "shop-trial-mirror");
  EXPECT_EQ(mirror[0].objects[3]["spec"]["http"][0]["mirrors"][0]["percentage"]["value"], 2.0);
  EXPECT_TRUE(candidate(*status(p), "u1.medium").startedAt.has_value());
}

TEST(TrialPlanTest, ShadowsMadeByAPassKilledBeforeItsStatusAreNotMadeAgain) {
  // The first pass created both shadows and was killed before its status write.
  const api::TrialStatus written = *status(planTrial(trial(), world(), settings(), T0 - 1min));
  const TrialPlan p = planTrial(trial(), withShadows(written), settings(), T0);
  EXPECT_TRUE(all<CreateShadow>(p).empty());
  EXPECT_EQ(candidate(*status(p), "u1.medium").state, state::Running);
}

TEST(TrialPlanTest, ATypeTooSmallForTheMemoryInUseIsNeitherTriedNorRecommended) {
  TrialWorld w = world();
  w.memoryInUseGiB = 3.8;  // u1.medium's 4 GiB are below 3.8 + 10 %
  const TrialPlan p = planTrial(trial(), w, settings(), T0);
  const auto s = *status(p);
  EXPECT_EQ(candidate(s, "u1.medium").state, state::Dropped);
  EXPECT_NE(candidate(s, "u1.medium").reason.find("below the VM's 3.8 GiB in use"),
            std::string::npos)
      << candidate(s, "u1.medium").reason;
  ASSERT_EQ(all<CreateShadow>(p).size(), 2u) << "u1.large and u1.xlarge instead";
  EXPECT_EQ(placement::memoryShortfall(8, 3.8), "");
  EXPECT_EQ(placement::memoryShortfall(4, std::nullopt), "") << "unknown use: no judgement";
}

TEST(TrialPlanTest, AShadowThatDoesNotStartFailsItsCandidateAndFreesItsSlot) {
  const api::TrialStatus s = *status(planTrial(trial(), world(), settings(), T0 - 5min));
  TrialWorld w = withShadows(s);
  for (auto& [type, shadow] : w.shadows) {
    shadow.phase = "Pending";
    shadow.created = T0 - 5min;
    shadow.failure = "0/3 nodes are available";
  }
  w.shadows["u1.large"].phase = "Running";
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0);
  const api::TrialStatus after = *status(p);
  const auto& medium = candidate(after, "u1.medium");
  EXPECT_EQ(medium.state, state::Failed);
  EXPECT_NE(medium.reason.find("did not start within shadows.startTimeout (180 s): 0/3 nodes"),
            std::string::npos)
      << medium.reason;
  ASSERT_EQ(all<DeleteShadow>(p).size(), 1u);
  ASSERT_EQ(all<CreateShadow>(p).size(), 1u) << "u1.xlarge takes the slot";
}

TEST(TrialPlanTest, AroundCurrentTriesTheVmsTypeAndItsSizesDownAndUp) {
  const Json rule = {{"candidates", Json::array()}, {"explore", {{"aroundCurrent", true}}}};
  const auto s = *status(planTrial(trial(rule), world(), settings(), T0));
  ASSERT_EQ(s.candidates.size(), 3u);
  EXPECT_EQ(s.candidates[0].ref.name, "u1.large");
  EXPECT_EQ(s.candidates[1].ref.name, "u1.medium");
  EXPECT_EQ(s.candidates[2].ref.name, "u1.xlarge");
  TrialWorld none = world();
  none.target.instancetype.reset();
  const TrialPlan p = planTrial(trial(rule), none, settings(), T0);
  EXPECT_EQ(status(p)->phase, "Failed");
  EXPECT_EQ(reasons(p), std::vector<std::string>{"NoCandidates"});
  EXPECT_FALSE(InstancetypeTrialReconciler::input(trial({{"candidates", Json::array()}}).object)
                   .spec.has_value());
}

TEST(TrialPlanTest, NoMeshWaitsWithAConditionAndOneEvent) {
  TrialWorld w = world();
  w.mirror.problemReason = "NoMesh";
  w.mirror.problem = "no mesh";
  const TrialPlan p = planTrial(trial(), w, settings(), T0);
  EXPECT_TRUE(all<CreateShadow>(p).empty());
  const auto s = *status(p);
  EXPECT_EQ(s.phase, "Pending");
  EXPECT_EQ(s.conditionStatus("Mirroring"), "False");
  EXPECT_EQ(reasons(p), std::vector<std::string>{"MirrorUnavailable"});
  EXPECT_TRUE(reasons(planTrial(trial({}, s), w, settings(), T0 + 10s)).empty()) << "said once";
}

TEST(TrialPlanTest, MirroringLostWhileServingFailsTheTrialAndRemovesTheShadows) {
  const api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  w.mirror.problemReason = "HostRouted";
  w.mirror.problem = "VirtualService apps/other already routes Service shop";
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0 + 30s);
  EXPECT_EQ(status(p)->phase, "Failed");
  EXPECT_EQ(all<DeleteShadow>(p).size(), 2u);
  EXPECT_EQ(reasons(p), std::vector<std::string>{"MirrorLost"});
}

TEST(TrialPlanTest, PrometheusFailingIsAConditionAndOneEventThenReadingsClearIt) {
  const api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  w.metricsProblem = "http://prometheus:9090/api/v1/query: connection refused";
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0 + 1min);
  const auto st = *status(p);
  EXPECT_EQ(st.conditionStatus("MetricsAvailable"), "False");
  EXPECT_EQ(reasons(p), std::vector<std::string>{"MetricsUnavailable"});
  EXPECT_EQ(st.phase, "Running") << "the shadows keep serving while Prometheus is away";
  EXPECT_TRUE(reasons(planTrial(trial({}, st), w, settings(), T0 + 70s)).empty()) << "said once";
  w.metricsProblem.clear();
  w.readings["u1.medium"] = reading(2000);
  EXPECT_EQ(status(planTrial(trial({}, st), w, settings(), T0 + 80s))
                ->conditionStatus("MetricsAvailable"),
            "True");
}

TEST(TrialPlanTest, MeasuredAtTheEndScaledToTheFullLoadThenTheNextTypeStarts) {
  const api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  w.readings["u1.medium"] = reading(4000, 0.018);  // 80 ms at full load, 90 % busy
  w.readings["u1.large"] = reading(2500, 0.01);    // 50 ms
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0 + 2min);
  const auto st = *status(p);
  const auto& medium = candidate(st, "u1.medium");
  EXPECT_EQ(medium.state, state::Measured);
  EXPECT_DOUBLE_EQ(medium.measured->p95Ms, 80);
  EXPECT_DOUBLE_EQ(medium.measured->requestsPerSecond, 250);
  EXPECT_NEAR(medium.measured->utilisation, 0.9, 1e-9);
  EXPECT_TRUE(medium.meetsSlo);
  EXPECT_EQ(all<DeleteShadow>(p).size(), 2u);
  // u1.xlarge costs more than u1.medium, which meets the SLO: not tried.
  EXPECT_EQ(candidate(st, "u1.xlarge").state, state::Dropped);
  EXPECT_TRUE(all<CreateShadow>(p).empty());
  EXPECT_EQ(st.phase, "Completed");
  ASSERT_TRUE(st.recommendation.has_value());
  EXPECT_EQ(st.recommendation->name, "u1.medium");
  EXPECT_NE(st.recommendationReason.find("the current u1.large costs"), std::string::npos)
      << st.recommendationReason;
  // Shadows of u1.medium and u1.large at 2 % for 2 minutes, over 3 minutes of u1.large.
  ASSERT_TRUE(st.shadowCostPercent.has_value());
  EXPECT_NEAR(*st.shadowCostPercent, 100 * 0.02 * (0.046 + 0.092) * 2 / (0.092 * 3), 0.05);
}

TEST(TrialPlanTest, TooFewRequestsForAP95ExtendTheObservationTwiceThenSaySo) {
  api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  placement::ShadowReading few = reading(2500);
  few.requests = 100;  // a quarter of what a p95 needs
  w.readings["u1.medium"] = w.readings["u1.large"] = few;
  const TrialPlan first = planTrial(trial({}, s), w, settings(), T0 + 2min);
  s = *status(first);
  EXPECT_EQ(candidate(s, "u1.medium").state, state::Running);
  EXPECT_EQ(candidate(s, "u1.medium").extensions, 1);
  EXPECT_EQ(reasons(first),
            (std::vector<std::string>{"ObservationExtended", "ObservationExtended"}));
  EXPECT_TRUE(all<DeleteShadow>(first).empty());
  s = *status(planTrial(trial({}, s), w, settings(), T0 + 4min));
  EXPECT_EQ(candidate(s, "u1.medium").extensions, 2);
  s = *status(planTrial(trial({}, s), w, settings(), T0 + 6min));
  const auto& medium = candidate(s, "u1.medium");
  EXPECT_EQ(medium.state, state::Measured);
  EXPECT_DOUBLE_EQ(*medium.confidence, 0.25);
  EXPECT_NE(medium.reason.find("low confidence: 100 requests"), std::string::npos) << medium.reason;
}

TEST(TrialPlanTest, AClearlyWorseTypeIsDroppedAtHalfItsObservation) {
  const api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  w.readings["u1.medium"] = reading(15000);  // 300 ms at full load: over twice the SLO
  w.readings["u1.large"] = reading(4000);    // 80 ms: not clearly worse
  const TrialPlan p = planTrial(trial({}, s), w, settings(), T0 + 61s);
  const auto st = *status(p);
  EXPECT_EQ(candidate(st, "u1.medium").state, state::Dropped);
  EXPECT_EQ(candidate(st, "u1.large").state, state::Running);
  ASSERT_EQ(all<DeleteShadow>(p).size(), 1u);
  EXPECT_EQ(all<DeleteShadow>(p)[0].name, "shop-u1-medium");
  ASSERT_EQ(all<CreateShadow>(p).size(), 1u) << "its slot goes to the next type";
  EXPECT_EQ(all<CreateShadow>(p)[0].vmi["metadata"]["name"], "shop-u1-xlarge");
}

TEST(TrialPlanTest, NoTypeMeetingTheSloMeansNoRecommendationAndNoSwitch) {
  const api::TrialStatus s = serving();
  TrialWorld w = withShadows(s);
  w.readings["u1.medium"] = reading(7500);  // 150 ms
  w.readings["u1.large"] = reading(6000);   // 120 ms
  api::TrialStatus st = *status(planTrial(trial({}, s), w, settings(), T0 + 2min));
  // u1.xlarge ran and missed too.
  st.candidates[2].state = state::Measured;
  st.candidates[2].measured = api::TrialMeasurement{250, 40, 110, 10, 0.1, 0};
  st.candidates[1].state = state::Measured;  // u1.medium, already measured above
  const TrialPlan done = planTrial(trial({{"mode", "Apply"}}, st), world(), settings(), T0 + 5min);
  const auto fin = *status(done);
  EXPECT_EQ(fin.phase, "Completed");
  EXPECT_FALSE(fin.recommendation.has_value());
  EXPECT_NE(fin.recommendationReason.find("the fastest, u1.xlarge"), std::string::npos)
      << fin.recommendationReason;
  EXPECT_EQ(reasons(done), std::vector<std::string>{"NoCandidateMeetsSLO"});
  EXPECT_TRUE(all<SetInstancetype>(
                  planTrial(trial({{"mode", "Apply"}}, fin), world(), settings(), T0 + 6min))
                  .empty());
}

TEST(TrialPlanTest, ModeApplySetsTheInstancetypeOnceAfterCompletion) {
  api::TrialStatus st;
  st.phase = "Completed";
  st.recommendation = api::InstancetypeRef{"u1.medium"};
  const TrialPlan p = planTrial(trial({{"mode", "Apply"}}, st), world(), settings(), T0);
  const auto set = all<SetInstancetype>(p);
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(set[0].ref.name, "u1.medium");
  EXPECT_TRUE(status(p)->applied);
  EXPECT_EQ(reasons(p), std::vector<std::string>{"Applied"});
  EXPECT_TRUE(all<SetInstancetype>(
                  planTrial(trial({{"mode", "Apply"}}, *status(p)), world(), settings(), T0 + 10s))
                  .empty());
  EXPECT_TRUE(all<SetInstancetype>(planTrial(trial({}, st), world(), settings(), T0)).empty())
      << "mode Recommend never changes the VM";
}

TEST(TrialPlanTest, AnUnknownTypeFailsAloneAndAnInvalidSpecFailsTheTrial) {
  TrialWorld w = world();
  w.types.erase("u1.xlarge");
  const auto s = *status(planTrial(trial(), w, settings(), T0));
  EXPECT_EQ(candidate(s, "u1.xlarge").state, state::Failed);
  EXPECT_NE(candidate(s, "u1.xlarge").reason.find("does not exist"), std::string::npos);
  EXPECT_EQ(s.phase, "Running");
  const TrialPlan bad = planTrial(trial({{"candidates", Json::array()}}), w, settings(), T0);
  EXPECT_EQ(status(bad)->phase, "Failed");
  EXPECT_EQ(reasons(bad), std::vector<std::string>{"InvalidSpec"});
}

TEST(TrialPlanTest, ExploringTriesTheNextSmallerSizeOfATypeThatMeetsTheSlo) {
  const Json explore = {{"explore", {{"neighbours", true}}},
                        {"candidates", Json::array({{{"name", "u1.medium"}}})}};
  api::TrialStatus st = *status(planTrial(trial(explore), world(), settings(), T0 - 1min));
  st.candidates[0].startedAt = T0;
  TrialWorld w = withShadows(st);
  w.readings["u1.medium"] = reading(2500);  // 50 ms: meets the SLO
  const TrialPlan p = planTrial(trial(explore, st), w, settings(), T0 + 2min);
  const auto s = *status(p);
  EXPECT_EQ(candidate(s, "u1.small").state, state::Running);
  EXPECT_TRUE(candidate(s, "u1.small").explored);
  EXPECT_EQ(all<CreateShadow>(p).size(), 1u);
  EXPECT_EQ(s.phase, "Running");
}

TEST(TrialPiecesTest, TheShadowRunsTheTypesVcpusAtTheSharesQuota) {
  const placement::Instancetype it{"u1.xlarge",
                                   {{"cpu", {{"guest", 4}}}, {"memory", {{"guest", "16Gi"}}}}};
  const Json vmi = placement::buildTrialShadowVmi(
      {{"metadata", {{"name", "shop"}, {"namespace", "apps"}, {"uid", "u-1"}}}},
      world().target.vmiSpec, it, 0.02, {});
  EXPECT_EQ(vmi["spec"]["domain"]["cpu"]["sockets"], 4);
  EXPECT_EQ(vmi["spec"]["domain"]["resources"]["limits"]["cpu"], "80m");
  EXPECT_EQ(vmi["metadata"]["labels"][api::TrialTypeLabel], "u1.xlarge");
  EXPECT_EQ(vmi["metadata"]["ownerReferences"][0]["kind"], "InstancetypeTrial");
  EXPECT_EQ(vmi["metadata"]["annotations"]["sidecar.istio.io/inject"], "true");
  EXPECT_FALSE(vmi["spec"].contains("nodeSelector"));
  EXPECT_EQ(vmi["spec"]["volumes"][0]["containerDisk"]["image"], "quay.io/shop:1");
}

TEST(TrialPiecesTest, ScalingRankingNeighboursAndPrices) {
  const auto m = placement::atFullLoad(reading(5000, 0.02), 0.02, 2);
  EXPECT_DOUBLE_EQ(m.p95Ms, 100);
  EXPECT_DOUBLE_EQ(m.utilisation, 0.5);
  EXPECT_DOUBLE_EQ(m.cpuPerRequestMs, 4);
  EXPECT_TRUE(placement::clearlyWorse({0, 0, 201, 0, 0.5, 0}, 100));
  EXPECT_TRUE(placement::clearlyWorse({0, 0, 10, 0, 1.0, 0}, 100));
  EXPECT_FALSE(placement::clearlyWorse({0, 0, 199, 0, 0.9, 0}, 100));
  const auto w = world();
  const auto [down, up] = placement::neighboursOf("u1.large", w.catalogue);
  EXPECT_EQ(down->name, "u1.medium");
  EXPECT_EQ(up->name, "u1.xlarge");
  EXPECT_FALSE(placement::neighboursOf("u1.small", w.catalogue).first.has_value());
  api::InstancetypePrices prices;
  EXPECT_NEAR(placement::typeCostPerHour(prices, "u1.large", {2, 8, false}), 0.092, 1e-9);
  EXPECT_NEAR(placement::typeCostPerHour(prices, "cx1.large", {2, 4, true}), 0.085, 1e-9);
  prices.perHour = {{"u1.large", 0.5}};
  EXPECT_DOUBLE_EQ(placement::typeCostPerHour(prices, "u1.large", {2, 8, false}), 0.5);
  std::vector<api::TrialCandidate> cs(3);
  cs[0].ref.name = "slow";
  cs[0].measured = api::TrialMeasurement{0, 0, 150, 0, 0, 0};
  cs[1].ref.name = "dear";
  cs[1].meetsSlo = true;
  cs[1].costPerHour = 2;
  cs[1].measured = api::TrialMeasurement{0, 0, 20, 0, 0, 0};
  cs[2].ref.name = "cheap";
  cs[2].meetsSlo = true;
  cs[2].costPerHour = 1;
  cs[2].measured = api::TrialMeasurement{0, 0, 90, 0, 0, 0};
  const auto ranked = placement::rankCandidates(cs);
  EXPECT_EQ(ranked[0]->ref.name, "cheap");
  EXPECT_EQ(ranked[1]->ref.name, "dear");
  EXPECT_EQ(ranked[2]->ref.name, "slow");
  EXPECT_EQ(placement::trialShadowName("shop", "u1.2xlarge"), "shop-u1-2xlarge");
}

TEST(TrialPiecesTest, TheStatusRoundTrips) {
  api::TrialStatus s = serving();
  s.candidates[0].measured = api::TrialMeasurement{250, 20, 80, 4, 0.9, 0.01};
  s.candidates[0].meetsSlo = true;
  s.recommendation = api::InstancetypeRef{"u1.medium"};
  s.recommendationReason = "why";
  auto back = api::trialStatusFromJson(api::toJson(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(api::toJson(*back), api::toJson(s));
}

}  // namespace
}  // namespace umbra::controller
