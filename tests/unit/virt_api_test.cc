// umbra-sim's virt-api without a server: paths, the front proxy's settings, the serving
// certificate.
#include <gtest/gtest.h>

#include "api/kubevirt_subresources.h"
#include "exposition/serving_cert.h"
#include "fakes/no_server.h"
#include "simulator/virt_api.h"
#include "simulator/virt_api_handlers.h"

namespace umbra::simulator {
namespace {

using exposition::certificateCommonName;
using exposition::generateServingCert;
using nlohmann::json;

TEST(SubresourcePathTest, TheSixSubresourcesParseAndNothingElse) {
  const auto c = parseSubresourcePath(
      "/apis/subresources.kubevirt.io/v1/namespaces/ns-1/virtualmachineinstances/vm-0/pause");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->version, "v1");
  EXPECT_EQ(c->ns, "ns-1");
  EXPECT_EQ(c->resource, "virtualmachineinstances");
  EXPECT_EQ(c->name, "vm-0");
  EXPECT_EQ(c->subresource, "pause");
  EXPECT_TRUE(parseSubresourcePath(
      "/apis/subresources.kubevirt.io/v1alpha3/namespaces/a/virtualmachines/b/migrate"));
  for (const char* bad :
       {"/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/b/pause",  // a VMI's
        "/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachineinstances/b/start",
        "/apis/subresources.kubevirt.io/v2/namespaces/a/virtualmachines/b/start",
        "/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/b/start/x",
        "/apis/subresources.kubevirt.io/v1/namespaces/A/virtualmachines/b/start",
        "/apis/kubevirt.io/v1/namespaces/a/virtualmachines/b/start"})
    EXPECT_FALSE(parseSubresourcePath(bad)) << bad;
}

TEST(SubresourcePathTest, TheClientsRequestsAreWhatTheServerParses) {
  for (const auto& r :
       {api::pauseVmi("n", "v"), api::unpauseVmi("n", "v"), api::startVm("n", "v", true),
        api::stopVm("n", "v"), api::migrateVm("n", "v", {{"k", "x"}})}) {
    EXPECT_EQ(r.method, "PUT");
    EXPECT_TRUE(parseSubresourcePath(r.path)) << r.path;
  }
  EXPECT_EQ(json::parse(api::startVm("n", "v", true).body), json({{"paused", true}}));
  EXPECT_EQ(json::parse(api::migrateVm("n", "v", {{"k", "x"}}).body)["addedNodeSelector"]["k"],
            "x");
}

TEST(RequestHeaderAuthTest, ReadsTheConfigMapAndNamesAMissingKey) {
  const json cm = {{"data",
                    {{"requestheader-client-ca-file", "PEM"},
                     {"requestheader-allowed-names", "[\"front-proxy-client\"]"},
                     {"requestheader-username-headers", "[\"X-Remote-User\"]"},
                     {"requestheader-group-headers", "[\"X-Remote-Group\"]"},
                     {"requestheader-extra-headers-prefix", "[\"X-Remote-Extra-\"]"}}}};
  auto auth = requestHeaderAuthFrom(cm);
  ASSERT_TRUE(auth.ok()) << auth.error().message;
  EXPECT_EQ(auth->allowedNames, std::vector<std::string>{"front-proxy-client"});
  EXPECT_EQ(auth->usernameHeaders, std::vector<std::string>{"X-Remote-User"});
  EXPECT_EQ(auth->extraHeadersPrefix, "X-Remote-Extra-");

  auto none = requestHeaderAuthFrom({{"data", {{"client-ca-file", "PEM"}}}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("requestheader-client-ca-file"), std::string::npos);
  json broken = cm;
  broken["data"]["requestheader-allowed-names"] = "front-proxy-client";
  auto bad = requestHeaderAuthFrom(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("requestheader-allowed-names is not a JSON list"),
            std::string::npos);
}

TEST(ServingCertTest, AFreshCaAndALeafNamedAfterTheService) {
  auto c = generateServingCert("umbra-sim virt-api CA", {"virt-api.kubevirt.svc", "localhost"},
                               {"127.0.0.1"}, 1);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(certificateCommonName(c->certPem), "virt-api.kubevirt.svc");
  EXPECT_EQ(certificateCommonName(c->caPem), "umbra-sim virt-api CA");
  EXPECT_NE(c->keyPem.find("PRIVATE KEY"), std::string::npos);
  auto other = generateServingCert("umbra-sim virt-api CA", {"x"}, {}, 1);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->caPem, c->caPem) << "each start has its own CA";
  EXPECT_FALSE(generateServingCert("CA", {}, {}, 1).ok());
}

// virt-controller writes the VM's status while virt-api's start request is in flight: the
// resourceVersion-guarded patch meets a Conflict, and the start is decided again on the VM as it
// is now instead of failing (KubeVirt's own patch tests only the fields it depends on).
TEST(StartTest, AConflictWithAnUnrelatedWriteIsDecidedAgainOnTheFreshVm) {
  struct Server : testing::NoServer {
    int reads = 0, patches = 0;
    Result<Json> get(const kube::ResourceType& t, const kube::ObjectRef&) override {
      if (t.resource == "virtualmachineinstances")
        return Error::make(ErrorKind::NotFound, "no VMI");
      ++reads;
      return Json{
          {"metadata",
           {{"name", "standby"}, {"namespace", "ns"}, {"resourceVersion", std::to_string(reads)}}},
          {"spec", {{"runStrategy", "Halted"}, {"template", {{"spec", Json::object()}}}}}};
    }
    Result<Json> patch(const kube::ResourceType&, const kube::ObjectRef&, kube::PatchType,
                       const Json& body, const kube::WriteOptions&, const std::string&) override {
      if (++patches == 1)  // the status changed under the first read
        return Error::make(ErrorKind::Conflict, "the object has been modified");
      EXPECT_EQ(body["metadata"]["resourceVersion"], "2") << "the fresh read's";
      return Json::object();
    }
  } server;
  const auto reply =
      handleSubresource(server,
                        *parseSubresourcePath("/apis/subresources.kubevirt.io/v1/namespaces/ns/"
                                              "virtualmachines/standby/start"),
                        R"({"paused": true})");
  EXPECT_EQ(reply.code, 202) << reply.body;
  EXPECT_EQ(server.patches, 2);
}

TEST(StatusReplyTest, IsAKubernetesStatus) {
  const Reply r = statusReply(409, "Conflict", "VMI is not paused");
  EXPECT_EQ(r.code, 409);
  const json s = json::parse(r.body);
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["code"], 409);
  EXPECT_EQ(s["reason"], "Conflict");
  EXPECT_EQ(s["status"], "Failure");
}

}  // namespace
}  // namespace umbra::simulator
