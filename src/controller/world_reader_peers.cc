// WorldReader: what the other placements mean for this one. Who goes first for the same VM, how
// many wait ahead for a slot, what they reserve on the nodes.
#include "controller/world_reader.h"

#include <map>
#include <vector>

#include "controller/fair_queue.h"

namespace umbra::controller {

using kube::Json;

namespace {

// Who goes first among placements of one target: one already moving it, then those probing it,
// then the earliest created (by name on a tie).
struct Precedence {
  int rank = 2;
  std::string created;  // RFC 3339 in UTC: orders as text
  std::string name;
  auto operator<=>(const Precedence&) const = default;
};

// status.<key> of a placement as text, without copying its status ("" when absent).
std::string statusField(const Json& sp, const char* key) {
  const auto status = sp.find("status");
  if (status == sp.end() || !status->is_object())
    return "";
  const auto v = status->find(key);
  return v != status->end() && v->is_string() ? v->get<std::string>() : "";
}

int rankOf(const std::string& phase) {
  if (phase == api::toString(api::Phase::Placing))
    return 0;
  if (phase == api::toString(api::Phase::Probing) || phase == api::toString(api::Phase::Observing))
    return 1;
  return 2;
}

bool targets(const Json& sp, const std::string& ns, const Json& target) {
  const auto spec = sp.find("spec");
  if (spec == sp.end() || !spec->is_object())
    return false;
  const auto t = spec->find("target");
  return t != spec->end() && *t == target && sp["metadata"].value("namespace", "") == ns;
}

}  // namespace

// The requests of other placements' targets on the nodes they are headed for, before the VMIs
// land there (the scheduler's "assumed pods"): a move under way reserves its node; while
// candidates are chosen, each candidate another placement is probing reserves its share, so that
// a burst of placements spreads over the nodes instead of all probing, and moving to, the same
// few.
std::map<std::string, placement::Resources> WorldReader::reservations(const PlacementInput& in,
                                                                      bool selecting) const {
  std::map<std::string, placement::Resources> reserved;
  const auto remembered =
      selecting ? choices_.nodesByPlacement() : std::map<std::string, std::vector<std::string>>{};
  for (const auto& sp : caches_.placements.list()) {
    const std::string key = kube::keyOf(*sp);
    if (key == in.key())
      continue;
    // Only a move under way, or (while selecting) probing, reserves: skip the rest unparsed.
    const std::string phase = statusField(*sp, "phase");
    const bool moving = phase == api::toString(api::Phase::Placing);
    const bool early = phase.empty() || phase == api::toString(api::Phase::Pending) ||
                       phase == api::toString(api::Phase::Probing) ||
                       phase == api::toString(api::Phase::Observing);
    if (!moving && !(selecting && early))
      continue;
    auto status = api::statusFromJson((*sp).value("status", Json::object()));
    if (!status.ok() || api::isTerminal(status->phase))
      continue;
    // A move reserves the whole target on its node; a placement still probing will land on one
    // of its n candidates, so each of them reserves 1/n of it (the expected load).
    std::vector<std::string> nodes;
    if (!status->moves.empty() && status->moves.back().phase == api::MovePhase::Moving)
      nodes.push_back(status->moves.back().node);
    if (nodes.empty() && selecting) {
      for (const auto& s : status->shadows)
        if (s.phase != api::ShadowPhase::Dropped)
          nodes.push_back(s.node);
      if (const auto it = remembered.find(key); it != remembered.end() && status->shadows.empty())
        nodes.insert(nodes.end(), it->second.begin(), it->second.end());
    }
    if (nodes.empty())
      continue;
    const double share = 1.0 / static_cast<double>(nodes.size());
    std::string on;
    const auto req = targetRequests(*sp, on);
    if (!req)
      continue;
    for (const auto& node : nodes) {
      if (node == on)
        continue;  // it is there: the node's usage counts it already
      reserved[node].add(*req, share);
    }
  }
  return reserved;
}

// Placements holding a slot (probing or observing, or chosen with their status still to come), by
// namespace.
std::map<std::string, int> WorldReader::probingByNamespace() const {
  std::map<std::string, int> active;
  for (const std::string& key : choices_.keys())
    ++active[key.substr(0, key.find('/'))];
  for (const auto& other : caches_.placements.list()) {
    const std::string ph = statusField(*other, "phase");
    if (ph == api::toString(api::Phase::Probing) || ph == api::toString(api::Phase::Observing))
      ++active[(*other)["metadata"].value("namespace", "")];
  }
  return active;
}

// Placements waiting for a slot (no status yet, or Queued) that go before this one, round robin
// across namespaces (fair_queue.h).
int WorldReader::queuedAhead(const PlacementInput& in,
                             const std::map<std::string, int>& activeByNamespace) const {
  const auto remembered = choices_.keys();
  std::vector<Waiting> waiting;
  bool self = false;
  for (const auto& other : caches_.placements.list()) {
    const Json& m = (*other)["metadata"];
    const std::string key = kube::keyOf(*other);
    const std::string phase = statusField(*other, "phase");
    const std::string reason = statusField(*other, "reason");
    const bool waits = (phase.empty() && remembered.count(key) == 0) ||
                       (phase == api::toString(api::Phase::Pending) && reason == "Queued");
    if ((waits || key == in.key()) && !m.contains("deletionTimestamp")) {
      waiting.push_back({m.value("namespace", ""), m.value("creationTimestamp", ""), key});
      self = self || key == in.key();
    }
  }
  if (!self)  // not in the cache yet
    waiting.push_back({in.ns, in.object["metadata"].value("creationTimestamp", ""), in.key()});
  return fairQueuePosition(std::move(waiting), in.key(), activeByNamespace, perNamespaceCap_);
}

// The active placement of the same target that goes first, if it is not this one.
void WorldReader::holder(const PlacementInput& in, World& w) const {
  const Json& target = in.object["spec"]["target"];
  const auto remembered = choices_.keys();
  const auto precedence = [&](const Json& sp, const std::string& key) {
    const std::string phase = statusField(sp, "phase");
    return Precedence{remembered.count(key) ? 1 : rankOf(phase),
                      sp["metadata"].value("creationTimestamp", ""), key};
  };
  Precedence best = precedence(in.object, in.key());
  for (const auto& other : caches_.placements.list()) {
    if (!targets(*other, in.ns, target))
      continue;
    const std::string key = kube::keyOf(*other);
    const std::string phase = statusField(*other, "phase");
    if (key == in.key() || (*other)["metadata"].contains("deletionTimestamp"))
      continue;
    if (phase == api::toString(api::Phase::Placed) ||
        phase == api::toString(api::Phase::Recommended) ||
        phase == api::toString(api::Phase::Failed))
      continue;
    const Precedence p = precedence(*other, key);
    if (p < best) {
      best = p;
      w.heldBy = (*other)["metadata"].value("name", "");
      w.heldByPhase = phase.empty() ? "New" : phase;
    }
  }
}

}  // namespace umbra::controller
