// The pure parts of telemetry: feature-tensor assembly, gaps, stale and absent series; and the
// operator's own metric families.
#include <gtest/gtest.h>

#include "exposition/operator_metrics.h"
#include "telemetry/prometheus_source.h"

namespace umbra::telemetry {
namespace {

// A two-feature catalog: a required shadow feature and an optional node feature.
MetricCatalog tiny() {
  MetricCatalog c;
  c.rateWindow = std::chrono::seconds(30);
  c.features = {{"cpu_steal", Scope::Shadow, "q1", "delay_total", 1, true},
                {"node_cpu_utilization", Scope::Node, "q2", "node_cpu_seconds_total", 0.5, false}};
  return c;
}

TEST(Assembly, RowsColumnsGapsAndScalingByHand) {
  const ShadowRef shadow{"ns", "sp-shadow-a", "a"};
  std::vector<SeriesByKey> data(2);
  data[0]["ns/sp-shadow-a"] = {{100, 0.1}, {110, 0.2}, {130, 0.4}, {140, 0.5}};  // 120 missing
  data[0]["ns/other"] = {{100, 9}};
  data[1]["a"] = {{100, 0.25}, {110, 0.25}, {120, 0.3}, {130, 0.3}, {140, 0.35}};
  auto r = assembleCandidate(tiny(), data, shadow, 100, 140, 10, 110, 60);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const FeatureFrame& f = r->frame;
  EXPECT_EQ(f.columns, (std::vector<std::string>{"cpu_steal", "node_cpu_utilization"}));
  EXPECT_EQ(f.times, (std::vector<int64_t>{100, 110, 120, 130, 140}));
  // Row 0 of the shadow feature is before shadowValidFrom (a gap though a value exists); row 2
  // has no value (a gap, not a zero).
  const bool present[5][2] = {
      {false, true}, {true, true}, {false, true}, {true, true}, {true, true}};
  const double values[5][2] = {{0, 0.5}, {0.2, 0.5}, {0, 0.6}, {0.4, 0.6}, {0.5, 0.7}};
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = 0; j < 2; ++j) {
      EXPECT_EQ(f.has(i, j), present[i][j]) << i << "," << j;
      EXPECT_NEAR(f.value(i, j), values[i][j], 1e-12) << i << "," << j;
    }
  }
  EXPECT_NEAR(f.coverage(), 8.0 / 10.0, 1e-12);
  ASSERT_EQ(r->samples.size(), 5u);
  EXPECT_FALSE(r->samples[2].present);
  EXPECT_NEAR(r->samples[3].cpuSteal, 0.4, 1e-12);
  EXPECT_NEAR(r->samples[3].cpuUtilization, 0.3, 1e-12) << "samples are in natural units";
  EXPECT_TRUE(r->notes.empty());
}

TEST(Assembly, AbsentAndStaleSeriesAreNamed) {
  const ShadowRef shadow{"ns", "sp-shadow-a", "a"};
  std::vector<SeriesByKey> data(2);
  auto absent = assembleCandidate(tiny(), data, shadow, 100, 140, 10, 100, 60);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().message,
            "series delay_total{namespace=\"ns\",name=\"sp-shadow-a\"} absent");

  data[0]["ns/sp-shadow-a"] = {{100, 0.1}, {110, 0.1}};
  auto stale = assembleCandidate(tiny(), data, shadow, 100, 300, 10, 100, 60);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().message,
            "series delay_total{namespace=\"ns\",name=\"sp-shadow-a\"} stale: no value in the last "
            "190s of the window");

  // Optional: absent becomes a gap column and a note.
  data[0]["ns/sp-shadow-a"] = {{100, 0.1}, {110, 0.1}};
  auto ok = assembleCandidate(tiny(), data, shadow, 100, 110, 10, 100, 60);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->notes,
            (std::vector<std::string>{
                "node_cpu_utilization: series node_cpu_seconds_total{node=\"a\"} absent"}));
  EXPECT_FALSE(ok->frame.has(0, 1));
}

TEST(OperatorMetrics, TelemetryAndModelFamilies) {
  std::string error;
  auto m = exposition::OperatorMetrics::create("", error);
  ASSERT_TRUE(m) << error;
  m->prometheusQuery("query_range", "success", 0.02);
  m->prometheusQuery("query_range", "network", 1.5);
  m->forecastDuration(0.0004);
  m->modelInfo("baseline/window-mean");
  m->modelInfo("lstm/v2");
  m->modelValidationError("mase", 0.71);
  const std::string text = m->scrape();
  EXPECT_NE(
      text.find("umbra_prometheus_requests_total{endpoint=\"query_range\",outcome=\"network\"} 1"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("umbra_prometheus_request_duration_seconds_count{endpoint=\"query_range\"} 2"),
      std::string::npos);
  EXPECT_NE(text.find("umbra_forecast_duration_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("umbra_model_info{version=\"lstm/v2\"} 1"), std::string::npos);
  EXPECT_EQ(text.find("umbra_model_info{version=\"baseline/window-mean\"}"), std::string::npos)
      << "only the model in use is reported";
  EXPECT_NE(text.find("umbra_model_validation_error{metric=\"mase\"} 0.71"), std::string::npos);
}

TEST(OperatorMetrics, BuildInfoAndWhetherThisReplicaLeads) {
  std::string error;
  auto m = exposition::OperatorMetrics::create("", error);
  ASSERT_TRUE(m) << error;
  m->buildInfo("0.1.0");
  EXPECT_NE(m->scrape().find("umbra_build_info{version=\"0.1.0\"} 1"), std::string::npos);
  EXPECT_NE(m->scrape().find("umbra_leader 0"), std::string::npos) << "a standby until it leads";
  m->leading(true);
  EXPECT_NE(m->scrape().find("umbra_leader 1"), std::string::npos);
}

// The standard process_* families, read from /proc/self at each scrape.
TEST(OperatorMetrics, ProcessMetricsComeFromProc) {
  std::string error;
  auto m = exposition::OperatorMetrics::create("", error);
  ASSERT_TRUE(m) << error;
  const auto value = [](const std::string& text, const std::string& name) {
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  const std::string text = m->scrape();
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos) << text;
  EXPECT_GT(value(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value(text, "process_virtual_memory_bytes"),
            value(text, "process_resident_memory_bytes"));
  EXPECT_GE(value(text, "process_open_fds"), 3) << "stdin, stdout, stderr at least";
  EXPECT_GT(value(text, "process_max_fds"), 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double started = value(text, "process_start_time_seconds");
  EXPECT_LE(started, now + 1);
  EXPECT_GT(started, now - 3600) << "this test process started within the hour";
  // CPU time only grows.
  volatile double spin = 0;
  for (int i = 0; i < 20'000'000; ++i)
    spin = spin + i;
  EXPECT_GT(value(m->scrape(), "process_cpu_seconds_total"),
            value(text, "process_cpu_seconds_total"));
}

}  // namespace
}  // namespace umbra::telemetry
