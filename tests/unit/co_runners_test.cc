// The node's history as its current co-runners would have made it (model/co_runners.h).
#include <gtest/gtest.h>

#include "model/co_runners.h"

namespace umbra::model {
namespace {

using Where = VmCpuSlots::Where;

// A node of 10 cores, four slots.
constexpr double Cores = 10;

TEST(CoRunnerHistory, AVmThatLeftIsTakenOut) {
  // 2 cores of the node's own load, and a VM using 3 cores that left before the last slot.
  const std::vector<double> node = {0.5, 0.5, 0.5, 0.2};
  const std::vector<VmCpuSlots> vms = {
      {{3, 3, 3, 0}, {Where::Here, Where::Here, Where::Here, Where::Absent}, false}};
  const auto h = coRunnerHistory(node, Cores, vms);
  ASSERT_EQ(h.size(), 4u);
  for (double u : h)
    EXPECT_NEAR(u, 0.2, 1e-12);
}

TEST(CoRunnerHistory, ANewVmIsPutInAtItsMean) {
  // A VM that started two slots ago, using 2 then 4 cores: its mean (3) stands for the slots
  // before it ran.
  const std::vector<double> node = {0.1, 0.1, 0.3, 0.5};
  const std::vector<VmCpuSlots> vms = {
      {{0, 0, 2, 4}, {Where::Absent, Where::Absent, Where::Here, Where::Here}, true}};
  const auto h = coRunnerHistory(node, Cores, vms);
  EXPECT_NEAR(h[0], 0.4, 1e-12);
  EXPECT_NEAR(h[1], 0.4, 1e-12);
  EXPECT_NEAR(h[2], 0.3, 1e-12);
  EXPECT_NEAR(h[3], 0.5, 1e-12);
}

TEST(CoRunnerHistory, AVmThatMovedHereBringsItsPast) {
  // It used 1, 6, 1 cores on another node, then moved here: its peak counts here.
  const std::vector<double> node = {0.1, 0.1, 0.1, 0.2};
  const std::vector<VmCpuSlots> vms = {
      {{1, 6, 1, 1}, {Where::Elsewhere, Where::Elsewhere, Where::Elsewhere, Where::Here}, true}};
  const auto h = coRunnerHistory(node, Cores, vms);
  EXPECT_NEAR(h[1], 0.7, 1e-12);
  EXPECT_NEAR(h[3], 0.2, 1e-12);
}

TEST(CoRunnerHistory, AVmThatMovedAwayLeavesNothingHere) {
  // It ran here, then elsewhere: taken out where it ran here, nothing added where it ran away.
  const std::vector<double> node = {0.6, 0.6, 0.1, 0.1};
  const std::vector<VmCpuSlots> vms = {
      {{5, 5, 5, 5}, {Where::Here, Where::Here, Where::Elsewhere, Where::Elsewhere}, false}};
  const auto h = coRunnerHistory(node, Cores, vms);
  for (double u : h)
    EXPECT_NEAR(u, 0.1, 1e-12);
}

TEST(CoRunnerHistory, AVmThatLeftWithinTheLastSlotIsTakenOut) {
  // Still in the last slot's rate, but gone from the node now.
  const std::vector<double> node = {0.6, 0.6, 0.6, 0.6};
  const std::vector<VmCpuSlots> vms = {
      {{4, 4, 4, 4}, {Where::Here, Where::Here, Where::Here, Where::Here}, false}};
  const auto h = coRunnerHistory(node, Cores, vms);
  for (double u : h)
    EXPECT_NEAR(u, 0.2, 1e-12);
}

TEST(CoRunnerHistory, AVmHereAllAlongChangesNothing) {
  const std::vector<double> node = {0.3, 0.9, 0.4, 0.35};
  const std::vector<VmCpuSlots> vms = {
      {{2, 8, 3, 2.5}, {Where::Here, Where::Here, Where::Here, Where::Here}, true}};
  const auto h = coRunnerHistory(node, Cores, vms);
  for (size_t t = 0; t < node.size(); ++t)
    EXPECT_NEAR(h[t], node[t], 1e-12);
}

TEST(CoRunnerHistory, ClampsAndIgnoresMisalignedSeries) {
  const std::vector<double> node = {0.9, 0.1};
  const std::vector<VmCpuSlots> vms = {
      {{0, 20}, {Where::Absent, Where::Here}, true},                   // would exceed the node
      {{1, 1, 1}, {Where::Here, Where::Here, Where::Absent}, false}};  // three slots: ignored
  const auto h = coRunnerHistory(node, Cores, vms);
  EXPECT_DOUBLE_EQ(h[0], 1.0);
  EXPECT_DOUBLE_EQ(h[1], 0.1);
  EXPECT_TRUE(coRunnerHistory({}, Cores, vms).empty());
}

TEST(CoRunnerHistory, TheOperatorsFormRebuildsEachNodeFromTheVmisSeries) {
  // Three steps; "a" moved from n1 to n2, "b" left n2 after the first step, "c" started on n1 in
  // the last step. n3 has no CPU count: left as it is.
  telemetry::VmiCpuHistory v;
  v.times = {0, 300, 600};
  v.vmis = {{"ns/a", {"n1", "n1", "n2"}, {2, 2, 2}},
            {"ns/b", {"n2", "", ""}, {4, 0, 0}},
            {"ns/c", {"", "", "n1"}, {0, 0, 1}}};
  v.nodeCpus = {{"n1", 10}, {"n2", 10}};
  std::map<std::string, std::vector<double>> h = {
      {"n1", {0.3, 0.3, 0.2}}, {"n2", {0.5, 0.1, 0.3}}, {"n3", {0.7, 0.7, 0.7}}};
  EXPECT_EQ(toCoRunnerHistories(h, v), 2u);
  // n1: a taken out where it ran here; c put in at its mean (1 core) where it did not run.
  EXPECT_NEAR(h["n1"][0], 0.2, 1e-12);
  EXPECT_NEAR(h["n1"][1], 0.2, 1e-12);
  EXPECT_NEAR(h["n1"][2], 0.2, 1e-12);
  // n2: b taken out; a put in with what it used on n1.
  EXPECT_NEAR(h["n2"][0], 0.3, 1e-12);
  EXPECT_NEAR(h["n2"][1], 0.3, 1e-12);
  EXPECT_NEAR(h["n2"][2], 0.3, 1e-12);
  EXPECT_EQ(h["n3"], (std::vector<double>{0.7, 0.7, 0.7}));
}

}  // namespace
}  // namespace umbra::model
