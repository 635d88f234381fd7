// planPool() without I/O: each row is a ShadowPool, its shadows, trigger, demand and notices, and
// the writes that follow in their order (reserved nodes; an activation's mark, unpause and label;
// refills; decommissions; the status; notices; Events).
#include <gtest/gtest.h>

#include "controller/pool_plan.h"
#include "controller/pool_reconciler.h"
#include "controller/status_write.h"
#include "fakes/no_server.h"
#include "kube_core/time.h"

namespace umbra::controller {
namespace {

using kube::Json;
using namespace std::chrono_literals;
using namespace pool_write;

const SystemTime Now{std::chrono::seconds(1'800'000'000)};
constexpr double GiB = 1024.0 * 1024 * 1024;

Json poolSpec(const Json& extra = Json::object()) {
  Json spec = {
      {"workload",
       {{"template",
         {{"metadata", {{"labels", {{"app", "web"}, {"tier", "front"}}}}},
          {"spec",
           {{"domain",
             {{"cpu", {{"sockets", 2}, {"cores", 2}}}, {"memory", {{"guest", "4Gi"}}}}}}}}},
        {"serviceLabel", {{"key", "app"}, {"value", "web"}}}}},
      {"minShadows", 1},
      {"maxShadows", 3},
      {"interval", "10s"},
      {"horizon", "1m"},
      {"history", "1h"},
      {"idleAfter", "1m"}};
  spec.update(extra);
  return spec;
}

PoolInput pool(const Json& spec, const Json& status = Json::object()) {
  return ShadowPoolReconciler::input(
      {{"apiVersion", "umbra.io/v1alpha1"},
       {"kind", "ShadowPool"},
       {"metadata", {{"name", "web"}, {"namespace", "apps"}, {"uid", "u-1"}, {"generation", 2}}},
       {"spec", spec},
       {"status", status}});
}

PoolWorld world(const PoolInput& in, double trigger = 0.5) {
  PoolWorld w;
  w.shadowTemplate = in.spec->tmpl;
  w.fullSockets = 2;
  w.coresPerSocket = 2;
  w.fullGuest = 4 * GiB;
  w.servingVmis = 1;
  w.servingVcpus = 4;
  w.trigger = trigger;
  w.demand.assign(10, 2.0);
  return w;
}

PoolShadow dormantShadow(const std::string& name) {
  PoolShadow s;
  s.name = name;
  s.vmi = s.running = s.paused = true;
  s.node = "r1";
  s.sockets = 2;
  s.guest = 4 * GiB;
  return s;
}

PoolShadow activeShadow(const std::string& name) {
  PoolShadow s = dormantShadow(name);
  s.paused = false;
  s.serving = s.stateActive = true;
  s.activationStarted = Now - 5min;
  s.servingSince = Now - 5min + 1s;
  return s;
}

// The writes' kinds in order, Events left out, e.g. "Mark Unpause Serve Status".
std::string kinds(const PoolPlan& p) {
  std::string out;
  for (const auto& w : p.writes) {
    if (std::holds_alternative<PostEvent>(w))
      continue;
    const char* k = std::visit(
        [](const auto& x) -> const char* {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ReserveNode>)
            return "Reserve";
          if constexpr (std::is_same_v<T, CreateShadow>)
            return "Create";
          if constexpr (std::is_same_v<T, StartShadow>)
            return "Start";
          if constexpr (std::is_same_v<T, MarkActivation>)
            return "Mark";
          if constexpr (std::is_same_v<T, UnpauseShadow>)
            return "Unpause";
          if constexpr (std::is_same_v<T, PauseShadow>)
            return "Pause";
          if constexpr (std::is_same_v<T, ServeShadow>)
            return "Serve";
          if constexpr (std::is_same_v<T, ResizeShadow>)
            return "Resize";
          if constexpr (std::is_same_v<T, DeleteShadow>)
            return "Delete";
          if constexpr (std::is_same_v<T, WriteStatus>)
            return "Status";
          if constexpr (std::is_same_v<T, WriteNoticeStatus>)
            return "Notice";
          return "Event";
        },
        w);
    out += (out.empty() ? "" : " ") + std::string(k);
  }
  return out;
}

template <class T>
std::vector<const T*> writesOf(const PoolPlan& p) {
  std::vector<const T*> out;
  for (const auto& w : p.writes)
    if (const auto* x = std::get_if<T>(&w))
      out.push_back(x);
  return out;
}

const api::ShadowPoolStatus& statusOf(const PoolPlan& p) {
  return writesOf<WriteStatus>(p).front()->status;
}

std::string events(const PoolPlan& p) {
  std::string out;
  for (const auto* e : writesOf<PostEvent>(p))
    out += e->reason + ": " + e->note + "\n";
  return out;
}

TEST(PoolPlanTest, AnInvalidSpecSaysSoOnceAndWaits) {
  Json spec = poolSpec();
  spec["minShadows"] = 5;
  const PoolInput in = pool(spec);
  ASSERT_FALSE(in.spec);
  const PoolPlan p = planPool(in, PoolWorld{}, Now);
  EXPECT_EQ(kinds(p), "Status");
  EXPECT_NE(events(p).find("InvalidSpec: "), std::string::npos);
  EXPECT_EQ(statusOf(p).conditionStatus("Ready"), "False");
  EXPECT_FALSE(p.next.requeueAfter);
}

TEST(PoolPlanTest, AMissingWorkloadIsAConditionAndARetry) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w;
  w.workloadProblem = "VirtualMachinePool apps/web not found";
  const PoolPlan p = planPool(in, w, Now);
  EXPECT_EQ(kinds(p), "Status");
  EXPECT_NE(api::toJson(statusOf(p)).dump().find("WorkloadNotFound"), std::string::npos);
  EXPECT_EQ(p.next.requeueAfter, Duration(10s));
}

TEST(PoolPlanTest, AnEmptyPoolCreatesAHaltedShadowWithoutTheServiceLabelAndStartsItPaused) {
  const PoolInput in = pool(poolSpec());
  const PoolPlan p = planPool(in, world(in), Now);
  EXPECT_EQ(kinds(p), "Create Start Status");
  const Json vm = writesOf<CreateShadow>(p)[0]->vm;
  EXPECT_EQ(vm["metadata"]["name"], "web-shadow-0");
  EXPECT_EQ(vm["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(vm["metadata"]["labels"][api::ShadowStateLabel], "dormant");
  EXPECT_EQ(vm["metadata"]["ownerReferences"][0]["uid"], "u-1");
  const Json labels = vm["spec"]["template"]["metadata"]["labels"];
  EXPECT_FALSE(labels.contains("app")) << "a dormant shadow must not receive traffic";
  EXPECT_EQ(labels["tier"], "front");
  EXPECT_EQ(labels[api::ShadowPoolLabel], "web");
  EXPECT_TRUE(writesOf<StartShadow>(p)[0]->paused);
  EXPECT_EQ(statusOf(p).conditionStatus("Ready"), "False") << "filling";
}

TEST(PoolPlanTest, ReservedHostsAreLabelledAndTaintedAndTheShadowsSelectAndTolerateThem) {
  const PoolInput in =
      pool(poolSpec({{"reservedHosts", {{"nodeSelector", {{"pool", "standby"}}}}}}));
  PoolWorld w = world(in);
  ReservedNode n;
  n.name = "r1";
  n.resourceVersion = "42";
  n.taints = Json::array({{{"key", "gpu"}, {"effect", "NoSchedule"}}});
  w.reserved = {n};
  const PoolPlan p = planPool(in, w, Now);
  ASSERT_EQ(writesOf<ReserveNode>(p).size(), 1u);
  const ReserveNode& r = *writesOf<ReserveNode>(p)[0];
  EXPECT_EQ(r.resourceVersion, "42") << "the taints list is replaced: only over what was read";
  ASSERT_EQ(r.taints.size(), 2u) << "existing taints are kept";
  EXPECT_EQ(r.taints[1]["value"], "apps.web");
  EXPECT_EQ(r.labels[api::ReservedForLabel], "apps.web");
  const Json tmpl = writesOf<CreateShadow>(p)[0]->vm["spec"]["template"]["spec"];
  EXPECT_EQ(tmpl["nodeSelector"]["pool"], "standby");
  EXPECT_EQ(tmpl["tolerations"][0]["key"], api::ReservedTaintKey);
  EXPECT_EQ(statusOf(p).conditionStatus("ReservedHostsReady"), "True");
}

TEST(PoolPlanTest, TheTriggerActivatesADormantShadowMarkFirstThenUnpauseThenTheLabel) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.9);
  w.shadows = {dormantShadow("web-shadow-0")};
  const PoolPlan p = planPool(in, w, Now);
  // Mark (a restart resumes this shadow), unpause, label; then the refill of the reserve.
  EXPECT_EQ(kinds(p), "Mark Unpause Serve Create Start Status");
  EXPECT_TRUE(writesOf<ServeShadow>(p)[0]->stamp);
  EXPECT_EQ(writesOf<CreateShadow>(p)[0]->vm["metadata"]["name"], "web-shadow-1") << "refilled";
  EXPECT_EQ(statusOf(p).activations, 0) << "counted once it serves";
  EXPECT_NE(events(p).find("Activating: trigger 0.9 >= 0.8"), std::string::npos) << events(p);
  EXPECT_NE(events(p).find("Activated: web-shadow-0 serves"), std::string::npos) << events(p);
}

TEST(PoolPlanTest, AKilledActivationIsResumedOnTheSameShadowAndNoOtherIsStarted) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.95);
  PoolShadow marked = dormantShadow("web-shadow-0");
  marked.activationStarted = Now - 3s;
  marked.paused = false;  // unpaused before the kill, not yet labelled
  w.shadows = {marked, dormantShadow("web-shadow-1")};
  const PoolPlan p = planPool(in, w, Now);
  EXPECT_TRUE(writesOf<MarkActivation>(p).empty()) << kinds(p);
  EXPECT_TRUE(writesOf<UnpauseShadow>(p).empty()) << kinds(p);
  ASSERT_EQ(writesOf<ServeShadow>(p).size(), 1u);
  EXPECT_EQ(writesOf<ServeShadow>(p)[0]->name, "web-shadow-0");
  EXPECT_EQ(statusOf(p).activations, 0) << "not counted twice";
}

TEST(PoolPlanTest, NoSecondActivationUntilTheLastHasServedForAnInterval) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.95);
  PoolShadow a = activeShadow("web-shadow-0");
  a.servingSince = Now - 4s;
  w.shadows = {a, dormantShadow("web-shadow-1")};
  EXPECT_TRUE(writesOf<MarkActivation>(planPool(in, w, Now)).empty());
  w.shadows[0].servingSince = Now - 11s;
  const PoolPlan p = planPool(in, w, Now);
  ASSERT_EQ(writesOf<MarkActivation>(p).size(), 1u);
  EXPECT_EQ(writesOf<MarkActivation>(p)[0]->name, "web-shadow-1");
}

TEST(PoolPlanTest, NoDormantShadowLeftColdStartsOneServingAndSaysSo) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.9);
  w.shadows = {activeShadow("web-shadow-0")};
  const PoolPlan p = planPool(in, w, Now);
  const auto created = writesOf<CreateShadow>(p);
  ASSERT_GE(created.size(), 1u);
  const Json& vm = created[0]->vm;
  EXPECT_EQ(vm["spec"]["runStrategy"], "Always");
  EXPECT_EQ(vm["spec"]["template"]["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(vm["metadata"]["annotations"][api::ColdStartAnnotation], "true");
  EXPECT_NE(events(p).find("NoShadowLeft"), std::string::npos);

  w.shadows = {activeShadow("web-shadow-0"), activeShadow("web-shadow-1"),
               activeShadow("web-shadow-2")};
  const PoolPlan full = planPool(in, w, Now);
  EXPECT_TRUE(writesOf<CreateShadow>(full).empty()) << "at maxShadows";
  EXPECT_NE(events(full).find("at spec.maxShadows (3)"), std::string::npos) << events(full);
}

TEST(PoolPlanTest, AnIdleActiveShadowStopsServingThenIsPausedAfterIdleAfter) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.2);
  w.shadows = {activeShadow("web-shadow-0"), dormantShadow("web-shadow-1")};
  const PoolPlan first = planPool(in, w, Now);
  EXPECT_TRUE(writesOf<PauseShadow>(first).empty()) << "low, but not for idleAfter yet";
  ASSERT_TRUE(statusOf(first).lowSince);
  const Json status = api::toJson(statusOf(first));
  const PoolPlan later = planPool(pool(poolSpec(), status), w, Now + 61s);
  EXPECT_EQ(kinds(later).substr(0, 16), "Mark Serve Pause") << kinds(later);
  ASSERT_EQ(writesOf<MarkActivation>(later).size(), 1u);
  EXPECT_TRUE(writesOf<MarkActivation>(later)[0]->clear);
  EXPECT_FALSE(writesOf<ServeShadow>(later)[0]->serve);
  EXPECT_EQ(statusOf(later).lowSince, Now + 61s) << "one per idleAfter";
}

TEST(PoolPlanTest, DormantShadowsAboveTheReserveGoAfterIdleAfterNewestFirst) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.3);
  w.shadows = {dormantShadow("web-shadow-0"), dormantShadow("web-shadow-1"),
               dormantShadow("web-shadow-2")};
  const PoolPlan first = planPool(in, w, Now);
  EXPECT_TRUE(writesOf<DeleteShadow>(first).empty());
  const PoolPlan later = planPool(pool(poolSpec(), api::toJson(statusOf(first))), w, Now + 61s);
  ASSERT_EQ(writesOf<DeleteShadow>(later).size(), 1u);
  EXPECT_EQ(writesOf<DeleteShadow>(later)[0]->name, "web-shadow-2");
}

TEST(PoolPlanTest, ALoadNoticeRaisesTheReserveFromItsLeadTimeUntilItsEnd) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.3);
  w.shadows = {dormantShadow("web-shadow-0")};
  NoticeView n;
  n.object = {{"metadata", {{"name", "launch"}, {"generation", 1}}},
              {"spec",
               {{"pool", "web"},
                {"start", kube::formatTime(Now + 20min)},
                {"end", kube::formatTime(Now + 80min)},
                {"leadTime", "10m"},
                {"expectedLoad", {{"vcpus", 16}}},
                {"reason", "launch"}}}};
  n.spec = api::loadNoticeSpecFrom(n.object).value();
  w.notices = {n};
  const PoolPlan early = planPool(in, w, Now);
  EXPECT_EQ(writesOf<WriteNoticeStatus>(early)[0]->status["phase"], "Scheduled");
  EXPECT_TRUE(writesOf<CreateShadow>(early).empty()) << "nothing before the lead time";
  const PoolPlan inLead = planPool(in, w, Now + 11min);
  EXPECT_EQ(writesOf<WriteNoticeStatus>(inLead)[0]->status["phase"], "Active");
  // 16 vCPUs at 0.8 = 20, minus the 4 serving: 4 shadows of 4 vCPUs, capped at maxShadows 3.
  EXPECT_EQ(writesOf<CreateShadow>(inLead).size(), 2u);
  EXPECT_EQ(api::toJson(statusOf(inLead))["reserve"]["shadows"], 3);
  EXPECT_NE(events(inLead).find("NoticeApplied"), std::string::npos);
  const PoolPlan after = planPool(in, w, Now + 81min);
  EXPECT_EQ(writesOf<WriteNoticeStatus>(after)[0]->status["phase"], "Expired");
}

TEST(PoolPlanTest, ARoundDuringAnActiveNoticeActivatesWhatItAnnouncesAtOnce) {
  // The benchmark's Umbra (offline::simulatePool) reads the same rule: a round's size includes
  // the announced load, not only what the saturated trigger shows.
  const PoolInput in = pool(poolSpec({{"maxShadows", 6}}));
  PoolWorld w = world(in, 1.0);  // saturated: the trigger alone asks for one shadow
  for (int i = 0; i < 5; ++i)
    w.shadows.push_back(dormantShadow("web-shadow-" + std::to_string(i)));
  NoticeView n;
  n.object = {{"metadata", {{"name", "launch"}, {"generation", 1}}},
              {"spec",
               {{"pool", "web"},
                {"start", kube::formatTime(Now - 1min)},
                {"end", kube::formatTime(Now + 60min)},
                {"expectedLoad", {{"vcpus", 16}}},
                {"reason", "launch"}}}};
  n.spec = api::loadNoticeSpecFrom(n.object).value();
  w.notices = {n};
  // 16 vCPUs at 0.8 = 20, minus the 4 serving: 4 shadows of 4 vCPUs in the first round.
  EXPECT_EQ(writesOf<MarkActivation>(planPool(in, w, Now)).size(), 4u);
  w.notices.clear();
  EXPECT_EQ(writesOf<MarkActivation>(planPool(in, w, Now)).size(), 1u);
}

TEST(PoolPlanTest, TheHistorysSuddenRisesAreHeldInReserveTooNotOnlyTheForecast) {
  const PoolInput in = pool(poolSpec({{"maxShadows", 5}}));
  PoolWorld w = world(in, 0.3);
  w.shadows = {dormantShadow("web-shadow-0")};
  // Flat at 2 vCPUs for 100 steps of 10 s, then one jump to 8 and back, 60 steps ago.
  w.demand.assign(100, 2.0);
  w.demand.insert(w.demand.end(), 10, 8.0);
  w.demand.insert(w.demand.end(), 50, 2.0);
  const PoolPlan p = planPool(in, w, Now);
  // A rise of 6 vCPUs within a minute at 0.8: 7.5 vCPUs, two shadows of 4.
  const Json report = api::toJson(statusOf(p));
  EXPECT_EQ(report["reserve"]["shadows"], 2) << report.dump();
  EXPECT_NE(report["reserve"]["reason"].get<std::string>().find("sudden rises"), std::string::npos)
      << report.dump();
  EXPECT_EQ(writesOf<CreateShadow>(p).size(), 1u);
}

TEST(PoolPlanTest, ARoundActivatesWhatTheSaturatedTriggerCannotShowTheHistorysRise) {
  const PoolInput in = pool(poolSpec({{"maxShadows", 5}}));
  PoolWorld w = world(in, 1.0);  // saturated: the trigger alone asks for one shadow
  w.shadows = {dormantShadow("web-shadow-0"), dormantShadow("web-shadow-1"),
               dormantShadow("web-shadow-2")};
  w.demand.assign(100, 2.0);
  w.demand.insert(w.demand.end(), 10, 8.0);  // a rise of 6 vCPUs within a minute, 50 steps ago
  w.demand.insert(w.demand.end(), 50, 2.0);
  const PoolPlan p = planPool(in, w, Now);
  ASSERT_EQ(writesOf<MarkActivation>(p).size(), 2u) << kinds(p);
  EXPECT_EQ(writesOf<UnpauseShadow>(p).size(), 2u);
  EXPECT_NE(events(p).find("web-shadow-0, web-shadow-1 (2 wanted)"), std::string::npos)
      << events(p);
  // None left: the round's two are cold-started.
  w.shadows = {activeShadow("web-shadow-0")};
  const PoolPlan cold = planPool(in, w, Now);
  int serving = 0;
  for (const auto* c : writesOf<CreateShadow>(cold))
    serving += c->vm["spec"]["runStrategy"] == "Always" ? 1 : 0;
  EXPECT_EQ(serving, 2) << kinds(cold);
}

TEST(PoolPlanTest, ARoundThatFollowsWhileTheTriggerStillFiresIsDoubled) {
  const PoolInput first = pool(poolSpec({{"maxShadows", 8}}));
  PoolWorld w = world(first, 1.0);
  PoolShadow a = activeShadow("web-shadow-0"), b = activeShadow("web-shadow-1");
  a.servingSince = b.servingSince = Now - 20s;
  w.shadows = {a, b};
  for (int i = 2; i < 8; ++i)
    w.shadows.push_back(dormantShadow("web-shadow-" + std::to_string(i)));
  Json status = {{"lastRound", {{"time", kube::formatTime(Now - 25s)}, {"shadows", 2}}}};
  const PoolPlan p = planPool(pool(first.object["spec"], status), w, Now);
  EXPECT_EQ(writesOf<MarkActivation>(p).size(), 4u) << events(p);
  EXPECT_EQ(api::toJson(statusOf(p))["lastRound"]["shadows"], 4);
  // An hour later it is a new surge: no doubling.
  status["lastRound"]["time"] = kube::formatTime(Now - 1h);
  EXPECT_EQ(writesOf<MarkActivation>(planPool(pool(first.object["spec"], status), w, Now)).size(),
            1u);
}

TEST(PoolPlanTest, ARestartBetweenWritesIsRepaired) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.3);
  PoolShadow created;  // created, not started
  created.name = "web-shadow-0";
  created.halted = true;
  PoolShadow unserved = dormantShadow("web-shadow-1");  // stopped serving, not paused again
  unserved.paused = false;
  w.shadows = {created, unserved};
  const PoolPlan p = planPool(in, w, Now);
  ASSERT_EQ(writesOf<StartShadow>(p).size(), 1u);
  EXPECT_EQ(writesOf<StartShadow>(p)[0]->name, "web-shadow-0");
  EXPECT_TRUE(writesOf<StartShadow>(p)[0]->paused);
  ASSERT_EQ(writesOf<PauseShadow>(p).size(), 1u);
  EXPECT_EQ(writesOf<PauseShadow>(p)[0]->name, "web-shadow-1");
  EXPECT_TRUE(writesOf<CreateShadow>(p).empty()) << "both count toward the reserve";
}

TEST(PoolPlanTest, ASmallerBaselineHoldsLessAndIsHotpluggedToFullSizeOnActivation) {
  const PoolInput in = pool(poolSpec({{"dormant", {{"baselinePercent", 50}}}}));
  PoolWorld w = world(in, 0.3);
  const PoolPlan create = planPool(in, w, Now);
  const Json domain = writesOf<CreateShadow>(create)[0]->vm["spec"]["template"]["spec"]["domain"];
  EXPECT_EQ(domain["cpu"]["sockets"], 1);
  EXPECT_EQ(domain["cpu"]["maxSockets"], 2);
  EXPECT_EQ(domain["memory"]["guest"], "2048Mi");
  EXPECT_EQ(domain["memory"]["maxGuest"], "4096Mi");
  PoolShadow small = dormantShadow("web-shadow-0");
  small.sockets = 1;
  small.guest = 2 * GiB;
  w.shadows = {small};
  w.trigger = 0.9;
  const PoolPlan act = planPool(in, w, Now);
  ASSERT_EQ(writesOf<ResizeShadow>(act).size(), 1u);
  EXPECT_EQ(writesOf<ResizeShadow>(act)[0]->sockets, 2);
  EXPECT_EQ(writesOf<ResizeShadow>(act)[0]->guest, "4096Mi");
}

TEST(PoolPlanTest, PausedMemoryAndReservedNodesAccumulateAsCost) {
  const PoolInput in = pool(poolSpec({{"reservedHosts", {{"nodeSelector", {{"p", "s"}}}}}}));
  PoolWorld w = world(in, 0.3);
  w.shadows = {dormantShadow("web-shadow-0")};
  ReservedNode n;
  n.name = "r1";
  n.labelled = n.tainted = true;
  w.reserved = {n};
  const PoolPlan first = planPool(in, w, Now);
  const PoolPlan hour =
      planPool(pool(in.object["spec"], api::toJson(statusOf(first))), w, Now + 1h);
  EXPECT_NEAR(statusOf(hour).pausedMemoryGiBHours, 4.0, 1e-6);
  EXPECT_NEAR(statusOf(hour).reservedNodeHours, 1.0, 1e-6);
}

TEST(PoolPlanTest, TheServingTimeIsReportedAndTheColdStartItSavedCountedOnce) {
  const PoolInput in = pool(poolSpec());
  PoolWorld w = world(in, 0.5);
  PoolShadow a = activeShadow("web-shadow-0");
  a.activationStarted = Now - 10s;
  a.servingSince = Now - 10s + std::chrono::milliseconds(800);
  w.shadows = {a, dormantShadow("web-shadow-1")};
  const PoolPlan p = planPool(in, w, Now);
  const Json last = statusOf(p).lastActivation;
  EXPECT_EQ(last["timeToServingSeconds"], "0.8");
  EXPECT_EQ(last["timeToCapacitySeconds"], "0.8");
  EXPECT_NEAR(statusOf(p).coldStartSecondsAvoided, ColdStartSeconds - 0.8, 1e-9);
  EXPECT_EQ(statusOf(p).activations, 1);
  const PoolPlan again = planPool(pool(poolSpec(), api::toJson(statusOf(p))), w, Now + 10s);
  EXPECT_NEAR(statusOf(again).coldStartSecondsAvoided, ColdStartSeconds - 0.8, 1e-9);
  EXPECT_EQ(statusOf(again).activations, 1) << "once";
  // A newer activation was recorded, then its shadow deactivated (marks cleared): the older one
  // that shows again is neither recorded nor counted again.
  Json newer = api::toJson(statusOf(p));
  newer["lastActivation"]["time"] = kube::formatMicroTime(Now + 5s);
  newer["cost"]["activations"] = 2;
  const PoolPlan older = planPool(pool(poolSpec(), newer), w, Now + 20s);
  EXPECT_EQ(statusOf(older).activations, 2);
  EXPECT_EQ(statusOf(older).lastActivation["time"], kube::formatMicroTime(Now + 5s));
  PoolShadow cold = a;
  cold.coldStart = true;
  w.shadows = {cold};
  const PoolPlan coldPlan = planPool(in, w, Now);
  EXPECT_EQ(statusOf(coldPlan).coldStarts, 1);
  EXPECT_EQ(statusOf(coldPlan).activations, 0);
}

TEST(PoolMapperTest, ShadowsNoticesServingVmisAndNodesMapToTheirPools) {
  kube::Store pools;
  (void)pools.upsert({{"metadata", {{"name", "web"}, {"namespace", "apps"}}},
                      {"spec", poolSpec({{"reservedHosts", {{"nodeSelector", {{"p", "s"}}}}}})}});
  const auto keys = [&](const Json& o) { return poolsOfObject(o, pools); };
  const std::vector<std::string> web = {"apps/web"};
  EXPECT_EQ(keys({{"metadata",
                   {{"name", "web-shadow-0"},
                    {"namespace", "apps"},
                    {"labels", {{api::ShadowPoolLabel, "web"}, {"app", "web"}}}}}}),
            web);
  EXPECT_EQ(
      keys({{"metadata", {{"name", "web"}, {"namespace", "apps"}, {"labels", {{"app", "web"}}}}}}),
      web)
      << "a serving VMI";
  EXPECT_EQ(keys({{"metadata", {{"name", "launch"}, {"namespace", "apps"}}},
                  {"spec", {{"pool", "web"}}}}),
            web)
      << "a LoadNotice";
  EXPECT_EQ(keys({{"metadata", {{"name", "node-1"}, {"labels", {{"p", "s"}}}}}}), web)
      << "a node to reserve";
  EXPECT_TRUE(
      keys({{"metadata",
             {{"name", "node-1"}, {"labels", {{"p", "s"}, {api::ReservedForLabel, "apps.web"}}}}}})
          .empty())
      << "a node reserved already: its heartbeats need no pass";
  EXPECT_TRUE(keys({{"metadata", {{"name", "node-2"}}}}).empty()) << "a node it does not select";
  EXPECT_TRUE(keys({{"metadata", {{"name", "db"}, {"namespace", "apps"}}}}).empty());
  EXPECT_EQ(servingCpuQuery("apps", "app.kubernetes.io/name", "web", 60s),
            "sum(rate(kubevirt_vmi_cpu_usage_seconds_total{namespace=\"apps\","
            "kubernetes_vmi_label_app_kubernetes_io_name=\"web\"}[60s]))");
}

}  // namespace
}  // namespace umbra::controller

namespace umbra::controller {
namespace {

// A status endpoint whose object has moved on: a patch carrying a resourceVersion is a Conflict.
class StaleStatusClient final : public testing::NoServer {
 public:
  std::vector<Json> patches;
  Result<Json> patch(const kube::ResourceType&, const kube::ObjectRef&, kube::PatchType,
                     const Json& body, const kube::WriteOptions&, const std::string&) override {
    patches.push_back(body);
    if (body.contains("metadata"))
      return Error::make(ErrorKind::Conflict, "the object has been modified");
    return Json{{"metadata", {{"resourceVersion", "43"}}}};
  }
};

TEST(PatchOwnStatusTest, AStaleReadLosesItsStatusUnlessThePassActedThenItIsWrittenAgain) {
  StaleStatusClient client;
  auto idle = patchOwnStatus(client, api::shadowPools(), {"apps", "web"}, {{"dormant", 1}}, "42",
                             false, "ShadowPool apps/web");
  ASSERT_FALSE(idle.ok());
  EXPECT_TRUE(idle.error().is(ErrorKind::Conflict)) << "retried as a whole pass";
  EXPECT_NE(idle.error().message.find("ShadowPool apps/web"), std::string::npos);
  ASSERT_EQ(client.patches.size(), 1u);
  EXPECT_EQ(client.patches[0]["metadata"]["resourceVersion"], "42");
  client.patches.clear();
  auto acted = patchOwnStatus(client, api::shadowPools(), {"apps", "web"}, {{"dormant", 1}}, "42",
                              true, "ShadowPool apps/web");
  ASSERT_TRUE(acted.ok()) << acted.error().message;
  EXPECT_EQ(*acted, "43");
  ASSERT_EQ(client.patches.size(), 2u);
  EXPECT_FALSE(client.patches[1].contains("metadata")) << "the change's record is not lost";
  EXPECT_EQ(client.patches[1]["status"]["dormant"], 1);
}

}  // namespace
}  // namespace umbra::controller
