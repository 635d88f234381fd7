#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/result.h"

namespace umbra::kube {

// How to reach and authenticate to one API server. PEM material is held in memory; `*Source`
// fields say where it came from so that errors can name the file and field.
struct ClusterConfig {
  std::string server;  // https://host:port, no trailing slash
  std::string caPem;   // empty: system trust store
  std::string caSource;
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string clientCertSource;
  std::string token;      // static bearer token
  std::string tokenFile;  // re-read as it rotates (service-account tokens)
  bool insecureSkipTlsVerify = false;
  std::string ns = "default";  // the context's namespace / the pod's namespace
  std::string source;          // "kubeconfig /x (context y)" or "in-cluster"
  std::chrono::seconds requestTimeout{30};
  std::string userAgent = "umbra/0.1";
};

// Reads a kubeconfig file and selects `context` (empty: current-context). Relative paths resolve
// against the file's directory, as kubectl does.
Result<ClusterConfig> loadKubeconfig(const std::string& path, const std::string& context = "");

// Parses kubeconfig YAML text; `origin` names it in errors and `baseDir` resolves relative paths.
Result<ClusterConfig> parseKubeconfig(const std::string& yaml, const std::string& origin,
                                      const std::string& baseDir, const std::string& context);

// In-cluster configuration from KUBERNETES_SERVICE_HOST/PORT and the service-account files under
// `saDir` (token, ca.crt, namespace).
Result<ClusterConfig> loadInCluster(
    const std::string& saDir = "/var/run/secrets/kubernetes.io/serviceaccount");

// client-go's order: explicit path, $KUBECONFIG, in-cluster, ~/.kube/config.
Result<ClusterConfig> loadDefault(const std::string& kubeconfigPath, const std::string& context);

}  // namespace umbra::kube
