// libFuzzer target: kubeconfig YAML (kube/config.h), the operator's first input. Either a
// configuration with a server, or an error whose message names the file.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kube/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto r = umbra::kube::parseKubeconfig(text, "fuzz.kubeconfig", "/nonexistent", "");
  if (!r.ok() && r.error().message.find("fuzz.kubeconfig") == std::string::npos)
    std::abort();
  return 0;
}
