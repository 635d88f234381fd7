#include "controller/status.h"

#include "runtime/time_format.h"

namespace umbra::controller {

bool isTerminal(const std::string& p) {
  return p == phase::Placed || p == phase::Recommended || p == phase::Failed;
}

void setCondition(Json& status, const std::string& type, bool value, const std::string& reason,
                  const std::string& message, int64_t generation, SystemTime now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = Json::array();
  }
  const std::string s = value ? "True" : "False";
  for (auto& c : status["conditions"]) {
    if (c.value("type", "") == type) {
      if (c.value("status", "") != s) {
        c["lastTransitionTime"] = runtime::formatTime(now);
      }
      c["status"] = s;
      c["reason"] = reason;
      c["message"] = message;
      c["observedGeneration"] = generation;
      return;
    }
  }
  status["conditions"].push_back({{"type", type},
                                  {"status", s},
                                  {"reason", reason},
                                  {"message", message},
                                  {"observedGeneration", generation},
                                  {"lastTransitionTime", runtime::formatTime(now)}});
}

std::string conditionStatus(const Json& status, const std::string& type) {
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == type) {
      return c.value("status", "");
    }
  }
  return "";
}

void setPhase(Json& status, const std::string& p, const std::string& reason,
              const std::string& message) {
  status["phase"] = p;
  status["reason"] = reason;
  status["message"] = message;
}

}  // namespace umbra::controller
