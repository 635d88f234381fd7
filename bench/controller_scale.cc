// Controller scale benchmark (issue: the core loop). A real control plane with KubeVirt's CRDs,
// umbra-sim playing KubeVirt on 50 nodes (32 cores, 128 GiB) and exporting the KubeVirt and
// node-exporter series, a real Prometheus scraping it every 2 s, and the umbra-operator binary.
// 200 ShadowPlacements are created at once (10 s observation); prints create->shadows-created
// p50/p99, the operator's peak RSS, CPU-seconds and API requests per placement. Figures only.
//
//   bench_controller_scale --operator build/operator/umbra-operator --sim
//   build/src/simulator/umbra-sim
//                          [--placements 200] [--nodes 50] [--vms 0]
// --vms N first starts N running VirtualMachines (250m CPU, 512Mi each) that umbra-sim runs across
// the nodes, so that the operator's caches and the candidate classification carry a populated
// cluster (`make bench-scale`: 1,000 VMs).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>

#include "api/shadow_placement.h"
#include "harness/process.h"
#include "harness/test_objects.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/rest_client.h"

namespace {

using namespace umbra;
using kube::Json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1))))];
}

// Sum of a counter family in a text exposition, skipping lines that contain `skip`.
double sumCounter(const std::string& text, const std::string& name, const std::string& skip) {
  double total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) == 0 && (skip.empty() || line.find(skip) == std::string::npos)) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

// The sum of a counter family's samples whose line holds every one of `parts`.
double sumMatching(const std::string& text, const std::string& name,
                   const std::vector<std::string>& parts) {
  double total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    bool all = line.rfind(name + "{", 0) == 0;
    for (const auto& p : parts)
      all = all && line.find(p) != std::string::npos;
    if (all)
      total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

// A quantile of a histogram family's observations between two scrapes (buckets summed over label
// sets, linear within a bucket, as PromQL's histogram_quantile).
double histogramQuantile(const std::string& after, const std::string& before,
                         const std::string& name, double q, const std::string& filter = "") {
  const auto buckets = [&](const std::string& text) {
    std::map<double, double> out;  // le -> cumulative count
    std::istringstream in(text);
    const std::string prefix = name + "_bucket{";
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(prefix, 0) != 0 || (!filter.empty() && line.find(filter) == std::string::npos))
        continue;
      const auto le = line.find("le=\"");
      if (le == std::string::npos)
        continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      const double b = bound == "+Inf" ? 1e300 : std::stod(bound);
      out[b] += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return out;
  };
  auto a = buckets(after);
  const auto b = buckets(before);
  for (auto& [le, n] : a)
    n -= b.count(le) ? b.at(le) : 0;
  if (a.empty() || a.rbegin()->second <= 0)
    return 0;
  const double rank = q * a.rbegin()->second;
  double lower = 0, below = 0;
  for (const auto& [le, n] : a) {
    if (n >= rank) {
      if (le >= 1e300)
        return lower;  // above the largest finite bucket
      return lower + (le - lower) * (n > below ? (rank - below) / (n - below) : 0);
    }
    lower = le;
    below = n;
  }
  return lower;
}

struct ProcStats {
  double cpuSeconds = 0;
  double peakRssMb = 0;
};
ProcStats procStats(int pid) {
  ProcStats s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string tok;
  for (int i = 1; i <= 15 && stat >> tok; ++i) {
    if (i == 14 || i == 15)
      s.cpuSeconds += std::stod(tok) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0)
      s.peakRssMb = std::stod(line.substr(6)) / 1024.0;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string operatorBin;
  std::string simBin;
  int placements = 200;
  int nodes = 50;
  int backgroundVms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--operator")
      operatorBin = argv[i + 1];
    else if (a == "--sim")
      simBin = argv[i + 1];
    else if (a == "--placements")
      placements = std::atoi(argv[i + 1]);
    else if (a == "--nodes")
      nodes = std::atoi(argv[i + 1]);
    else if (a == "--vms")
      backgroundVms = std::atoi(argv[i + 1]);
  }
  if (operatorBin.empty() || simBin.empty()) {
    std::fprintf(stderr,
                 "usage: %s --operator PATH --sim PATH [--placements N] [--nodes N] [--vms N]\n",
                 argv[0]);
    return 2;
  }
  const std::string src = UMBRA_SOURCE_DIR;
  const std::string dir = sh("mktemp -d /tmp/umbra-bench-scale.XXXXXX");
  std::string kubeconfig = sh(src + "/scripts/local-cluster.sh up --dir " + dir +
                              "/cp --owner-pid " + std::to_string(::getpid()));
  kubeconfig =
      kubeconfig.substr(kubeconfig.rfind('\n') + 1);  // the last line; progress precedes it
  const std::string kubectl =
      sh("grep ^KUBECTL= " + dir + "/cp/cluster.env | cut -d= -f2") + " --kubeconfig=" + kubeconfig;
  sh(kubectl + " create -f " + src + "/crds/ -f " + src + "/third_party/kubevirt/crds/");
  sh(kubectl + " wait --for condition=established --timeout=60s crd --all");
  sh(kubectl + " create namespace bench");
  std::fprintf(stderr, "[bench] control plane up (%s)\n", kubeconfig.c_str());

  auto cfg = kube::loadKubeconfig(kubeconfig);
  cfg->requestTimeout = 60s;
  auto client = std::move(kube::RestClient::fromConfig(*cfg)).value();
  std::ofstream(dir + "/cluster.yaml")
      << "name: bench\nphysics: {interference: 0.15}\nnodes:\n  - {name: node, count: " << nodes
      << ", cpu: 16, memory: 128Gi, background: {profile: diurnal, level: 0.3, memory: 0.2}}\n";
  const int simPort = testing::freePort();
  testing::ChildProcess simulator(
      {simBin, "--kubeconfig=" + kubeconfig, "--cluster=" + dir + "/cluster.yaml",
       "--metrics-addr=127.0.0.1:" + std::to_string(simPort), "--boot-delay=1s",
       "--log-level=warn"},
      dir + "/umbra-sim.log");
  for (int i = 0;
       i < 600 && sh("curl -fsS 127.0.0.1:" + std::to_string(simPort) + "/healthz") != "ok"; ++i)
    std::this_thread::sleep_for(100ms);

  // Shadows as this process sees them: first-seen time, for create->shadows latency.
  std::mutex mutex;
  std::map<std::string, Clock::time_point> shadowSeen;  // shadow name -> first seen
  std::map<std::string, std::pair<std::string, std::string>>
      shadowInfo;  // name -> (placement, node)
  kube::Informer vmis(*client, {api::virtualMachineInstances(), "bench"},
                      {[&](const kube::ObjectPtr& o) {
                         const auto labels = (*o)["metadata"].value("labels", Json::object());
                         if (labels.value("umbra.io/role", "") != "shadow")
                           return;
                         const std::lock_guard<std::mutex> lock(mutex);
                         const std::string name = (*o)["metadata"]["name"];
                         shadowSeen.emplace(name, Clock::now());
                         shadowInfo[name] = {labels.value("umbra.io/placement", ""),
                                             labels.value("umbra.io/node", "")};
                       },
                       nullptr, nullptr});
  vmis.start();
  vmis.waitForSync(30s);

  const int promPort = testing::freePort();
  std::ofstream(dir + "/prometheus.yml")
      << "global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: bench\n  honor_labels: true\n"
         "  static_configs: [{targets: ['127.0.0.1:"
      << simPort << "']}]\n";
  testing::ChildProcess prometheus(
      {"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
       "--storage.tsdb.path=" + dir + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(promPort), "--log.level=warn"},
      dir + "/prometheus.log");
  std::ofstream(dir + "/umbra.yaml")
      << "prometheus: {url: \"http://127.0.0.1:" << promPort << "\", rateWindow: 3s}\n";
  const int metricsPort = testing::freePort();
  const int healthPort = testing::freePort();
  testing::ChildProcess op(
      {operatorBin, "--kubeconfig=" + kubeconfig, "--config=" + dir + "/umbra.yaml",
       "--namespace=bench", "--max-concurrent-placements=" + std::to_string(placements),
       "--workers=16", "--metrics-bind-address=127.0.0.1:" + std::to_string(metricsPort),
       "--health-probe-bind-address=127.0.0.1:" + std::to_string(healthPort), "--log-level=warn"},
      dir + "/operator.log");
  const std::string health = "curl -fsS http://127.0.0.1:" + std::to_string(healthPort) + "/readyz";
  for (int i = 0; i < 300 && sh(health) != "ok"; ++i)
    std::this_thread::sleep_for(100ms);

  for (int i = 0; i < placements; ++i) {
    (void)client->create(api::virtualMachines(), "bench",
                         testing::haltedVm("bench", "vm-" + std::to_string(i)));
  }
  if (backgroundVms > 0) {
    const auto t0 = Clock::now();
    std::atomic<int> nextVm{0};
    std::vector<std::thread> starters;
    starters.reserve(16);
    for (int w = 0; w < 16; ++w) {
      starters.emplace_back([&] {
        for (int i = nextVm++; i < backgroundVms; i = nextVm++) {
          Json vm = testing::haltedVm("bench", "bg-" + std::to_string(i));
          vm["spec"]["runStrategy"] = "Always";
          auto& domain = vm["spec"]["template"]["spec"]["domain"];
          domain["cpu"]["cores"] = 1;
          domain["memory"]["guest"] = "512Mi";
          domain["resources"]["requests"] = {{"cpu", "250m"}, {"memory", "512Mi"}};
          (void)client->create(api::virtualMachines(), "bench", vm);
        }
      });
    }
    for (auto& t : starters)
      t.join();
    int running = 0;
    for (int i = 0; i < 600 && running < backgroundVms; ++i) {
      std::this_thread::sleep_for(1s);
      running = 0;
      auto list = kube::listAll(*client, api::virtualMachineInstances(), "bench", {});
      for (const auto& v : (*list)["items"])
        running += v.value("status", Json::object()).value("phase", "") == "Running";
    }
    std::fprintf(stderr, "[bench] %d of %d background VMs running after %.1f s\n", running,
                 backgroundVms, std::chrono::duration<double>(Clock::now() - t0).count());
    std::this_thread::sleep_for(5s);  // let the operator's caches settle
  }
  const std::string metricsUrl =
      "curl -fsS http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics";
  const std::string before = sh(metricsUrl);
  const std::string server = sh("grep server: " + kubeconfig + " | head -1 | awk '{print $2}'");
  const auto apiserverMetrics = [&] {
    return sh("curl -fsS --cacert " + dir + "/cp/ca.crt -H \"Authorization: Bearer $(cat " + dir +
              "/cp/tokens/admin)\" " + server + "/metrics");
  };
  const std::string apiBefore = apiserverMetrics();
  const ProcStats statsBefore = procStats(op.pid());
  // Everything on this machine competes for its cores: account for each component.
  const auto pidOf = [&](const std::string& name) {
    return std::atoi(sh("cat " + dir + "/cp/" + name + ".pid").c_str());
  };
  const std::vector<std::pair<std::string, int>> components = {
      {"etcd", pidOf("etcd")},
      {"kube-apiserver", pidOf("kube-apiserver")},
      {"kube-controller-manager", pidOf("kube-controller-manager")},
      {"prometheus", prometheus.pid()},
      {"umbra-sim", simulator.pid()},
      {"bench (this process)", ::getpid()},
      {"umbra-operator", op.pid()}};
  std::vector<double> cpuBefore;
  cpuBefore.reserve(components.size());
  for (const auto& [name, pid] : components)
    cpuBefore.push_back(procStats(pid).cpuSeconds);

  std::map<std::string, Clock::time_point> created;
  std::mutex createdMutex;
  std::atomic<int> next{0};
  std::vector<std::thread> creators;
  creators.reserve(16);
  const auto start = Clock::now();
  // CPU-seconds of each component from the burst's start until every shadow has appeared: who
  // the API server shares the cores with while the latency is measured.
  std::vector<double> cpuBurst(components.size(), 0);
  double burstSeconds = 0;
  std::thread burstWatch([&] {
    for (int i = 0; i < 1200; ++i) {
      std::this_thread::sleep_for(25ms);
      size_t seen;
      {
        const std::lock_guard<std::mutex> lock(mutex);
        seen = shadowSeen.size();
      }
      if (seen >= static_cast<size_t>(placements) * 3)
        break;
    }
    burstSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (size_t c = 0; c < components.size(); ++c)
      cpuBurst[c] = procStats(components[c].second).cpuSeconds - cpuBefore[c];
  });
  for (int w = 0; w < 16; ++w) {
    creators.emplace_back([&] {
      for (int i = next++; i < placements; i = next++) {
        const std::string name = "vm-" + std::to_string(i);
        Json sp = testing::placementFor("bench", name, "VirtualMachine", name, "", 3);
        sp["spec"]["candidates"].erase("nodeSelector");
        sp["spec"]["observation"]["interval"] = "2s";  // Prometheus scrapes every 2 s here
        auto r = client->create(api::shadowPlacements(), "bench", sp);
        const std::lock_guard<std::mutex> lock(createdMutex);
        if (r.ok())
          created[name] = Clock::now();
      }
    });
  }
  for (auto& t : creators)
    t.join();
  const double createWall = std::chrono::duration<double>(Clock::now() - start).count();
  burstWatch.join();

  // Wait for every placement to reach a final phase.
  std::map<std::string, int> phases;
  std::map<std::string, int> failures;  // reason: message (cut), for the Failed ones
  for (int i = 0; i < 600; ++i) {
    phases.clear();
    failures.clear();
    auto list = kube::listAll(*client, api::shadowPlacements(), "bench", {});
    for (const auto& sp : (*list)["items"]) {
      const Json st = sp.value("status", Json::object());
      phases[st.value("phase", "")]++;
      if (st.value("phase", "") == "Failed")
        failures[st.value("reason", "") + ": " + st.value("message", "").substr(0, 160)]++;
    }
    if (phases["Placed"] + phases["Recommended"] + phases["Failed"] == placements)
      break;
    std::this_thread::sleep_for(1s);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string after = sh(metricsUrl);
  const std::string apiAfter = apiserverMetrics();
  const ProcStats statsAfter = procStats(op.pid());

  std::vector<double> toShadows;
  // The slowest placements, to tell a late start (queueing) from a slow one: latency, name, and
  // when it was created, its first shadow and its last shadow appeared (from the burst's start).
  std::vector<std::tuple<double, std::string, double, double, double>> slowest;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    std::map<std::string, std::pair<Clock::time_point, Clock::time_point>> seenRange;
    for (const auto& [name, seen] : shadowSeen) {
      auto [it, fresh] = seenRange.try_emplace(shadowInfo[name].first, seen, seen);
      it->second.first = std::min(it->second.first, seen);
      it->second.second = std::max(it->second.second, seen);
    }
    const auto since = [&](Clock::time_point t) {
      return std::chrono::duration<double>(t - start).count();
    };
    for (const auto& [sp, range] : seenRange) {
      if (!created.count(sp))
        continue;
      const double latency = std::chrono::duration<double>(range.second - created[sp]).count();
      toShadows.push_back(latency);
      slowest.emplace_back(latency, sp, since(created[sp]), since(range.first),
                           since(range.second));
    }
    std::sort(slowest.rbegin(), slowest.rend());
    slowest.resize(std::min<size_t>(slowest.size(), 3));
  }
  const double requests = sumCounter(after, "rest_client_requests_total", "WATCH") -
                          sumCounter(before, "rest_client_requests_total", "WATCH");
  std::printf(
      "placements: %d on %d nodes with %d running background VMs, 10 s observation; "
      "final phases:",
      placements, nodes, backgroundVms);
  for (const auto& [p, n] : phases)
    std::printf(" %s=%d", p.c_str(), n);
  std::printf("\nall final after %.1f s\n", wall);
  for (const auto& [why, n] : failures)
    std::printf("  Failed x%d: %s\n", n, why.c_str());
  std::printf(
      "create -> shadows created: p50 %.2f s, p99 %.2f s (target p99 < 2 s; %zu placements "
      "measured)\n",
      percentile(toShadows, 0.5), percentile(toShadows, 0.99), toShadows.size());
  {
    std::vector<double> firstShadow;  // from the burst's start, to see queueing apart from latency
    const std::lock_guard<std::mutex> lock(mutex);
    firstShadow.reserve(shadowSeen.size());
    for (const auto& [name, seen] : shadowSeen)
      firstShadow.push_back(std::chrono::duration<double>(seen - start).count());
    std::printf(
        "  creating the %d placements took %.2f s (16 clients); shadows appeared from %.2f s to "
        "%.2f s after the burst began\n",
        placements, createWall, percentile(firstShadow, 0), percentile(firstShadow, 1));
  }
  for (const auto& [latency, name, createdAt, first, last] : slowest)
    std::printf("  slow: %s %.2f s (created at %.2f s; shadows seen from %.2f s to %.2f s)\n",
                name.c_str(), latency, createdAt, first, last);
  std::printf("operator peak RSS: %.1f MB (target < 200 MB)\n", statsAfter.peakRssMb);
  std::printf("CPU-seconds during the run (2 cores shared by all):");
  for (size_t i = 0; i < components.size(); ++i)
    std::printf("%s %s %.1f", i ? "," : "", components[i].first.c_str(),
                procStats(components[i].second).cpuSeconds - cpuBefore[i]);
  std::printf("\n  of which during the burst (%.2f s, until the last shadow appeared):",
              burstSeconds);
  for (size_t i = 0; i < components.size(); ++i)
    std::printf("%s %s %.2f", i ? "," : "", components[i].first.c_str(), cpuBurst[i]);
  std::printf("\n");
  std::printf("operator CPU: %.3f CPU-seconds per placement\n",
              (statsAfter.cpuSeconds - statsBefore.cpuSeconds) / placements);
  std::printf(
      "API requests per placement (watches excluded, events included): %.1f (target <= 15)\n",
      requests / placements);
  {
    // Per verb and code, to see where a placement's requests go.
    std::map<std::string, double> byLine;
    const auto collect = [&](const std::string& text, double sign) {
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        if (line.rfind("rest_client_requests_total{", 0) == 0 &&
            line.find("WATCH") == std::string::npos)
          byLine[line.substr(0, line.rfind(' '))] +=
              sign * std::stod(line.substr(line.rfind(' ') + 1));
      }
    };
    collect(after, 1);
    collect(before, -1);
    for (const auto& [labels, n] : byLine)
      if (n > 0)
        std::printf("  %s: %.2f per placement\n",
                    labels.c_str() + std::strlen("rest_client_requests_total"), n / placements);
  }
  {
    // The operator writes every Event here (umbra-sim writes none): counted by the apiserver.
    double events = 0;
    for (const char* verb : {"verb=\"POST\"", "verb=\"PATCH\""})
      events += sumMatching(apiAfter, "apiserver_request_total", {"resource=\"events\"", verb}) -
                sumMatching(apiBefore, "apiserver_request_total", {"resource=\"events\"", verb});
    std::printf("  of which Event writes: %.1f\n", events / placements);
  }
  std::printf("API request latency (operator's client): p50 %.3f s, p99 %.3f s\n",
              histogramQuantile(after, before, "rest_client_request_duration_seconds", 0.5),
              histogramQuantile(after, before, "rest_client_request_duration_seconds", 0.99));
  for (const std::string resource :
       {"shadowplacements", "virtualmachineinstances", "virtualmachines", "events", "pods"}) {
    for (const std::string verb : {"POST", "PATCH", "PUT"}) {
      std::string filter = "resource=\"" + resource + "\"";
      filter.append(",scope=\"resource\",subresource=\"\",verb=\"").append(verb);
      const double p99 = histogramQuantile(apiAfter, apiBefore,
                                           "apiserver_request_duration_seconds", 0.99, filter);
      if (p99 > 0)
        std::printf("  apiserver %s %s: p50 %.3f s, p99 %.3f s\n", verb.c_str(), resource.c_str(),
                    histogramQuantile(apiAfter, apiBefore, "apiserver_request_duration_seconds",
                                      0.5, filter),
                    p99);
    }
  }
  std::printf("work queue: wait p50 %.3f s, p99 %.3f s; processing p50 %.3f s, p99 %.3f s\n",
              histogramQuantile(after, before, "workqueue_queue_duration_seconds", 0.5),
              histogramQuantile(after, before, "workqueue_queue_duration_seconds", 0.99),
              histogramQuantile(after, before, "workqueue_work_duration_seconds", 0.5),
              histogramQuantile(after, before, "workqueue_work_duration_seconds", 0.99));
  std::printf(
      "observation extensions per placement: %.2f (each costs a status write and an Event)\n",
      (sumCounter(after, "umbra_observation_extensions_total", "") -
       sumCounter(before, "umbra_observation_extensions_total", "")) /
          placements);
  std::printf("reconcile errors (mostly 409 Conflicts from stale caches, retried): %.0f\n",
              sumCounter(after, "umbra_reconcile_errors_total", "") -
                  sumCounter(before, "umbra_reconcile_errors_total", ""));
  op.signal(SIGTERM);
  op.wait(20);
  simulator.signal(SIGTERM);
  simulator.wait(20);
  vmis.stop();
  sh(src + "/scripts/local-cluster.sh down --dir " + dir + "/cp");
  if (std::getenv("UMBRA_BENCH_KEEP") == nullptr)
    sh("rm -rf " + dir);  // UMBRA_BENCH_KEEP=1 keeps the logs and the cluster files
  else
    std::fprintf(stderr, "[bench] kept %s\n", dir.c_str());
  return 0;
}
