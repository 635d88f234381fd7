#include "controller/node_usage.h"

#include <cmath>
#include <set>

namespace umbra::controller {

NodeUsage::NodeUsage(const kube::Store& nodes, const kube::Store& vmis, const kube::Store& pods)
    : nodeStore_(nodes), vmiStore_(vmis), podStore_(pods) {
  nodeStore_.observe(&nodeFollower_);
  vmiStore_.observe(&vmiFollower_);
  podStore_.observe(&podFollower_);
}

NodeUsage::~NodeUsage() {
  nodeStore_.unobserve(&nodeFollower_);
  vmiStore_.unobserve(&vmiFollower_);
  podStore_.unobserve(&podFollower_);
}

void NodeUsage::Follower::changed(const std::string& key, const nlohmann::json* before,
                                  const nlohmann::json* after) {
  const std::lock_guard<std::mutex> lock(usage_.mutex_);
  switch (kind_) {
    case Kind::Node:
      if (after != nullptr) {
        auto view = placement::nodeViewOf(*after);
        std::string name = view.name;
        usage_.nodes_[name] = std::move(view);
      } else if (before != nullptr) {
        usage_.nodes_.erase(before->at("metadata").value("name", ""));
      }
      return;
    case Kind::Vmi:
      usage_.setHeld(usage_.vmis_, key, after ? placement::vmiNodeRequests(*after) : std::nullopt);
      return;
    case Kind::Pod:
      usage_.setHeld(usage_.pods_, key, after ? placement::podNodeRequests(*after) : std::nullopt);
      return;
  }
}

void NodeUsage::Totals::add(const Held& h, int sign) {
  milliCpu += sign * h.milliCpu;
  bytes += sign * h.bytes;
  for (const auto& [name, n] : h.extended)
    extended[name] += sign * n;
}

void NodeUsage::setHeld(std::unordered_map<std::string, Held>& held, const std::string& key,
                        const std::optional<placement::NodeRequests>& now) {
  if (const auto it = held.find(key); it != held.end()) {
    perNode_[it->second.node].add(it->second, -1);
    held.erase(it);
  }
  if (!now) {
    return;
  }
  Held h{now->node, std::llround(now->requests.cpu * 1000), std::llround(now->requests.memory),
         now->requests.extended};
  perNode_[h.node].add(h, +1);
  held.emplace(key, std::move(h));
}

std::vector<placement::NodeView> NodeUsage::nodes(
    const std::vector<std::string>& excludeVmis) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::unordered_map<std::string, Totals> excluded;
  for (const auto& key : std::set<std::string>(excludeVmis.begin(), excludeVmis.end())) {
    if (const auto it = vmis_.find(key); it != vmis_.end())
      excluded[it->second.node].add(it->second, +1);
  }
  std::vector<placement::NodeView> out;
  out.reserve(nodes_.size());
  for (const auto& [name, view] : nodes_) {
    out.push_back(view);
    Totals t;
    if (const auto it = perNode_.find(name); it != perNode_.end())
      t = it->second;
    if (const auto it = excluded.find(name); it != excluded.end()) {
      t.milliCpu -= it->second.milliCpu;
      t.bytes -= it->second.bytes;
      for (const auto& [r, n] : it->second.extended)
        t.extended[r] -= n;
    }
    out.back().requested = {static_cast<double>(t.milliCpu) / 1000, static_cast<double>(t.bytes),
                            std::move(t.extended)};
  }
  return out;
}

}  // namespace umbra::controller
