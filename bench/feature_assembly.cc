// Feature assembly from a real Prometheus: what one placement decision costs the telemetry side.
//
// A simulated cluster (src/sim: 10 nodes, 4 trace-driven VMs each, one shadow per node) is run
// for the observation window plus `--history-hours` at 15 s steps; umbra-sim's own exposition of
// every step is backfilled into Debian's Prometheus with promtool (so the series, names and labels
// are exactly what a scrape of umbra-sim stores). Then PrometheusSource::observe() assembles the
// feature tensor of 10 candidates x 20 minutes at 15 s, `--repeat` times, with the 8 decision-core
// features and with the full default catalog; and history() reads the nodes' training window.
// Prints wall times, queries and HTTP requests. Asserts nothing.
//
//   bench_feature_assembly [--traces DIR] [--candidates 10] [--minutes 20] [--repeat 20]
//                          [--history-hours 6]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/prometheus_server.h"
#include "sim/cluster.h"
#include "sim/files.h"
#include "sim/simulation.h"
#include "simulator/exposition.h"
#include "telemetry/prometheus_source.h"

using namespace umbra;
using Steady = std::chrono::steady_clock;

namespace {

double secondsSince(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Regroups successive text expositions (format 0.0.4, no timestamps) into one OpenMetrics
// document with timestamps, families kept together as promtool's backfill requires.
class Backfill {
 public:
  void add(const std::string& exposition, int64_t unixSeconds) {
    std::istringstream in(exposition);
    std::string line, family;
    while (std::getline(in, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        std::istringstream t(line.substr(7));
        std::string name, type;
        t >> name >> type;
        // OpenMetrics names a counter family without its _total suffix.
        if (type == "counter" && name.size() > 6 && name.ends_with("_total"))
          name.resize(name.size() - 6);
        family = name;
        if (types_.emplace(family, type == "untyped" ? "unknown" : type).second)
          order_.push_back(family);
        continue;
      }
      if (line.empty() || line[0] == '#' || family.empty())
        continue;
      auto& body = bodies_[family];
      body += line;
      body += ' ';
      body += std::to_string(unixSeconds);
      body += '\n';
      ++samples_;
    }
  }
  std::string document() const {
    std::string out;
    for (const auto& f : order_) {
      out += "# TYPE " + f + " " + types_.at(f) + "\n";
      const auto it = bodies_.find(f);
      if (it != bodies_.end())
        out += it->second;
    }
    return out + "# EOF\n";
  }
  size_t samples() const { return samples_; }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::string> types_;
  std::map<std::string, std::string> bodies_;
  size_t samples_ = 0;
};

const char* ClusterYaml = R"(name: bench-10
physics:
  cpu: {scale: 0.02, exponent: 4, knee: 0.05}
  disk: {scale: 0.05, exponent: 3, knee: 0.05}
  network: {scale: 0.02, exponent: 3, knee: 0.05}
  memoryPressureStart: 0.85
  interference: 0.15
  noise: 0.05
  classes:
    neutral: {sensitivity: 1, pressure: 1}
nodes:
  - name: node
    count: 10
    cpu: 16
    memory: 64Gi
    background: {profile: diurnal, level: 0.2, memory: 0.2}
)";

}  // namespace

int main(int argc, char** argv) {
  std::string traces;
  int candidates = 10, minutes = 20, repeat = 20;
  double historyHours = 6;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--traces")
      traces = argv[i + 1];
    else if (a == "--candidates")
      candidates = std::atoi(argv[i + 1]);
    else if (a == "--minutes")
      minutes = std::atoi(argv[i + 1]);
    else if (a == "--repeat")
      repeat = std::atoi(argv[i + 1]);
    else if (a == "--history-hours")
      historyHours = std::atof(argv[i + 1]);
  }
  if (candidates < 1 || candidates > 10 || minutes < 2 || repeat < 1 || historyHours < 0) {
    std::fprintf(stderr,
                 "usage: %s [--traces DIR] [--candidates 1..10] [--minutes N>=2] [--repeat N] "
                 "[--history-hours H]\n",
                 argv[0]);
    return 2;
  }
  auto cluster = sim::parseCluster(ClusterYaml, "bench cluster");
  if (!cluster.ok()) {
    std::fprintf(stderr, "error: %s\n", cluster.error().message.c_str());
    return 1;
  }
  Result<sim::TraceSet> set = sim::TraceSet{};
  std::vector<const sim::Trace*> vmTraces;
  if (!traces.empty()) {
    set = sim::loadTraces(traces);
    if (!set.ok()) {
      std::fprintf(stderr, "error: %s\n", set.error().message.c_str());
      return 1;
    }
    for (const auto& [id, t] : set->series) {
      if (id.starts_with("bitbrains"))
        vmTraces.push_back(&t);
    }
  }
  sim::Simulation s(*cluster, 1, &*set);
  std::map<std::string, simulator::VmiInfo> shadows;  // what is exported per VMI
  std::vector<telemetry::ShadowRef> refs;
  for (size_t n = 0; n < cluster->nodes.size(); ++n) {
    const std::string& node = cluster->nodes[n].name;
    for (int k = 0; k < 4; ++k) {
      sim::WorkloadSpec w;
      w.id = "prod/vm-" + node + "-" + std::to_string(k);
      w.vcpus = 2;
      if (!vmTraces.empty()) {
        w.source.kind = sim::SourceKind::Trace;
        w.source.trace = vmTraces[(n * 4 + static_cast<size_t>(k)) % vmTraces.size()];
      } else {
        w.source.kind = sim::SourceKind::Profile;
        w.source.profile = "bursty";
        w.source.level = 0.4;
      }
      (void)s.addWorkload(w, node);
    }
    sim::WorkloadSpec shadow;
    shadow.id = "bench/sp-shadow-" + node;
    shadow.vcpus = 1;
    shadow.cpuLimit = 0.02;
    shadow.memoryBytes = 512.0 * 1024 * 1024;
    shadow.source.kind = sim::SourceKind::Profile;
    shadow.source.level = 0.5;
    (void)s.addWorkload(shadow, node);
    shadows[shadow.id] = {"bench", "sp-shadow-" + node, "Running", {}};
    if (static_cast<int>(n) < candidates)
      refs.push_back({"bench", "sp-shadow-" + node, node});
  }

  // Simulated time ends 10 minutes ago (Prometheus' head accepts recent backfill; queries below
  // use explicit times).
  const int64_t step = 15;
  const int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                              .count() /
                          step * step -
                      600;
  const int64_t observeSeconds = static_cast<int64_t>(minutes) * 60;
  const int64_t historySeconds = static_cast<int64_t>(historyHours * 3600);
  const int64_t begin = end - std::max(observeSeconds + 120, historySeconds);
  const auto simStart = Steady::now();
  Backfill backfill;
  for (int64_t t = begin; t <= end; t += step) {
    s.step(static_cast<double>(step));
    backfill.add(simulator::renderMetrics(s, shadows), t);
  }
  const std::string om = backfill.document();
  const double simSeconds = secondsSince(simStart);

  testing::PrometheusServer prometheus;
  const auto loadStart = Steady::now();
  if (Status st = prometheus.start(om); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  const double loadSeconds = secondsSince(loadStart);

  std::printf(
      "data: %zu nodes, %zu shadows exported, %.1f h at %lld s: %zu samples (%.1f MB "
      "OpenMetrics), simulated in %.1f s, backfilled + Prometheus ready in %.1f s\n",
      cluster->nodes.size(), shadows.size(), static_cast<double>(end - begin) / 3600.0,
      static_cast<long long>(step), backfill.samples(), static_cast<double>(om.size()) / 1e6,
      simSeconds, loadSeconds);

  const auto at = [](int64_t unix) { return SystemTime(std::chrono::seconds(unix)); };
  const auto run = [&](const char* label, telemetry::MetricCatalog catalog) {
    telemetry::PrometheusOptions o;
    o.connection.url = prometheus.url();
    o.catalog = std::move(catalog);
    auto source = telemetry::PrometheusSource::create(o);
    if (!source.ok()) {
      std::fprintf(stderr, "error: %s\n", source.error().message.c_str());
      return false;
    }
    std::vector<double> wall;
    size_t rows = 0, cells = 0, present = 0, notes = 0;
    for (int i = 0; i < repeat; ++i) {
      const auto t0 = Steady::now();
      auto r =
          (*source)->observe(refs, at(end - observeSeconds), at(end), std::chrono::seconds(step));
      wall.push_back(secondsSince(t0) * 1000);
      if (!r.ok()) {
        std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
        return false;
      }
      rows = r->front().frame.rows();
      cells = present = notes = 0;
      for (const auto& c : *r) {
        cells += c.frame.present.size();
        present +=
            static_cast<size_t>(std::count(c.frame.present.begin(), c.frame.present.end(), 1));
        notes += c.notes.size();
      }
    }
    std::printf(
        "%-28s %2zu candidates x %2zu features x %3zu steps: p50 %.1f ms, p95 %.1f ms, "
        "max %.1f ms; %d queries / %d HTTP requests per observe; cells present %.1f %%%s\n",
        label, refs.size(), o.catalog.features.size(), rows, percentile(wall, 0.5),
        percentile(wall, 0.95), *std::max_element(wall.begin(), wall.end()),
        (*source)->queriesIssued() / repeat, (*source)->client().requestsSent() / repeat,
        100.0 * static_cast<double>(present) / static_cast<double>(std::max<size_t>(1, cells)),
        notes ? " (some optional series absent)" : "");
    return true;
  };
  // The decision core: the 8 features the baseline forecaster and the scoring read first.
  telemetry::MetricCatalog core = telemetry::MetricCatalog::defaults();
  const std::vector<std::string> keep = {"cpu_steal",
                                         "cpu_wait",
                                         "cpu_usage",
                                         "memory_used",
                                         "node_cpu_utilization",
                                         "node_cpu_iowait",
                                         "node_pressure_memory",
                                         "node_pressure_io"};
  std::erase_if(core.features, [&](const telemetry::Feature& f) {
    return std::find(keep.begin(), keep.end(), f.name) == keep.end();
  });
  if (!run("observe (8 core features)", core) ||
      !run("observe (default catalog)", telemetry::MetricCatalog::defaults()))
    return 1;

  if (historySeconds > 0) {
    telemetry::PrometheusOptions o;
    o.connection.url = prometheus.url();
    auto source = telemetry::PrometheusSource::create(o);
    const auto t0 = Steady::now();
    auto h = (*source)->history(telemetry::Scope::Node, "", {}, at(end - historySeconds), at(end),
                                std::chrono::seconds(step));
    const double ms = secondsSince(t0) * 1000;
    if (!h.ok()) {
      std::fprintf(stderr, "error: %s\n", h.error().message.c_str());
      return 1;
    }
    std::printf(
        "history (nodes, %.0f h at %lld s): %zu nodes x %zu features x %zu steps in %.1f "
        "ms; %d queries / %d HTTP requests\n",
        historyHours, static_cast<long long>(step), h->size(), h->begin()->second.cols(),
        h->begin()->second.rows(), ms, (*source)->queriesIssued(),
        (*source)->client().requestsSent());
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS of this process: %.1f MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
