#include "api/shadow_placement_status.h"

#include "kube_core/time.h"

namespace umbra::api {

using Json = nlohmann::json;

namespace {

// The status' JSON keys, spelled once.
namespace key {
constexpr const char* Phase = "phase";
constexpr const char* Reason = "reason";
constexpr const char* Message = "message";
constexpr const char* ObservedGeneration = "observedGeneration";
constexpr const char* Shadows = "shadows";
constexpr const char* ShadowCount = "shadowCount";
constexpr const char* Extensions = "extensions";
constexpr const char* ObservationStartedAt = "observationStartedAt";
constexpr const char* Candidates = "candidates";
constexpr const char* SelectedNode = "selectedNode";
constexpr const char* Confidence = "confidence";
constexpr const char* Model = "model";
constexpr const char* DecidedAt = "decidedAt";
constexpr const char* Moves = "moves";
constexpr const char* Migration = "migration";
constexpr const char* Action = "action";
constexpr const char* StartedAt = "startedAt";
constexpr const char* Conditions = "conditions";
constexpr const char* Node = "node";
constexpr const char* Name = "name";
constexpr const char* RunningSince = "runningSince";
constexpr const char* Score = "score";
constexpr const char* Predicted = "predicted";
constexpr const char* CpuContention = "cpuContention";
constexpr const char* MemoryPressure = "memoryPressure";
constexpr const char* IoWait = "ioWait";
constexpr const char* NetworkLatency = "networkLatency";
constexpr const char* Type = "type";
constexpr const char* Status = "status";
constexpr const char* LastTransitionTime = "lastTransitionTime";
}  // namespace key

constexpr Phase AllPhases[] = {Phase::New,     Phase::Pending, Phase::Probing,     Phase::Observing,
                               Phase::Placing, Phase::Placed,  Phase::Recommended, Phase::Failed};
constexpr ShadowPhase AllShadowPhases[] = {ShadowPhase::Pending, ShadowPhase::Running,
                                           ShadowPhase::Dropped};
constexpr MovePhase AllMovePhases[] = {MovePhase::Moving, MovePhase::Succeeded, MovePhase::Failed};

// The enumerator whose toString() is `text`; else an Invalid error "<what> \"text\"".
template <class E, size_t N>
Result<E> enumFrom(const std::string& text, const E (&all)[N], const std::string& what) {
  for (const E e : all) {
    if (text == toString(e))
      return e;
  }
  return Error::make(ErrorKind::Invalid, what + " \"" + text + "\"");
}

void putTime(Json& j, const char* k, const std::optional<SystemTime>& t) {
  if (t)
    j[k] = kube::formatTime(*t);
}

Result<std::optional<SystemTime>> getTime(const Json& j, const char* k, const std::string& where) {
  const std::string text = j.value(k, "");
  if (text.empty())
    return std::optional<SystemTime>();
  const auto t = kube::parseTime(text);
  if (!t)
    return Error::make(ErrorKind::Invalid, where + k + ": \"" + text + "\" is not a time");
  return std::optional<SystemTime>(*t);
}

Json shadowJson(const ShadowStatus& s) {
  Json j = {{key::Node, s.node}, {key::Name, s.name}, {key::Phase, toString(s.phase)}};
  putTime(j, key::RunningSince, s.runningSince);
  if (!s.reason.empty())
    j[key::Reason] = s.reason;
  return j;
}

Result<ShadowStatus> shadowFrom(const Json& j, const std::string& where) {
  ShadowStatus s;
  s.node = j.value(key::Node, "");
  s.name = j.value(key::Name, "");
  s.reason = j.value(key::Reason, "");
  UMBRA_TRY(s.phase, enumFrom(j.value(key::Phase, "Pending"), AllShadowPhases,
                              where + "phase: unknown shadow phase"));
  UMBRA_TRY(s.runningSince, getTime(j, key::RunningSince, where));
  return s;
}

Json moveJson(const MoveStatus& m) {
  Json j = {{key::Node, m.node}, {key::Phase, toString(m.phase)}};
  if (!m.migration.empty())
    j[key::Migration] = m.migration;
  if (!m.action.empty())
    j[key::Action] = m.action;
  putTime(j, key::StartedAt, m.startedAt);
  if (!m.reason.empty())
    j[key::Reason] = m.reason;
  return j;
}

Result<MoveStatus> moveFrom(const Json& j, const std::string& where) {
  MoveStatus m;
  m.node = j.value(key::Node, "");
  m.migration = j.value(key::Migration, "");
  m.action = j.value(key::Action, "");
  m.reason = j.value(key::Reason, "");
  UMBRA_TRY(m.phase, enumFrom(j.value(key::Phase, "Moving"), AllMovePhases,
                              where + "phase: unknown move phase"));
  UMBRA_TRY(m.startedAt, getTime(j, key::StartedAt, where));
  return m;
}

Json candidateJson(const CandidateStatus& c) {
  if (!c.excluded.empty())
    return {{key::Node, c.node}, {"excluded", c.excluded}};
  return {{key::Node, c.node},
          {key::Score, c.score},
          {key::Confidence, c.confidence},
          {key::Predicted,
           {{key::CpuContention, c.predicted.cpuContention},
            {key::MemoryPressure, c.predicted.memoryPressure},
            {key::IoWait, c.predicted.ioWait},
            {key::NetworkLatency, c.predicted.networkLatency}}},
          {key::Reason, c.reason}};
}

CandidateStatus candidateFrom(const Json& j) {
  CandidateStatus c;
  c.node = j.value(key::Node, "");
  c.score = j.value(key::Score, 0.0);
  c.confidence = j.value(key::Confidence, 0.0);
  const Json p = j.value(key::Predicted, Json::object());
  c.predicted = {p.value(key::CpuContention, 0.0), p.value(key::MemoryPressure, 0.0),
                 p.value(key::IoWait, 0.0), p.value(key::NetworkLatency, 0.0)};
  c.reason = j.value(key::Reason, "");
  c.excluded = j.value("excluded", "");
  return c;
}

}  // namespace

Json conditionJson(const Condition& c) {
  Json j = {{key::Type, c.type},
            {key::Status, c.status},
            {key::Reason, c.reason},
            {key::Message, c.message},
            {key::ObservedGeneration, c.observedGeneration}};
  putTime(j, key::LastTransitionTime, c.lastTransitionTime);
  return j;
}

Result<Condition> conditionFrom(const Json& j, const std::string& where) {
  Condition c;
  c.type = j.value(key::Type, "");
  c.status = j.value(key::Status, "");
  c.reason = j.value(key::Reason, "");
  c.message = j.value(key::Message, "");
  c.observedGeneration = j.value(key::ObservedGeneration, static_cast<int64_t>(0));
  UMBRA_TRY(c.lastTransitionTime, getTime(j, key::LastTransitionTime, where));
  return c;
}

const char* toString(Phase phase) {
  switch (phase) {
    case Phase::New: return "";
    case Phase::Pending: return "Pending";
    case Phase::Probing: return "Probing";
    case Phase::Observing: return "Observing";
    case Phase::Placing: return "Placing";
    case Phase::Placed: return "Placed";
    case Phase::Recommended: return "Recommended";
    case Phase::Failed: return "Failed";
  }
  return "";
}

bool isTerminal(Phase phase) {
  return phase == Phase::Placed || phase == Phase::Recommended || phase == Phase::Failed;
}

const char* toString(MovePhase phase) {
  switch (phase) {
    case MovePhase::Moving: return "Moving";
    case MovePhase::Succeeded: return "Succeeded";
    case MovePhase::Failed: return "Failed";
  }
  return "Moving";
}

const char* toString(ShadowPhase phase) {
  switch (phase) {
    case ShadowPhase::Pending: return "Pending";
    case ShadowPhase::Running: return "Running";
    case ShadowPhase::Dropped: return "Dropped";
  }
  return "Pending";
}

SystemTime wholeSeconds(SystemTime t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

void ShadowPlacementStatus::setPhase(Phase p, std::string why, std::string text) {
  phase = p;
  reason = std::move(why);
  message = std::move(text);
}

void ShadowPlacementStatus::setCondition(const std::string& type, bool value, std::string why,
                                         std::string text, int64_t generation, SystemTime now) {
  api::setCondition(conditions, type, value, std::move(why), std::move(text), generation, now);
}

void setCondition(std::vector<Condition>& conditions, const std::string& type, bool value,
                  std::string why, std::string text, int64_t generation, SystemTime now) {
  const std::string s = value ? "True" : "False";
  for (auto& c : conditions) {
    if (c.type == type) {
      if (c.status != s)
        c.lastTransitionTime = wholeSeconds(now);
      c.status = s;
      c.reason = std::move(why);
      c.message = std::move(text);
      c.observedGeneration = generation;
      return;
    }
  }
  conditions.push_back({type, s, std::move(why), std::move(text), generation, wholeSeconds(now)});
}

std::string conditionStatus(const std::vector<Condition>& conditions, const std::string& type) {
  for (const auto& c : conditions) {
    if (c.type == type)
      return c.status;
  }
  return "";
}

std::string ShadowPlacementStatus::conditionStatus(const std::string& type) const {
  return api::conditionStatus(conditions, type);
}

std::string ShadowPlacementStatus::conditionMessage(const std::string& type) const {
  for (const auto& c : conditions) {
    if (c.type == type)
      return c.message;
  }
  return "";
}

int ShadowPlacementStatus::liveShadows() const {
  // Shadows are deleted once a move starts or a decision is final.
  if (isTerminal(phase) || phase == Phase::Placing)
    return 0;
  int n = 0;
  for (const auto& s : shadows)
    n += s.phase != ShadowPhase::Dropped ? 1 : 0;
  return n;
}

Json toJson(const ShadowPlacementStatus& s) {
  Json j = Json::object();
  if (s.phase != Phase::New)
    j[key::Phase] = toString(s.phase);
  if (!s.reason.empty())
    j[key::Reason] = s.reason;
  if (!s.message.empty())
    j[key::Message] = s.message;
  if (s.observedGeneration)
    j[key::ObservedGeneration] = *s.observedGeneration;
  Json shadows = Json::array();
  for (const auto& sh : s.shadows)
    shadows.push_back(shadowJson(sh));
  j[key::Shadows] = std::move(shadows);
  j[key::ShadowCount] = s.liveShadows();
  j[key::Extensions] = s.extensions;
  putTime(j, key::ObservationStartedAt, s.observationStartedAt);
  if (!s.candidates.empty()) {
    Json candidates = Json::array();
    for (const auto& c : s.candidates)
      candidates.push_back(candidateJson(c));
    j[key::Candidates] = std::move(candidates);
  }
  if (!s.selectedNode.empty())
    j[key::SelectedNode] = s.selectedNode;
  if (s.confidence)
    j[key::Confidence] = *s.confidence;
  if (!s.model.empty())
    j[key::Model] = s.model;
  putTime(j, key::DecidedAt, s.decidedAt);
  if (!s.moves.empty()) {
    Json moves = Json::array();
    for (const auto& m : s.moves)
      moves.push_back(moveJson(m));
    j[key::Moves] = std::move(moves);
  }
  Json conditions = Json::array();
  for (const auto& c : s.conditions)
    conditions.push_back(conditionJson(c));
  j[key::Conditions] = std::move(conditions);
  return j;
}

Result<ShadowPlacementStatus> statusFromJson(const Json& j) {
  ShadowPlacementStatus s;
  if (!j.is_object())
    return s;
  UMBRA_TRY(s.phase, enumFrom(j.value(key::Phase, ""), AllPhases, "status.phase: unknown phase"));
  s.reason = j.value(key::Reason, "");
  s.message = j.value(key::Message, "");
  if (j.contains(key::ObservedGeneration))
    s.observedGeneration = j.value(key::ObservedGeneration, static_cast<int64_t>(0));
  const Json shadows = j.value(key::Shadows, Json::array());
  for (size_t i = 0; i < shadows.size(); ++i) {
    UMBRA_TRY(ShadowStatus sh,
              shadowFrom(shadows[i], "status.shadows[" + std::to_string(i) + "]."));
    s.shadows.push_back(std::move(sh));
  }
  s.extensions = j.value(key::Extensions, 0);
  UMBRA_TRY(s.observationStartedAt, getTime(j, key::ObservationStartedAt, "status."));
  for (const auto& c : j.value(key::Candidates, Json::array()))
    s.candidates.push_back(candidateFrom(c));
  s.selectedNode = j.value(key::SelectedNode, "");
  if (j.contains(key::Confidence) && j[key::Confidence].is_number())
    s.confidence = j[key::Confidence].get<double>();
  s.model = j.value(key::Model, "");
  UMBRA_TRY(s.decidedAt, getTime(j, key::DecidedAt, "status."));
  const Json moves = j.value(key::Moves, Json::array());
  for (size_t i = 0; i < moves.size(); ++i) {
    UMBRA_TRY(MoveStatus m, moveFrom(moves[i], "status.moves[" + std::to_string(i) + "]."));
    s.moves.push_back(std::move(m));
  }
  const Json conditions = j.value(key::Conditions, Json::array());
  for (size_t i = 0; i < conditions.size(); ++i) {
    UMBRA_TRY(Condition c,
              conditionFrom(conditions[i], "status.conditions[" + std::to_string(i) + "]."));
    s.conditions.push_back(std::move(c));
  }
  return s;
}

}  // namespace umbra::api
