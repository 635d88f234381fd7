#pragma once

// umbra-sim's virt-api: KubeVirt's subresource API (subresources.kubevirt.io v1 and v1alpha3:
// start, stop, restart, migrate, pause, unpause) served over TLS behind a real APIService, so that
// kube-apiserver authenticates and authorizes the caller and proxies the request as it proxies to
// KubeVirt's virt-api. See docs/simulation.md and ../shared/kubevirt/API-NOTES.md section 13.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "kube/client.h"

namespace umbra::simulator {

struct VirtApiOptions {
  std::string address = "127.0.0.1:0";  // host:port to listen on; port 0 picks a free one
  // The Service the APIServices point at (type ExternalName, localhost: the API server runs on
  // this host without kube-proxy) and its namespace, created if missing.
  std::string serviceNamespace = "kubevirt";
  std::string serviceName = "virt-api";
};

// The front proxy's settings the API server publishes in ConfigMap
// kube-system/extension-apiserver-authentication (--requestheader-* flags).
struct RequestHeaderAuth {
  std::string clientCaPem;                // verifies the proxy's client certificate
  std::vector<std::string> allowedNames;  // allowed CNs of that certificate; empty: any
  std::vector<std::string> usernameHeaders, groupHeaders;
  std::string extraHeadersPrefix;
};
// From the ConfigMap's data; an error names the missing key (no aggregation layer configured).
Result<RequestHeaderAuth> requestHeaderAuthFrom(const nlohmann::json& configMap);

class VirtApiServer {
 public:
  // Reads the front proxy's settings, generates a serving certificate, listens and registers the
  // Service and the APIServices (v1 and v1alpha3) with the certificate's CA as caBundle, as
  // virt-operator does for virt-api. Errors name what failed (flag, ConfigMap key, object).
  static Result<std::unique_ptr<VirtApiServer>> start(kube::KubeClient& client,
                                                      const VirtApiOptions& options);
  // Stops serving and removes the APIServices, so that an API server without this backend does
  // not keep an unavailable group (which stalls discovery and namespace deletion).
  ~VirtApiServer();
  VirtApiServer(const VirtApiServer&) = delete;
  VirtApiServer& operator=(const VirtApiServer&) = delete;

  uint16_t port() const;
  // Waits until the API server reports APIService v1.subresources.kubevirt.io Available.
  Status waitAvailable(std::chrono::seconds timeout);

  struct Impl;

 private:
  explicit VirtApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::simulator
