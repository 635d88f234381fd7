#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/openapi_validator.h"
#include "placement/candidates.h"
#include "placement/scoring.h"
#include "placement/shadow.h"

namespace umbra::placement {
namespace {

Json node(const std::string& name, const std::string& cpu = "16", const std::string& mem = "64Gi") {
  return {
      {"metadata",
       {{"name", name},
        {"labels",
         {{"kubernetes.io/hostname", name}, {"kubevirt.io/schedulable", "true"}, {"zone", "a"}}}}},
      {"spec", Json::object()},
      {"status",
       {{"allocatable", {{"cpu", cpu}, {"memory", mem}}},
        {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

Json vmiSpec(const std::string& cpu = "2", const std::string& mem = "4Gi") {
  return {{"domain",
           {{"cpu", {{"cores", 2}}},
            {"memory", {{"guest", mem}}},
            {"resources", {{"requests", {{"cpu", cpu}, {"memory", mem}}}}},
            {"devices",
             {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
          {"volumes",
           Json::array({{{"name", "root"},
                         {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}};
}

std::vector<NodeView> views(const std::vector<Json>& nodes) {
  std::vector<NodeView> out;
  for (const auto& n : nodes)
    out.push_back(nodeViewOf(n));
  return out;
}

TEST(Requirements, ReadsRequestsSizeSelectorAffinityAndTolerations) {
  Json spec = vmiSpec("2", "4Gi");
  spec["nodeSelector"] = {{"zone", "a"}};
  spec["tolerations"] = Json::array({{{"key", "gpu"}, {"operator", "Exists"}}});
  auto t = requirementsOf(spec);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_DOUBLE_EQ(t->requests.cpu, 2);
  EXPECT_DOUBLE_EQ(t->requests.memory, 4.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(t->size.cpu, 2);
  EXPECT_EQ(t->nodeSelector.at("zone"), "a");
  EXPECT_EQ(t->tolerations.size(), 1u);

  Json noRequests = {{"domain", {{"cpu", {{"cores", 4}}}, {"memory", {{"guest", "8Gi"}}}}}};
  auto n = requirementsOf(noRequests);
  ASSERT_TRUE(n.ok());
  EXPECT_DOUBLE_EQ(n->requests.cpu, 0.4) << "vCPUs / cpuAllocationRatio, as KubeVirt requests";
  EXPECT_DOUBLE_EQ(n->size.cpu, 4);

  auto bad = requirementsOf({{"domain", {{"resources", {{"requests", {{"cpu", "two"}}}}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "spec.domain.resources.requests.cpu: \"two\" is not a quantity");
  auto noMemory = requirementsOf({{"domain", {{"cpu", {{"cores", 1}}}}}});
  ASSERT_FALSE(noMemory.ok());
  EXPECT_TRUE(noMemory.error().is(ErrorKind::Terminal));
}

TEST(Classify, FiltersWithAReasonForEveryRejectedNode) {
  Json notReady = node("n-notready");
  notReady["status"]["conditions"][0]["status"] = "False";
  Json cordoned = node("n-cordoned");
  cordoned["spec"]["unschedulable"] = true;
  Json unlabelled = node("n-unlabelled");
  unlabelled["metadata"]["labels"].erase("kubevirt.io/schedulable");
  Json zoneB = node("n-zoneb");
  zoneB["metadata"]["labels"]["zone"] = "b";
  Json tainted = node("n-tainted");
  tainted["spec"]["taints"] =
      Json::array({{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoSchedule"}}});
  Json preferNo = node("n-prefer");
  preferNo["spec"]["taints"] = Json::array({{{"key", "x"}, {"effect", "PreferNoSchedule"}}});
  Json small = node("n-small", "1", "64Gi");
  std::vector<NodeView> nodes =
      views({notReady, cordoned, unlabelled, zoneB, tainted, preferNo, small, node("n-ok")});
  Json spec = vmiSpec();
  spec["nodeSelector"] = {{"zone", "a"}};
  auto t = requirementsOf(spec);
  ASSERT_TRUE(t.ok());
  const auto verdicts = classify(nodes, *t, {});
  std::map<std::string, std::string> reasons;
  for (const auto& v : verdicts)
    reasons[v.node] = v.feasible ? "ok" : v.reason;
  EXPECT_EQ(reasons["n-notready"], "node is not Ready");
  EXPECT_EQ(reasons["n-cordoned"], "node is cordoned");
  EXPECT_EQ(reasons["n-unlabelled"], "node is not kubevirt.io/schedulable=true");
  EXPECT_EQ(reasons["n-zoneb"], "does not match target nodeSelector zone");
  EXPECT_EQ(reasons["n-tainted"], "taint dedicated:NoSchedule is not tolerated");
  EXPECT_EQ(reasons["n-prefer"], "ok") << "PreferNoSchedule does not filter";
  EXPECT_EQ(reasons["n-small"], "insufficient cpu");
  EXPECT_EQ(reasons["n-ok"], "ok");
  EXPECT_TRUE(verdicts[0].feasible && verdicts[1].feasible) << "feasible nodes come first";
  EXPECT_FALSE(verdicts[2].feasible);
}

TEST(Classify, TolerationsAffinityAndTheExtraSelector) {
  Json tainted = node("n1");
  tainted["spec"]["taints"] =
      Json::array({{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoExecute"}}});
  Json labelled = node("n2");
  labelled["metadata"]["labels"]["disk"] = "ssd";
  labelled["metadata"]["labels"]["generation"] = "5";
  Json spec = vmiSpec();
  spec["tolerations"] =
      Json::array({{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "db"}}});
  auto t = requirementsOf(spec);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(topCandidates(classify(views({tainted}), *t, {}), 3), std::vector<std::string>{"n1"});

  t->requiredAffinityTerms = Json::array(
      {{{"matchExpressions",
         Json::array({{{"key", "disk"}, {"operator", "In"}, {"values", {"ssd"}}},
                      {{"key", "generation"}, {"operator", "Gt"}, {"values", {"4"}}}})}}});
  EXPECT_EQ(topCandidates(classify(views({tainted, labelled}), *t, {}), 3),
            std::vector<std::string>{"n2"});
  t->requiredAffinityTerms = Json::array();
  EXPECT_EQ(topCandidates(classify(views({tainted, labelled}), *t, {{"disk", "ssd"}}), 3),
            std::vector<std::string>{"n2"});
  EXPECT_TRUE(tolerates(Json::array({{{"operator", "Exists"}}}),
                        {{"key", "any"}, {"effect", "NoSchedule"}}));
  EXPECT_FALSE(
      tolerates(Json::array({{{"key", "a"}, {"operator", "Exists"}, {"effect", "NoExecute"}}}),
                {{"key", "a"}, {"effect", "NoSchedule"}}));
}

TEST(Classify, RanksByFreeCapacityAfterPlacementAndCountsWhatIsAlreadyThere) {
  std::vector<Json> vmis = {
      {{"metadata", {{"name", "busy"}, {"namespace", "x"}}},
       {"spec", vmiSpec("12", "48Gi")},
       {"status", {{"phase", "Running"}, {"nodeName", "n1"}}}},
      {{"metadata", {{"name", "done"}, {"namespace", "x"}}},
       {"spec", vmiSpec("12", "48Gi")},
       {"status", {{"phase", "Succeeded"}, {"nodeName", "n2"}}}},
  };
  std::vector<Json> pods = {
      {{"metadata", {{"name", "p"}}},
       {"spec",
        {{"nodeName", "n3"},
         {"containers", Json::array({{{"resources", {{"requests", {{"cpu", "15"}}}}}}})}}},
       {"status", {{"phase", "Running"}}}}};
  const auto requested = requestedPerNode({&vmis[0], &vmis[1]}, {&pods[0]});
  EXPECT_DOUBLE_EQ(requested.at("n1").cpu, 12);
  EXPECT_EQ(requested.count("n2"), 0u) << "finished VMIs hold nothing";
  std::vector<NodeView> nodes = views({node("n1"), node("n2"), node("n3"), node("n4")});
  for (auto& n : nodes) {
    if (requested.count(n.name))
      n.requested = requested.at(n.name);
  }
  auto t = requirementsOf(vmiSpec("2", "4Gi"));
  ASSERT_TRUE(t.ok());
  const auto verdicts = classify(nodes, *t, {});
  EXPECT_EQ(topCandidates(verdicts, 2), (std::vector<std::string>{"n2", "n4"}))
      << "empty nodes, by name";
  EXPECT_EQ(topCandidates(verdicts, 10), (std::vector<std::string>{"n2", "n4", "n1"}));
  EXPECT_EQ(verdicts.back().node, "n3");
  EXPECT_EQ(verdicts.back().reason, "insufficient cpu");
}

TEST(Classify, ACostCapExcludesNodesWhereTheVmCostsMoreAndUnpricedOnes) {
  Json cheap = node("cheap"), dear = node("dear"), spot = node("spot"), unknown = node("unknown");
  cheap["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "m.4x";
  dear["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "c.4x";
  spot["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "c.4x";
  spot["metadata"]["annotations"] = {{"umbra.io/price-per-hour", "0.5"}};  // overrides the table
  api::NodePrices prices;
  prices.perHour = {{"m.4x", 0.8}, {"c.4x", 1.6}};
  auto t = requirementsOf(vmiSpec("4", "8Gi"));  // a quarter of 16 cores, an eighth of 64Gi
  ASSERT_TRUE(t.ok());
  std::map<std::string, Verdict> v;
  for (auto& x : classify(views({cheap, dear, spot, unknown}), *t, {}, {0.3, &prices}))
    v[x.node] = x;
  EXPECT_TRUE(v["cheap"].feasible) << v["cheap"].reason;
  EXPECT_DOUBLE_EQ(*v["cheap"].costPerHour, 0.2) << "the dominant share (CPU, 1/4) of 0.8";
  EXPECT_FALSE(v["dear"].feasible);
  EXPECT_EQ(v["dear"].reason, "costs 0.4/h for this VM, over spec.constraints.maxCostPerHour 0.3");
  EXPECT_TRUE(v["spot"].feasible) << v["spot"].reason;
  EXPECT_DOUBLE_EQ(*v["spot"].costPerHour, 0.125);
  EXPECT_FALSE(v["unknown"].feasible);
  EXPECT_EQ(v["unknown"].reason,
            "no price for the node (nodePrices: label node.kubernetes.io/instance-type)");
  // Without a cap every node stays, priced where it can be.
  for (const auto& x : classify(views({dear, unknown}), *t, {}, {std::nullopt, &prices}))
    EXPECT_TRUE(x.feasible) << x.node;
}

Json sp() {
  return {{"apiVersion", "umbra.io/v1alpha1"},
          {"kind", "ShadowPlacement"},
          {"metadata", {{"name", "web-1"}, {"namespace", "prod"}, {"uid", "uid-123"}}}};
}

std::string swaggerPath() {
  return UMBRA_SOURCE_DIR "/third_party/kubevirt/swagger.json";
}

TEST(Shadow, ThrottledCopyPinnedToTheNodeAndOwnedByThePlacement) {
  api::PlacementSettings s;
  s.cpuFraction = 0.01;
  s.memoryFraction = 0.02;
  api::PlacementDefaults d;
  Json target = vmiSpec("2", "16Gi");
  target["volumes"].push_back(
      {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "db-data"}}}});
  target["tolerations"] = Json::array({{{"key", "dedicated"}, {"operator", "Exists"}}});
  const Json vmi = buildShadowVmi(sp(), target, "node-a", s, d);
  EXPECT_EQ(vmi["metadata"]["name"], "web-1-shadow-node-a");
  EXPECT_EQ(vmi["metadata"]["labels"]["umbra.io/placement"], "web-1");
  EXPECT_EQ(vmi["metadata"]["labels"]["umbra.io/role"], "shadow");
  EXPECT_EQ(vmi["metadata"]["ownerReferences"][0]["uid"], "uid-123");
  EXPECT_EQ(vmi["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(vmi["spec"]["nodeSelector"], Json({{"kubernetes.io/hostname", "node-a"}}));
  // 1 % of 2 vCPUs = 20m; 2 % of 16Gi = 327.68Mi, but a Fedora guest needs 544Mi to boot.
  EXPECT_EQ(vmi["spec"]["domain"]["resources"]["limits"]["cpu"], "20m");
  EXPECT_EQ(vmi["spec"]["domain"]["resources"]["requests"]["cpu"], "20m");
  EXPECT_EQ(vmi["spec"]["domain"]["memory"]["guest"], "544Mi");
  EXPECT_EQ(vmi["spec"]["volumes"].size(), 1u) << "never the target's volumes";
  EXPECT_EQ(vmi["spec"]["volumes"][0]["containerDisk"]["image"],
            "quay.io/containerdisks/fedora:40");
  EXPECT_EQ(vmi["spec"]["tolerations"], target["tolerations"]);
}

TEST(Shadow, FloorsAndTheProbeImageApplyToSmallOrDisklessTargets) {
  api::PlacementSettings s;
  api::PlacementDefaults d;
  Json target = {{"domain", {{"cpu", {{"cores", 1}}}, {"memory", {{"guest", "1Gi"}}}}}};
  const Json vmi = buildShadowVmi(sp(), target, "n", s, d);
  EXPECT_EQ(vmi["spec"]["domain"]["resources"]["limits"]["cpu"], "10m") << "CPU floor";
  EXPECT_EQ(vmi["spec"]["domain"]["memory"]["guest"], "128Mi") << "memory floor";
  EXPECT_EQ(vmi["spec"]["volumes"][0]["containerDisk"]["image"], d.probeImage);
}

TEST(Scoring, TheDecisionsConfidenceIsTheChanceItsChoiceIsRight) {
  const auto decideOn = [](double a, double b, double se) {
    std::vector<CandidateForecast> f(2);
    f[0].node = "a";
    f[0].predicted.cpuContention = a;
    f[0].cpuStderr = se;
    f[1].node = "b";
    f[1].predicted.cpuContention = b;
    f[1].cpuStderr = se;
    return decide(f, {});
  };
  // Far apart with little noise: sure. Close with much noise: unsure. More observation (a
  // smaller standard error) makes the same gap surer; a gap inside the tolerance is a safe choice.
  EXPECT_GT(decideOn(0.05, 0.20, 0.01).confidence, 0.999);
  const double unsure = decideOn(0.10, 0.12, 0.05).confidence;
  EXPECT_GT(unsure, 0.5);
  EXPECT_LT(unsure, 0.7);
  EXPECT_GT(decideOn(0.10, 0.12, 0.01).confidence, 0.95);
  EXPECT_GT(decideOn(0.10, 0.10, 0.001).confidence, 0.99);
  // Phi((0.02 + 0.01) / (0.05 * sqrt 2)) in steal units = Phi(0.4243) = 0.6643.
  EXPECT_NEAR(unsure, 0.6643, 1e-3);
  EXPECT_DOUBLE_EQ(decideOn(0.10, 0.12, 0.05).observationConfidence, unsure)
      << "no model error: the observation is all the uncertainty";
  // The model's own error counts in the stated confidence, not in what observing longer settles.
  std::vector<CandidateForecast> f(2);
  f[0] = {"a", {}, 0.9, 0.01, 0.03};
  f[0].predicted.cpuContention = 0.10;
  f[1] = {"b", {}, 0.9, 0.01, 0.03};
  f[1].predicted.cpuContention = 0.12;
  const auto d = decide(f, {});
  EXPECT_GT(d.observationConfidence, 0.95) << "Phi(0.03 / (0.01 sqrt 2)) = 0.983";
  EXPECT_NEAR(d.confidence, 0.7488, 1e-3) << "Phi(0.03 / (sqrt(0.01^2 + 0.03^2) sqrt 2))";
}

TEST(Shadow, TheImagesBootFloorAppliesOnlyToThatImage) {
  api::PlacementSettings s;
  api::PlacementDefaults d;
  Json target = vmiSpec("2", "16Gi");
  target["volumes"][0]["containerDisk"]["image"] = "quay.io/containerdisks/ubuntu:24.04";
  EXPECT_EQ(buildShadowVmi(sp(), target, "n", s, d)["spec"]["domain"]["memory"]["guest"], "328Mi")
      << "2 % of 16Gi, above the 128Mi floor";
  d.imageMemoryFloors = {{"ubuntu", 1024.0 * 1024 * 1024}};
  EXPECT_EQ(buildShadowVmi(sp(), target, "n", s, d)["spec"]["domain"]["memory"]["guest"], "1024Mi");
}

TEST(Shadow, LongNamesAreShortenedDeterministically) {
  const std::string a = shadowName(std::string(40, 'p'), "node-with-a-rather-long-name-01");
  EXPECT_LE(a.size(), 63u);
  EXPECT_EQ(a, shadowName(std::string(40, 'p'), "node-with-a-rather-long-name-01"));
  EXPECT_NE(a, shadowName(std::string(40, 'p'), "node-with-a-rather-long-name-02"));
}

TEST(Shadow, SyntheticUserDataFitsKubeVirtsLimitForEveryProfile) {
  for (const char* profile : {"steady", "diurnal", "spiky", "bursty"}) {
    const std::string ud = syntheticUserData({profile, 100});
    EXPECT_LE(ud.size(), 2048u) << profile;
    EXPECT_EQ(ud.rfind("#cloud-config\n", 0), 0u);
    EXPECT_NE(ud.find("PROFILE=" + std::string(profile)), std::string::npos);
  }
}

TEST(Shadow, EveryGeneratedShadowValidatesAgainstKubeVirtsSchema) {
  auto schema = umbra::testing::KubeVirtSchema::load(swaggerPath());
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  api::PlacementDefaults d;
  for (const auto fidelity : {api::Fidelity::Passive, api::Fidelity::Synthetic}) {
    api::PlacementSettings s;
    s.fidelity = fidelity;
    Json target = vmiSpec();
    target["tolerations"] =
        Json::array({{{"key", "k"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}});
    const Json vmi = buildShadowVmi(sp(), target, "node-a", s, d);
    const auto errors = schema->validate(vmi);
    EXPECT_TRUE(errors.empty()) << api::toString(fidelity) << ": "
                                << ::testing::PrintToString(errors);
  }
}

TEST(Shadow, TheValidatorRejectsWhatKubeVirtsWebhookRejects) {
  auto schema = umbra::testing::KubeVirtSchema::load(swaggerPath());
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  Json vmi = buildShadowVmi(sp(), vmiSpec(), "n", {}, {});
  Json misspelt = vmi;
  misspelt["spec"]["nodeSelecter"] = {{"a", "b"}};
  ASSERT_EQ(schema->validate(misspelt),
            std::vector<std::string>{"spec.nodeSelecter: unknown field"});
  Json wrongType = vmi;
  wrongType["spec"]["domain"]["cpu"]["cores"] = "one";
  EXPECT_FALSE(schema->validate(wrongType).empty());
  Json noDomain = vmi;
  noDomain["spec"].erase("domain");
  EXPECT_EQ(schema->validate(noDomain), std::vector<std::string>{"spec.domain: required"});
  Json extraTop = vmi;
  extraTop["specs"] = Json::object();
  EXPECT_FALSE(schema->validate(extraTop).empty());
}

TEST(Scoring, WeightsContentionAndRanksDeterministically) {
  const api::ScoringWeights w;  // 0.4 cpu, 0.2 each other
  EXPECT_DOUBLE_EQ(scoreOf({}, w), 100);
  EXPECT_NEAR(scoreOf({1, 1, 1, 1e9}, w), 0, 1e-6);
  EXPECT_NEAR(scoreOf({0.5, 0, 0, 0}, w), 80, 1e-9);
  EXPECT_NEAR(scoreOf({0, 0, 0, 0.010}, w), 90, 1e-9) << "10 ms latency is half of the worst";
  const Decision d = decide({{"b", {0.10, 0, 0, 0}, 0.9},
                             {"a", {0.10, 0, 0, 0}, 0.9},
                             {"c", {0.02, 0, 0, 0}, 0.6},
                             {"d", {0.10, 0, 0, 0}, 0.95}},
                            w);
  ASSERT_EQ(d.ranked.size(), 4u);
  EXPECT_EQ(d.selected, "c");
  EXPECT_DOUBLE_EQ(d.confidence, 1.0) << "no observation noise: the ranking is certain";
  EXPECT_EQ(d.ranked[1].node, "d") << "ties broken by confidence";
  EXPECT_EQ(d.ranked[2].node, "a") << "then by name";
  EXPECT_NE(d.ranked[0].reason.find("predicted steal 2.0%"), std::string::npos)
      << d.ranked[0].reason;
  EXPECT_TRUE(decide({}, w).selected.empty());
}

}  // namespace
}  // namespace umbra::placement

namespace umbra::placement {
namespace {

TEST(HardwareTest, DevicesHugepagesArchitectureAndDedicatedCpusAreRequirements) {
  Json spec = vmiSpec();
  spec["architecture"] = "arm64";
  spec["domain"]["cpu"]["dedicatedCpuPlacement"] = true;
  spec["domain"]["memory"]["hugepages"] = {{"pageSize", "1Gi"}};
  spec["domain"]["devices"]["gpus"] =
      Json::array({{{"name", "g"}, {"deviceName", "nvidia.com/X"}}});
  spec["domain"]["devices"]["hostDevices"] =
      Json::array({{{"name", "u"}, {"deviceName", "kubevirt.io/storage"}},
                   {{"name", "v"}, {"deviceName", "kubevirt.io/storage"}}});
  auto r = requirementsOf(spec);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->nodeSelector.at("kubernetes.io/arch"), "arm64");
  EXPECT_EQ(r->nodeSelector.at("cpumanager"), "true");
  EXPECT_EQ(r->requests.extended.at("nvidia.com/X"), 1);
  EXPECT_EQ(r->requests.extended.at("kubevirt.io/storage"), 2);
  EXPECT_EQ(r->requests.extended.at("hugepages-1Gi"), 4.0 * (1 << 30));
  EXPECT_EQ(r->requests.cpu, 2) << "dedicated CPUs request whole cores";
}

TEST(HardwareTest, ExtendedResourcesAreCountedPerNode) {
  Json gpuNode = node("g");
  gpuNode["status"]["allocatable"]["nvidia.com/X"] = "1";
  Json spec = vmiSpec();
  spec["domain"]["devices"]["gpus"] =
      Json::array({{{"name", "g"}, {"deviceName", "nvidia.com/X"}}});
  auto target = requirementsOf(spec);
  ASSERT_TRUE(target.ok());
  auto nodes = views({node("plain"), gpuNode});
  auto verdicts = classify(nodes, *target, {});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].node, "g");
  EXPECT_TRUE(verdicts[0].feasible);
  EXPECT_EQ(verdicts[1].reason, "node has no nvidia.com/X");
  nodes[1].requested.extended["nvidia.com/X"] = 1;  // taken by another VMI
  const auto after = classify(nodes, *target, {});
  EXPECT_EQ(after[0].node, "g");
  EXPECT_EQ(after[0].reason, "insufficient nvidia.com/X");
}

TEST(HardwareTest, AnInstancetypeSizesTheVmAsKubeVirtExpandsIt) {
  Json spec = vmiSpec();
  spec["domain"].erase("resources");
  spec["domain"].erase("memory");
  const Instancetype it{"VirtualMachineClusterInstancetype/o1.large",
                        {{"cpu", {{"guest", 2}, {"dedicatedCPUPlacement", true}}},
                         {"memory", {{"guest", "8Gi"}, {"overcommitPercent", 50}}},
                         {"gpus", Json::array({{{"name", "g"}, {"deviceName", "nvidia.com/X"}}})},
                         {"nodeSelector", {{"zone", "a"}}}}};
  auto applied = applyInstancetype(spec, it);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  auto r = requirementsOf(*applied);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size.cpu, 2);
  EXPECT_EQ(r->size.memory, 8.0 * (1 << 30));
  EXPECT_EQ(r->requests.memory, 4.0 * (1 << 30)) << "overcommitPercent 50";
  EXPECT_TRUE(r->dedicatedCpus);
  EXPECT_EQ(r->requests.extended.at("nvidia.com/X"), 1);
  EXPECT_EQ(r->nodeSelector.at("zone"), "a");
  auto bad =
      applyInstancetype(spec, {"VirtualMachineClusterInstancetype/x", {{"cpu", {{"guest", 1}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("VirtualMachineClusterInstancetype/x: spec.memory.guest"),
            std::string::npos);
}

TEST(CandidatesTest, MixedCandidatesAlternateTheRankingsWithoutRepeats) {
  EXPECT_EQ(mixedCandidates({"f1", "f2", "f3"}, {"s1", "s2", "s3"}, 3),
            (std::vector<std::string>{"f1", "s1", "f2"}));
  EXPECT_EQ(mixedCandidates({"a", "b", "c"}, {"a", "c", "d"}, 3),
            (std::vector<std::string>{"a", "c", "b"}))
      << "a node both like is probed once";
  EXPECT_EQ(mixedCandidates({}, {"s1", "s2"}, 3), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(mixedCandidates({"a"}, {"a"}, 3), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(mixedCandidates({"a"}, {"b"}, 0).empty());
}

}  // namespace
}  // namespace umbra::placement
