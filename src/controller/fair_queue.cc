#include "controller/fair_queue.h"

#include <algorithm>
#include <tuple>

namespace umbra::controller {

int fairQueuePosition(std::vector<Waiting> waiting, const std::string& mine,
                      const std::map<std::string, int>& active, int perNamespaceCap) {
  const auto byCreation = [](const Waiting& a, const Waiting& b) {
    return std::tie(a.created, a.key) < std::tie(b.created, b.key);
  };
  std::sort(waiting.begin(), waiting.end(), byCreation);
  struct Turn {
    int turn;
    const Waiting* w;
  };
  std::map<std::string, int> seen;  // per namespace, in creation order
  std::vector<Turn> turns;
  turns.reserve(waiting.size());
  for (const Waiting& w : waiting) {
    const auto a = active.find(w.ns);
    turns.push_back({(a == active.end() ? 0 : a->second) + seen[w.ns]++, &w});
  }
  const auto self =
      std::find_if(turns.begin(), turns.end(), [&](const Turn& t) { return t.w->key == mine; });
  if (self == turns.end())
    return 0;
  return static_cast<int>(std::count_if(turns.begin(), turns.end(), [&](const Turn& t) {
    if (t.w == self->w || t.turn >= perNamespaceCap)
      return false;
    return t.turn < self->turn || (t.turn == self->turn && byCreation(*t.w, *self->w));
  }));
}

}  // namespace umbra::controller
