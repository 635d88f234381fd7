// Informer sync benchmark: N small ConfigMaps in a real kube-apiserver; time from informer start
// to initial sync, and the process's peak RSS. Prints figures; asserts nothing.
//
//   bench_informer_sync --kubeconfig K --namespace NS --create N   (phase 1, its own process)
//   bench_informer_sync --kubeconfig K --namespace NS --sync N     (phase 2, measured)
//
// scripts/bench-informer.sh runs both against a fresh local control plane.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kube/config.h"
#include "kube/informer.h"
#include "kube/rest_client.h"

namespace {

using namespace umbra;

long peakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int create(kube::KubeClient& client, const std::string& ns, int n) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 16; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        kube::Json cm = {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata",
                          {{"name", "cm-" + std::to_string(i)},
                           {"namespace", ns},
                           {"labels", {{"bench", "informer"}, {"shard", std::to_string(i % 10)}}}}},
                         {"data", {{"key", "value-" + std::to_string(i)}}}};
        auto r = client.create(kube::resources::configMaps(), ns, cm);
        if (!r.ok() && !r.error().is(ErrorKind::AlreadyExists)) {
          if (failed++ == 0) {
            std::fprintf(stderr, "create failed: %s\n", r.error().message.c_str());
          }
        }
      }
    });
  }
  for (auto& t : workers) {
    t.join();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("created %d ConfigMaps in %.1f s (%.0f/s), %d failed\n", n, secs, n / secs,
              failed.load());
  return failed == 0 ? 0 : 1;
}

int sync(kube::KubeClient& client, const std::string& ns, int n) {
  const long rssBefore = peakRssKb();
  std::atomic<int> adds{0};
  kube::EventHandlers handlers{[&](const kube::ObjectPtr&) { ++adds; }, nullptr, nullptr};
  const auto start = std::chrono::steady_clock::now();
  kube::Informer informer(client, {kube::resources::configMaps(), ns}, handlers);
  informer.start();
  if (!informer.waitForSync(std::chrono::minutes(5))) {
    std::fprintf(stderr, "informer did not sync within 5 minutes\n");
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const size_t stored = informer.store().size();
  const size_t shard = informer.store().byLabel("shard", "3").size();
  informer.stop();
  std::printf("informer sync of %zu ConfigMaps (page size 500): %.2f s (target < 5 s)\n", stored,
              secs);
  std::printf("peak RSS: %.1f MB (target < 150 MB; %.1f MB before the informer started)\n",
              peakRssKb() / 1024.0, rssBefore / 1024.0);
  std::printf("handler adds: %d, label index shard=3: %zu\n", adds.load(), shard);
  return stored == static_cast<size_t>(n) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig;
  std::string ns = "bench-informer";
  std::string phase;
  int n = 10000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool hasValue = i + 1 < argc;
    if (a == "--kubeconfig" && hasValue) {
      kubeconfig = argv[++i];
    } else if (a == "--namespace" && hasValue) {
      ns = argv[++i];
    } else if ((a == "--create" || a == "--sync") && hasValue) {
      phase = a.substr(2);
      n = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s --kubeconfig K [--namespace NS] (--create N | --sync N)\n",
                   argv[0]);
      return 2;
    }
  }
  auto cfg = kube::loadDefault(kubeconfig, "");
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 2;
  }
  cfg->requestTimeout = std::chrono::seconds(120);
  auto client = kube::RestClient::fromConfig(*cfg);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.error().message.c_str());
    return 2;
  }
  if (phase == "create") {
    (void)(*client)->create(
        kube::resources::namespaces(), "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    return create(**client, ns, n);
  }
  if (phase == "sync") {
    return sync(**client, ns, n);
  }
  std::fprintf(stderr, "one of --create N or --sync N is required\n");
  return 2;
}
