#include "exposition/secure_metrics.h"

#include <unistd.h>

#include "common/log.h"
#include "exposition/delegated_auth.h"
#include "exposition/serving_cert.h"

namespace umbra::exposition {

Result<std::unique_ptr<TlsServer>> serveSecureMetrics(const SecureMetricsOptions& options,
                                                      kube::KubeClient& client,
                                                      std::function<std::string()> scrape) {
  TlsServerOptions tls;
  tls.address = options.address.empty() || options.address.front() != ':'
                    ? options.address
                    : "0.0.0.0" + options.address;
  tls.flag = "--metrics-bind-address";
  tls.serverName = "umbra-operator";
  if (!options.certDir.empty()) {
    tls.certFile = options.certDir + "/tls.crt";
    tls.keyFile = options.certDir + "/tls.key";
  } else {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    std::vector<std::string> ips;
    if (const auto colon = tls.address.rfind(':'); colon != std::string::npos) {
      const std::string ip = tls.address.substr(0, colon);
      if (ip != "0.0.0.0" && ip.find_first_not_of("0123456789.") == std::string::npos)
        ips.push_back(ip);
    }
    const std::string name = host[0] ? host : "umbra-operator";
    UMBRA_TRY(const ServingCert cert,
              generateServingCert("umbra-operator metrics CA", {name, "localhost"}, ips, 365));
    tls.certPem = cert.certPem;
    tls.keyPem = cert.keyPem;
  }
  auto auth = std::make_shared<DelegatedAuth>(client);
  auto server = TlsServer::start(
      tls, [auth, scrape = std::move(scrape)](const HttpRequest& req) -> HttpReply {
        if (req.path != "/metrics")
          return {404, "404 page not found\n", "text/plain; charset=utf-8"};
        if (req.method != "GET")
          return {405, "method not allowed\n", "text/plain; charset=utf-8"};
        if (HttpReply denied = auth->check(req); denied.code != 200)
          return denied;
        return {200, scrape(), "text/plain; version=0.0.4; charset=utf-8"};
      });
  if (!server.ok())
    return server.error();
  log::info("serving /metrics over HTTPS (authenticated and authorized by the API server)",
            {{"address", tls.address},
             {"port", std::to_string((*server)->port())},
             {"certificate", options.certDir.empty() ? "self-signed" : options.certDir}});
  return server;
}

}  // namespace umbra::exposition
