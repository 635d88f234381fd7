// libFuzzer target: the operator's configuration file and its metric catalog (config/config.h,
// telemetry/catalog.h). Either parsed or an error naming the file.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "telemetry/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto c = umbra::config::parseConfig(text, "fuzz.yaml");
      !c.ok() && c.error().message.find("fuzz.yaml") == std::string::npos)
    std::abort();
  if (const auto c = umbra::telemetry::parseCatalog(text, "catalog.yaml");
      !c.ok() && c.error().message.find("catalog.yaml") == std::string::npos)
    std::abort();
  return 0;
}
