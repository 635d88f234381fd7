// libFuzzer target: the trace CSV format and its _meta.csv sidecar (sim/trace.h), which users
// bring their own of. Either series, or an error naming the file.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  umbra::sim::TraceSet set;
  std::istringstream csv(text);
  if (const auto st = umbra::sim::parseTraceCsv(csv, "fuzz.csv", 300, {}, set);
      !st.ok() && st.error().message.find("fuzz.csv") == std::string::npos)
    std::abort();
  std::istringstream meta(text);
  if (const auto st = umbra::sim::parseTraceMeta(meta, "fuzz_meta.csv", set);
      !st.ok() && st.error().message.find("fuzz_meta.csv") == std::string::npos)
    std::abort();
  return 0;
}
