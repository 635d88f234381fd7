#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/store.h"
#include "placement/candidates.h"

namespace umbra::controller {

// The nodes as the classifier sees them, with what the VMIs and pods on each already request,
// kept current from the caches' changes. A pass then costs O(nodes) instead of a sum over every
// VMI and pod in the cluster (1,800 VMIs in `make bench-scale`), and nothing is parsed twice.
// Requests are kept in millicores and bytes, so that adding and removing is exact.
class NodeUsage {
 public:
  NodeUsage(const kube::Store& nodes, const kube::Store& vmis, const kube::Store& pods);
  ~NodeUsage();
  NodeUsage(const NodeUsage&) = delete;
  NodeUsage& operator=(const NodeUsage&) = delete;

  // Every node with `requested` filled in, leaving out the VMIs named in `excludeVmis`
  // ("ns/name": the target itself, the placement's own shadows).
  std::vector<placement::NodeView> nodes(const std::vector<std::string>& excludeVmis) const;

 private:
  struct Held {
    std::string node;
    int64_t milliCpu = 0;
    int64_t bytes = 0;
    std::map<std::string, double> extended;  // whole devices and bytes: exact in a double
  };
  struct Totals {
    int64_t milliCpu = 0;
    int64_t bytes = 0;
    std::map<std::string, double> extended;
    void add(const Held& h, int sign);
  };
  enum class Kind { Node, Vmi, Pod };
  class Follower : public kube::StoreObserver {
   public:
    Follower(NodeUsage& usage, Kind kind) : usage_(usage), kind_(kind) {}
    void changed(const std::string& key, const nlohmann::json* before,
                 const nlohmann::json* after) override;

   private:
    NodeUsage& usage_;
    Kind kind_;
  };

  void setHeld(std::unordered_map<std::string, Held>& held, const std::string& key,
               const std::optional<placement::NodeRequests>& now);

  mutable std::mutex mutex_;
  std::map<std::string, placement::NodeView> nodes_;   // by node name
  std::unordered_map<std::string, Held> vmis_, pods_;  // by "ns/name", only those on a node
  std::unordered_map<std::string, Totals> perNode_;
  const kube::Store& nodeStore_;
  const kube::Store& vmiStore_;
  const kube::Store& podStore_;
  Follower nodeFollower_{*this, Kind::Node};
  Follower vmiFollower_{*this, Kind::Vmi};
  Follower podFollower_{*this, Kind::Pod};
};

}  // namespace umbra::controller
