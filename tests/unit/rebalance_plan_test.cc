// planRebalance() without I/O: each row is a RebalancePolicy, its VMs, their hosts' telemetry and
// forecasts, the migrations and companions, and the writes that follow (migrations with their
// Events, companions, the status, the outcomes' Events).
#include <gtest/gtest.h>

#include "controller/rebalance_plan.h"
#include "controller/rebalance_reconciler.h"
#include "kube_core/time.h"

namespace umbra::controller {
namespace {

using kube::Json;
using namespace std::chrono_literals;
using namespace rebalance_write;

const SystemTime Now{std::chrono::seconds(1'800'000'000)};
constexpr double GiB = 1024.0 * 1024 * 1024;

RebalanceInput policy(const Json& extra = Json::object(), const Json& status = Json::object()) {
  Json spec = {{"selector", {{"matchLabels", {{"app", "web"}}}}},
               {"interval", "10s"},
               {"sustainedWindow", "1m"},
               {"horizon", "2m"},
               {"history", "1h"}};
  spec.update(extra);
  return RebalancePolicyReconciler::input(
      {{"apiVersion", "umbra.io/v1alpha1"},
       {"kind", "RebalancePolicy"},
       {"metadata", {{"name", "web"}, {"namespace", "apps"}, {"uid", "u-1"}, {"generation", 3}}},
       {"spec", spec},
       {"status", status}});
}

rebalance::Host host(const std::string& name, double load) {
  rebalance::Host h;
  h.name = name;
  h.cores = 8;
  h.memoryBytes = 32 * GiB;
  h.utilisation = h.sustained = h.forecast = load;
  h.forecastP90 = load + 0.05;
  return h;
}

RebalanceVm vm(const std::string& name, const std::string& node, double usage = 3) {
  RebalanceVm v;
  v.vm.id = name;
  v.vm.host = node;
  v.vm.vcpus = 4;
  v.vm.memoryBytes = 4 * GiB;
  v.vm.usage = usage;
  v.vm.usageP90 = usage;
  v.running = true;
  v.vmiSpec = {
      {"domain",
       {{"cpu", {{"cores", 4}}},
        {"memory", {{"guest", "4Gi"}}},
        {"devices", {{"disks", Json::array({{{"name", "root"}}})}}}}},
      {"volumes",
       Json::array({{{"name", "root"}, {"containerDisk", {{"image", "quay.io/fedora:40"}}}},
                    {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "db"}}}}})}};
  return v;
}

// a: loaded (0.9 sustained and forecast), b: quiet, c: half busy.
RebalanceWorld loaded() {
  RebalanceWorld w;
  w.hosts = {host("a", 0.9), host("b", 0.2), host("c", 0.5)};
  w.vms = {vm("web-1", "a"), vm("web-2", "b")};
  return w;
}

template <typename T>
std::vector<T> all(const RebalancePlan& p) {
  std::vector<T> out;
  for (const auto& w : p.writes)
    if (const T* t = std::get_if<T>(&w))
      out.push_back(*t);
  return out;
}

api::RebalanceStatus statusOf(const RebalancePlan& p) {
  const auto s = all<WriteStatus>(p);
  EXPECT_EQ(s.size(), 1u);
  return s.empty() ? api::RebalanceStatus{} : s[0].status;
}

TEST(RebalancePlanTest, AVmOnAHostUnderSustainedLoadMovesToTheQuietestHostWithItsEvidence) {
  const RebalancePlan p = planRebalance(policy(), loaded(), Now);
  const auto m = all<CreateMigration>(p);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].vm, "web-1");
  const Json& mig = m[0].migration;
  EXPECT_EQ(mig["spec"]["vmiName"], "web-1");
  EXPECT_EQ(mig["spec"]["addedNodeSelector"]["kubernetes.io/hostname"], "b");
  EXPECT_EQ(mig["metadata"]["name"], rebalanceMigrationName("web-1", Now));
  EXPECT_EQ(mig["metadata"]["ownerReferences"][0]["kind"], "RebalancePolicy");
  EXPECT_EQ(mig["metadata"]["labels"][api::RebalancePolicyLabel], "web");
  EXPECT_NE(mig["metadata"]["annotations"][api::RebalanceReasonAnnotation].get<std::string>(), "");
  const auto events = all<PostEvent>(p);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].reason, "Migrating");
  const api::RebalanceStatus st = statusOf(p);
  EXPECT_EQ(st.report["overloaded"], 1);
  EXPECT_EQ(st.report["moving"], 1);
  EXPECT_EQ(st.report["moves"][0]["to"], "b");
  EXPECT_EQ(st.conditionStatus(api::rebalance_condition::Ready), "True");
  EXPECT_EQ(*st.observedGeneration, 3);
  EXPECT_EQ(p.next.requeueAfter, std::optional<Duration>(10s));
}

TEST(RebalancePlanTest, ASpikeTheForecastDoesNotCarryIsNoReasonToMove) {
  RebalanceWorld w = loaded();
  w.hosts[0].utilisation = 0.99;
  w.hosts[0].sustained = 0.5;  // a minute's spike, not sustained
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now)).empty());
  w = loaded();
  w.hosts[0].forecast = 0.6;  // sustained, but the forecast expects it to pass
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now)).empty());
}

TEST(RebalancePlanTest, RecommendReportsTheMoveOnceAndMakesNone) {
  const RebalanceInput in = policy({{"mode", "Recommend"}});
  const RebalancePlan p = planRebalance(in, loaded(), Now);
  EXPECT_TRUE(all<CreateMigration>(p).empty());
  const api::RebalanceStatus st = statusOf(p);
  EXPECT_EQ(st.report["moves"][0]["phase"], "Recommended");
  ASSERT_EQ(all<PostEvent>(p).size(), 1u);
  EXPECT_EQ(all<PostEvent>(p)[0].reason, "RecommendMigration");
  // The next pass, with that status, says it again only in the status.
  const RebalancePlan again =
      planRebalance(policy({{"mode", "Recommend"}}, api::toJson(st)), loaded(), Now + 10s);
  EXPECT_TRUE(all<PostEvent>(again).empty());
}

TEST(RebalancePlanTest, AMigrationInFlightOrARecentMoveIsNotFollowedByASecond) {
  RebalanceWorld w = loaded();
  RebalanceMigration m;
  m.name = "web-1-rebalance-1";
  m.vm = "web-1";
  m.ours = true;
  m.phase = "Running";
  m.from = "a";
  m.to = "b";
  w.migrations = {m};
  RebalancePlan p = planRebalance(policy(), w, Now);
  EXPECT_TRUE(all<CreateMigration>(p).empty());
  EXPECT_EQ(statusOf(p).report["moves"][0]["phase"], "Running");
  // Someone else's migration of it (a user's, a drain's): its load is not counted as moved, a
  // stays overloaded, and web-1 is still not planned.
  w.migrations[0].ours = false;
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now)).empty());
  // Moved ten minutes ago (its VMI's last migration), and a is loaded again: the hour holds it.
  w.migrations.clear();
  w.vms[0].vm.lastMovedAt = std::chrono::duration<double>((Now - 10min).time_since_epoch()).count();
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now)).empty());
}

TEST(RebalancePlanTest, AVmThatCannotMoveIsPinnedWithAConditionAndNoAttempt) {
  RebalanceWorld w = loaded();
  w.vms[0].vm.migratable = false;
  w.vms[0].pinnedReason = "NotLiveMigratable";
  w.vms[0].pinnedMessage = "cannot migrate VMI which does not use masquerade";
  const RebalancePlan p = planRebalance(policy(), w, Now);
  EXPECT_TRUE(all<CreateMigration>(p).empty());
  const api::RebalanceStatus st = statusOf(p);
  EXPECT_EQ(st.conditionStatus(api::rebalance_condition::VMsPinned), "True");
  ASSERT_EQ(st.report["pinned"].size(), 1u);
  EXPECT_EQ(st.report["pinned"][0]["vm"], "web-1");
  ASSERT_EQ(all<PostEvent>(p).size(), 1u);
  EXPECT_EQ(all<PostEvent>(p)[0].reason, "NotLiveMigratable");
  // Evictionstrategy None keeps it in place too (the pure decision's own rule).
  w = loaded();
  w.vms[0].vm.evictionStrategy = "None";
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now)).empty());
}

TEST(RebalancePlanTest, OutcomesAreReportedOnceAfterTheStatus) {
  RebalanceWorld w = loaded();
  w.hosts[0] = host("a", 0.4);
  RebalanceMigration m;
  m.name = "web-1-rebalance-1";
  m.vm = "web-1";
  m.ours = true;
  m.phase = "Failed";
  m.from = "a";
  m.to = "b";
  m.failure = "Live migration stuck for 150 seconds and has been aborted";
  m.finished = Now - 5s;
  w.migrations = {m};
  const RebalancePlan p = planRebalance(policy(), w, Now);
  ASSERT_FALSE(p.writes.empty());
  EXPECT_TRUE(std::holds_alternative<PostEvent>(p.writes.back()));
  const auto failed = all<PostEvent>(p).back();
  EXPECT_EQ(failed.reason, "MigrationFailed");
  EXPECT_NE(failed.note.find("stuck for 150 seconds"), std::string::npos);
  const api::RebalanceStatus st = statusOf(p);
  ASSERT_EQ(st.outcomes.size(), 1u);
  EXPECT_EQ(st.outcomes[0]["phase"], "Failed");
  EXPECT_EQ(st.report["lastOutcome"]["summary"], "web-1 a->b Failed");
  const RebalancePlan again = planRebalance(policy(Json::object(), api::toJson(st)), w, Now + 10s);
  EXPECT_TRUE(all<PostEvent>(again).empty());
  // a loaded again a minute later: the failed attempt is not retried within the interval.
  w.hosts[0] = host("a", 0.9);
  EXPECT_TRUE(all<CreateMigration>(planRebalance(policy(), w, Now + 1min)).empty());
  EXPECT_FALSE(all<CreateMigration>(planRebalance(policy(), w, Now + 2h)).empty());
}

TEST(RebalancePlanTest, CompanionsGoOnAnotherQuietHostWithTheImageButNoOtherVolume) {
  RebalanceWorld w = loaded();
  w.hosts[0] = host("a", 0.4);
  const RebalancePlan p = planRebalance(policy({{"companions", {{"enabled", true}}}}), w, Now);
  const auto c = all<CreateCompanion>(p);
  ASSERT_EQ(c.size(), 2u);
  for (const auto& comp : c) {
    const Json& meta = comp.vmi["metadata"];
    const std::string of = meta["labels"][api::CompanionOfLabel];
    const std::string on = comp.vmi["spec"]["nodeSelector"]["kubernetes.io/hostname"];
    EXPECT_EQ(meta["name"], companionName(of));
    EXPECT_EQ(meta["labels"][api::RoleLabel], "shadow");
    EXPECT_EQ(meta["ownerReferences"][0]["kind"], "RebalancePolicy");
    EXPECT_NE(on, of == "web-1" ? "a" : "b") << "beside its VM";
    for (const auto& v : comp.vmi["spec"]["volumes"])
      EXPECT_FALSE(v.contains("persistentVolumeClaim")) << v.dump();
    EXPECT_EQ(comp.vmi["spec"]["volumes"][0]["containerDisk"]["image"], "quay.io/fedora:40");
  }
  // Its VM landed beside it: re-created elsewhere; its VM left the policy: deleted.
  RebalanceCompanion beside{companionName("web-1"), "web-1", "a", false, Now - 1h};
  RebalanceCompanion orphan{companionName("old"), "", "c", false, Now - 1h};
  w.companions = {beside, orphan};
  const auto deleted =
      all<DeleteCompanion>(planRebalance(policy({{"companions", {{"enabled", true}}}}), w, Now));
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(deleted[0].name, companionName("old"));
  EXPECT_EQ(deleted[1].name, companionName("web-1"));
  // Companions turned off: every one goes.
  w.companions = {beside};
  w.companions[0].node = "c";
  const auto off = all<DeleteCompanion>(planRebalance(policy(), w, Now));
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(off[0].name, companionName("web-1"));
}

TEST(RebalancePlanTest, WithoutTelemetryNothingMovesAndTheConditionsSayWhy) {
  RebalanceWorld w = loaded();
  w.metricsProblem = "Prometheus: connection refused";
  const RebalancePlan p = planRebalance(policy(), w, Now);
  EXPECT_TRUE(all<CreateMigration>(p).empty());
  const api::RebalanceStatus st = statusOf(p);
  EXPECT_EQ(st.conditionStatus(api::rebalance_condition::MetricsAvailable), "False");
  EXPECT_EQ(st.conditionStatus(api::rebalance_condition::Ready), "False");
}

TEST(RebalancePlanTest, AnInvalidSpecIsReportedNotActedOn) {
  RebalanceInput in = policy();
  in.spec.reset();
  in.specError = "apps/web: spec.headroom: must be below spec.target";
  const RebalancePlan p = planRebalance(in, loaded(), Now);
  EXPECT_TRUE(all<CreateMigration>(p).empty());
  EXPECT_EQ(statusOf(p).conditionStatus(api::rebalance_condition::Ready), "False");
  EXPECT_EQ(p.next.requeueAfter, std::nullopt);
  ASSERT_EQ(all<PostEvent>(p).size(), 1u);
  in.status = statusOf(p);
  EXPECT_TRUE(all<PostEvent>(planRebalance(in, loaded(), Now + 5s)).empty()) << "said once";
}

TEST(RebalancePlanTest, TheMapperFindsPoliciesFromTheirVmsMigrationsAndBudgets) {
  kube::Store policies;
  policies.replace({{{"metadata", {{"name", "web"}, {"namespace", "apps"}}},
                     {"spec", {{"selector", {{"matchLabels", {{"app", "web"}}}}}}}}});
  const Json vmi = {
      {"metadata", {{"name", "web-1"}, {"namespace", "apps"}, {"labels", {{"app", "web"}}}}}};
  EXPECT_EQ(policiesOfObject(vmi, policies), std::vector<std::string>{"apps/web"});
  const Json other = {
      {"metadata", {{"name", "db"}, {"namespace", "apps"}, {"labels", {{"app", "db"}}}}}};
  EXPECT_TRUE(policiesOfObject(other, policies).empty());
  const Json migration = {
      {"metadata",
       {{"name", "m"}, {"namespace", "apps"}, {"labels", {{api::RebalancePolicyLabel, "web"}}}}}};
  EXPECT_EQ(policiesOfObject(migration, policies), std::vector<std::string>{"apps/web"});
}

}  // namespace
}  // namespace umbra::controller
