// The Prometheus client and PrometheusSource against a real Prometheus (Debian's package) over
// backfilled series with known rates; TLS and basic auth through Prometheus' own web config; and
// the failure modes a real server cannot be made to produce on demand (a malformed body, a 503,
// silence) from a few canned bytes on a loopback socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness/control_plane.h"
#include "harness/prometheus_server.h"
#include "model/co_runners.h"
#include "telemetry/prometheus_source.h"
#include "training/lstm.h"

namespace umbra::testing {
namespace {

using namespace std::chrono_literals;
using telemetry::MetricCatalog;
using telemetry::PrometheusClient;
using telemetry::PrometheusConnection;
using telemetry::PrometheusOptions;
using telemetry::PrometheusSource;

// Per candidate i (shadow sp-shadow-n<i+1> on node n<i+1>): every default-catalog feature has a
// known value, so the whole feature tensor can be computed by hand.
struct Row {
  const char* shadow;
  const char* node;
  double steal, util, memPressure, iowait;
};
constexpr Row Rows[] = {{"sp-shadow-n1", "n1", 0.02, 0.20, 0.00, 0.01},
                        {"sp-shadow-n2", "n2", 0.10, 0.50, 0.05, 0.02},
                        {"sp-shadow-n3", "n3", 0.30, 0.80, 0.20, 0.10}};

// Raw (unnormalised) value of each default feature for row i.
std::map<std::string, double> expectedRaw(size_t i) {
  const Row& r = Rows[i];
  const double k = static_cast<double>(i + 1);
  return {{"cpu_steal", r.steal},  // the delay counter's throttled part taken out
          {"probe_memory_speed", 200 * (1 - 0.1 * k)},  // operations per kernel-second
          {"probe_alu_speed", 200.0},
          {"cpu_wait", 0.05 * k / 1.0},  // wait / (all vCPU states: running + blocked = 1)
          {"cpu_usage", 0.01 * k},
          {"memory_used", 0.25 * k},
          {"storage_latency", (0.002 * k + 0.004 * k) / (10.0 + 20.0)},
          {"storage_iops", 30.0},
          {"network_bytes", 3e6 * k},
          {"node_cpu_utilization", r.util},
          {"node_cpu_steal", 0.01 * k},
          {"node_cpu_iowait", r.iowait},
          {"node_memory_available", 1.0 - 0.1 * k},
          {"node_pressure_cpu", 0.03 * k},
          {"node_pressure_memory", r.memPressure},
          {"node_pressure_io", 0.04 * k},
          {"node_disk_busy", 0.1 * k},
          {"node_network_bytes", 2.5e8 * k}};
}

// Two hours of 15 s samples ending an hour ago.
struct Series {
  // The label node-exporter's series name their node by: `node` as kube-prometheus relabels
  // them, `instance` as kube-prometheus-stack does (with `job`, and no `node`).
  std::string nodeLabel = "node";
  int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                        .count() /
                    60 * 60 -
                3600;
  int64_t begin = end - 7200;

  std::string openMetrics() const {
    std::map<std::string, std::ostringstream> families;  // OpenMetrics wants families together
    const auto counter = [&](const std::string& family, const std::string& labels, double rate) {
      auto& om = families[family + " counter"];
      for (int64_t t = begin; t <= end; t += 15)
        om << family << "_total{" << labels << "} " << rate * static_cast<double>(t - begin) << " "
           << t << "\n";
    };
    const auto gauge = [&](const std::string& family, const std::string& labels, double v) {
      auto& om = families[family + " gauge"];
      for (int64_t t = begin; t <= end; t += 15)
        om << family << "{" << labels << "} " << v << " " << t << "\n";
    };
    for (size_t i = 0; i < std::size(Rows); ++i) {
      const Row& r = Rows[i];
      const double k = static_cast<double>(i + 1);
      const std::string vmi =
          std::string("namespace=\"ns\",name=\"") + r.shadow + "\",node=\"" + r.node + "\"";
      // The delay counter also holds the time the CFS quota throttled the shadow, which cAdvisor
      // counts for the launcher pod's compute container.
      counter("kubevirt_vmi_vcpu_delay_seconds", vmi + ",id=\"0\"", r.steal + 0.02 * k);
      counter("container_cpu_cfs_throttled_seconds",
              std::string("namespace=\"ns\",pod=\"virt-launcher-") + r.shadow +
                  "-x2b7q\",container=\"compute\"",
              0.02 * k);
      // The probe: the memory kernel does (1 - 0.1 k) of the ALU kernel's work per second.
      counter("umbra_probe_operations", vmi + ",kernel=\"alu\"", 100);
      counter("umbra_probe_seconds", vmi + ",kernel=\"alu\"", 0.5);
      counter("umbra_probe_operations", vmi + ",kernel=\"memory\"", 100 * (1 - 0.1 * k));
      counter("umbra_probe_seconds", vmi + ",kernel=\"memory\"", 0.5);
      // Running for the rest of its runnable time (the delay fraction is `steal`), blocked for
      // the rest of the second.
      counter("kubevirt_vmi_vcpu_seconds", vmi + ",id=\"0\",state=\"running\"", 1 - r.steal);
      counter("kubevirt_vmi_vcpu_seconds", vmi + ",id=\"0\",state=\"blocked\"", r.steal);
      counter("kubevirt_vmi_vcpu_wait_seconds", vmi + ",id=\"0\"", 0.05 * k);
      counter("kubevirt_vmi_cpu_usage_seconds", vmi, 0.01 * k);
      gauge("kubevirt_vmi_memory_used_bytes", vmi, 0.25 * k * 1073741824.0);
      gauge("kubevirt_vmi_memory_domain_bytes", vmi, 1073741824.0);
      counter("kubevirt_vmi_storage_read_times_seconds", vmi + ",drive=\"rootdisk\"", 0.002 * k);
      counter("kubevirt_vmi_storage_write_times_seconds", vmi + ",drive=\"rootdisk\"", 0.004 * k);
      counter("kubevirt_vmi_storage_iops_read", vmi + ",drive=\"rootdisk\"", 10);
      counter("kubevirt_vmi_storage_iops_write", vmi + ",drive=\"rootdisk\"", 20);
      counter("kubevirt_vmi_network_receive_bytes", vmi + ",interface=\"default\"", 1e6 * k);
      counter("kubevirt_vmi_network_transmit_bytes", vmi + ",interface=\"default\"", 2e6 * k);
      const std::string node = nodeLabel == "node"
                                   ? std::string("node=\"") + r.node + "\""
                                   : nodeLabel + "=\"" + r.node + "\",job=\"node-exporter\"";
      counter("node_cpu_seconds", node + ",cpu=\"0\",mode=\"idle\"", 1 - r.util);
      counter("node_cpu_seconds", node + ",cpu=\"0\",mode=\"iowait\"", r.iowait);
      counter("node_cpu_seconds", node + ",cpu=\"0\",mode=\"steal\"", 0.01 * k);
      gauge("node_memory_MemAvailable_bytes", node, (1 - 0.1 * k) * 8e9);
      gauge("node_memory_MemTotal_bytes", node, 8e9);
      counter("node_pressure_cpu_waiting_seconds", node, 0.03 * k);
      counter("node_pressure_memory_waiting_seconds", node, r.memPressure);
      counter("node_pressure_io_waiting_seconds", node, 0.04 * k);
      counter("node_disk_io_time_seconds", node + ",device=\"vda\"", 0.1 * k);
      counter("node_network_receive_bytes", node + ",device=\"eth0\"", 1e8 * k);
      counter("node_network_transmit_bytes", node + ",device=\"eth0\"", 1.5e8 * k);
      counter("node_network_receive_bytes", node + ",device=\"lo\"", 5e9);  // excluded
    }
    // A shadow in namespace ns2 whose exporter was down for 5 minutes, 30 to 25 minutes before
    // the end (its node's series are n1's, above).
    for (int64_t t = begin; t <= end; t += 15) {
      if (t >= end - 1800 && t < end - 1500)
        continue;
      const std::string vmi = "namespace=\"ns2\",name=\"sp-shadow-gap\",node=\"n1\",id=\"0\"";
      const double since = static_cast<double>(t - begin);
      families["kubevirt_vmi_vcpu_delay_seconds counter"]
          << "kubevirt_vmi_vcpu_delay_seconds_total{" << vmi << "} " << 0.05 * since << " " << t
          << "\n";
      families["kubevirt_vmi_vcpu_seconds counter"] << "kubevirt_vmi_vcpu_seconds_total{" << vmi
                                                    << ",state=\"running\"} " << 0.95 * since << " "
                                                    << t << "\n";
    }
    // Two VMIs in namespace apps for the co-runner history: `mover` used 0.15 cores on n1 for the
    // first hour, then on n2 (a new launcher, a new counter); `gone` used 0.3 cores on n3 until
    // 40 minutes before the end.
    const int64_t mid = begin + 3600;
    for (int64_t t = begin; t <= end; t += 15) {
      auto& usage = families["kubevirt_vmi_cpu_usage_seconds counter"];
      const bool first = t < mid;
      usage << "kubevirt_vmi_cpu_usage_seconds_total{namespace=\"apps\",name=\"mover\",node=\""
            << (first ? "n1" : "n2") << "\"} "
            << 0.15 * static_cast<double>(first ? t - begin : t - mid) << " " << t << "\n";
      if (t < end - 2400)
        usage
            << "kubevirt_vmi_cpu_usage_seconds_total{namespace=\"apps\",name=\"gone\",node=\"n3\"} "
            << 0.3 * static_cast<double>(t - begin) << " " << t << "\n";
    }
    std::ostringstream om;
    for (const auto& [key, body] : families) {
      om << "# TYPE " << key << "\n" << body.str();
    }
    om << "# EOF\n";
    return om.str();
  }
};

SystemTime at(int64_t unix) {
  return SystemTime(std::chrono::seconds(unix));
}

std::unique_ptr<PrometheusSource> sourceFor(const std::string& url,
                                            MetricCatalog catalog = MetricCatalog::defaults()) {
  PrometheusOptions o;
  o.connection.url = url;
  o.connection.retryBase = 10ms;
  o.catalog = std::move(catalog);
  auto s = PrometheusSource::create(o);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<PrometheusClient> clientFor(PrometheusConnection c) {
  if (c.retryBase == std::chrono::milliseconds(200))
    c.retryBase = 10ms;
  auto r = PrometheusClient::create(std::move(c));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(*r) : nullptr;
}

// One Prometheus per test suite, serving Series with node series labelled by `Shape::NodeLabel`.
template <typename Shape>
class ServedSeries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    series_.nodeLabel = Shape::NodeLabel;
    server_ = new PrometheusServer();
    const Status st = server_->start(series_.openMetrics());
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static inline Series series_;
  static inline PrometheusServer* server_ = nullptr;
};

// kube-prometheus: node-exporter's series relabelled with `node`.
struct KubePrometheusShape {
  static constexpr const char* NodeLabel = "node";
};
class PrometheusTest : public ServedSeries<KubePrometheusShape> {};

TEST_F(PrometheusTest, TheFeatureTensorMatchesAHandComputedOneWithOneQueryPerFeature) {
  auto source = sourceFor(server_->url());
  const std::vector<telemetry::ShadowRef> shadows = {
      {"ns", "sp-shadow-n1", "n1"}, {"ns", "sp-shadow-n2", "n2"}, {"ns", "sp-shadow-n3", "n3"}};
  auto r = source->observe(shadows, at(series_.end - 1200), at(series_.end), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const MetricCatalog& catalog = MetricCatalog::defaults();
  EXPECT_EQ(source->queriesIssued(), static_cast<int>(catalog.features.size()))
      << "batched: one query per feature for all shadows, not one per shadow";
  EXPECT_EQ(source->client().requestsSent(), static_cast<int>(catalog.features.size()) + 1)
      << "and once, which label holds the node name (node: found at the first question)";
  ASSERT_TRUE(source->observe(shadows, at(series_.end - 1200), at(series_.end), 15s).ok());
  EXPECT_EQ(source->client().requestsSent(), 2 * static_cast<int>(catalog.features.size()) + 1)
      << "the node label is asked once";
  ASSERT_EQ(r->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& c = (*r)[i];
    EXPECT_EQ(c.node, shadows[i].node);
    EXPECT_TRUE(c.notes.empty()) << c.notes.front();
    const auto& f = c.frame;
    ASSERT_EQ(f.rows(), 1200u / 15 + 1);
    ASSERT_EQ(f.columns, catalog.names());
    const auto raw = expectedRaw(i);
    for (size_t j = 0; j < f.cols(); ++j) {
      const auto& feature = catalog.features[j];
      for (size_t k = 0; k < f.rows(); ++k) {
        // A shadow's first rate window (60 s = 4 steps) reaches back before the observation
        // began: those cells are gaps, not low values. Node series are older than the shadow.
        if (feature.scope == telemetry::Scope::Shadow && k < 4) {
          EXPECT_FALSE(f.has(k, j)) << feature.name << " row " << k;
          EXPECT_EQ(f.value(k, j), 0.0);
          continue;
        }
        ASSERT_TRUE(f.has(k, j)) << feature.name << " row " << k;
        EXPECT_NEAR(f.value(k, j), raw.at(feature.name) / feature.scale, 1e-6)
            << feature.name << " row " << k;
      }
    }
    // The decision samples are the same numbers in natural units.
    EXPECT_FALSE(c.samples[3].present);
    EXPECT_TRUE(c.samples[4].present);
    EXPECT_NEAR(c.samples[10].cpuSteal, Rows[i].steal, 1e-6);
    EXPECT_NEAR(telemetry::probeLossOf(c.samples[10].probeMemorySpeed, c.samples[10].probeAluSpeed),
                0.1 * static_cast<double>(i + 1), 1e-6);
    EXPECT_NEAR(c.samples[10].cpuUtilization, Rows[i].util, 1e-6);
    EXPECT_NEAR(c.samples[10].memoryPressure, Rows[i].memPressure, 1e-6);
    EXPECT_NEAR(c.samples[10].ioWait, Rows[i].iowait, 1e-6);
  }
}

TEST_F(PrometheusTest, AnAbsentRequiredSeriesIsNamed) {
  auto source = sourceFor(server_->url());
  auto r = source->observe({{"ns", "sp-shadow-n1", "n1"}, {"ns", "sp-shadow-n9", "n9"}},
                           at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "series kubevirt_vmi_vcpu_delay_seconds_total{namespace=\"ns\",name=\"sp-shadow-n9\"} "
            "absent");
}

TEST_F(PrometheusTest, AnAbsentOptionalSeriesIsAGapColumnAndANote) {
  MetricCatalog catalog = MetricCatalog::defaults();
  auto& f = catalog.features[static_cast<size_t>(catalog.index("node_pressure_io"))];
  f.query = "max by (node) (rate(node_pressure_io_renamed_total{node=~\"$nodes\"}[$window]))";
  f.series = "node_pressure_io_renamed_total";
  auto source = sourceFor(server_->url(), catalog);
  auto r =
      source->observe({{"ns", "sp-shadow-n2", "n2"}}, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& c = (*r)[0];
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_EQ(c.notes[0],
            "node_pressure_io: series node_pressure_io_renamed_total{node=\"n2\"} absent");
  const int col = c.frame.column("node_pressure_io");
  for (size_t k = 0; k < c.frame.rows(); ++k)
    EXPECT_FALSE(c.frame.has(k, static_cast<size_t>(col)));
  EXPECT_TRUE(c.samples.back().present);
}

TEST_F(PrometheusTest, StaleSeriesAreNamedAndShortGapsAreMarked) {
  auto source = sourceFor(server_->url());
  // 90 s past the last sample: rate() has nothing for the late steps -> gaps, still usable.
  auto r = source->observe({{"ns", "sp-shadow-n2", "n2"}}, at(series_.end - 300),
                           at(series_.end + 90), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  size_t gaps = 0;
  for (const auto& s : (*r)[0].samples)
    gaps += s.present ? 0 : 1;
  EXPECT_GT(gaps, 4u);
  EXPECT_LT(gaps, (*r)[0].samples.size());
  // 10 minutes past it: the exporter is gone; say so by name rather than decide on old data.
  auto stale = source->observe({{"ns", "sp-shadow-n2", "n2"}}, at(series_.end - 300),
                               at(series_.end + 600), 15s);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(
      stale.error().message.rfind("series kubevirt_vmi_vcpu_delay_seconds_total{namespace="
                                  "\"ns\",name=\"sp-shadow-n2\"} stale: no value in the last ",
                                  0),
      0u)
      << stale.error().message;
}

TEST_F(PrometheusTest, AHoleInsideTheWindowIsReportedAsAGapNotDecidedOn) {
  auto source = sourceFor(server_->url());
  const std::vector<telemetry::ShadowRef> gap{{"ns2", "sp-shadow-gap", "n1"}};
  // The window spans the 5-minute hole: rate() has nothing for ~6 minutes of it.
  auto holed = source->observe(gap, at(series_.end - 2400), at(series_.end - 900), 15s);
  ASSERT_TRUE(holed.ok()) << holed.error().message;
  EXPECT_EQ((*holed)[0].gap.rfind("cpu_steal has no data for ", 0), 0u) << (*holed)[0].gap;
  // A window after the hole is whole; a short hole (one missed scrape) is not a gap either.
  auto after = source->observe(gap, at(series_.end - 1200), at(series_.end - 300), 15s);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ((*after)[0].gap, "");
  auto whole = source->observe({{"ns", "sp-shadow-n1", "n1"}}, at(series_.end - 2400),
                               at(series_.end - 900), 15s);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ((*whole)[0].gap, "");
}

TEST_F(PrometheusTest, InstantQueriesDecodeVectorsAndScalars) {
  auto client = clientFor({server_->url()});
  auto v = client->query("sum by (node) (rate(node_cpu_seconds_total{mode=\"idle\"}[1m]))",
                         at(series_.end - 60));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->resultType, "vector");
  ASSERT_EQ(v->series.size(), 3u);
  std::map<std::string, double> idle;
  for (const auto& s : v->series) {
    ASSERT_EQ(s.points.size(), 1u);
    EXPECT_EQ(s.points[0].first, (series_.end - 60) * 1000);
    idle[s.labels.at("node")] = s.points[0].second;
  }
  EXPECT_NEAR(idle["n1"], 0.8, 1e-9);
  EXPECT_NEAR(idle["n3"], 0.2, 1e-9);
  auto s = client->query("scalar(sum(node_memory_MemTotal_bytes))", at(series_.end - 60));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->resultType, "scalar");
  EXPECT_DOUBLE_EQ(s->scalar, 24e9);
}

TEST_F(PrometheusTest, RangeQueriesAreChunkedUnderPrometheusPointLimit) {
  // Two hours at a 0.5 s step is 14,401 points: Prometheus refuses that in one request...
  const std::string q = "sum(rate(node_cpu_seconds_total{mode=\"idle\",node=\"n1\"}[1m]))";
  const int64_t from = series_.begin + 60, to = series_.begin + 60 + 7200;
  const auto raw = runCommand(
      "curl -sS " + server_->url() + "/api/v1/query_range --data-urlencode 'query=" + q +
      "' -d start=" + std::to_string(from) + " -d end=" + std::to_string(to) + " -d step=0.5");
  EXPECT_NE(raw.output.find("exceeded maximum resolution of 11,000 points"), std::string::npos)
      << raw.output;
  // ...so the client splits it (1 s is its finest step: 7,201 points; force small chunks).
  PrometheusConnection c{server_->url()};
  c.maxPointsPerRequest = 1000;
  auto client = clientFor(c);
  auto r = client->queryRange(q, at(from), at(to), 1s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(client->requestsSent(), 8);  // ceil(7201 / 1000)
  ASSERT_EQ(r->series.size(), 1u);
  const auto& points = r->series[0].points;
  // The samples end at series_.end, so the last minute's rate windows thin out; every point up
  // to there is present once, in order.
  ASSERT_GE(points.size(), 7000u);
  for (size_t i = 1; i < points.size(); ++i) {
    ASSERT_EQ(points[i].first - points[i - 1].first, 1000) << i;
  }
  EXPECT_NEAR(points[3000].second, 0.8, 1e-9);
}

TEST_F(PrometheusTest, TrainingHistoryReadsNodesAndVmsOverALongWindow) {
  PrometheusOptions o;
  o.connection.url = server_->url();
  o.connection.maxPointsPerRequest = 100;  // a long window in several chunks
  auto source = PrometheusSource::create(o);
  ASSERT_TRUE(source.ok()) << source.error().message;
  auto nodes = (*source)->history(telemetry::Scope::Node, "", {}, at(series_.begin + 60),
                                  at(series_.end), 15s);
  ASSERT_TRUE(nodes.ok()) << nodes.error().message;
  ASSERT_EQ(nodes->size(), 3u);
  const auto& n2 = nodes->at("n2");
  EXPECT_EQ(n2.rows(), 7140u / 15 + 1);
  const int util = n2.column("node_cpu_utilization");
  ASSERT_GE(util, 0);
  EXPECT_EQ(n2.column("cpu_steal"), -1) << "node history carries node features only";
  EXPECT_DOUBLE_EQ(n2.coverage(), 1.0);
  EXPECT_NEAR(n2.value(200, static_cast<size_t>(util)), 0.5, 1e-9);
  auto vms = (*source)->history(telemetry::Scope::Shadow, "ns", {"sp-shadow-n3"},
                                at(series_.begin + 60), at(series_.end), 60s);
  ASSERT_TRUE(vms.ok()) << vms.error().message;
  ASSERT_EQ(vms->size(), 1u);
  const auto& vm = vms->at("ns/sp-shadow-n3");
  EXPECT_NEAR(vm.value(10, static_cast<size_t>(vm.column("cpu_steal"))), 0.30, 1e-9);
}

// The operator's co-runner history (model/co_runners.h): every VMI's CPU use and node from
// virt-handler's series, each node's CPU count from node-exporter's, and the nodes' histories
// rebuilt from them.
TEST_F(PrometheusTest, NodeHistoriesAreRebuiltFromTheVmisOnTheNodesNow) {
  auto source = sourceFor(server_->url());
  ASSERT_TRUE(source);
  const int64_t from = series_.begin + 600;
  auto vmis = source->vmiCpuHistory(at(from), at(series_.end), 300s);
  ASSERT_TRUE(vmis.ok()) << vmis.error().message;
  ASSERT_EQ(vmis->times.size(), (series_.end - from) / 300 + 1);
  EXPECT_EQ(vmis->nodeCpus, (std::map<std::string, double>{{"n1", 1}, {"n2", 1}, {"n3", 1}}));
  const auto step = [&](int64_t t) { return static_cast<size_t>((t - from) / 300); };
  const auto vmi = [&](const std::string& key) {
    for (const auto& v : vmis->vmis) {
      if (v.key == key)
        return v;
    }
    ADD_FAILURE() << key << " not read";
    return telemetry::VmiCpuHistory::Vmi{};
  };
  const auto mover = vmi("apps/mover"), gone = vmi("apps/gone");
  ASSERT_EQ(mover.node.size(), vmis->times.size());
  EXPECT_EQ(mover.node[step(series_.begin + 1800)], "n1");
  EXPECT_NEAR(mover.cores[step(series_.begin + 1800)], 0.15, 1e-9);
  EXPECT_EQ(mover.node.back(), "n2");
  EXPECT_EQ(gone.node[step(series_.end - 3000)], "n3");
  EXPECT_EQ(gone.node.back(), "") << "no sample in its last steps";

  std::map<std::string, std::vector<double>> histories;
  for (const auto& n : {"n1", "n2", "n3"}) {
    for (int64_t t = from; t <= series_.end; t += 300)
      histories[n].push_back(std::string(n) == "n1" ? 0.2 : std::string(n) == "n2" ? 0.5 : 0.8);
  }
  EXPECT_EQ(model::toCoRunnerHistories(histories, *vmis), 3u);
  // First hour: mover is n2's now (put in there, taken out of n1); gone is nobody's.
  EXPECT_NEAR(histories["n1"][step(series_.begin + 1800)], 0.05, 1e-6);
  EXPECT_NEAR(histories["n2"][step(series_.begin + 1800)], 0.65, 1e-6);
  EXPECT_NEAR(histories["n3"][step(series_.begin + 1800)], 0.5, 1e-6);
  // After the move, before gone left; then after it left.
  EXPECT_NEAR(histories["n1"][step(series_.end - 3000)], 0.2, 1e-6);
  EXPECT_NEAR(histories["n2"][step(series_.end - 3000)], 0.5, 1e-6);
  EXPECT_NEAR(histories["n3"][step(series_.end - 3000)], 0.5, 1e-6);
  EXPECT_NEAR(histories["n3"].back(), 0.8, 1e-6);

  // Every candidate of a decision asks for the same window once its observation ends: one read.
  const int queries = source->queriesIssued();
  auto again = source->vmiCpuHistory(at(from), at(series_.end), 300s);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(source->queriesIssued(), queries) << "the same window is not read again";
  EXPECT_EQ(again->times, vmis->times);
  ASSERT_EQ(again->vmis.size(), vmis->vmis.size());
  EXPECT_EQ(again->vmis.front().cores, vmis->vmis.front().cores);
  auto later = source->vmiCpuHistory(at(from + 300), at(series_.end), 300s);
  ASSERT_TRUE(later.ok()) << later.error().message;
  EXPECT_EQ(source->queriesIssued(), queries + 2) << "another window is";
  EXPECT_EQ(later->times.size(), vmis->times.size() - 1);
}

// kube-prometheus-stack's node-exporter: the node name in `instance`, no `node` label.
struct StockStackShape {
  static constexpr const char* NodeLabel = "instance";
};
class StockStackPrometheusTest : public ServedSeries<StockStackShape> {};

TEST_F(StockStackPrometheusTest, NodeSeriesLabelledByInstanceAreReadWithTheDefaultCatalog) {
  auto source = sourceFor(server_->url());
  const std::vector<telemetry::ShadowRef> shadows = {
      {"ns", "sp-shadow-n1", "n1"}, {"ns", "sp-shadow-n2", "n2"}, {"ns", "sp-shadow-n3", "n3"}};
  auto r = source->observe(shadows, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const MetricCatalog& catalog = MetricCatalog::defaults();
  for (size_t i = 0; i < 3; ++i) {
    const auto& f = (*r)[i].frame;
    EXPECT_TRUE((*r)[i].notes.empty()) << (*r)[i].notes.front();
    const auto raw = expectedRaw(i);
    for (size_t j = 0; j < f.cols(); ++j) {
      const auto& feature = catalog.features[j];
      if (feature.scope != telemetry::Scope::Node)
        continue;
      ASSERT_TRUE(f.has(10, j)) << feature.name;
      EXPECT_NEAR(f.value(10, j), raw.at(feature.name) / feature.scale, 1e-6) << feature.name;
    }
  }
  auto history =
      source->history(telemetry::Scope::Node, "", {}, at(series_.begin + 60), at(series_.end), 60s);
  ASSERT_TRUE(history.ok()) << history.error().message;
  EXPECT_EQ(history->size(), 3u);
  EXPECT_NEAR(history->at("n2").value(5, 0), 0.5, 1e-9) << "keyed by the node name";

  // A catalog that insists on `node` finds nothing: the failure a stock stack used to see.
  MetricCatalog byNode = catalog;
  byNode.nodeLabel = "node";
  auto strict = sourceFor(server_->url(), byNode);
  auto failed = strict->observe(shadows, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "series node_cpu_seconds_total{node=\"n1\"} absent");
}

TEST(MetricCatalogTest, NodeLabelIsAutoByDefaultAndValidated) {
  EXPECT_EQ(MetricCatalog::defaults().nodeLabel, "auto");
  for (const auto& f : MetricCatalog::defaults().features) {
    if (f.scope == telemetry::Scope::Node) {
      EXPECT_NE(f.query.find("by ($node_label)"), std::string::npos) << f.name;
    }
  }
  auto parsed = telemetry::parseCatalog(MetricCatalog::defaults().toYaml(), "round trip");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->nodeLabel, "auto");
  auto bad = telemetry::parseCatalog(
      "nodeLabel: \"no-dashes\"\nfeatures: [{name: a, scope: node, query: up, series: up}]\n",
      "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "c.yaml: nodeLabel: must be auto or a Prometheus label name (node, instance, ...), got "
            "\"no-dashes\"");
}

TEST_F(PrometheusTest, ABadQueryIsAOneLineErrorAndIsNotRetried) {
  MetricCatalog catalog = MetricCatalog::defaults();
  catalog.features[0].query = "rate(kubevirt_vmi_vcpu_delay_seconds_total[1m]";  // unbalanced
  catalog.nodeLabel = "node";  // no question about the node label: only the features' requests
  auto source = sourceFor(server_->url(), catalog);
  auto r =
      source->observe({{"ns", "sp-shadow-n1", "n1"}}, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::BadRequest)) << r.error().describe();
  EXPECT_EQ(r.error().httpCode, 400);
  EXPECT_NE(r.error().message.find("bad_data: "), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(source->client().requestsSent(), static_cast<int>(catalog.features.size()))
      << "one request per feature (sent together): the 400 is not retried";
}

TEST_F(PrometheusTest, AStoppedPrometheusIsAnErrorNamingItsUrlAndRecoveryIsSeen) {
  PrometheusServer own;
  ASSERT_TRUE(own.start(series_.openMetrics()).ok());
  auto source = sourceFor(own.url());
  const std::vector<telemetry::ShadowRef> shadows = {{"ns", "sp-shadow-n1", "n1"}};
  ASSERT_TRUE(source->observe(shadows, at(series_.end - 600), at(series_.end), 15s).ok());
  own.pause();
  auto down = source->observe(shadows, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_FALSE(down.ok());
  EXPECT_TRUE(down.error().is(ErrorKind::Network)) << down.error().describe();
  EXPECT_NE(down.error().message.find(own.url()), std::string::npos) << down.error().message;
  EXPECT_NE(down.error().message.find("(after 3 attempts)"), std::string::npos);
  EXPECT_EQ(down.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(down.error().message.rfind("feature ", 0), 0u) << "names the feature";
  EXPECT_LT(down.error().message.size(), 300u) << "not the whole PromQL: " << down.error().message;
  ASSERT_TRUE(own.resume().ok());
  auto back = source->observe(shadows, at(series_.end - 600), at(series_.end), 15s);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_NEAR((*back)[0].samples.back().cpuSteal, 0.02, 1e-6);
}

// ---- `umbra train`: the forecaster from a real Prometheus' node history, and from traces ----

TEST(UmbraTrain, FromPrometheusNodeHistoryAndFromTraces) {
  // Three days of 15 s node CPU counters for two nodes with a daily pattern.
  const int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                              .count() /
                          60 * 60 -
                      600;
  const int64_t begin = end - int64_t{3} * 86400;
  std::ostringstream om;
  om << "# TYPE node_cpu_seconds counter\n";
  for (const char* node : {"n1", "n2"}) {
    double idle = 0;
    for (int64_t t = begin; t <= end; t += 15) {  // the rate window (60 s) needs 2+ samples
      const double busy = 0.4 + 0.3 * std::sin(2 * M_PI * static_cast<double>(t % 86400) / 86400.0);
      idle += 15 * (1 - busy);
      om << "node_cpu_seconds_total{node=\"" << node << "\",cpu=\"0\",mode=\"idle\"} " << idle
         << " " << t << "\n";
    }
  }
  om << "# EOF\n";
  PrometheusServer prometheus;
  ASSERT_TRUE(prometheus.start(om.str()).ok());
  char tmpl[] = "/tmp/umbra-train.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  // Removed however the test ends (an ASSERT returns early).
  const std::unique_ptr<const std::string, void (*)(const std::string*)> cleanup(
      &dir, [](const std::string* d) { std::filesystem::remove_all(*d); });
  const std::string umbra = UMBRA_CLI_BINARY;
  const auto fromProm =
      runCommand(umbra + " train --prometheus " + prometheus.url() + " --window 2d --out " + dir +
                 "/model.pt --epochs 2 --batch 64 --steps-per-epoch 10");
  ASSERT_EQ(fromProm.exitCode, 0) << fromProm.output;
  EXPECT_NE(fromProm.output.find("[train] prometheus " + prometheus.url() +
                                 ": 2 nodes, node_cpu_utilization over 2d"),
            std::string::npos)
      << fromProm.output;
  EXPECT_NE(fromProm.output.find("[train] epoch  2"), std::string::npos) << fromProm.output;
  auto loaded = model::LstmNet::load(dir + "/model.pt", 6);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const auto meta = nlohmann::json::parse((*loaded)->metadata());
  EXPECT_EQ(meta["trainSeries"], 2);
  EXPECT_EQ(meta["horizon"], 6);
  EXPECT_TRUE(meta["validation"].contains("pinballLoss"));

  // The traces' CSV format: two series of four days at 300 s.
  const std::string traces = dir + "/traces";
  std::filesystem::create_directories(traces);
  {
    std::ofstream csv(traces + "/tiny.csv");
    csv << "series_id,timestamp_s,cpu_util,mem_util,disk_io,net_io\n";
    for (const char* id : {"tiny-a", "tiny-b"}) {
      for (int64_t t = 0; t < int64_t{4} * 86400; t += 300) {
        csv << id << "," << t << ","
            << 0.3 + 0.2 * std::sin(2 * M_PI * static_cast<double>(t) / 86400) << ",0.5,,\n";
      }
    }
  }
  const auto fromTraces = runCommand(umbra + " train --traces " + traces + " --out " + dir +
                                     "/traces.pt --epochs 1 --batch 64 --steps-per-epoch 5");
  ASSERT_EQ(fromTraces.exitCode, 0) << fromTraces.output;
  EXPECT_TRUE(model::LstmNet::load(dir + "/traces.pt", 6).ok());
  // Bad input: one line, non-zero, nothing written.
  const auto noDir = runCommand(umbra + " train --traces /nonexistent --out " + dir + "/x.pt");
  EXPECT_EQ(noDir.exitCode, 1);
  EXPECT_EQ(std::count(noDir.output.begin(), noDir.output.end(), '\n'), 1) << noDir.output;
  EXPECT_NE(noDir.output.find("/nonexistent"), std::string::npos) << noDir.output;
  const auto badWindow = runCommand(umbra + " train --prometheus " + prometheus.url() +
                                    " --window 2x --out " + dir + "/x.pt");
  EXPECT_EQ(badWindow.output,
            "umbra: --window: \"2x\" is not a duration of at least 6h (e.g. 7d, 36h)\n");
  const auto flag = runCommand(umbra + " train --frobnicate 1");
  EXPECT_EQ(flag.output, "umbra: unknown flag --frobnicate (see --help)\n");
  EXPECT_EQ(flag.exitCode, 2);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.pt"));
}

// ---- TLS and basic auth, through Prometheus' --web.config.file ----

struct Tls {
  std::string dir;
  std::string cert, key, otherCert;
  Tls() {
    char tmpl[] = "/tmp/umbra-tls.XXXXXX";
    dir = ::mkdtemp(tmpl);
    const auto make = [&](const std::string& name) {
      const auto r = runCommand(
          "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=prom "
          "-addext subjectAltName=IP:127.0.0.1 -keyout " +
          dir + "/" + name + ".key -out " + dir + "/" + name + ".crt");
      EXPECT_EQ(r.exitCode, 0) << r.output;
    };
    make("server");
    make("other");
    cert = read(dir + "/server.crt");
    key = read(dir + "/server.key");
    otherCert = read(dir + "/other.crt");
  }
  ~Tls() { std::filesystem::remove_all(dir); }
  static std::string read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(PrometheusTest, TlsWithAPrivateCaAndBasicAuth) {
  Tls tls;
  PrometheusServer secure;
  // bcrypt of "s3cret" (cost 4), as Prometheus' web config wants it.
  secure.setWebConfig(
      "tls_server_config: {cert_file: server.crt, key_file: server.key}\n"
      "basic_auth_users: {umbra: "
      "\"$2b$04$HMDfjYkQViCxK4MNUHnIUuFDVgWt1GrAPy.DW8H8qrHdJg2UweJn6\"}\n",
      {{"server.crt", tls.cert}, {"server.key", tls.key}}, true, "-k -u umbra:s3cret");
  ASSERT_TRUE(secure.start(series_.openMetrics()).ok());
  const std::string q = "scalar(sum(node_memory_MemTotal_bytes))";
  const auto when = at(series_.end - 60);

  PrometheusConnection good{secure.url()};
  good.caFile = tls.dir + "/server.crt";
  good.username = "umbra";
  good.password = "s3cret";
  auto ok = clientFor(good)->query(q, when);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_DOUBLE_EQ(ok->scalar, 24e9);

  PrometheusConnection insecure = good;
  insecure.caFile.clear();
  insecure.insecureSkipVerify = true;
  EXPECT_TRUE(clientFor(insecure)->query(q, when).ok());

  // The wrong CA: the handshake fails, in one line naming the URL.
  std::ofstream(tls.dir + "/other-ca.crt") << tls.otherCert;
  PrometheusConnection mismatch = good;
  mismatch.caFile = tls.dir + "/other-ca.crt";
  mismatch.maxAttempts = 1;
  auto bad = clientFor(mismatch)->query(q, when);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().is(ErrorKind::Network)) << bad.error().describe();
  EXPECT_NE(bad.error().message.find(secure.url()), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().message.find('\n'), std::string::npos);

  // The wrong password: 401, not retried.
  PrometheusConnection wrong = good;
  wrong.password = "guess";
  auto client = clientFor(wrong);
  auto denied = client->query(q, when);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(denied.error().is(ErrorKind::Unauthorized)) << denied.error().describe();
  EXPECT_NE(denied.error().message.find("HTTP 401"), std::string::npos) << denied.error().message;
  EXPECT_EQ(client->requestsSent(), 1);

  // A CA file that is not PEM is refused before any request.
  std::ofstream(tls.dir + "/junk.crt") << "not a certificate\n";
  PrometheusConnection junk = good;
  junk.caFile = tls.dir + "/junk.crt";
  auto refused = PrometheusClient::create(junk);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message.rfind("prometheus CA file " + junk.caFile + ": not a PEM", 0),
            0u)
      << refused.error().message;
}

// ---- Failures a real Prometheus cannot be told to produce: canned bytes on a socket ----

// Answers each connection with the next canned response (the last one repeats); an empty response
// means "accept and never answer". Records the requests it saw.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::vector<std::string> responses) : responses_(std::move(responses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedHttpServer() {
    stop_ = true;
    thread_.join();
    for (const int c : held_)
      ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

  // A request header's value ("Name:value" or "Name: value").
  static std::string header(const std::string& request, const std::string& name) {
    const auto at = request.find("\r\n" + name + ":");
    if (at == std::string::npos)
      return "";
    auto from = at + name.size() + 3;
    while (from < request.size() && request[from] == ' ')
      ++from;
    return request.substr(from, request.find("\r\n", from) - from);
  }

  static std::string response(int code, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(code) +
           " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  void serve() {
    size_t next = 0;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        continue;
      std::string request;
      char buf[4096];
      // Headers, then Content-Length bytes of body.
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0)
          break;
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string length = header(request, "Content-Length");
      const size_t want = length.empty() ? 0 : std::stoul(length) + request.find("\r\n\r\n") + 4;
      while (request.size() < want) {
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0)
          break;
        request.append(buf, static_cast<size_t>(n));
      }
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        seen_.push_back(request);
      }
      const std::string& r = responses_[std::min(next++, responses_.size() - 1)];
      if (r.empty()) {
        held_.push_back(c);
        continue;
      }
      (void)::write(c, r.data(), r.size());
      ::close(c);
    }
  }
  std::vector<std::string> responses_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> seen_;
  std::vector<int> held_;
};

constexpr const char* ScalarOk =
    R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})";

TEST(PrometheusFailures, AMalformedBodyIsAOneLineError) {
  CannedHttpServer server({CannedHttpServer::response(200, "<html>\nproxy login\n</html>")});
  auto r = clientFor({server.url()})->query("up");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "query " + server.url() +
                                   " {up}: response is not Prometheus API JSON: \"<html> proxy "
                                   "login </html>\"");
}

TEST(PrometheusFailures, A503IsRetriedWithBackoffAndThenSucceeds) {
  CannedHttpServer server(
      {CannedHttpServer::response(
           503, R"({"status":"error","errorType":"unavailable","error":"too many queries"})"),
       CannedHttpServer::response(200, ScalarOk)});
  std::vector<std::string> outcomes;
  auto client = clientFor({server.url()});
  client->setObserver([&](const std::string& endpoint, const std::string& outcome, double) {
    outcomes.push_back(endpoint + ":" + outcome);
  });
  auto r = client->query("vector(7)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->scalar, 7);
  EXPECT_EQ(outcomes, (std::vector<std::string>{"query:unavailable", "query:success"}));
}

TEST(PrometheusFailures, AnErrorTypeIsReportedAndWarningsAreKept) {
  CannedHttpServer server({CannedHttpServer::response(
      422,
      R"({"status":"error","errorType":"execution","error":"many-to-many matching not allowed"})")});
  auto client = clientFor({server.url()});
  auto r = client->query("a / b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "query " + server.url() + " {a / b}: execution: many-to-many matching not allowed");
  EXPECT_EQ(client->requestsSent(), 1);
  CannedHttpServer warn({CannedHttpServer::response(
      200,
      R"({"status":"success","warnings":["PromQL info: metric might not be a counter"],"data":{"resultType":"vector","result":[{"metric":{"node":"a"},"value":[1700000000.5,"NaN"]}]}})")});
  auto w = clientFor({warn.url()})->query("rate(x[1m])");
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->warnings, (std::vector<std::string>{"PromQL info: metric might not be a counter"}));
  ASSERT_EQ(w->series.size(), 1u);
  EXPECT_EQ(w->series[0].points[0].first, 1700000000500);
  EXPECT_TRUE(std::isnan(w->series[0].points[0].second));
}

TEST(PrometheusFailures, SilenceTimesOutInOneLine) {
  CannedHttpServer server({""});
  PrometheusConnection c{server.url()};
  c.timeout = 300ms;
  c.maxAttempts = 2;
  auto client = clientFor(c);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client->query("up");
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Timeout)) << r.error().describe();
  EXPECT_EQ(r.error().message,
            "query " + server.url() + " {up}: no answer within 300 ms (after 2 attempts)");
  EXPECT_EQ(client->requestsSent(), 2);
  EXPECT_LT(took, 5s);
}

// A burst of queries waits its turn in the client: at most MaxInFlight requests (connections)
// reach Prometheus at once; the others are sent as those end.
TEST(PrometheusFailures, ABurstOfQueriesKeepsAtMostMaxInFlightRequestsOpen) {
  CannedHttpServer server({""});  // never answers: every request stays open until it times out
  PrometheusConnection c{server.url()};
  c.timeout = 1500ms;
  c.maxAttempts = 1;
  auto client = clientFor(c);
  constexpr int Burst = PrometheusClient::MaxInFlight + 8;
  std::vector<std::thread> callers;
  callers.reserve(Burst);
  std::atomic<int> failed{0};
  for (int i = 0; i < Burst; ++i) {
    callers.emplace_back([&] { failed += client->query("up").ok() ? 0 : 1; });
  }
  ASSERT_TRUE(eventually(
      [&] {
        return server.requests().size() == static_cast<size_t>(PrometheusClient::MaxInFlight);
      },
      5s))
      << server.requests().size();
  std::this_thread::sleep_for(500ms);  // a bounded wait to observe "no more": no timing asserted
  EXPECT_EQ(server.requests().size(), static_cast<size_t>(PrometheusClient::MaxInFlight))
      << "the rest wait for a slot";
  for (auto& t : callers)
    t.join();
  EXPECT_EQ(server.requests().size(), static_cast<size_t>(Burst)) << "and are sent later";
  EXPECT_EQ(failed.load(), Burst);
}

TEST(PrometheusFailures, BearerTokensAreSentAndTokenFilesReRead) {
  CannedHttpServer server({CannedHttpServer::response(200, ScalarOk)});
  char tmpl[] = "/tmp/umbra-token.XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << "first-token\n";
  PrometheusConnection c{server.url()};
  c.bearerTokenFile = tmpl;
  auto client = clientFor(c);
  ASSERT_TRUE(client->query("up").ok());
  std::ofstream(tmpl) << "rotated-token\n";
  ASSERT_TRUE(client->query("up").ok());
  ::unlink(tmpl);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(CannedHttpServer::header(seen[0], "Authorization"), "Bearer first-token");
  EXPECT_EQ(CannedHttpServer::header(seen[1], "Authorization"), "Bearer rotated-token");
  EXPECT_EQ(seen[0].rfind("POST /api/v1/query ", 0), 0u);
  EXPECT_EQ(seen[0].substr(seen[0].find("\r\n\r\n") + 4), "query=up");
}

TEST(PrometheusParse, ResultTypesAndChunks) {
  auto m = telemetry::parseQueryResponse(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"name":"a"},"values":[[100,"0.5"],[115,"0.25"]]}]}})",
      200, "q");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->series[0].points[1], (std::pair<int64_t, double>{115000, 0.25}));
  auto s = telemetry::parseQueryResponse(
      R"({"status":"success","data":{"resultType":"string","result":[100,"hello"]}})", 200, "q");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->text, "hello");
  EXPECT_FALSE(
      telemetry::parseQueryResponse(
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,2]]}]}})",
          200, "q")
          .ok())
      << "a sample value must be a string";
  auto e = telemetry::parseQueryResponse("Bad Gateway", 502, "q");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "q: HTTP 502: Bad Gateway");
  EXPECT_EQ(telemetry::chunkRange(0, 100, 10, 5),
            (std::vector<std::pair<int64_t, int64_t>>{{0, 40}, {50, 90}, {100, 100}}));
  EXPECT_EQ(telemetry::chunkRange(0, 40, 10, 5),
            (std::vector<std::pair<int64_t, int64_t>>{{0, 40}}));
  EXPECT_EQ(telemetry::nameAlternation({"a.b", "c"}), "a\\\\.b|c");
}

TEST(PrometheusParse, TheDefaultCatalogParsesAndBadCatalogsAreOneLineErrors) {
  const auto& d = MetricCatalog::defaults();
  EXPECT_EQ(d.features.size(), 18u);
  EXPECT_EQ(d.features[0].name, "cpu_steal");
  EXPECT_TRUE(d.features[0].required);
  auto round = telemetry::parseCatalog(d.toYaml(), "printed");
  ASSERT_TRUE(round.ok()) << round.error().message;
  EXPECT_EQ(round->names(), d.names());
  EXPECT_EQ(round->features[4].query, d.features[4].query);
  EXPECT_EQ(round->probeReference, d.probeReference);
  auto calibrated = telemetry::parseCatalog(
      "probeReference: 0.3\n" + d.toYaml().substr(d.toYaml().find("features:")), "c.yaml");
  ASSERT_TRUE(calibrated.ok()) << calibrated.error().message;
  EXPECT_DOUBLE_EQ(calibrated->probeReference, 0.3);
  const auto err = [](const std::string& yaml) {
    auto r = telemetry::parseCatalog(yaml, "c.yaml");
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(err("features: []"), "c.yaml: features: must be a non-empty list");
  EXPECT_EQ(err("probeReference: -1\nfeatures: []"),
            "c.yaml: probeReference: must be a number greater than 0 (the probe's memory/ALU rate "
            "ratio on an idle node)");
  EXPECT_EQ(err("features: [{name: a, scope: pod, query: q, series: s}]"),
            "c.yaml: features[0].scope: must be shadow or node, got \"pod\"");
  EXPECT_EQ(err("features: [{name: a, scope: node, query: q, series: s, scale: 0}]"),
            "c.yaml: features[0].scale: must be positive");
  EXPECT_EQ(err("features: [{name: a, scope: node, query: q}]"),
            "c.yaml: features[0].series: must be a non-empty string");
  EXPECT_EQ(err("features: [{name: a, scope: node, query: q, series: s, colour: red}]"),
            "c.yaml: features[0].colour: unknown field");
}

}  // namespace
}  // namespace umbra::testing
