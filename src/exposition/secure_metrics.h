#pragma once

// /metrics over HTTPS for authenticated and authorized scrapers only, as kubebuilder projects
// serve it by default: a bearer token checked by the API server (TokenReview), and the right to
// `get` the non-resource URL /metrics (SubjectAccessReview), e.g. through a ClusterRole with
// `nonResourceURLs: ["/metrics"], verbs: ["get"]` bound to Prometheus' service account.
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "exposition/tls_server.h"
#include "kube/client.h"

namespace umbra::exposition {

struct SecureMetricsOptions {
  std::string address;  // "10.0.0.7:8443" (the pod's IP), ":8443", "127.0.0.1:0"
  // tls.crt and tls.key in this folder (e.g. a cert-manager Secret), reloaded when they change;
  // empty: a self-signed certificate made at start (scrapers then skip verification).
  std::string certDir;
};

// Serves GET /metrics with `scrape()`'s text; every other path is 404. Errors name the flag.
Result<std::unique_ptr<TlsServer>> serveSecureMetrics(const SecureMetricsOptions& options,
                                                      kube::KubeClient& client,
                                                      std::function<std::string()> scrape);

}  // namespace umbra::exposition
