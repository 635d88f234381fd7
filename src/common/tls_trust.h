#pragma once

#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; this header stays free of OpenSSL

namespace umbra::tls {

// TLS trust material parsed once per process and shared by every connection.
//
// cpprestsdk builds a new TLS context for each connection it opens and starts with OpenSSL's
// set_default_verify_paths(), which parses the whole system CA bundle: about 40 ms of CPU for
// Debian's ~140 certificates on OpenSSL 3.0, paid again by every connection a burst of requests
// opens (bench-controller opened 20-30 at once). Here the trust store, the client certificate and
// its key are parsed once and shared by reference (OpenSSL's stores and keys are reference
// counted and safe to share between threads).
struct Material {
  std::string caPem;             // PEM CA certificates; empty: the system's roots
  bool alsoSystemRoots = false;  // with caPem: trust the system's roots as well
  std::string clientCertPem;     // PEM chain, leaf first; empty: none
  std::string clientKeyPem;
};

// Replaces ctx's trust store with the shared one for `m` and installs the client identity.
// Throws std::runtime_error naming what could not be parsed.
void apply(ssl_ctx_st* ctx, const Material& m);

// Points SSL_CERT_FILE at /dev/null so that the per-connection set_default_verify_paths() finds
// nothing to parse; apply() supplies the real store, reading the system roots once from where
// OpenSSL would have read them (SSL_CERT_FILE as the process was given it, else OpenSSL's
// default bundle, plus the hashed directory). Call before threads open TLS connections.
// Idempotent.
void skipPerConnectionBundle();

// The process's environment with what skipPerConnectionBundle() changed undone, for a child.
// (A child that inherits /dev/null instead still finds the system roots in the hashed directory,
// /etc/ssl/certs, as OpenSSL and Go both read it; test harness children do.)
std::vector<std::string> originalEnvironment();

}  // namespace umbra::tls
