// The instance-type benchmark's pickers on a synthetic workload (offline/instancetype_bench.h):
// the oracle and Umbra's trial meet the SLO where the requested size does, on the instancetypes
// KubeVirt bundles.
#include <gtest/gtest.h>

#include "offline/instancetype_bench.h"
#include "offline/instancetype_trial_pick.h"

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

namespace umbra::offline {
namespace {

// The controller's picker: a trial of two hours at a steady load.
struct TrialFixture {
  std::vector<double> busy = std::vector<double>(24, 0.5), memory = std::vector<double>(24, 3.0),
                      steal = std::vector<double>(24, 0.0);
  sim::RequestModel model{0.01, 1.0};
  ControllerTrial trial(double share = 0.02) const {
    return {busy, memory, steal, 0, 24, model, 0.1, share, 2.0};
  }
};

TEST(InstancetypeTrialPickTest, TheScaledP95IsTheFullLoadsReadThroughTheMeshsBuckets) {
  const TrialFixture f;
  const auto types = commonInstancetypes({});
  const InstanceType* medium = nullptr;
  for (const auto& t : types)
    if (t.name == "u1.medium")
      medium = &t;
  ASSERT_NE(medium, nullptr);
  // M/M/1 at half load, 10 ms requests: the true p95 is ln(20) / 50 = 60 ms; at a 2 % share the
  // shadow's 3 s sit between the 2.5 s and 5 s buckets, which interpolation reads high.
  const double p95 = trialP95(*medium, f.trial());
  EXPECT_GT(p95, 60);
  EXPECT_LT(p95, 100);
  TrialFixture busier = f;
  busier.busy.assign(24, 0.8);
  EXPECT_GT(trialP95(*medium, busier.trial()), p95) << "latency grows with the load";
}

TEST(InstancetypeTrialPickTest, PicksTheCheapestSizeThatMeetsTheSloAndHoldsTheMemory) {
  TrialFixture f;
  const auto types = commonInstancetypes({});
  const InstanceType* xlarge = nullptr;
  for (const auto& t : types)
    if (t.name == "u1.xlarge")
      xlarge = &t;
  ASSERT_NE(xlarge, nullptr);
  // 0.5 busy cores of 10 ms requests, 3 GiB in use: u1.medium (1 vCPU, 4 GiB) meets 100 ms.
  const PickerResult r = controllerPick(types, *xlarge, f.trial());
  EXPECT_EQ(r.type, "u1.medium");
  EXPECT_EQ(r.picker, "umbra-controller");
  EXPECT_GT(r.trialCostShare, 0);
  // 5 GiB in use: u1.medium's 4 GiB do not hold it.
  f.memory.assign(24, 5.0);
  EXPECT_EQ(controllerPick(types, *xlarge, f.trial()).type, "u1.large");
}

}  // namespace
}  // namespace umbra::offline
