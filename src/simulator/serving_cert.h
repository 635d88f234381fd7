#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::simulator {

// A serving certificate and the CA that signed it, generated in memory (ECDSA P-256, PEM), as
// virt-operator generates virt-api's: the CA goes into the APIService's caBundle, the certificate
// is valid for `dnsNames` (the first is its CN) and `ips`.
struct ServingCert {
  std::string caPem, certPem, keyPem;
};
Result<ServingCert> generateServingCert(const std::vector<std::string>& dnsNames,
                                        const std::vector<std::string>& ips, int validDays);

// The subject CN of a PEM certificate, or "" if it cannot be read (tests).
std::string certificateCommonName(const std::string& pem);

}  // namespace umbra::simulator
