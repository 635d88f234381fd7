#include "common/tls_trust.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace umbra::tls {
namespace {

std::once_flag overrideOnce;
bool overridden = false;
std::optional<std::string> originalValue;  // SSL_CERT_FILE as the process was given it
std::string systemBundle;  // where OpenSSL reads the system roots from, before any override

struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

struct Identity {
  std::vector<std::unique_ptr<X509, X509Free>> chain;  // leaf first
  std::unique_ptr<EVP_PKEY, KeyFree> key;
};

std::mutex cacheMutex;
std::map<std::string, std::unique_ptr<X509_STORE, StoreFree>> stores;  // kept for the process
std::map<std::string, Identity> identities;

std::string lastError(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = {0};
  if (e != 0)
    ERR_error_string_n(e, buf, sizeof(buf));
  return what + (e != 0 ? std::string(": ") + buf : std::string());
}

std::vector<std::unique_ptr<X509, X509Free>> readCertificates(const std::string& pem,
                                                              const std::string& what) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<std::unique_ptr<X509, X509Free>> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.emplace_back(x);
  ERR_clear_error();  // the end of the input reads as an error
  if (out.empty())
    throw std::runtime_error(what + ": no PEM certificate found");
  return out;
}

X509_STORE* storeFor(const Material& m) {
  const bool system = m.caPem.empty() || m.alsoSystemRoots;
  const std::string key = (system ? "system|" : "only|") + m.caPem;
  auto& slot = stores[key];
  if (slot)
    return slot.get();
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  if (!store)
    throw std::runtime_error(lastError("cannot allocate a certificate store"));
  if (system) {
    // What set_default_verify_paths() would have loaded: the bundle file (as it was before
    // skipPerConnectionBundle()) and the hashed directory, looked up lazily.
    if (systemBundle.empty()) {
      (void)X509_STORE_set_default_paths(store.get());
    } else {
      (void)X509_STORE_load_file(store.get(), systemBundle.c_str());
      const char* dir = std::getenv(X509_get_default_cert_dir_env());
      (void)X509_STORE_load_path(store.get(), dir ? dir : X509_get_default_cert_dir());
    }
    ERR_clear_error();  // a missing bundle or directory only means fewer roots
  }
  if (!m.caPem.empty()) {
    for (auto& cert : readCertificates(m.caPem, "certificate-authority")) {
      if (X509_STORE_add_cert(store.get(), cert.get()) != 1)
        ERR_clear_error();  // a duplicate of a system root
    }
  }
  slot = std::move(store);
  return slot.get();
}

const Identity& identityFor(const Material& m) {
  const std::string key = m.clientCertPem + "|" + m.clientKeyPem;
  auto it = identities.find(key);
  if (it != identities.end())
    return it->second;
  Identity id;
  id.chain = readCertificates(m.clientCertPem, "client-certificate");
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(m.clientKeyPem.data(), static_cast<int>(m.clientKeyPem.size())));
  id.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!id.key)
    throw std::runtime_error(lastError("client-key: no PEM private key"));
  return identities.emplace(key, std::move(id)).first->second;
}

}  // namespace

void apply(ssl_ctx_st* ctx, const Material& m) {
  const std::lock_guard<std::mutex> lock(cacheMutex);
  SSL_CTX_set1_cert_store(ctx, storeFor(m));  // takes a reference; the cache keeps its own
  if (m.clientCertPem.empty())
    return;
  const Identity& id = identityFor(m);
  if (SSL_CTX_use_certificate(ctx, id.chain.front().get()) != 1)
    throw std::runtime_error(lastError("client-certificate"));
  for (size_t i = 1; i < id.chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, id.chain[i].get()) != 1)
      throw std::runtime_error(lastError("client-certificate chain"));
  }
  if (SSL_CTX_use_PrivateKey(ctx, id.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error(lastError("client-key does not match client-certificate"));
}

void skipPerConnectionBundle() {
  std::call_once(overrideOnce, [] {
    const char* var = X509_get_default_cert_file_env();  // "SSL_CERT_FILE"
    const char* given = std::getenv(var);
    if (given != nullptr)
      originalValue = given;
    systemBundle = given != nullptr ? given : X509_get_default_cert_file();
    overridden = ::setenv(var, "/dev/null", 1) == 0;
  });
}

std::vector<std::string> originalEnvironment() {
  const std::string prefix = std::string(X509_get_default_cert_file_env()) + "=";
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden || std::string_view(*e).substr(0, prefix.size()) != prefix)
      out.emplace_back(*e);
  }
  if (overridden && originalValue)
    out.push_back(prefix + *originalValue);
  return out;
}

}  // namespace umbra::tls
