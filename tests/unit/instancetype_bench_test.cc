// The instance-type benchmark's pickers on a synthetic workload (offline/instancetype_bench.h):
// the oracle and Umbra's trial meet the SLO where the requested size does, on the instancetypes
// KubeVirt bundles.
#include <gtest/gtest.h>

#include "offline/instancetype_bench.h"

namespace umbra::offline {
namespace {

sim::Trace steady(const std::string& id, double cpu, double cores, double memory, double gib) {
  sim::Trace t;
  t.id = id;
  t.cpuCores = cores;
  t.memoryBytes = gib * 1024 * 1024 * 1024;
  for (int s = 0; s < 10 * 288; ++s) {  // ten days of 5-minute steps
    t.cpu.push_back(static_cast<float>(cpu));
    t.memory.push_back(static_cast<float>(memory));
    t.disk.push_back(0);
    t.network.push_back(0);
    t.observed.push_back(1);
  }
  return t;
}

TEST(InstancetypeBenchTest, TheBundledSizesAndPricesFollowTheSeries) {
  const auto types = commonInstancetypes({});
  const auto find = [&](const std::string& name) {
    for (const auto& t : types)
      if (t.name == name)
        return t;
    return InstanceType{};
  };
  EXPECT_EQ(find("u1.xlarge").vcpus, 4);
  EXPECT_DOUBLE_EQ(find("u1.xlarge").memoryGiB, 16);
  EXPECT_DOUBLE_EQ(find("cx1.xlarge").memoryGiB, 8);
  EXPECT_TRUE(find("cx1.xlarge").dedicated);
  EXPECT_DOUBLE_EQ(find("m1.large").memoryGiB, 16);
  EXPECT_NEAR(find("u1.xlarge").pricePerHour, 4 * 0.03 + 16 * 0.004, 1e-12);
  EXPECT_NEAR(find("cx1.xlarge").pricePerHour, 4 * 0.03 * 1.15 + 8 * 0.004, 1e-12);
}

TEST(InstancetypeBenchTest, TheOracleAndUmbraMeetTheSloOnASteadyWorkload) {
  sim::TraceSet vms;
  vms.series["vm"] = steady("vm", 0.5, 4, 0.25, 8);  // 2 busy cores of 4, 2 GiB used of 8
  const sim::Trace host = steady("alibaba_h", 0.2, 96, 0.5, 100);
  const auto report = runInstancetypeBench(vms, {&host}, {}, {});
  ASSERT_EQ(report.workloads.size(), 1u);
  const auto& w = report.workloads[0];
  std::map<std::string, PickerResult> by;
  for (const auto& p : w.pickers)
    by[p.picker] = p;
  EXPECT_EQ(by["static"].type, "u1.xlarge") << "4 vCPUs and 8 GiB, in u1";
  EXPECT_EQ(by["oracle"].sloMinutes, 0);
  EXPECT_LE(by["oracle"].costPerHour, by["static"].costPerHour);
  EXPECT_EQ(by["umbra"].sloMinutes, 0) << by["umbra"].type << " " << w.trialLog.front();
  EXPECT_GE(by["umbra"].costPerHour, by["oracle"].costPerHour);
  EXPECT_GT(by["umbra"].trialCostShare, 0);
  EXPECT_LT(by["umbra"].trialCostShare, 0.1);
  EXPECT_TRUE(by.count("vpa-p90+15%"));
  EXPECT_TRUE(by.count("umbra-without-trial"));
}

}  // namespace
}  // namespace umbra::offline
