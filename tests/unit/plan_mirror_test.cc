// fidelity Mirror: plan()'s decisions on the mesh, the target's Service and the fallback, and the
// mirroring objects (placement/mirror.h). Mutation rows in scripts/check-mutations.py.
#include <gtest/gtest.h>

#include "controller/plan.h"
#include "placement/mirror.h"
#include "placement/shadow.h"

namespace umbra::controller {
namespace {

using namespace std::chrono_literals;
using api::Phase;
using api::ShadowPhase;
using kube::Json;

const SystemTime T0 = SystemTime(std::chrono::seconds(1800000000));

PlacementInput mirrorPlacement(Phase phase, bool fallback = false) {
  PlacementInput in;
  in.ns = "ns";
  in.name = "web";
  in.uid = "uid-1";
  in.generation = 1;
  in.hasFinalizer = phase != Phase::New;
  in.created = T0 - 10s;
  in.object = {{"metadata", {{"namespace", "ns"}, {"name", "web"}, {"uid", "uid-1"}}}};
  api::PlacementSettings s;
  s.targetName = "web";
  s.candidateCount = 2;
  s.fidelity = api::Fidelity::Mirror;
  s.mirroring.percentage = 10;
  s.mirroring.fallbackSynthetic = fallback;
  s.observationDuration = 5min;
  s.observationInterval = 15s;
  in.settings = s;
  in.status.phase = phase;
  if (phase != Phase::New)
    in.status.observedGeneration = 1;
  return in;
}

const Json WebService = {
    {"metadata", {{"name", "web"}, {"namespace", "ns"}}},
    {"spec", {{"selector", {{"app", "web"}}}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};

World mirrorWorld(std::string problemReason = "") {
  World w;
  TargetView t;
  t.spec = {{"domain", {{"cpu", {{"cores", 4}}}, {"memory", {{"guest", "4Gi"}}}}}};
  t.requirements = placement::TargetRequirements{};
  t.requirements->requests = {1, 4.0 * (1 << 30)};
  t.requirements->size = {4, 4.0 * (1 << 30)};
  t.vmiExists = true;
  t.vmiPhase = "Running";
  t.runningOn = "z";
  w.target = t;
  for (const char* n : {"a", "b"}) {
    placement::NodeView v;
    v.name = n;
    v.labels = {{"kubevirt.io/schedulable", "true"}, {"kubernetes.io/hostname", n}};
    v.ready = true;
    v.allocatable = {8, 32.0 * (1 << 30)};
    w.nodes.push_back(v);
  }
  MirrorView m;
  m.problemReason = std::move(problemReason);
  m.problem = m.problemReason.empty() ? "" : "because " + m.problemReason;
  if (m.problemReason.empty())
    m.service = WebService;
  w.mirror = m;
  return w;
}

// The placement probing with its two shadows in the cache (with UIDs), of `fidelity`.
std::pair<PlacementInput, World> probingWith(const std::string& fidelity, World w = mirrorWorld()) {
  PlacementInput in = mirrorPlacement(Phase::Probing);
  for (const char* n : {"a", "b"}) {
    const std::string name = placement::shadowName("web", n);
    in.status.shadows.push_back({n, name, ShadowPhase::Pending});
    w.shadows[name] =
        ShadowView{"Scheduling", T0, std::nullopt, "uid-" + std::string(n), n, fidelity};
    ++w.shadowsLeft;
  }
  return {in, w};
}

std::vector<Json> created(const Plan& p) {
  std::vector<Json> out;
  for (const auto& w : p.writes) {
    if (const auto* c = std::get_if<write::CreateShadows>(&w))
      out.insert(out.end(), c->vmis.begin(), c->vmis.end());
  }
  return out;
}

std::vector<Json> applied(const Plan& p) {
  std::vector<Json> out;
  for (const auto& w : p.writes) {
    if (const auto* a = std::get_if<write::ApplyMirror>(&w))
      out.insert(out.end(), a->objects.begin(), a->objects.end());
  }
  return out;
}

const api::Condition* mirroring(const Plan& p) {
  if (!p.status())
    return nullptr;
  for (const auto& c : p.status()->conditions) {
    if (c.type == api::condition::Mirroring)
      return &c;
  }
  return nullptr;
}

TEST(PlanMirrorTest, MirrorShadowsGetTheSidecarMasqueradeAndAShareSizedCpuLimit) {
  const Plan p = plan(mirrorPlacement(Phase::New), mirrorWorld(), {}, T0);
  const auto vmis = created(p);
  ASSERT_EQ(vmis.size(), 2u) << p.why;
  const Json& vmi = vmis[0];
  EXPECT_EQ(vmi["metadata"]["labels"][api::FidelityLabel], "Mirror");
  EXPECT_EQ(vmi["metadata"]["annotations"]["sidecar.istio.io/inject"], "true");
  EXPECT_TRUE(vmi["spec"]["domain"]["devices"]["interfaces"][0].contains("masquerade"));
  // 10 % of 4 cores, not the 1 % default: the shadow serves a tenth of the requests.
  EXPECT_EQ(vmi["spec"]["domain"]["resources"]["limits"]["cpu"], "400m");
  EXPECT_EQ(vmi["spec"]["volumes"].size(), 1u) << "the image only: no volume of the target's";
}

TEST(PlanMirrorTest, NoMeshWithoutFallbackFailsNamingWhy) {
  const Plan p = plan(mirrorPlacement(Phase::Pending), mirrorWorld("NoMesh"), {}, T0);
  ASSERT_NE(p.status(), nullptr);
  EXPECT_EQ(p.status()->phase, Phase::Failed);
  EXPECT_EQ(p.status()->reason, "MirrorUnavailable");
  EXPECT_EQ(p.status()->message, "because NoMesh");
  EXPECT_TRUE(created(p).empty());
}

TEST(PlanMirrorTest, NoMeshWithFallbackProbesSynthetic) {
  const Plan p = plan(mirrorPlacement(Phase::Pending, true), mirrorWorld("NoMesh"), {}, T0);
  const auto vmis = created(p);
  ASSERT_EQ(vmis.size(), 2u) << p.why;
  EXPECT_EQ(vmis[0]["metadata"]["labels"][api::FidelityLabel], "Synthetic");
  EXPECT_EQ(vmis[0]["spec"]["volumes"].size(), 2u) << "the probe's cloud-init";
  ASSERT_NE(mirroring(p), nullptr);
  EXPECT_EQ(mirroring(p)->status, "False");
  EXPECT_EQ(mirroring(p)->reason, "NoMesh");
  EXPECT_NE(mirroring(p)->message.find("probing with Synthetic load instead"), std::string::npos);
  EXPECT_TRUE(applied(p).empty());
}

TEST(PlanMirrorTest, ATargetNotRunningYetIsAwaitedThenRefused) {
  const Plan waiting =
      plan(mirrorPlacement(Phase::Pending), mirrorWorld("TargetNotRunning"), {}, T0);
  ASSERT_NE(waiting.status(), nullptr);
  EXPECT_EQ(waiting.status()->phase, Phase::Pending);
  EXPECT_EQ(waiting.status()->reason, "MirrorUnavailable");
  EXPECT_TRUE(created(waiting).empty());
  const Plan late = plan(mirrorPlacement(Phase::Pending), mirrorWorld("TargetNotRunning"), {},
                         T0 + std::chrono::minutes(3));
  ASSERT_NE(late.status(), nullptr);
  EXPECT_EQ(late.status()->phase, Phase::Failed);
}

TEST(PlanMirrorTest, ShadowsInTheCacheGetTheFenceTheirServicesThenTheVirtualService) {
  auto [in, w] = probingWith("Mirror");
  const Plan p = plan(in, w, {}, T0);
  const auto objects = applied(p);
  ASSERT_EQ(objects.size(), 4u) << p.why;
  EXPECT_EQ(objects[0]["kind"], "NetworkPolicy") << "the fence before any mirrored request";
  EXPECT_EQ(objects[1]["kind"], "Service");
  EXPECT_EQ(objects[2]["kind"], "Service");
  EXPECT_EQ(objects[3]["kind"], "VirtualService");
  EXPECT_EQ(placement::mirroredHosts(objects[3]),
            (std::vector<std::string>{"web-shadow-a", "web-shadow-b"}));
  EXPECT_EQ(objects[3]["spec"]["http"][0]["mirrors"][0]["percentage"]["value"], 10.0);
  EXPECT_EQ(objects[3]["metadata"]["ownerReferences"].size(), 2u) << "gone with the last shadow";
  EXPECT_EQ(objects[1]["metadata"]["ownerReferences"][0]["uid"], "uid-a");
  ASSERT_NE(mirroring(p), nullptr);
  EXPECT_EQ(mirroring(p)->status, "True");
}

TEST(PlanMirrorTest, CompleteMirroringIsLeftAloneAndADroppedShadowLeavesTheMirrors) {
  auto [in, w] = probingWith("Mirror");
  w.mirror->egressPolicy = true;
  w.mirror->virtualService = true;
  w.mirror->services = {"web-shadow-a", "web-shadow-b"};
  w.mirror->mirrored = {"web-shadow-a", "web-shadow-b"};
  EXPECT_TRUE(applied(plan(in, w, {}, T0)).empty());
  in.status.shadows[1].phase = ShadowPhase::Dropped;
  const auto objects = applied(plan(in, w, {}, T0));
  ASSERT_FALSE(objects.empty());
  EXPECT_EQ(placement::mirroredHosts(objects.back()), std::vector<std::string>{"web-shadow-a"});
}

TEST(PlanMirrorTest, MirroringLostUnderRunningShadowsFailsThePlacement) {
  auto [in, w] = probingWith("Mirror", mirrorWorld("NoService"));
  const Plan p = plan(in, w, {}, T0);
  ASSERT_NE(p.status(), nullptr);
  EXPECT_EQ(p.status()->phase, Phase::Failed);
  EXPECT_EQ(p.status()->reason, "MirrorLost");
}

TEST(PlanMirrorTest, AFallbackOnTheFirstPassIsSaidOnceWithTheStatusThatFollows) {
  const Plan first = plan(mirrorPlacement(Phase::New, true), mirrorWorld("HostRouted"), {}, T0);
  ASSERT_EQ(created(first).size(), 2u);
  EXPECT_EQ(first.status(), nullptr) << "the first pass creates shadows only";
  auto [in, w] = probingWith("Synthetic", mirrorWorld("HostRouted"));
  in.settings->mirroring.fallbackSynthetic = true;
  const Plan next = plan(in, w, {}, T0);
  ASSERT_NE(mirroring(next), nullptr) << next.why;
  EXPECT_EQ(mirroring(next)->reason, "HostRouted");
  int events = 0;
  for (const auto& x : next.writes)
    if (const auto* e = std::get_if<write::PostEvent>(&x))
      events += e->reason == "MirrorUnavailable";
  EXPECT_EQ(events, 1);
  in.status = *next.status();
  for (const auto& x : plan(in, w, {}, T0).writes) {
    if (const auto* e = std::get_if<write::PostEvent>(&x)) {
      EXPECT_NE(e->reason, "MirrorUnavailable") << "said once";
    }
  }
}

TEST(PlanMirrorTest, ShadowsThatFellBackStaySynthetic) {
  auto [in, w] = probingWith("Synthetic");  // the mesh came later: too late for these shadows
  const Plan p = plan(in, w, {}, T0);
  EXPECT_TRUE(applied(p).empty());
  EXPECT_NE(p.status() ? p.status()->phase : Phase::Probing, Phase::Failed);
}

TEST(MirrorObjectsTest, TheFenceAllowsDnsAndIstiodOnly) {
  const Json np = placement::buildShadowEgressPolicy(
      placement::placementMirrorScope({{"metadata", {{"namespace", "ns"}, {"name", "web"}}}}),
      {{"s", "u", "a"}}, "mesh");
  EXPECT_EQ(np["spec"]["policyTypes"], Json::array({"Egress"}));
  EXPECT_EQ(np["spec"]["podSelector"]["matchLabels"][api::RoleLabel], "shadow");
  ASSERT_EQ(np["spec"]["egress"].size(), 2u);
  EXPECT_EQ(np["spec"]["egress"][0]["ports"][0]["port"], 53);
  EXPECT_FALSE(np["spec"]["egress"][0].contains("to")) << "DNS anywhere (the cluster's resolver)";
  EXPECT_EQ(np["spec"]["egress"][1]["ports"][0]["port"], 15012);
  EXPECT_EQ(np["spec"]["egress"][1]["to"][0]["namespaceSelector"]["matchLabels"]
              ["kubernetes.io/metadata.name"],
            "mesh");
}

TEST(MirrorObjectsTest, AServiceSelectsOnlyItsShadowAndTheHostMatchesEveryForm) {
  const Json svc = placement::buildShadowService(
      placement::placementMirrorScope({{"metadata", {{"namespace", "ns"}, {"name", "web"}}}}),
      WebService, {"web-shadow-a", "u", "a"});
  EXPECT_EQ(svc["spec"]["selector"][api::ShadowNodeLabel], "a");
  EXPECT_EQ(svc["spec"]["selector"][api::RoleLabel], "shadow");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 80);
  EXPECT_TRUE(placement::selectorMatches(Json{{"app", "web"}}, Json{{"app", "web"}, {"x", "y"}}));
  EXPECT_FALSE(placement::selectorMatches(Json::object(), Json{{"app", "web"}}));
  EXPECT_FALSE(placement::selectorMatches(Json{{"app", "db"}}, Json{{"app", "web"}}));
  for (const char* h : {"web", "web.ns", "web.ns.svc", "web.ns.svc.cluster.local"})
    EXPECT_TRUE(placement::routesHost({{"spec", {{"hosts", {h}}}}}, "web", "ns")) << h;
  EXPECT_FALSE(placement::routesHost({{"spec", {{"hosts", {"web.other"}}}}}, "web", "ns"));
  EXPECT_FALSE(placement::routesHost({{"spec", {{"hosts", {"webby"}}}}}, "web", "ns"));
}

}  // namespace
}  // namespace umbra::controller
