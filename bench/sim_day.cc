// Offline simulation speed: one simulated day of a cluster (default: the 50-node medium cluster)
// with N trace-driven VMs (default 500, replaying the Bitbrains traces) at 15 s steps. Prints the
// wall time of loading the traces and of the simulation, the process's peak RSS, and what the
// day looked like (utilisation, steal). Asserts nothing.
//
//   bench_sim_day --traces ../shared/data/traces [--cluster examples/clusters/medium.yaml]
//                 [--vms 500] [--step 15] [--seed 1]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sim/files.h"
#include "sim/simulation.h"

using namespace umbra;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string traces;
  std::string clusterPath = UMBRA_SOURCE_DIR "/examples/clusters/medium.yaml";
  int vms = 500;
  double step = 15;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--traces")
      traces = argv[i + 1];
    else if (a == "--cluster")
      clusterPath = argv[i + 1];
    else if (a == "--vms")
      vms = std::atoi(argv[i + 1]);
    else if (a == "--step")
      step = std::atof(argv[i + 1]);
    else if (a == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (traces.empty() || vms <= 0 || step <= 0) {
    std::fprintf(stderr,
                 "usage: %s --traces DIR [--cluster FILE] [--vms N] [--step S] [--seed N]\n",
                 argv[0]);
    return 2;
  }
  auto cluster = sim::loadCluster(clusterPath);
  if (!cluster.ok()) {
    std::fprintf(stderr, "error: %s\n", cluster.error().message.c_str());
    return 1;
  }
  const auto loadStart = Clock::now();
  auto set = sim::loadTraces(traces);
  if (!set.ok()) {
    std::fprintf(stderr, "error: %s\n", set.error().message.c_str());
    return 1;
  }
  if (auto st = sim::checkTraces(*cluster, *set, clusterPath); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  const double loadSeconds = seconds(loadStart);

  const auto buildStart = Clock::now();
  sim::Simulation s(*cluster, seed, &*set);
  std::vector<const sim::Trace*> vmTraces;
  for (const auto& [id, t] : set->series) {
    if (id.starts_with("bitbrains"))
      vmTraces.push_back(&t);
  }
  // Place by requests, least allocated first (vCPUs over cores), as a scheduler would.
  std::vector<double> vcpus(cluster->nodes.size(), 0), memory(cluster->nodes.size(), 0);
  for (int i = 0; i < vms; ++i) {
    const sim::Trace& t = *vmTraces[static_cast<size_t>(i) % vmTraces.size()];
    sim::WorkloadSpec w;
    w.id = "bench/vm-" + std::to_string(i);
    w.vcpus = t.cpuCores;
    w.memoryBytes = t.memoryBytes;
    w.source.kind = sim::SourceKind::Trace;
    w.source.trace = &t;
    w.source.traceOffset = static_cast<double>(sim::hashOf(w.id) % 86400);
    size_t best = 0;
    double bestScore = 1e9;
    for (size_t n = 0; n < cluster->nodes.size(); ++n) {
      const auto& node = cluster->nodes[n];
      if (memory[n] + w.memoryBytes > node.memoryBytes || !node.taints.empty())
        continue;
      const double score = (vcpus[n] + w.vcpus) / node.cpuCores;
      if (score < bestScore) {
        bestScore = score;
        best = n;
      }
    }
    vcpus[best] += w.vcpus;
    memory[best] += w.memoryBytes;
    if (auto st = s.addWorkload(w, cluster->nodes[best].name); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
      return 1;
    }
  }
  const double buildSeconds = seconds(buildStart);

  const auto runStart = Clock::now();
  const int steps = static_cast<int>(86400 / step);
  std::vector<double> util;
  std::vector<double> steal;
  util.reserve(static_cast<size_t>(steps) * cluster->nodes.size() / 20 + 64);
  for (int i = 0; i < steps; ++i) {
    s.step(step);
    if (i % 20 == 0) {  // sample every 5 minutes for the summary
      for (const auto& n : s.nodes())
        util.push_back(n.cpuUtilization);
      for (const auto& [id, w] : s.workloads())
        steal.push_back(w.steal);
    }
  }
  const double runSeconds = seconds(runStart);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  std::printf(
      "cluster: %s, %zu nodes; %d trace-driven VMs (%zu Bitbrains series); %d steps of %.0f s\n",
      cluster->name.c_str(), cluster->nodes.size(), vms, vmTraces.size(), steps, step);
  std::printf("load traces: %.2f s (%zu series)\n", loadSeconds, set->series.size());
  std::printf("build cluster: %.3f s\n", buildSeconds);
  std::printf("simulate one day: %.3f s wall (target < 10 s), %.0f node-steps/s\n", runSeconds,
              steps * static_cast<double>(cluster->nodes.size()) / runSeconds);
  std::printf("peak RSS: %.1f MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  std::printf(
      "node CPU utilisation: mean %.2f, p95 %.2f, max %.2f\n",
      [&] {
        double sum = 0;
        for (double u : util)
          sum += u;
        return util.empty() ? 0.0 : sum / static_cast<double>(util.size());
      }(),
      percentile(util, 0.95), percentile(util, 1.0));
  std::printf("VM steal fraction: p50 %.4f, p95 %.4f, p99 %.4f\n", percentile(steal, 0.5),
              percentile(steal, 0.95), percentile(steal, 0.99));
  return 0;
}
