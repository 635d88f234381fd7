#include "exposition/serving_cert.h"

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace umbra::exposition {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

Error fail(const std::string& what) {
  return Error::make(ErrorKind::Internal, "cannot generate a serving certificate: " + what);
}

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

Result<Owned<X509>> makeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, int days) {
  Owned<X509> cert(X509_new());
  if (!cert)
    return fail("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    return fail("RAND_bytes");
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

std::string pemOf(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string pemOf(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Result<ServingCert> generateServingCert(const std::string& caName,
                                        const std::vector<std::string>& dnsNames,
                                        const std::vector<std::string>& ips, int validDays) {
  if (dnsNames.empty())
    return fail("no DNS name");
  Owned<EVP_PKEY> caKey(EVP_EC_gen("P-256"));
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!caKey || !key)
    return fail("EC key generation");
  auto ca = makeCert(caKey.get(), caName, nullptr, validDays);
  if (!ca.ok())
    return ca.error();
  X509* caCert = ca->get();
  if (!addExtension(caCert, caCert, NID_basic_constraints, "critical,CA:TRUE") ||
      !addExtension(caCert, caCert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !addExtension(caCert, caCert, NID_subject_key_identifier, "hash") ||
      X509_sign(caCert, caKey.get(), EVP_sha256()) == 0)
    return fail("signing the CA");
  auto leaf = makeCert(key.get(), dnsNames.front(), caCert, validDays);
  if (!leaf.ok())
    return leaf.error();
  std::string san;
  for (const auto& d : dnsNames)
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ips)
    san += ",IP:" + ip;
  X509* cert = leaf->get();
  if (!addExtension(cert, caCert, NID_subject_alt_name, san) ||
      !addExtension(cert, caCert, NID_ext_key_usage, "serverAuth") ||
      !addExtension(cert, caCert, NID_key_usage, "critical,digitalSignature") ||
      !addExtension(cert, caCert, NID_authority_key_identifier, "keyid") ||
      X509_sign(cert, caKey.get(), EVP_sha256()) == 0)
    return fail("signing the serving certificate (SANs " + san + ")");
  return ServingCert{pemOf(caCert), pemOf(cert), pemOf(key.get())};
}

std::string certificateCommonName(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return "";
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) <
      0)
    return "";
  return cn;
}

}  // namespace umbra::exposition
