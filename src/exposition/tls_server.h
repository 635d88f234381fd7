#pragma once

// A small HTTPS server (TLS 1.2+, a thread per connection, keep-alive) for what the API server or
// Prometheus call: umbra-sim's virt-api behind an APIService and the operator's authenticated
// /metrics. Boost.Beast and OpenSSL stay in the .cc.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace umbra::exposition {

struct HttpRequest {
  std::string method;                                        // "GET", "PUT", ...
  std::string target;                                        // path and query, as sent
  std::string path;                                          // without the query
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  // The CN of the client certificate, when one was sent and chains to TlsServerOptions'
  // clientCaPem; "" otherwise.
  std::string peerCommonName;

  // The first value of header `name` (any case), or "".
  std::string header(const std::string& name) const;
  // Every value of header `name` (any case), in order.
  std::vector<std::string> headerValues(const std::string& name) const;
};

struct HttpReply {
  int code = 200;
  std::string body;
  std::string contentType = "application/json";
};

struct TlsServerOptions {
  std::string address;  // "host:port"; port 0 picks a free one
  std::string flag;     // named in errors, e.g. "--metrics-bind-address"
  std::string serverName = "umbra";
  // The serving certificate and key (PEM), or files to read them from: files are read again when
  // they change (cert-manager rotates them), checked at most every `reloadCheck`.
  std::string certPem, keyPem;
  std::string certFile, keyFile;
  std::chrono::milliseconds reloadCheck{10000};
  // When set, a client certificate is requested and, if sent, must chain to this CA
  // (VerifyClientCertIfGiven).
  std::string clientCaPem;
};

class TlsServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  // Listens and serves `handler` from a thread per connection (so it must be thread-safe). An
  // exception out of the handler becomes a 500. Errors name the flag and what failed.
  static Result<std::unique_ptr<TlsServer>> start(const TlsServerOptions& options, Handler handler);
  // Stops accepting, closes open connections and joins every thread.
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  uint16_t port() const;

  struct Impl;

 private:
  explicit TlsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::exposition
