// The outcomes file: one JSON object per line, what the operator records after each placement and
// the simulator produces offline (appendOutcome, readOutcomes).
#include "model/contention_map.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "model/json_integer.h"

namespace umbra::model {

using nlohmann::json;

namespace {

json contentionJson(const placement::Contention& c) {
  return {{"cpuContention", c.cpuContention},
          {"memoryPressure", c.memoryPressure},
          {"ioWait", c.ioWait},
          {"networkLatency", c.networkLatency}};
}

placement::Contention contentionOf(const json& j) {
  return {j.at("cpuContention").get<double>(), j.at("memoryPressure").get<double>(),
          j.at("ioWait").get<double>(), j.at("networkLatency").get<double>()};
}

// The list is laid out by hand: clang-format does not settle on a layout for it.
// clang-format off
#define UMBRA_INPUT_FIELDS(X)                                                        \
  X(shadowSteal) X(shadowStealSd) X(nodeUtilNow) X(nodeUtilP50) X(nodeUtilP90)      \
  X(memoryPressure) X(memoryPressureSd) X(ioWait) X(ioWaitSd) X(networkLatency)     \
  X(networkLatencySd) X(targetVcpus) X(cpuShare) X(memoryShare)
// Added later: outcomes recorded before them read 0 (a Passive shadow's).
#define UMBRA_OPTIONAL_INPUT_FIELDS(X) X(probeLoss) X(probeLossSd)
// clang-format on

json inputsJson(const ContentionInputs& in) {
  json j;
#define X(f) j[#f] = in.f;
  UMBRA_INPUT_FIELDS(X)
  UMBRA_OPTIONAL_INPUT_FIELDS(X)
#undef X
  j["nodeUtilDayP95"] = in.nodeUtilDayP95;
  j["nodeUtilHourSd"] = in.nodeUtilHourSd;
  return j;
}

ContentionInputs inputsOf(const json& j) {
  ContentionInputs in;
#define X(f) in.f = j.at(#f).get<double>();
  UMBRA_INPUT_FIELDS(X)
#undef X
#define X(f) in.f = j.value(#f, 0.0);
  UMBRA_OPTIONAL_INPUT_FIELDS(X)
#undef X
  in.nodeUtilDayP95 = j.value("nodeUtilDayP95", in.nodeUtilNow);  // older records: the node now
  in.nodeUtilHourSd = j.value("nodeUtilHourSd", 0.0);
  return in;
}

}  // namespace

Status appendOutcome(const std::string& path, const Outcome& o) {
  const json j = {{"time", o.time},
                  {"source", o.source},
                  {"target", o.target},
                  {"node", o.node},
                  {"inputs", inputsJson(o.inputs)},
                  {"actual", contentionJson(o.actual)}};
  const std::string line = j.dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error::make(ErrorKind::Invalid,
                       path + ": cannot append an outcome: " + std::strerror(errno));
  }
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return Error::make(ErrorKind::Invalid, path + ": cannot append an outcome: " +
                                               (n < 0 ? std::strerror(err) : "short write"));
  }
  return okStatus();
}

Result<std::vector<Outcome>> readOutcomes(const std::string& path) {
  std::vector<Outcome> out;
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path))
      return out;  // none recorded yet
    return Error::make(ErrorKind::Invalid, path + ": cannot read");
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty())
      continue;
    const json j = json::parse(line, nullptr, false);
    try {
      if (j.is_discarded())
        throw std::runtime_error("not JSON");
      Outcome o;
      o.time = integerAt<int64_t>(j, "time");
      o.source = j.value("source", "");
      o.target = j.value("target", "");
      o.node = j.value("node", "");
      o.inputs = inputsOf(j.at("inputs"));
      o.actual = contentionOf(j.at("actual"));
      out.push_back(std::move(o));
    } catch (const std::exception& e) {
      return Error::make(ErrorKind::Invalid, path + ":" + std::to_string(number) +
                                                 ": not an outcome record (" + e.what() + ")");
    }
  }
  return out;
}

}  // namespace umbra::model
