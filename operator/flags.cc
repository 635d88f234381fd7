#include "flags.h"

#include <cstdlib>
#include <map>

namespace umbra::op {

std::string usage() {
  return "usage: umbra-operator [flags]\n"
         "  --kubeconfig PATH                 kubeconfig (default: $KUBECONFIG, in-cluster, "
         "~/.kube/config)\n"
         "  --context NAME                    kubeconfig context (default: current-context)\n"
         "  --config PATH                     operator config YAML (default: built-in defaults)\n"
         "  --namespace NS                    watch ShadowPlacements in NS only (default: all)\n"
         "  --leader-elect                    elect a leader on a Lease before reconciling\n"
         "  --leader-election-namespace NS    the Lease's namespace (default umbra-system)\n"
         "  --metrics-bind-address ADDR       /metrics address, \"0\" to disable (default :8080)\n"
         "  --health-probe-bind-address ADDR  /healthz and /readyz address (default :8081)\n"
         "  --log-format text|json            (default text)\n"
         "  --log-level debug|info|warn|error (default info)\n"
         "  --max-concurrent-placements N     placements probing at once (default: config, 10)\n"
         "  --workers N                       reconcile workers (default 4)\n"
         "  --print-catalog                   print the metric catalog in effect (defaults plus\n"
         "                                    --config's prometheus.catalog) as YAML and exit\n";
}

Result<Flags> parseFlags(int argc, const char* const* argv) {
  Flags f;
  std::map<std::string, std::string*> strings = {
      {"kubeconfig", &f.kubeconfig},
      {"context", &f.context},
      {"config", &f.config},
      {"namespace", &f.ns},
      {"leader-election-namespace", &f.leaderElectionNamespace},
      {"leader-election-id", &f.leaderElectionId},
      {"metrics-bind-address", &f.metricsBindAddress},
      {"health-probe-bind-address", &f.healthProbeBindAddress},
      {"log-format", &f.logFormat},
      {"log-level", &f.logLevel}};
  std::map<std::string, int*> ints = {{"max-concurrent-placements", &f.maxConcurrentPlacements},
                                      {"workers", &f.workers}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      f.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return Error::config("unexpected argument \"" + arg + "\" (flags start with --)");
    }
    arg = arg.substr(2);
    std::string value;
    bool hasValue = false;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    if (arg == "print-catalog") {
      f.printCatalog = true;
      continue;
    }
    if (arg == "leader-elect") {
      f.leaderElect = !hasValue || value == "true";
      continue;
    }
    const bool known = strings.count(arg) != 0 || ints.count(arg) != 0;
    if (!known) {
      return Error::config("unknown flag --" + arg + " (see --help)");
    }
    if (!hasValue) {
      if (i + 1 >= argc) {
        return Error::config("flag --" + arg + " needs a value");
      }
      value = argv[++i];
    }
    if (strings.count(arg) != 0) {
      *strings[arg] = value;
      continue;
    }
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < 1 || n > 1000) {
      std::string message = "flag --";
      message.append(arg).append(": \"").append(value).append("\" is not a number in 1..1000");
      return Error::config(message);
    }
    *ints[arg] = static_cast<int>(n);
  }
  return f;
}

}  // namespace umbra::op
