#pragma once

#include <string>

#include "common/result.h"

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
  std::string healthProbeBindAddress = ":8081";
  std::string logFormat = "text";
  std::string logLevel = "info";
  int maxConcurrentPlacements = 0;  // 0: from the config file
  int workers = 4;
  bool help = false;
  bool printCatalog = false;
};

// --name=value or --name value; errors are one line naming the flag.
Result<Flags> parseFlags(int argc, const char* const* argv);
std::string usage();

}  // namespace umbra::op
