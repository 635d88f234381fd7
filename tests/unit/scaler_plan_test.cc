// planScaler() without I/O: each row is a scaler, its target and demand, and the writes that
// follow (the target's change first, then the status, then the Events).
#include <gtest/gtest.h>

#include <cmath>

#include "controller/demand_cache.h"
#include "controller/scaler_plan.h"
#include "controller/scaler_reconciler.h"
#include "fakes/fake_clock.h"

namespace umbra::controller {
namespace {

using kube::Json;

const SystemTime Now{std::chrono::seconds(1'800'000'000)};

ScalerInput scaler(const Json& spec, const Json& status = Json::object()) {
  return PredictiveScalerReconciler::input(
      {{"apiVersion", "umbra.io/v1alpha1"},
       {"kind", "PredictiveScaler"},
       {"metadata", {{"name", "s"}, {"namespace", "apps"}, {"generation", 3}}},
       {"spec", spec},
       {"status", status}});
}

Json vmSpec(const std::string& mode = "Apply") {
  return {{"target", {{"kind", "VirtualMachine"}, {"name", "web"}}},
          {"mode", mode},
          {"interval", "5m"},
          {"history", "48h"},
          {"vertical", {{"cpu", {{"minSockets", 1}, {"maxSockets", 4}}}}}};
}

// A running VM that can hotplug up to 4 sockets of one core.
ScalerWorld vmWorld(int sockets, std::vector<double> cpu) {
  ScalerWorld w;
  w.vm.exists = w.vm.running = true;
  w.vm.sockets = w.vm.vmiSockets = sockets;
  w.vm.maxSockets = 4;
  w.vm.guest = w.vm.vmiGuest = w.vm.guestAtBoot = 1024.0 * 1024 * 1024;
  w.vm.maxGuest = 4 * w.vm.guest;
  w.cpuCores = std::move(cpu);
  w.memoryBytes.assign(w.cpuCores.size(), 0.5 * w.vm.guest);
  w.presentSteps = w.cpuCores.size();
  return w;
}

// Two days of a flat demand, then a steady climb over the last hour.
std::vector<double> rising(double from, double to) {
  std::vector<double> v(576, from);
  for (int i = 0; i < 12; ++i)
    v.push_back(from + (to - from) * (i + 1) / 12.0);
  return v;
}

template <class T>
std::vector<const T*> writesOf(const ScalerPlan& p) {
  std::vector<const T*> out;
  for (const auto& w : p.writes)
    if (const auto* x = std::get_if<T>(&w))
      out.push_back(x);
  return out;
}

const api::ScalerStatus& statusOf(const ScalerPlan& p) {
  const auto s = writesOf<scaler_write::WriteStatus>(p);
  EXPECT_EQ(s.size(), 1u);
  return s.front()->status;
}

std::string condition(const api::ScalerStatus& s, const std::string& type,
                      std::string* reason = nullptr) {
  for (const auto& c : s.conditions)
    if (c.type == type) {
      if (reason)
        *reason = c.reason;
      return c.status;
    }
  return "";
}

std::vector<std::string> eventReasons(const ScalerPlan& p) {
  std::vector<std::string> out;
  for (const auto* e : writesOf<scaler_write::PostEvent>(p))
    out.push_back(e->reason);
  return out;
}

TEST(ScalerPlan, AnInvalidSpecIsReportedOnceAndWaitsForAChange) {
  Json spec = vmSpec();
  spec["interval"] = "five minutes";
  const auto in = scaler(spec);
  ASSERT_FALSE(in.spec);
  const auto p = planScaler(in, {}, Now);
  std::string reason;
  EXPECT_EQ(condition(statusOf(p), "Ready", &reason), "False");
  EXPECT_EQ(reason, "InvalidSpec");
  EXPECT_EQ(eventReasons(p), std::vector<std::string>{"InvalidSpec"});
  EXPECT_FALSE(p.next.requeueAfter.has_value());
  // Said once: the next pass with the same status posts nothing.
  const auto again = planScaler(scaler(spec, api::toJson(statusOf(p))), {}, Now);
  EXPECT_TRUE(eventReasons(again).empty());
}

TEST(ScalerPlan, AMissingOrStoppedTargetIsAConditionAndARetryAfterTheInterval) {
  auto p = planScaler(scaler(vmSpec()), {}, Now);
  std::string reason;
  EXPECT_EQ(condition(statusOf(p), "Ready", &reason), "False");
  EXPECT_EQ(reason, "TargetNotFound");
  ASSERT_TRUE(p.next.requeueAfter.has_value());
  EXPECT_EQ(*p.next.requeueAfter, std::chrono::minutes(5));
  auto w = vmWorld(1, rising(0.3, 0.3));
  w.vm.running = false;
  p = planScaler(scaler(vmSpec()), w, Now);
  EXPECT_EQ(condition(statusOf(p), "ScalingActive", &reason), "False");
  EXPECT_EQ(reason, "TargetNotRunning");
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
}

TEST(ScalerPlan, AVmThatCannotHotplugGetsAConditionNotASilentNoOp) {
  auto w = vmWorld(1, rising(0.3, 0.9));
  w.vm.maxSockets = 0;
  const auto p = planScaler(scaler(vmSpec()), w, Now);
  std::string reason;
  EXPECT_EQ(condition(statusOf(p), "Ready", &reason), "False");
  EXPECT_EQ(reason, "CannotHotplug");
  EXPECT_EQ(eventReasons(p), std::vector<std::string>{"CannotHotplug"});
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
}

TEST(ScalerPlan, ARisingDemandAddsSocketsBeforeItArrivesThenStatusThenEvent) {
  const auto p = planScaler(scaler(vmSpec()), vmWorld(1, rising(0.2, 0.9)), Now);
  ASSERT_GE(p.writes.size(), 3u);
  const auto* patch = std::get_if<scaler_write::PatchVirtualMachine>(&p.writes[0]);
  ASSERT_NE(patch, nullptr) << "the change comes first";
  const int sockets = patch->patch["spec"]["template"]["spec"]["domain"]["cpu"]["sockets"];
  EXPECT_GE(sockets, 2) << "0.9 cores now, rising: more than one vCPU ahead";
  EXPECT_TRUE(std::holds_alternative<scaler_write::WriteStatus>(p.writes[1]));
  const auto& st = statusOf(p);
  EXPECT_EQ(st.lastAction.value("action", ""), "ScaleUp");
  EXPECT_EQ(st.lastActionTo, std::to_string(sockets) + " sockets");
  EXPECT_EQ(*st.observedGeneration, 3);
  EXPECT_EQ(eventReasons(p), std::vector<std::string>{"ScaledUp"});
  // Once the VM has them, the next pass changes nothing.
  auto after = vmWorld(sockets, rising(0.2, 0.9));
  const auto next = planScaler(scaler(vmSpec(), api::toJson(st)), after, Now);
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(next).empty());
}

TEST(ScalerPlan, RecommendModeReportsAndDoesNotTouchTheVm) {
  const auto p = planScaler(scaler(vmSpec("Recommend")), vmWorld(1, rising(0.2, 0.9)), Now);
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
  const auto& st = statusOf(p);
  EXPECT_GE(st.recommendation.value("sockets", 0), 2);
  EXPECT_FALSE(st.lastActionTime.has_value());
  EXPECT_EQ(eventReasons(p), std::vector<std::string>{"Recommended"});
}

TEST(ScalerPlan, OneHotplugAtATime) {
  auto w = vmWorld(1, rising(0.2, 0.9));
  w.vm.hotplugPending = true;
  auto p = planScaler(scaler(vmSpec()), w, Now);
  std::string reason;
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
  EXPECT_EQ(condition(statusOf(p), "ScalingActive", &reason), "False");
  EXPECT_EQ(reason, "HotplugPending");
  // Asked but not yet on the VMI counts as pending too.
  w = vmWorld(2, rising(0.2, 1.9));
  w.vm.vmiSockets = 1;
  p = planScaler(scaler(vmSpec()), w, Now);
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
}

TEST(ScalerPlan, FewerVcpusAreRecommendedNeverApplied) {
  // Two days at 0.3 cores on 4 sockets: after the (6-hour) cut window, 1 socket is enough.
  const auto p = planScaler(scaler(vmSpec()), vmWorld(4, rising(0.3, 0.3)), Now);
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
  const auto& st = statusOf(p);
  EXPECT_EQ(st.recommendation.value("sockets", 0), 1) << st.recommendation.dump();
  EXPECT_NE(st.recommendation.value("reason", "").find("restart"), std::string::npos);
}

TEST(ScalerPlan, MemoryIsHotpluggedWithinTheBootSizeAndMaxGuest) {
  Json spec = vmSpec();
  spec["vertical"] = {{"memory", {{"min", "1Gi"}, {"max", "8Gi"}}}};
  auto w = vmWorld(1, rising(0.2, 0.2));
  const double gi = 1024.0 * 1024 * 1024;
  w.memoryBytes.assign(w.cpuCores.size(), 0.5 * gi);
  for (int i = 0; i < 12; ++i)
    w.memoryBytes[w.memoryBytes.size() - 12 + static_cast<size_t>(i)] = (0.5 + 0.25 * (i + 1)) * gi;
  const auto p = planScaler(scaler(spec), w, Now);
  const auto patches = writesOf<scaler_write::PatchVirtualMachine>(p);
  ASSERT_EQ(patches.size(), 1u) << statusOf(p).recommendation.dump();
  const std::string guest =
      patches[0]->patch["spec"]["template"]["spec"]["domain"]["memory"]["guest"];
  EXPECT_NE(guest, "1024Mi");
  EXPECT_LE(std::stod(guest) * 1024 * 1024, 4 * gi) << "within maxGuest (4Gi)";
}

TEST(ScalerPlan, APoolGetsMoreReplicasThroughItsScaleSubresource) {
  const Json spec = {{"target", {{"kind", "VirtualMachinePool"}, {"name", "shop"}}},
                     {"mode", "Apply"},
                     {"interval", "5m"},
                     {"horizontal", {{"minReplicas", 1}, {"maxReplicas", 10}}}};
  ScalerWorld w;
  w.pool.exists = true;
  w.pool.replicas = 2;
  w.pool.vcpusPerVm = 1;
  w.cpuCores = rising(1.0, 1.98);  // two VMs of one vCPU, saturating
  w.presentSteps = w.cpuCores.size();
  const auto p = planScaler(scaler(spec), w, Now);
  const auto scale = writesOf<scaler_write::ScalePool>(p);
  ASSERT_EQ(scale.size(), 1u);
  EXPECT_GE(scale[0]->replicas, 3);
  EXPECT_EQ(statusOf(p).current.value("replicas", 0), 2);
  w.pool.paused = true;
  const auto paused = planScaler(scaler(spec), w, Now);
  EXPECT_TRUE(writesOf<scaler_write::ScalePool>(paused).empty());
  std::string reason;
  EXPECT_EQ(condition(statusOf(paused), "ScalingActive", &reason), "False");
  EXPECT_EQ(reason, "PoolPaused");
}

TEST(ScalerPlan, NoMetricsIsAConditionWithTheReason) {
  auto w = vmWorld(1, {});
  w.metricsProblem = "no kubevirt_vmi_cpu_usage_seconds_total for apps/web";
  const auto p = planScaler(scaler(vmSpec()), w, Now);
  std::string reason;
  EXPECT_EQ(condition(statusOf(p), "MetricsAvailable", &reason), "False");
  EXPECT_EQ(reason, "NoMetrics");
  EXPECT_TRUE(writesOf<scaler_write::PatchVirtualMachine>(p).empty());
}

// A trained network's stand-in: flat at the newest value, p90 a tenth above.
class FlatNetwork final : public model::SeriesMethod {
 public:
  std::string name() const override { return "flat"; }
  Status fit(const std::vector<model::TrainSeries>&, int) override { return okStatus(); }
  model::QuantileForecast predict(size_t, std::span<const double> h, int horizon) const override {
    const double last = h.empty() ? 0 : h.back();
    return {std::vector<double>(static_cast<size_t>(horizon), last),
            std::vector<double>(static_cast<size_t>(horizon), last + 0.1)};
  }
};

TEST(ScalerPlan, TheOperatorsNetworkJoinsTheEngineOnlyOnItsStep) {
  auto w = vmWorld(1, rising(0.2, 0.9));
  w.network = std::make_shared<FlatNetwork>();
  w.networkHorizon = 6;
  w.networkName = "lstm/test";
  auto p = planScaler(scaler(vmSpec()), w, Now);  // a 5-minute interval: the network's step
  EXPECT_EQ(statusOf(p).forecast.value("model", ""),
            "guarded-ensemble(lstm/test, linear-ar, recent-median, last-value, holt-winters)");
  Json fast = vmSpec();
  fast["interval"] = "15s";
  p = planScaler(scaler(fast), w, Now);
  EXPECT_EQ(statusOf(p).forecast.value("model", "").find("lstm"), std::string::npos)
      << "a 15 s series is not what a 300 s network learned";
}

// Counts reads and answers every VMI asked with a one-row frame.
class CountingSource final : public DemandHistorySource {
 public:
  Result<std::map<std::string, telemetry::FeatureFrame>> history(const std::set<std::string>& vmis,
                                                                 SystemTime, SystemTime,
                                                                 std::chrono::seconds) override {
    ++reads;
    last = vmis;
    std::map<std::string, telemetry::FeatureFrame> out;
    for (const auto& v : vmis)
      out[v] = telemetry::FeatureFrame{{"cpu_usage", "memory_used"}, {0}, {0.5, 0.2}, {1, 1}};
    return out;
  }
  int reads = 0;
  std::set<std::string> last;
};

TEST(DemandCache, OneReadPerStepForEveryScalerTogether) {
  CountingSource source;
  testing::FakeClock clock;
  DemandCache cache(source, clock);
  const auto step = std::chrono::seconds(30), window = std::chrono::seconds(3600);
  ASSERT_TRUE(cache.get({"a/web"}, step, window).ok());
  ASSERT_TRUE(cache.get({"b/api"}, step, window).ok());  // new VMI: read with both
  EXPECT_EQ(source.reads, 2);
  EXPECT_EQ(source.last, (std::set<std::string>{"a/web", "b/api"}));
  // The rest of the step: answered from that read, whoever asks.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(cache.get({"a/web"}, step, window).ok());
    ASSERT_TRUE(cache.get({"b/api"}, step, window).ok());
  }
  EXPECT_EQ(source.reads, 2);
  // The next step: one read for both.
  clock.advance(step);
  auto a = cache.get({"a/web"}, step, window);
  ASSERT_TRUE(cache.get({"b/api"}, step, window).ok());
  EXPECT_EQ(source.reads, 3);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 1u);
  EXPECT_EQ(a->begin()->first, "a/web");
  // A VMI nobody asks for any more is dropped after three steps.
  clock.advance(4 * step);
  ASSERT_TRUE(cache.get({"a/web"}, step, window).ok());
  EXPECT_EQ(source.last, (std::set<std::string>{"a/web"}));
}

}  // namespace
}  // namespace umbra::controller
