// libFuzzer target: resource.Quantity and Go durations (kube_core/quantity.h), the strings every
// CR spec and the operator's configuration carry. Beyond "no crash, no sanitizer report": a value
// is finite and not negative, and a parsed duration prints to text that parses back to itself.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kube_core/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto q = umbra::kube::parseQuantity(text); q && (!std::isfinite(*q) || *q < 0))
    std::abort();
  if (const auto d = umbra::kube::parseDuration(text)) {
    if (d->count() < 0)
      std::abort();
    const auto again = umbra::kube::parseDuration(umbra::kube::formatDuration(*d));
    if (!again || *again != *d)
      std::abort();
  }
  return 0;
}
