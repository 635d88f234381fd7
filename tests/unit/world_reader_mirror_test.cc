// WorldReader's view of fidelity Mirror (world_reader_mirror.cc) on a fake API server: the mesh,
// the target's Service, a user's VirtualService on its host, and this placement's own objects.
#include <gtest/gtest.h>

#include "controller/world_reader.h"
#include "fakes/fake_metrics_source.h"
#include "fakes/no_server.h"

namespace umbra::controller {
namespace {

using Json = nlohmann::json;

// Lists Services and VirtualServices from its fields (VirtualServices not served when
// `meshServed` is false); the NetworkPolicy is read by name.
struct MeshServer : testing::NoServer {
  bool meshServed = true;
  Json services = Json::array(), virtualServices = Json::array(), policy;
  Result<Json> list(const kube::ResourceType& t, const std::string&,
                    const kube::ListOptions&) override {
    if (t.resource == "virtualservices" && !meshServed)
      return Error::make(ErrorKind::NotFound, "404 page not found");
    return Json{{"metadata", Json::object()},
                {"items", t.resource == "services" ? services : virtualServices}};
  }
  Result<Json> get(const kube::ResourceType& t, const kube::ObjectRef& ref) override {
    if (t.resource == "networkpolicies" && !policy.is_null() &&
        policy["metadata"]["name"] == ref.name)
      return policy;
    return Error::make(ErrorKind::NotFound, ref.name + " not found");
  }
};

Json service(const std::string& name, Json selector, Json labels = Json::object()) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", labels}}},
          {"spec", {{"selector", selector}, {"ports", Json::array({{{"port", 80}}})}}}};
}

const Json Ours = {{"umbra.io/placement", "web"}, {"umbra.io/role", "mirror"}};

class MirrorViewTest : public ::testing::Test {
 protected:
  MirrorViewTest()
      : reader_({placements_, vmis_, vms_, nodes_, pods_, migrations_, clusterTypes_, types_},
                server_, metrics_, forecaster_, choices_) {
    vms_.upsert(
        {{"metadata", {{"namespace", "ns"}, {"name", "web"}}},
         {"spec",
          {{"runStrategy", "Always"},
           {"template",
            {{"metadata", {{"labels", {{"app", "web"}}}}},
             {"spec",
              {{"domain", {{"cpu", {{"cores", 2}}}, {"memory", {{"guest", "2Gi"}}}}}}}}}}}});
    vmis_.upsert(
        {{"metadata", {{"namespace", "ns"}, {"name", "web"}, {"labels", {{"app", "web"}}}}},
         {"spec", {{"domain", {{"cpu", {{"cores", 2}}}, {"memory", {{"guest", "2Gi"}}}}}}},
         {"status", {{"phase", "Running"}, {"nodeName", "a"}}}});
  }
  // A Mirror placement of web, probing; `mirroring` its spec.shadow.mirroring.
  MirrorView observe(Json mirroring = Json::object()) {
    const Json sp = {{"metadata", {{"namespace", "ns"}, {"name", "web"}, {"uid", "u"}}},
                     {"spec",
                      {{"target", {{"kind", "VirtualMachine"}, {"name", "web"}}},
                       {"shadow", {{"fidelity", "Mirror"}, {"mirroring", mirroring}}}}},
                     {"status", {{"phase", "Probing"}, {"observedGeneration", 1}}}};
    placements_.upsert(sp);
    auto in = WorldReader::input(sp, api::PlacementDefaults{});
    EXPECT_TRUE(in.ok());
    auto w = reader_.observe(*in, SystemTime(std::chrono::seconds(1800000000)));
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().message);
    EXPECT_TRUE(w->mirror.has_value());
    return w->mirror.value_or(MirrorView{});
  }

  kube::Store placements_, vmis_, vms_, nodes_, pods_, migrations_, clusterTypes_, types_;
  MeshServer server_;
  testing::FakeMetricsSource metrics_;
  model::WindowMeanForecaster forecaster_;
  FirstPassChoices choices_;
  WorldReader reader_;
};

TEST_F(MirrorViewTest, TheOneServiceSelectingTheTargetAndOurObjects) {
  server_.services = Json::array({service("web", {{"app", "web"}}), service("db", {{"app", "db"}}),
                                  service("web-shadow-a", {{"umbra.io/role", "shadow"}}, Ours)});
  server_.virtualServices = Json::array(
      {{{"metadata", {{"name", "web-mirror"}, {"labels", Ours}}},
        {"spec",
         {{"hosts", {"web"}},
          {"http",
           Json::array(
               {{{"mirrors", Json::array({{{"destination", {{"host", "web-shadow-a"}}}}})}}})}}}}});
  server_.policy = {{"metadata", {{"name", "web-shadow-egress"}, {"labels", Ours}}}};
  const MirrorView m = observe();
  EXPECT_EQ(m.problemReason, "") << m.problem;
  EXPECT_EQ(m.service["metadata"]["name"], "web");
  EXPECT_EQ(m.services, (std::set<std::string>{"web-shadow-a"})) << "ours, not a candidate";
  EXPECT_TRUE(m.virtualService) << "our own VirtualService does not count as the user's";
  EXPECT_EQ(m.mirrored, std::vector<std::string>{"web-shadow-a"});
  EXPECT_TRUE(m.egressPolicy);
}

TEST_F(MirrorViewTest, EachReasonMirroringCannotRunIsNamed) {
  server_.meshServed = false;
  server_.services = Json::array({service("web", {{"app", "web"}})});
  EXPECT_EQ(observe().problemReason, "NoMesh");

  server_.meshServed = true;
  server_.services = Json::array();
  EXPECT_EQ(observe().problemReason, "NoService");

  server_.services =
      Json::array({service("web", {{"app", "web"}}), service("www", {{"app", "web"}})});
  const MirrorView two = observe();
  EXPECT_EQ(two.problemReason, "AmbiguousService");
  EXPECT_NE(two.problem.find("web, www"), std::string::npos) << two.problem;
  EXPECT_EQ(observe({{"service", "www"}}).problemReason, "") << "named: the ambiguity is gone";

  server_.services =
      Json::array({service("web", {{"app", "web"}}), service("db", {{"app", "db"}})});
  const MirrorView wrong = observe({{"service", "db"}});
  EXPECT_EQ(wrong.problemReason, "NoService");
  EXPECT_NE(wrong.problem.find("does not select"), std::string::npos) << wrong.problem;

  server_.virtualServices = Json::array(
      {{{"metadata", {{"name", "canary"}}}, {"spec", {{"hosts", {"web.ns.svc.cluster.local"}}}}}});
  const MirrorView routed = observe();
  EXPECT_EQ(routed.problemReason, "HostRouted");
  EXPECT_NE(routed.problem.find("VirtualService ns/canary"), std::string::npos) << routed.problem;

  server_.virtualServices = Json::array();
  vmis_.upsert({{"metadata", {{"namespace", "ns"}, {"name", "web"}, {"labels", {{"app", "web"}}}}},
                {"status", {{"phase", "Scheduling"}}}});
  EXPECT_EQ(observe().problemReason, "TargetNotRunning");
}

}  // namespace
}  // namespace umbra::controller
