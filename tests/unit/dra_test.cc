#include <gtest/gtest.h>

#include "placement/candidates.h"
#include "placement/dra.h"

namespace umbra::placement::dra {
namespace {

Device gpu(const std::string& name, const std::string& model = "a100",
           const std::string& memory = "80Gi") {
  return {"gpu.example.com", "node-a", name,
          Json{{"model", {{"string", model}}},
               {"index", {{"int", 0}}},
               {"ext.example.com/family", {{"string", "hopper"}}},
               {"virtual", {{"bool", false}}}},
          Json{{"memory", {{"value", memory}}}}};
}

bool match(const std::string& expr, const Device& d) {
  auto s = Selector::parse(expr);
  EXPECT_TRUE(s.ok()) << expr << ": " << s.error().message;
  auto m = s->matches(d);
  EXPECT_TRUE(m.ok()) << expr << ": " << m.error().message;
  return m.ok() && *m;
}

TEST(DraSelectorTest, EvaluatesTheFormsDeviceClassesUse) {
  const Device d = gpu("gpu-0");
  EXPECT_TRUE(match(R"(device.driver == "gpu.example.com")", d));
  EXPECT_FALSE(match(R"(device.driver == 'other.example.com')", d));
  EXPECT_TRUE(match(R"(device.attributes["gpu.example.com"].model == "a100")", d));
  EXPECT_TRUE(match(R"(device.attributes["gpu.example.com"]["model"] != "h100")", d));
  EXPECT_TRUE(match(R"(device.attributes["ext.example.com"].family == "hopper")", d));
  EXPECT_TRUE(match(R"(device.attributes["gpu.example.com"].index < 1)", d));
  EXPECT_TRUE(match(R"(!device.attributes["gpu.example.com"].virtual)", d));
  EXPECT_TRUE(
      match(R"(device.capacity["gpu.example.com"].memory.compareTo(quantity("40Gi")) >= 0)", d));
  EXPECT_FALSE(
      match(R"(device.capacity["gpu.example.com"].memory.isLessThan(quantity("40Gi")))", d));
  EXPECT_TRUE(match(R"("model" in device.attributes["gpu.example.com"])", d));
  EXPECT_FALSE(match(R"("missing" in device.attributes["gpu.example.com"])", d));
  EXPECT_TRUE(match(R"(device.attributes["gpu.example.com"].model.startsWith("a1"))", d));
  EXPECT_TRUE(match(R"(device.driver == "x" || (device.driver.endsWith(".com") && true))", d));
  EXPECT_FALSE(match(R"(device.attributes["gpu.example.com"].model == 1)", d))
      << "values of different types are not equal";
}

TEST(DraSelectorTest, ErrorsAreErrorsExceptWhereAndOrDecideWithoutThem) {
  const Device d = gpu("gpu-0");
  auto missing = Selector::parse(R"(device.attributes["gpu.example.com"].cores > 4)");
  ASSERT_TRUE(missing.ok());
  auto r = missing->matches(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no such key: cores"), std::string::npos);
  EXPECT_NE(r.error().message.find("gpu.example.com/node-a/gpu-0"), std::string::npos);
  // Commutative short-circuit, as CEL's: false && error is false, error || true is true.
  EXPECT_FALSE(match(R"(device.attributes["gpu.example.com"].cores > 4 && false)", d));
  EXPECT_TRUE(match(R"(device.attributes["gpu.example.com"].cores > 4 || true)", d));
  // Ordering values of different types is an error, not false.
  auto mixed = Selector::parse(R"(device.attributes["gpu.example.com"].model < 3)");
  ASSERT_TRUE(mixed.ok());
  EXPECT_FALSE(mixed->matches(d).ok());
}

TEST(DraSelectorTest, UnsupportedExpressionsAreRefusedNamingThePart) {
  for (const auto& [expr, part] : std::vector<std::pair<std::string, std::string>>{
           {R"(device.attributes["d"].model.matches("^a"))", "function 'matches'"},
           {R"(semver(device.attributes["d"].v) > semver("1.0.0"))", "identifier 'semver'"},
           {R"(device.attributes["d"].n + 1 > 2)", "character '+'"},
           {R"(device.driver == "x)", "unterminated string"},
           {R"(device.driver ==)", "end of expression"}}) {
    auto s = Selector::parse(expr);
    ASSERT_FALSE(s.ok()) << expr;
    EXPECT_NE(s.error().message.find(part), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find(expr), std::string::npos) << "names the expression";
  }
}

Json slice(const std::string& node, const std::string& pool, int generation,
           const std::vector<std::string>& devices) {
  Json list = Json::array();
  for (const auto& d : devices)
    list.push_back({{"name", d}, {"attributes", {{"model", {{"string", "a100"}}}}}});
  Json spec = {{"driver", "gpu.example.com"},
               {"pool", {{"name", pool}, {"generation", generation}, {"resourceSliceCount", 1}}},
               {"devices", list}};
  if (node == "*")
    spec["allNodes"] = true;
  else
    spec["nodeName"] = node;
  return {{"metadata", {{"name", pool + "-" + std::to_string(generation)}}}, {"spec", spec}};
}

Json allocated(const std::string& ns, const std::string& name, const std::string& pool,
               const std::string& device) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}},
          {"status",
           {{"allocation",
             {{"devices",
               {{"results", Json::array({{{"request", "r"},
                                          {"driver", "gpu.example.com"},
                                          {"pool", pool},
                                          {"device", device}}})}}}}}}}};
}

TEST(DraInventoryTest, NewestGenerationMinusAllocatedDevices) {
  const Json old = slice("a", "a", 1, {"gpu-0", "gpu-1", "gpu-2"});
  const Json current = slice("a", "a", 2, {"gpu-0", "gpu-1"});
  const Json b = slice("b", "b", 1, {"gpu-0"});
  const Json net = slice("*", "fabric", 1, {"nic-0"});
  const Json taken = allocated("other", "c1", "a", "gpu-0");
  const Json mine = allocated("ns", "mine", "b", "gpu-0");
  const Inventory inv = inventoryOf({&old, &current, &b, &net}, {&taken, &mine}, {"ns/mine"});
  ASSERT_EQ(inv.byNode.at("a").size(), 1u) << "generation 1 is replaced; gpu-0 is taken";
  EXPECT_EQ(inv.byNode.at("a")[0].name, "gpu-1");
  EXPECT_EQ(inv.byNode.at("b").size(), 1u) << "the target's own claim does not take from it";
  ASSERT_EQ(inv.shared.size(), 1u);
  EXPECT_TRUE(inv.shared[0].first.is_null()) << "allNodes";
}

Json gpuClass(const std::string& extra = "") {
  Json selectors =
      Json::array({{{"cel", {{"expression", "device.driver == \"gpu.example.com\""}}}}});
  if (!extra.empty())
    selectors.push_back({{"cel", {{"expression", extra}}}});
  return {{"metadata", {{"name", "gpu.example.com"}}}, {"spec", {{"selectors", selectors}}}};
}

NodeView nodeNamed(const std::string& name) {
  NodeView n;
  n.name = name;
  n.labels = {{"kubernetes.io/hostname", name}};
  return n;
}

TEST(DraShortfallTest, CountsFirstAvailableAndAllocatedClaims) {
  const Json a = slice("a", "a", 1, {"gpu-0"});
  const Json b = slice("b", "b", 1, {"gpu-0", "gpu-1"});
  Needs needs;
  needs.inventory = inventoryOf({&a, &b}, {}, {});
  const std::map<std::string, Json> classes = {{"gpu.example.com", gpuClass()}};
  const Json two = {
      {"devices",
       {{"requests",
         Json::array({{{"name", "pair"},
                       {"exactly", {{"deviceClassName", "gpu.example.com"}, {"count", 2}}}}})}}}};
  auto requests = requestsOf(two, classes, "ResourceClaimTemplate ns/two");
  ASSERT_TRUE(requests.ok()) << requests.error().message;
  needs.claims.push_back({"c", "ResourceClaimTemplate ns/two", *requests, std::nullopt});
  EXPECT_EQ(shortfall(needs, nodeNamed("a")),
            "no free device of class gpu.example.com (2 needed, 1 free) for "
            "ResourceClaimTemplate ns/two request pair");
  std::map<std::string, std::vector<Device>> chosen;
  EXPECT_EQ(shortfall(needs, nodeNamed("b"), &chosen), "");
  EXPECT_EQ(chosen.at("c\npair").size(), 2u);

  // firstAvailable: two devices, or else one.
  const Json either = {
      {"devices",
       {{"requests",
         Json::array(
             {{{"name", "gpus"},
               {"firstAvailable",
                Json::array(
                    {{{"name", "two"}, {"deviceClassName", "gpu.example.com"}, {"count", 2}},
                     {{"name", "one"}, {"deviceClassName", "gpu.example.com"}}})}}})}}}};
  needs.claims = {
      {"c", "ResourceClaim ns/either", *requestsOf(either, classes, "x"), std::nullopt}};
  chosen.clear();
  EXPECT_EQ(shortfall(needs, nodeNamed("a"), &chosen), "");
  EXPECT_EQ(chosen.count("c\ngpus/one"), 1u)
      << "the sub-request used, as allocation results name it";

  // Two claims on one node compete for its devices.
  const Json one = {
      {"devices",
       {{"requests",
         Json::array({{{"name", "g"}, {"exactly", {{"deviceClassName", "gpu.example.com"}}}}})}}}};
  needs.claims = {{"c1", "claim 1", *requestsOf(one, classes, "x"), std::nullopt},
                  {"c2", "claim 2", *requestsOf(one, classes, "x"), std::nullopt}};
  EXPECT_NE(shortfall(needs, nodeNamed("a")), "");
  EXPECT_EQ(shortfall(needs, nodeNamed("b")), "");

  // An allocated claim is bound to its allocation's nodes.
  const Json onB = {
      {"nodeSelectorTerms", Json::array({{{"matchFields", Json::array({{{"key", "metadata.name"},
                                                                        {"operator", "In"},
                                                                        {"values", {"b"}}}})}}})}};
  needs.claims = {{"c", "ResourceClaim ns/bound", {}, onB}};
  EXPECT_EQ(shortfall(needs, nodeNamed("b")), "");
  EXPECT_EQ(shortfall(needs, nodeNamed("a")),
            "ResourceClaim ns/bound is allocated to devices this node cannot reach");
  // An allocation without a node selector: devices every node reaches.
  needs.claims = {{"c", "ResourceClaim ns/fabric", {}, Json()}};
  EXPECT_EQ(shortfall(needs, nodeNamed("a")), "");
}

TEST(DraShortfallTest, ClassAndRequestSelectorsBothApply) {
  Json b = slice("b", "b", 1, {"gpu-0"});
  b["spec"]["devices"][0]["attributes"]["model"]["string"] = "h100";
  const Json a = slice("a", "a", 1, {"gpu-0"});
  Needs needs;
  needs.inventory = inventoryOf({&a, &b}, {}, {});
  const Json h100 = {
      {"devices",
       {{"requests",
         Json::array(
             {{{"name", "g"},
               {"exactly",
                {{"deviceClassName", "gpu.example.com"},
                 {"selectors",
                  Json::array(
                      {{{"cel",
                         {{"expression",
                           R"(device.attributes["gpu.example.com"].model == "h100")"}}}}})}}}}})}}}};
  auto requests = requestsOf(h100, {{"gpu.example.com", gpuClass()}}, "t");
  ASSERT_TRUE(requests.ok());
  needs.claims = {{"c", "t", *requests, std::nullopt}};
  EXPECT_NE(shortfall(needs, nodeNamed("a")), "");
  EXPECT_EQ(shortfall(needs, nodeNamed("b")), "");

  // A class that does not exist, an expression Umbra cannot evaluate: errors naming the field.
  auto missing = requestsOf(h100, {}, "ResourceClaimTemplate ns/t");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "ResourceClaimTemplate ns/t: spec.devices.requests[0].exactly.deviceClassName: "
            "DeviceClass \"gpu.example.com\" does not exist");
  auto bad =
      requestsOf(h100, {{"gpu.example.com", gpuClass("device.attributes.matches(\"x\")")}}, "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("DeviceClass gpu.example.com: spec.selectors[1]"),
            std::string::npos)
      << bad.error().message;
}

TEST(DraRequirementsTest, ClaimsAreReadAndDevicesMustNameOne) {
  Json spec = {
      {"domain",
       {{"memory", {{"guest", "1Gi"}}},
        {"devices",
         {{"gpus", Json::array({{{"name", "g"}, {"claimName", "pgpu"}, {"requestName", "r"}}})}}}}},
      {"resourceClaims", Json::array({{{"name", "pgpu"}, {"resourceClaimTemplateName", "t"}}})}};
  auto r = requirementsOf(spec);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resourceClaims, std::vector<std::string>{"pgpu"});
  EXPECT_TRUE(r->requests.extended.empty()) << "a DRA GPU is no device-plugin resource";

  spec["domain"]["devices"]["gpus"][0]["claimName"] = "other";
  EXPECT_EQ(requirementsOf(spec).error().message,
            "spec.domain.devices.gpus[0].claimName: \"other\" is not an entry of "
            "spec.resourceClaims");
  spec["resourceClaims"][0]["resourceClaimName"] = "c";
  EXPECT_EQ(requirementsOf(spec).error().message,
            "spec.resourceClaims[0]: exactly one of resourceClaimName and "
            "resourceClaimTemplateName");
}

TEST(DraRequirementsTest, ClassifyNeedsTheClaimsRead) {
  Json nodeJson = {
      {"metadata",
       {{"name", "b"},
        {"labels", {{"kubernetes.io/hostname", "b"}, {"kubevirt.io/schedulable", "true"}}}}},
      {"spec", Json::object()},
      {"status",
       {{"allocatable", {{"cpu", "8"}, {"memory", "32Gi"}}},
        {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  Json nodeA = nodeJson;
  nodeA["metadata"]["name"] = "a";
  nodeA["metadata"]["labels"]["kubernetes.io/hostname"] = "a";
  const std::vector<NodeView> nodes = {nodeViewOf(nodeA), nodeViewOf(nodeJson)};
  TargetRequirements t;
  t.requests.memory = 1 << 30;
  t.size.memory = 1 << 30;
  t.resourceClaims = {"pgpu"};
  auto verdicts = classify(nodes, t, {});
  EXPECT_FALSE(verdicts[0].feasible);
  EXPECT_EQ(verdicts[0].reason, "the target's DRA resource claims were not read");

  const Json b = slice("b", "b", 1, {"gpu-0"});
  auto needs = std::make_shared<Needs>();
  needs->inventory = inventoryOf({&b}, {}, {});
  const Json one = {
      {"devices",
       {{"requests", Json::array({{{"name", "pgpu"},
                                   {"exactly", {{"deviceClassName", "gpu.example.com"}}}}})}}}};
  needs->claims = {{"pgpu", "ResourceClaimTemplate ns/t",
                    *requestsOf(one, {{"gpu.example.com", gpuClass()}}, "t"), std::nullopt}};
  t.dra = needs;
  verdicts = classify(nodes, t, {});
  ASSERT_TRUE(verdicts[0].feasible);
  EXPECT_EQ(verdicts[0].node, "b");
  EXPECT_EQ(verdicts[1].reason,
            "no free device of class gpu.example.com for ResourceClaimTemplate ns/t request pgpu");
}

}  // namespace
}  // namespace umbra::placement::dra
