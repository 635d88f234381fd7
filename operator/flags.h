#pragma once

#include <string>

namespace umbra::op {

struct Flags {
  std::string kubeconfig;
  std::string context;
  std::string config;  // the operator's YAML config; empty: the design's defaults
  std::string ns;      // watch scope for ShadowPlacements; empty: all namespaces
  bool leaderElect = false;
  std::string leaderElectionNamespace = "umbra-system";
  std::string leaderElectionId = "umbra-operator";
  std::string metricsBindAddress = ":8080";
  bool metricsSecure = false;  // HTTPS, TokenReview + SubjectAccessReview (the chart's default)
  std::string metricsCertDir;  // tls.crt, tls.key; empty: self-signed
  std::string healthProbeBindAddress = ":8081";
  std::string logFormat = "text";
  std::string logLevel = "info";
  int maxConcurrentPlacements = 0;  // 0: from the config file
  int workers = 4;
  bool printCatalog = false;
};

// Parses the command line (CLI11). --help and --version print to stdout and give exit 0; a bad
// flag prints one line naming it to stderr and gives exit 2. `exitCode` is set when the program
// should exit now.
Flags parseFlags(int argc, char** argv, int& exitCode);

}  // namespace umbra::op
