// The reconciler's two memories across passes, and the typed status' JSON mapping.
#include <gtest/gtest.h>

#include "api/shadow_placement_status.h"
#include "controller/first_pass_choices.h"

namespace umbra::controller {
namespace {

using namespace std::chrono_literals;

TEST(FirstPassChoicesTest, RecallsAChoiceOnlyForThePlacementObjectThatMadeIt) {
  FirstPassChoices c;
  c.remember("ns/web", "uid-1", {{"a", "web-shadow-a", api::ShadowPhase::Pending}});
  ASSERT_TRUE(c.recall("ns/web", "uid-1"));
  EXPECT_EQ(c.recall("ns/web", "uid-1")->front().node, "a");
  EXPECT_FALSE(c.recall("ns/web", "uid-2")) << "re-created under the same name: choose afresh";
  EXPECT_FALSE(c.recall("ns/other", "uid-1"));
}

TEST(FirstPassChoicesTest, CountsPlacementsProbingBeforeTheirStatusAndForgets) {
  FirstPassChoices c;
  c.remember("ns/a", "1", {});
  c.remember("ns/b", "2", {});
  EXPECT_EQ(c.keys(), (std::set<std::string>{"ns/a", "ns/b"}));
  c.forget("ns/a");
  EXPECT_EQ(c.keys(), std::set<std::string>{"ns/b"});
  EXPECT_FALSE(c.recall("ns/a", "1"));
}

TEST(WriteExpectationsTest, ACacheHoldingAVersionOurWriteReplacedIsStale) {
  WriteExpectations e;
  e.replaced("ns/web", {"10", "11"});
  EXPECT_TRUE(e.isStale("ns/web", "10"));
  EXPECT_TRUE(e.isStale("ns/web", "11"));
  EXPECT_FALSE(e.isStale("ns/other", "10"));
}

TEST(WriteExpectationsTest, ANewerVersionClearsTheExpectation) {
  WriteExpectations e;
  e.replaced("ns/web", {"10"});
  EXPECT_FALSE(e.isStale("ns/web", "12")) << "the cache caught up";
  EXPECT_FALSE(e.isStale("ns/web", "10")) << "cleared: a later version 10 cannot come back";
  e.replaced("ns/web", {"12"});
  e.forget("ns/web");
  EXPECT_FALSE(e.isStale("ns/web", "12"));
}

TEST(StatusJsonTest, RoundTripsEveryField) {
  api::ShadowPlacementStatus s;
  s.setPhase(api::Phase::Placed, "Placed", "placed on a");
  s.observedGeneration = 3;
  s.shadows = {{"a", "web-shadow-a", api::ShadowPhase::Running,
                SystemTime(std::chrono::seconds(1800000000)), ""},
               {"b", "web-shadow-b", api::ShadowPhase::Dropped, std::nullopt, "shadow VMI Failed"}};
  s.extensions = 1;
  s.observationStartedAt = SystemTime(std::chrono::seconds(1800000010));
  s.candidates = {{"a", 97.5, 0.9, {0.01, 0.02, 0.0, 0.001}, "lowest steal", ""},
                  {"c", 0, 0, {}, "", "node has no nvidia.com/X"}};
  s.selectedNode = "a";
  s.confidence = 0.9;
  s.model = "lstm/2";
  s.decidedAt = SystemTime(std::chrono::seconds(1800000400));
  s.setCondition("Placed", true, "Placed", "placed on a", 3,
                 SystemTime(std::chrono::seconds(1800000400)) + 300ms);
  const auto json = api::toJson(s);
  EXPECT_EQ(json["phase"], "Placed");
  EXPECT_EQ(json["shadowCount"], 0) << "a decided placement's shadows are deleted";
  api::ShadowPlacementStatus observing = s;
  observing.phase = api::Phase::Observing;
  EXPECT_EQ(api::toJson(observing)["shadowCount"], 1) << "live shadows only, not the dropped";
  EXPECT_EQ(json["conditions"][0]["lastTransitionTime"], "2027-01-15T08:06:40Z");
  auto back = api::statusFromJson(json);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, s);
}

TEST(StatusJsonTest, AnEmptyStatusIsANewPlacement) {
  auto s = api::statusFromJson(nlohmann::json::object());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->phase, api::Phase::New);
}

TEST(StatusJsonTest, AStatusNoUmbraWroteIsRefusedNamingTheField) {
  auto s = api::statusFromJson({{"phase", "Deciding"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "status.phase: unknown phase \"Deciding\"");
  auto t = api::statusFromJson({{"phase", "Observing"}, {"observationStartedAt", "soon"}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "status.observationStartedAt: \"soon\" is not a time");
}

TEST(StatusJsonTest, AConditionKeepsItsTransitionTimeWhileItsStatusHolds) {
  api::ShadowPlacementStatus s;
  const SystemTime t0 = SystemTime(std::chrono::seconds(1800000000));
  s.setCondition("ShadowsReady", false, "Starting", "", 1, t0);
  s.setCondition("ShadowsReady", false, "Starting", "still", 1, t0 + 10s);
  EXPECT_EQ(s.conditions[0].lastTransitionTime, t0);
  s.setCondition("ShadowsReady", true, "Running", "", 1, t0 + 20s);
  EXPECT_EQ(s.conditions[0].lastTransitionTime, t0 + 20s);
}

}  // namespace
}  // namespace umbra::controller
