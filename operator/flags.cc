#include "flags.h"

#include "cli_flags/cli_flags.h"

namespace umbra::op {

Flags parseFlags(int argc, char** argv, int& exitCode) {
  Flags f;
  CLI::App app{"umbra-operator: places KubeVirt VMs by probing candidate nodes with shadow VMIs",
               "umbra-operator"};
  cli_flags::addVersion(app, "umbra-operator");
  app.add_option("--kubeconfig", f.kubeconfig,
                 "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  app.add_option("--context", f.context, "kubeconfig context (default: current-context)");
  app.add_option("--config", f.config, "operator config YAML (default: built-in defaults)");
  app.add_option("--namespace", f.ns, "watch ShadowPlacements in this namespace only");
  app.add_flag("--leader-elect", f.leaderElect,
               "elect a leader on a Lease before reconciling (--leader-elect=false|true|0|1)");
  app.add_option("--leader-election-namespace", f.leaderElectionNamespace, "the Lease's namespace")
      ->capture_default_str();
  app.add_option("--leader-election-id", f.leaderElectionId, "the Lease's name")
      ->capture_default_str();
  app.add_option("--metrics-bind-address", f.metricsBindAddress, "/metrics address, 0 to disable")
      ->capture_default_str();
  app.add_flag("--metrics-secure", f.metricsSecure,
               "serve /metrics over HTTPS to callers the API server authenticates and authorizes "
               "(get on the non-resource URL /metrics)");
  app.add_option("--metrics-cert-dir", f.metricsCertDir,
                 "with --metrics-secure: tls.crt and tls.key, reloaded when they change (default: "
                 "a self-signed certificate)");
  app.add_option("--health-probe-bind-address", f.healthProbeBindAddress,
                 "/healthz and /readyz address")
      ->capture_default_str();
  app.add_option("--log-format", f.logFormat, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", f.logLevel, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--max-concurrent-placements", f.maxConcurrentPlacements,
                 "placements probing at once (default: the config's, 10)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--workers", f.workers, "reconcile workers")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_flag("--print-catalog", f.printCatalog,
               "print the metric catalog in effect (defaults plus --config's) as YAML and exit");
  exitCode = cli_flags::parse(app, argc, argv);
  return f;
}

}  // namespace umbra::op
