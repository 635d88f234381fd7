#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "controller/node_usage.h"
#include "kube/client.h"

namespace umbra::controller {
namespace {

using placement::NodeView;
using Json = nlohmann::json;

Json node(const std::string& name, const std::string& cpu) {
  return {{"metadata", {{"name", name}, {"labels", {{"kubevirt.io/schedulable", "true"}}}}},
          {"spec", Json::object()},
          {"status",
           {{"allocatable", {{"cpu", cpu}, {"memory", "64Gi"}}},
            {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

Json vmi(const std::string& name, const std::string& nodeName, const std::string& phase,
         const std::string& cpu, const std::string& memory) {
  Json status = {{"phase", phase}};
  if (!nodeName.empty())
    status["nodeName"] = nodeName;
  return {{"metadata", {{"namespace", "ns"}, {"name", name}}},
          {"spec",
           {{"domain",
             {{"memory", {{"guest", memory}}},
              {"resources", {{"requests", {{"cpu", cpu}, {"memory", memory}}}}}}}}},
          {"status", status}};
}

Json pod(const std::string& name, const std::string& nodeName, const std::string& cpu,
         bool launcher) {
  Json labels = Json::object();
  if (launcher)
    labels["kubevirt.io"] = "virt-launcher";
  return {{"metadata", {{"namespace", "ns"}, {"name", name}, {"labels", labels}}},
          {"spec",
           {{"nodeName", nodeName},
            {"containers", Json::array({{{"resources", {{"requests", {{"cpu", cpu}}}}}}})}}},
          {"status", {{"phase", "Running"}}}};
}

// What a pass computed before NodeUsage: every node parsed, every VMI and pod summed.
std::map<std::string, NodeView> fromScratch(const kube::Store& nodes, const kube::Store& vmis,
                                            const kube::Store& pods,
                                            const std::vector<std::string>& exclude) {
  std::vector<const Json*> v, p;
  const auto vmiList = vmis.list(), podList = pods.list();
  for (const auto& o : vmiList) {
    if (std::find(exclude.begin(), exclude.end(), kube::keyOf(*o)) == exclude.end())
      v.push_back(o.get());
  }
  for (const auto& o : podList)
    p.push_back(o.get());
  const auto requested = placement::requestedPerNode(v, p);
  std::map<std::string, NodeView> out;
  for (const auto& n : nodes.list()) {
    auto view = placement::nodeViewOf(*n);
    if (const auto it = requested.find(view.name); it != requested.end())
      view.requested = it->second;
    out[view.name] = view;
  }
  return out;
}

void expectSame(const NodeUsage& usage, const kube::Store& nodes, const kube::Store& vmis,
                const kube::Store& pods, const std::vector<std::string>& exclude,
                const std::string& step) {
  const auto want = fromScratch(nodes, vmis, pods, exclude);
  const auto got = usage.nodes(exclude);
  ASSERT_EQ(got.size(), want.size()) << step;
  for (const auto& g : got) {
    ASSERT_TRUE(want.count(g.name)) << step << ": " << g.name;
    const NodeView& w = want.at(g.name);
    EXPECT_NEAR(g.requested.cpu, w.requested.cpu, 1e-9) << step << ": " << g.name;
    EXPECT_NEAR(g.requested.memory, w.requested.memory, 0.5) << step << ": " << g.name;
    EXPECT_DOUBLE_EQ(g.allocatable.cpu, w.allocatable.cpu) << step << ": " << g.name;
    EXPECT_EQ(g.labels, w.labels) << step << ": " << g.name;
  }
}

TEST(NodeUsage, StartsFromTheCachesContentAndExcludesTheNamedVmis) {
  kube::Store nodes, vmis, pods;
  nodes.upsert(node("n1", "16"));
  nodes.upsert(node("n2", "8"));
  vmis.upsert(vmi("a", "n1", "Running", "2", "4Gi"));
  vmis.upsert(vmi("b", "n1", "Running", "250m", "512Mi"));
  vmis.upsert(vmi("done", "n2", "Succeeded", "4", "4Gi"));
  vmis.upsert(vmi("unscheduled", "", "Pending", "4", "4Gi"));
  pods.upsert(pod("p", "n2", "1500m", false));
  pods.upsert(pod("virt-launcher-a", "n1", "2", true));
  const NodeUsage usage(nodes, vmis, pods);
  std::map<std::string, NodeView> got;
  for (auto& v : usage.nodes({"ns/b"}))
    got[v.name] = v;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_DOUBLE_EQ(got["n1"].requested.cpu, 2) << "b is excluded; the launcher pod not counted";
  EXPECT_DOUBLE_EQ(got["n1"].requested.memory, 4.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(got["n2"].requested.cpu, 1.5) << "a finished VMI holds nothing";
  EXPECT_DOUBLE_EQ(got["n2"].allocatable.cpu, 8);
  for (auto& v : usage.nodes({}))
    got[v.name] = v;
  EXPECT_DOUBLE_EQ(got["n1"].requested.cpu, 2.25);
}

// Random changes (schedule, move, finish, delete, relist) to the three caches: after each, the
// kept view equals what a pass over every object computes.
TEST(NodeUsage, FollowsEveryChangeAsASumFromScratchWould) {
  kube::Store nodes, vmis, pods;
  for (int i = 0; i < 4; ++i)
    nodes.upsert(node("n" + std::to_string(i), std::to_string(8 + 4 * i)));
  const NodeUsage usage(nodes, vmis, pods);
  std::mt19937 rng(7);
  const auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> phases = {"Pending", "Scheduled", "Running", "Succeeded",
                                           "Failed"};
  const std::vector<std::string> cpus = {"100m", "250m", "1", "2", "1500m"};
  for (int step = 0; step < 600; ++step) {
    const std::string name = "v" + std::to_string(pick(40));
    const std::string where = pick(5) == 0 ? "" : "n" + std::to_string(pick(5));  // n4: no node
    switch (pick(7)) {
      case 0: vmis.erase("ns/" + name); break;
      case 1:
        pods.upsert(pod("p" + std::to_string(pick(10)), where, cpus[pick(5)], pick(3) == 0));
        break;
      case 2: pods.erase("ns/p" + std::to_string(pick(10))); break;
      case 3:
        if (pick(4) == 0) {  // a relist
          std::vector<Json> fresh;
          for (const auto& o : vmis.list()) {
            if (pick(3) != 0)
              fresh.push_back(*o);
          }
          fresh.push_back(vmi("relisted" + std::to_string(step), where, "Running", "1", "1Gi"));
          vmis.replace(std::move(fresh));
          break;
        }
        [[fallthrough]];
      default: vmis.upsert(vmi(name, where, phases[pick(5)], cpus[pick(5)], "512Mi"));
    }
    if (step % 50 == 49)
      nodes.upsert(node("n" + std::to_string(pick(4)), std::to_string(pick(32) + 1)));
    std::vector<std::string> exclude;
    for (int e = pick(3); e > 0; --e)
      exclude.push_back("ns/v" + std::to_string(pick(40)));
    expectSame(usage, nodes, vmis, pods, exclude, "step " + std::to_string(step));
    if (HasFailure())
      return;
  }
  nodes.erase(kube::keyOf(node("n0", "1")));
  expectSame(usage, nodes, vmis, pods, {}, "node removed");
}

}  // namespace
}  // namespace umbra::controller
