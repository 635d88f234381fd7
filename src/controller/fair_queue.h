#pragma once

#include <map>
#include <string>
#include <vector>

namespace umbra::controller {

// A placement waiting for a probing slot.
struct Waiting {
  std::string ns;
  std::string created;  // metadata.creationTimestamp, RFC 3339 in UTC: orders as text
  std::string key;      // namespace/name: the tie-break
};

// How many of `waiting` go before the one whose key is `mine` (also in `waiting`). Slots go round
// robin across namespaces: a waiting placement's turn is the number of slots its namespace holds
// (`active`) plus the number of its namespace's placements waiting before it (first come, first
// served within a namespace); the earlier created goes first on the same turn. Placements whose
// turn is at or past `perNamespaceCap` cannot go and hold no one up.
int fairQueuePosition(std::vector<Waiting> waiting, const std::string& mine,
                      const std::map<std::string, int>& active, int perNamespaceCap);

}  // namespace umbra::controller
