// libFuzzer target: one line of a watch stream (kube_core/watch_event.h), as the API server (or
// anything between it and the operator) sends it. An event that parses has an object.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube_core/watch_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto r =
      umbra::kube::parseWatchLine(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.ok() && r->has_value() && !(*r)->object.is_object())
    std::abort();
  if (!r.ok() && r.error().message.empty())
    std::abort();
  return 0;
}
