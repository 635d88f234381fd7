// PrometheusSource against a real Prometheus over backfilled series with known rates.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "harness/prometheus_server.h"
#include "telemetry/prometheus_source.h"

namespace umbra::testing {
namespace {

using namespace std::chrono_literals;

// Two hours of 15 s samples ending an hour ago: steal and node counters growing at fixed rates.
struct Series {
  int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                        .count() /
                    60 * 60 -
                3600;
  int64_t begin = end - 7200;

  std::string openMetrics() const {
    std::ostringstream om;
    const struct {
      const char* shadow;
      const char* node;
      double steal, util, mem, io;
    } rows[] = {{"sp-shadow-n1", "n1", 0.02, 0.20, 0.00, 0.01},
                {"sp-shadow-n2", "n2", 0.10, 0.50, 0.05, 0.02},
                {"sp-shadow-n3", "n3", 0.30, 0.80, 0.20, 0.10}};
    om << "# TYPE kubevirt_vmi_vcpu_delay_seconds counter\n";
    for (const auto& r : rows) {
      for (int64_t t = begin; t <= end; t += 15) {
        om << "kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"ns\",name=\"" << r.shadow
           << "\",node=\"" << r.node << "\",id=\"0\"} " << r.steal * (t - begin) << " " << t
           << "\n";
      }
    }
    // Running the rest of its runnable time: the delay fraction is `steal`.
    om << "# TYPE kubevirt_vmi_vcpu_seconds counter\n";
    for (const auto& r : rows) {
      for (int64_t t = begin; t <= end; t += 15) {
        om << "kubevirt_vmi_vcpu_seconds_total{namespace=\"ns\",name=\"" << r.shadow << "\",node=\""
           << r.node << "\",id=\"0\",state=\"running\"} " << (1 - r.steal) * (t - begin) << " " << t
           << "\n";
      }
    }
    om << "# TYPE node_cpu_seconds counter\n";
    for (const auto& r : rows) {
      for (int64_t t = begin; t <= end; t += 15) {
        om << "node_cpu_seconds_total{node=\"" << r.node << "\",cpu=\"0\",mode=\"idle\"} "
           << (1 - r.util) * (t - begin) << " " << t << "\n";
        om << "node_cpu_seconds_total{node=\"" << r.node << "\",cpu=\"0\",mode=\"iowait\"} "
           << r.io * (t - begin) << " " << t << "\n";
      }
    }
    om << "# TYPE node_pressure_memory_waiting_seconds counter\n";
    for (const auto& r : rows) {
      for (int64_t t = begin; t <= end; t += 15) {
        om << "node_pressure_memory_waiting_seconds_total{node=\"" << r.node << "\"} "
           << r.mem * (t - begin) << " " << t << "\n";
      }
    }
    om << "# EOF\n";
    return om.str();
  }
};

class PrometheusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PrometheusServer();
    const Status st = server_->start(series_.openMetrics());
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static SystemTime at(int64_t unix) { return SystemTime(std::chrono::seconds(unix)); }
  static inline Series series_;
  static inline PrometheusServer* server_ = nullptr;
};

TEST_F(PrometheusTest, OneQueryPerFeatureReturnsEveryShadowWithKnownValues) {
  telemetry::PrometheusSource source({server_->url()});
  const std::vector<telemetry::ShadowRef> shadows = {
      {"ns", "sp-shadow-n1", "n1"}, {"ns", "sp-shadow-n2", "n2"}, {"ns", "sp-shadow-n3", "n3"}};
  auto r = source.observe(shadows, at(series_.end - 1200), at(series_.end), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(source.queriesIssued(), 4) << "batched: one query per feature, not per shadow";
  ASSERT_EQ(r->size(), 3u);
  const double steal[] = {0.02, 0.10, 0.30};
  const double util[] = {0.20, 0.50, 0.80};
  const double mem[] = {0.00, 0.05, 0.20};
  const double io[] = {0.01, 0.02, 0.10};
  for (size_t i = 0; i < 3; ++i) {
    const auto& c = (*r)[i];
    EXPECT_EQ(c.node, shadows[i].node);
    ASSERT_EQ(c.samples.size(), 1200u / 15 + 1);
    // The shadow's first rate window (60 s = 4 steps) reaches back before the observation began:
    // those steps are gaps, not low values.
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_FALSE(c.samples[k].present) << k;
    }
    for (size_t k = 4; k < c.samples.size(); ++k) {
      const auto& s = c.samples[k];
      ASSERT_TRUE(s.present) << k;
      EXPECT_NEAR(s.cpuSteal, steal[i], 1e-6);
      EXPECT_NEAR(s.cpuUtilization, util[i], 1e-6);
      EXPECT_NEAR(s.memoryPressure, mem[i], 1e-6);
      EXPECT_NEAR(s.ioWait, io[i], 1e-6);
    }
  }
}

TEST_F(PrometheusTest, AnAbsentShadowSeriesIsNamed) {
  telemetry::PrometheusSource source({server_->url()});
  auto r = source.observe({{"ns", "sp-shadow-n1", "n1"}, {"ns", "sp-shadow-n9", "n9"}},
                          at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "series kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"ns\",name=\"sp-shadow-n9\"} "
            "absent");
}

TEST_F(PrometheusTest, GapsAreMarkedNotFilled) {
  telemetry::PrometheusSource source({server_->url()});
  // The window runs past the last sample: rate() has no data for the late steps.
  auto r = source.observe({{"ns", "sp-shadow-n2", "n2"}}, at(series_.end - 300),
                          at(series_.end + 600), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  size_t gaps = 0;
  for (const auto& s : (*r)[0].samples)
    gaps += s.present ? 0 : 1;
  EXPECT_GT(gaps, 0u);
  EXPECT_LT(gaps, (*r)[0].samples.size());
}

TEST_F(PrometheusTest, BadQueryAndUnreachableServerAreOneLineErrors) {
  telemetry::PrometheusOptions bad{server_->url()};
  bad.catalog.cpuSteal = "rate(kubevirt_vmi_vcpu_delay_seconds_total[1m]";  // unbalanced
  auto r = telemetry::PrometheusSource(bad).observe({{"ns", "sp-shadow-n1", "n1"}},
                                                    at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bad_data"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);

  telemetry::PrometheusOptions down{"http://127.0.0.1:1"};
  down.timeout = 5s;
  auto d = telemetry::PrometheusSource(down).observe({{"ns", "s", "n"}}, at(series_.end - 600),
                                                     at(series_.end), 15s);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.error().is(ErrorKind::Network)) << d.error().describe();
  EXPECT_NE(d.error().message.find("http://127.0.0.1:1"), std::string::npos);
}

TEST(PrometheusParse, MalformedAndErrorResponses) {
  EXPECT_FALSE(telemetry::parseMatrix("not json", "name", "q").ok());
  auto e = telemetry::parseMatrix(
      R"({"status":"error","errorType":"timeout","error":"query timed out"})", "name", "q");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "q: timeout: query timed out");
  auto v = telemetry::parseMatrix(
      R"({"status":"success","data":{"resultType":"vector","result":[]}})", "name", "q");
  ASSERT_FALSE(v.ok());
  auto m = telemetry::parseMatrix(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"name":"a"},"values":[[100,"0.5"],[115,"0.25"]]}]}})",
      "name", "q");
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->at("a").at(115), 0.25);
}

}  // namespace
}  // namespace umbra::testing
