#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::exposition {

// A serving certificate and the CA (named `caName`) that signed it, generated in memory (ECDSA
// P-256, PEM), as virt-operator generates virt-api's: the CA goes into an APIService's caBundle
// (umbra-sim) or nowhere (the operator's self-signed /metrics fallback); the certificate is valid
// for `dnsNames` (the first is its CN) and `ips`.
struct ServingCert {
  std::string caPem, certPem, keyPem;
};
Result<ServingCert> generateServingCert(const std::string& caName,
                                        const std::vector<std::string>& dnsNames,
                                        const std::vector<std::string>& ips, int validDays);

// The subject CN of a PEM certificate, or "" if it cannot be read (tests).
std::string certificateCommonName(const std::string& pem);

}  // namespace umbra::exposition
