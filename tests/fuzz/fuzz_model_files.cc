// libFuzzer target: the files the operator loads from its model volume (a network, a contention
// map, recorded outcomes), which a half-written or foreign file may have replaced. They are read
// by path, so each input is written to one scratch file first.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model/contention_map.h"
#include "model/lstm_net.h"

namespace {

const std::string& scratch() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/umbra-fuzz-model-" +
           std::to_string(::getpid()) + ".json";
  }();
  return path;
}

void named(const umbra::Error& e) {
  if (e.message.find(scratch()) == std::string::npos)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(scratch(), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (auto net = umbra::model::LstmNet::load(scratch(), 6); !net.ok())
    named(net.error());
  if (auto map = umbra::model::ContentionMap::load(scratch()); !map.ok())
    named(map.error());
  if (auto outcomes = umbra::model::readOutcomes(scratch()); !outcomes.ok())
    named(outcomes.error());
  return 0;
}
