#include "integration/common.h"

namespace umbra::testing {
namespace {

using kube::Json;
namespace res = kube::resources;

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = ControlPlane::instance().adminClient(); }
  std::unique_ptr<kube::KubeClient> client_;
  TestNamespace ns_;
};

TEST_F(KubeClientTest, ConfigMapCrudRoundTrip) {
  auto created =
      client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "c1", {{"k", "v1"}}));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto got = client_->get(res::configMaps(), {ns_.name(), "c1"});
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ((*got)["data"]["k"], "v1");

  Json updated = *got;
  updated["data"]["k"] = "v2";
  auto put = client_->update(res::configMaps(), updated);
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_NE((*put)["metadata"]["resourceVersion"], (*got)["metadata"]["resourceVersion"]);
  EXPECT_EQ((*client_->get(res::configMaps(), {ns_.name(), "c1"}))["data"]["k"], "v2");

  auto dup = client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "c1"));
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(dup.error().is(ErrorKind::AlreadyExists)) << dup.error().describe();

  ASSERT_TRUE(client_->remove(res::configMaps(), {ns_.name(), "c1"}).ok());
  auto gone = client_->get(res::configMaps(), {ns_.name(), "c1"});
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.error().is(ErrorKind::NotFound));
  EXPECT_NE(gone.error().message.find("/api/v1/namespaces/" + ns_.name() + "/configmaps/c1"),
            std::string::npos)
      << gone.error().message;
}

TEST_F(KubeClientTest, StaleResourceVersionIsAConflict) {
  auto created = client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "c"));
  ASSERT_TRUE(created.ok());
  Json first = *created;
  first["data"]["a"] = "1";
  ASSERT_TRUE(client_->update(res::configMaps(), first).ok());
  Json stale = *created;  // still carries the old resourceVersion
  stale["data"]["b"] = "2";
  auto r = client_->update(res::configMaps(), stale);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Conflict)) << r.error().describe();
  EXPECT_EQ(r.error().httpCode, 409);
  EXPECT_TRUE(r.error().retryable());
}

TEST_F(KubeClientTest, DeletePreconditionOnUidIsEnforced) {
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "c")).ok());
  kube::DeleteOptions opts;
  opts.preconditionUid = "00000000-0000-0000-0000-000000000000";
  auto r = client_->remove(res::configMaps(), {ns_.name(), "c"}, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Conflict)) << r.error().describe();
  EXPECT_TRUE(client_->get(res::configMaps(), {ns_.name(), "c"}).ok());
}

TEST_F(KubeClientTest, PaginationWithLimitTwo) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        client_
            ->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "p" + std::to_string(i)))
            .ok());
  }
  kube::ListOptions opts;
  opts.limit = 2;
  int pages = 0;
  std::set<std::string> names;
  while (true) {
    auto page = client_->list(res::configMaps(), ns_.name(), opts);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ++pages;
    EXPECT_LE((*page)["items"].size(), 2u);
    for (const auto& item : (*page)["items"]) {
      names.insert(item["metadata"]["name"]);
    }
    opts.continueToken = (*page)["metadata"].value("continue", "");
    if (opts.continueToken.empty()) {
      break;
    }
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names.size(), 5u);
  auto all = kube::listAll(*client_, res::configMaps(), ns_.name(), {.limit = 2});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["items"].size(), 5u);
  EXPECT_FALSE((*all)["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(KubeClientTest, LabelSelectorFiltersList) {
  Json a = configMap(ns_.name(), "a");
  a["metadata"]["labels"] = {{"umbra.io/role", "shadow"}};
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), a).ok());
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "b")).ok());
  auto l = client_->list(res::configMaps(), ns_.name(), {.labelSelector = "umbra.io/role=shadow"});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ((*l)["items"].size(), 1u);
  EXPECT_EQ((*l)["items"][0]["metadata"]["name"], "a");
}

// What an uninstalled kind looks like (KubeVirt removed before Umbra): listing it is NotFound,
// whether its group is served or not. Umbra then knows no shadow of that kind is left.
TEST_F(KubeClientTest, ListingAKindTheServerDoesNotServeIsNotFound) {
  for (const kube::ResourceType& gone :
       {kube::ResourceType{"uninstalled.umbra.io", "v1", "virtualmachineinstances",
                           "VirtualMachineInstance"},  // the group gone with its CRDs
        kube::ResourceType{"", "v1", "virtualmachineinstances", "VirtualMachineInstance"}}) {
    auto r = client_->list(gone, ns_.name(), {});
    ASSERT_FALSE(r.ok()) << gone.apiVersion();
    EXPECT_TRUE(r.error().is(ErrorKind::NotFound)) << r.error().describe();
  }
}

TEST_F(KubeClientTest, CustomResourceCrudWithStatusSubresource) {
  ensureWidgetCrd();
  auto created = client_->create(widgets(), ns_.name(), widget(ns_.name(), "w", 3));
  ASSERT_TRUE(created.ok()) << created.error().message;
  Json obj = *created;
  obj["status"] = {{"phase", "Ready"}};
  // A write to the main resource ignores status; the status subresource sets it.
  auto main = client_->update(widgets(), obj);
  ASSERT_TRUE(main.ok());
  EXPECT_FALSE((*main).contains("status"));
  (*main)["status"] = {{"phase", "Ready"}};
  auto st = client_->update(widgets(), *main, {}, "status");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ((*client_->get(widgets(), {ns_.name(), "w"}))["status"]["phase"], "Ready");
  ASSERT_TRUE(client_->remove(widgets(), {ns_.name(), "w"}).ok());
  EXPECT_TRUE(client_->get(widgets(), {ns_.name(), "w"}).error().is(ErrorKind::NotFound));
}

TEST_F(KubeClientTest, MergeJsonAndServerSideApplyPatchesOnCustomResource) {
  ensureWidgetCrd();
  ASSERT_TRUE(client_->create(widgets(), ns_.name(), widget(ns_.name(), "w", 3)).ok());
  const kube::ObjectRef ref{ns_.name(), "w"};

  auto merged = client_->patch(widgets(), ref, kube::PatchType::Merge,
                               {{"spec", {{"color", "blue"}, {"tags", {"a"}}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ((*merged)["spec"]["color"], "blue");
  EXPECT_EQ((*merged)["spec"]["size"], 3);

  auto jsonPatched =
      client_->patch(widgets(), ref, kube::PatchType::Json,
                     Json::array({{{"op", "replace"}, {"path", "/spec/size"}, {"value", 7}},
                                  {{"op", "add"}, {"path", "/spec/tags/-"}, {"value", "b"}}}));
  ASSERT_TRUE(jsonPatched.ok()) << jsonPatched.error().message;
  EXPECT_EQ((*jsonPatched)["spec"]["size"], 7);
  EXPECT_EQ((*jsonPatched)["spec"]["tags"], Json::array({"a", "b"}));

  // A failing JSON patch "test" op is rejected and changes nothing.
  auto failedTest =
      client_->patch(widgets(), ref, kube::PatchType::Json,
                     Json::array({{{"op", "test"}, {"path", "/spec/size"}, {"value", 1}},
                                  {{"op", "replace"}, {"path", "/spec/size"}, {"value", 2}}}));
  EXPECT_FALSE(failedTest.ok());

  kube::WriteOptions apply;
  apply.fieldManager = "umbra-test";
  apply.force = true;
  auto applied = client_->patch(widgets(), ref, kube::PatchType::Apply,
                                {{"apiVersion", "test.umbra.io/v1"},
                                 {"kind", "Widget"},
                                 {"metadata", {{"name", "w"}, {"namespace", ns_.name()}}},
                                 {"spec", {{"color", "green"}}}},
                                apply);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ((*applied)["spec"]["color"], "green");
  EXPECT_EQ((*applied)["spec"]["size"], 7) << "apply leaves fields it does not own alone";
  bool managed = false;
  for (const auto& mf : (*applied)["metadata"]["managedFields"]) {
    managed |= mf.value("manager", "") == "umbra-test" && mf.value("operation", "") == "Apply";
  }
  EXPECT_TRUE(managed);

  // Server-side apply creates when absent.
  auto createdByApply = client_->patch(widgets(), {ns_.name(), "w2"}, kube::PatchType::Apply,
                                       widget(ns_.name(), "w2", 2), apply);
  ASSERT_TRUE(createdByApply.ok()) << createdByApply.error().message;
}

TEST_F(KubeClientTest, StrictFieldValidationRejectsUnknownAndInvalidFields) {
  ensureWidgetCrd();
  Json w = widget(ns_.name(), "w", 3);
  w["spec"]["colour"] = "red";
  auto unknown = client_->create(widgets(), ns_.name(), w);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("colour"), std::string::npos) << unknown.error().message;

  auto outOfRange = client_->create(widgets(), ns_.name(), widget(ns_.name(), "w", 11));
  ASSERT_FALSE(outOfRange.ok());
  EXPECT_TRUE(outOfRange.error().is(ErrorKind::Invalid)) << outOfRange.error().describe();
  ASSERT_FALSE(outOfRange.error().causes.empty());
  EXPECT_EQ(outOfRange.error().causes[0].field, "spec.size");
}

TEST_F(KubeClientTest, TokenWithoutRbacIsForbidden) {
  auto cfg = kube::loadKubeconfig(ControlPlane::instance().kubeconfig());
  ASSERT_TRUE(cfg.ok());
  cfg->clientCertPem.clear();
  cfg->clientKeyPem.clear();
  cfg->token = ControlPlane::instance().token("user");
  auto client = kube::RestClient::fromConfig(*cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->list(res::configMaps(), ns_.name(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Forbidden)) << r.error().describe();
  EXPECT_NE(r.error().message.find("umbra-token-user"), std::string::npos) << r.error().message;

  // The same identity through a client certificate (user.kubeconfig) is also forbidden.
  auto certCfg = kube::loadKubeconfig(ControlPlane::instance().userKubeconfig());
  ASSERT_TRUE(certCfg.ok());
  auto certClient = kube::RestClient::fromConfig(*certCfg);
  auto r2 = (*certClient)->get(res::configMaps(), {ns_.name(), "x"});
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(r2.error().is(ErrorKind::Forbidden)) << r2.error().describe();
}

TEST_F(KubeClientTest, GarbageCollectorDeletesDependentsOfADeletedOwner) {
  auto owner = client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "owner"));
  ASSERT_TRUE(owner.ok());
  Json child = configMap(ns_.name(), "child");
  child["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "v1"},
                                                       {"kind", "ConfigMap"},
                                                       {"name", "owner"},
                                                       {"uid", (*owner)["metadata"]["uid"]}}});
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), child).ok());
  ASSERT_TRUE(
      client_->remove(res::configMaps(), {ns_.name(), "owner"}, {.propagationPolicy = "Background"})
          .ok());
  EXPECT_TRUE(eventually(
      [&] {
        return !client_->get(res::configMaps(), {ns_.name(), "child"}).ok();
      },
      std::chrono::seconds(30)))
      << "kube-controller-manager's garbage collector should delete the dependent";
}

TEST_F(KubeClientTest, ServerVersionIsTheBuiltRelease) {
  auto v = client_->send({"GET", "/version", {}, "", "", false});
  ASSERT_TRUE(v.ok()) << v.error().message;
  std::fprintf(stderr, "[version] gitVersion=%s\n", (*v)["gitVersion"].get<std::string>().c_str());
  EXPECT_EQ((*v)["gitVersion"].get<std::string>().rfind("v1.", 0), 0u);
  EXPECT_EQ((*v)["gitVersion"].get<std::string>().find("master"), std::string::npos);
}

}  // namespace
}  // namespace umbra::testing
