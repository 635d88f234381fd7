#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/base64.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/rest_client.h"
#include "kube/store.h"
#include "kube_core/request.h"
#include "kube_core/status.h"

namespace umbra::kube {
namespace {

TEST(Request, BuildsPathsForCoreGroupedAndClusterScopedTypes) {
  EXPECT_EQ(collectionPath(resources::configMaps(), "ns1"), "/api/v1/namespaces/ns1/configmaps");
  EXPECT_EQ(collectionPath(resources::configMaps(), ""), "/api/v1/configmaps");
  EXPECT_EQ(objectPath(resources::leases(), "kube-system", "l"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l");
  EXPECT_EQ(objectPath(resources::nodes(), "ignored", "n1", "status"), "/api/v1/nodes/n1/status");
  const ResourceType vm{"subresources.kubevirt.io", "v1", "virtualmachines", "", true};
  EXPECT_EQ(objectPath(vm, "d", "web-1", "start"),
            "/apis/subresources.kubevirt.io/v1/namespaces/d/virtualmachines/web-1/start");
}

TEST(Request, ListEncodesSelectorsAndPagination) {
  ListOptions o;
  o.labelSelector = "umbra.io/role=shadow,app in (a,b)";
  o.limit = 2;
  o.continueToken = "abc=";
  const auto r = listRequest(resources::pods(), "x", o);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(
      r.target(),
      "/api/v1/namespaces/x/pods?labelSelector=umbra.io%2Frole%3Dshadow%2Capp%20in%20%28a%2Cb%29"
      "&limit=2&continue=abc%3D");
}

TEST(Request, WatchAsksForBookmarksAndTimeout) {
  WatchOptions o;
  o.resourceVersion = "42";
  o.timeoutSeconds = 2;
  const auto r = watchRequest(resources::configMaps(), "x", o);
  EXPECT_TRUE(r.watch);
  EXPECT_EQ(r.target(),
            "/api/v1/namespaces/x/configmaps?watch=1&resourceVersion=42&timeoutSeconds=2"
            "&allowWatchBookmarks=true");
}

TEST(Request, WritesSendStrictFieldValidationAndFieldManager) {
  const auto c = createRequest(resources::configMaps(), "x", "{}", {});
  EXPECT_EQ(c.target(),
            "/api/v1/namespaces/x/configmaps?fieldManager=umbra&fieldValidation=Strict");
  WriteOptions apply;
  apply.force = true;
  const auto p = patchRequest(resources::configMaps(), {"x", "c"}, PatchType::Apply, "{}", apply);
  EXPECT_EQ(p.method, "PATCH");
  EXPECT_EQ(p.contentType, "application/apply-patch+yaml");
  EXPECT_NE(p.target().find("force=true"), std::string::npos);
  EXPECT_EQ(contentType(PatchType::Merge), std::string("application/merge-patch+json"));
  EXPECT_EQ(contentType(PatchType::Json), std::string("application/json-patch+json"));
}

TEST(Request, DeleteCarriesPropagationAndPreconditions) {
  DeleteOptions o;
  o.propagationPolicy = "Foreground";
  o.preconditionUid = "u-1";
  const auto r = deleteRequest(resources::configMaps(), {"x", "c"}, o);
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "u-1");
  EXPECT_FALSE(body["preconditions"].contains("resourceVersion"));
}

TEST(Request, DeleteCollectionSelectsByLabel) {
  ListOptions sel;
  sel.labelSelector = "umbra.io/placement=web,umbra.io/role=shadow";
  const auto r = deleteCollectionRequest(resources::configMaps(), "x", sel, {});
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.target(),
            "/api/v1/namespaces/x/"
            "configmaps?labelSelector=umbra.io%2Fplacement%3Dweb%2Cumbra.io%2Frole%3Dshadow");
}

TEST(Status, MapsApiStatusReasonsToKinds) {
  const std::string conflict =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409})";
  const Error e = errorFromResponse(409, conflict, "PUT https://h/api/v1/x");
  EXPECT_TRUE(e.is(ErrorKind::Conflict));
  EXPECT_EQ(e.message, "PUT https://h/api/v1/x: 409 the object has been modified");
  EXPECT_TRUE(e.retryable());

  const std::string invalid =
      R"({"kind":"Status","status":"Failure","message":"bad","reason":"Invalid","code":422,
          "details":{"causes":[{"reason":"FieldValueInvalid","message":"must be 1..10","field":"spec.count"}]}})";
  const Error i = errorFromResponse(422, invalid, "POST x");
  EXPECT_TRUE(i.is(ErrorKind::Invalid));
  ASSERT_EQ(i.causes.size(), 1u);
  EXPECT_EQ(i.causes[0].field, "spec.count");
  EXPECT_FALSE(i.retryable());

  EXPECT_TRUE(errorFromResponse(404, R"({"kind":"Status","reason":"NotFound"})", "x")
                  .is(ErrorKind::NotFound));
  EXPECT_TRUE(errorFromResponse(409, R"({"kind":"Status","reason":"AlreadyExists"})", "x")
                  .is(ErrorKind::AlreadyExists));
  EXPECT_TRUE(errorFromResponse(403, "", "x").is(ErrorKind::Forbidden));
  EXPECT_TRUE(errorFromResponse(401, "Unauthorized", "x").is(ErrorKind::Unauthorized));
  EXPECT_TRUE(errorFromResponse(410, "", "x").is(ErrorKind::Gone));
  EXPECT_TRUE(errorFromResponse(504, "", "x").is(ErrorKind::Timeout));
  EXPECT_TRUE(errorFromResponse(503, "busy", "x").is(ErrorKind::ServerError));
}

TEST(Status, HonoursRetryAfterFromHeaderOrDetails) {
  const Error h = errorFromResponse(429, R"({"kind":"Status","reason":"TooManyRequests"})", "x",
                                    std::string("7"));
  EXPECT_TRUE(h.is(ErrorKind::TooManyRequests));
  EXPECT_EQ(h.retryAfter.value(), std::chrono::seconds(7));
  const Error d = errorFromResponse(
      429, R"({"kind":"Status","reason":"TooManyRequests","details":{"retryAfterSeconds":3}})",
      "x");
  EXPECT_EQ(d.retryAfter.value(), std::chrono::seconds(3));
}

TEST(Status, WatchErrorEventExpiredIsGone) {
  const Error e = errorFromStatusJson(
      R"json({"kind":"Status","status":"Failure","message":"too old resource version: 5 (90)","reason":"Expired","code":410})json",
      "watch configmaps");
  EXPECT_TRUE(e.is(ErrorKind::Gone));
  EXPECT_EQ(e.message, "watch configmaps: 410 too old resource version: 5 (90)");
}

nlohmann::json object(const std::string& ns, const std::string& name,
                      nlohmann::json labels = nlohmann::json::object()) {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"labels", labels}}}};
}

TEST(Store, IndexesByNamespaceAndLabelAndKeepsIndexesInStepWithUpdates) {
  Store s;
  EXPECT_EQ(s.upsert(object("a", "x", {{"role", "shadow"}})), nullptr);
  s.upsert(object("a", "y", {{"role", "target"}}));
  s.upsert(object("b", "z", {{"role", "shadow"}}));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.byNamespace("a").size(), 2u);
  EXPECT_EQ(s.byLabel("role", "shadow").size(), 2u);
  // Relabel x: the old label index entry goes away.
  ObjectPtr stored;
  const auto prev = s.upsert(object("a", "x", {{"role", "target"}}), &stored);
  EXPECT_EQ(stored, s.get("a/x")) << "upsert hands back what it stored";
  ASSERT_NE(prev, nullptr);
  EXPECT_EQ((*prev)["metadata"]["labels"]["role"], "shadow");
  EXPECT_EQ(s.byLabel("role", "shadow").size(), 1u);
  EXPECT_EQ(s.byLabel("role", "target").size(), 2u);
  EXPECT_EQ(s.countByLabel("role", "target"), 2u);
  EXPECT_EQ(s.countByLabel("role", "none"), 0u);
  EXPECT_NE(s.erase("a/x"), nullptr);
  EXPECT_EQ(s.erase("a/x"), nullptr);
  EXPECT_EQ(s.byLabel("role", "target").size(), 1u);
  EXPECT_EQ(s.get("b/z")->at("metadata")["name"], "z");
}

TEST(Store, ReplaceSwapsContentAndReturnsThePrevious) {
  Store s;
  s.upsert(object("a", "old"));
  std::vector<nlohmann::json> fresh{object("a", "new1"), object("a", "new2", {{"k", "v"}})};
  const auto previous = s.replace(std::move(fresh));
  EXPECT_EQ(previous.size(), 1u);
  EXPECT_TRUE(previous.count("a/old"));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.get("a/old"), nullptr);
  EXPECT_EQ(s.byLabel("k", "v").size(), 1u);
}

// Records what a store reports, as "key:before->after" with names ("-" for none).
class RecordingObserver : public StoreObserver {
 public:
  void changed(const std::string& key, const nlohmann::json* before,
               const nlohmann::json* after) override {
    const auto label = [](const nlohmann::json* o) {
      return o ? o->at("metadata")["labels"].value("v", "?") : std::string("-");
    };
    seen.push_back(key + ":" + label(before) + "->" + label(after));
  }
  std::vector<std::string> seen;
};

TEST(Store, ObserversGetTheContentThenEveryChangeInOrder) {
  Store s;
  s.upsert(object("a", "x", {{"v", "1"}}));
  RecordingObserver o;
  s.observe(&o);
  EXPECT_EQ(o.seen, std::vector<std::string>{"a/x:-->1"}) << "the content is replayed";
  s.upsert(object("a", "x", {{"v", "2"}}));
  s.upsert(object("a", "y", {{"v", "3"}}));
  s.erase("a/x");
  s.erase("a/missing");  // nothing removed: nothing reported
  EXPECT_EQ(o.seen, (std::vector<std::string>{"a/x:-->1", "a/x:1->2", "a/y:-->3", "a/x:2->-"}));
  o.seen.clear();
  std::vector<nlohmann::json> relist{object("a", "y", {{"v", "4"}}),
                                     object("a", "z", {{"v", "5"}})};
  s.replace(std::move(relist));
  std::sort(o.seen.begin(), o.seen.end());
  EXPECT_EQ(o.seen, (std::vector<std::string>{"a/y:3->4", "a/z:-->5"}));
  o.seen.clear();
  std::vector<nlohmann::json> empty;
  s.replace(std::move(empty));
  std::sort(o.seen.begin(), o.seen.end());
  EXPECT_EQ(o.seen, (std::vector<std::string>{"a/y:4->-", "a/z:5->-"})) << "a relist removes";
  s.unobserve(&o);
  o.seen.clear();
  s.upsert(object("a", "x", {{"v", "6"}}));
  EXPECT_TRUE(o.seen.empty());
}

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("umbra-kc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(KubeconfigTest, ReadsCurrentContextWithDataAndFileFields) {
  write("ca.crt", "CA PEM");
  write("token", "tok-123\n");
  const std::string path = write("config", R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
- name: c2
  cluster: {server: "https://other:6443", insecure-skip-tls-verify: true}
users:
- name: u1
  user:
    client-certificate-data: )" + base64Encode("CERT") +
                                               R"(
    client-key-data: )" + base64Encode("KEY") + R"(
- name: u2
  user: {tokenFile: token}
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
- name: ops
  context: {cluster: c2, user: u2}
)");
  auto cfg = loadKubeconfig(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->caPem, "CA PEM");
  EXPECT_EQ(cfg->clientCertPem, "CERT");
  EXPECT_EQ(cfg->clientKeyPem, "KEY");
  EXPECT_EQ(cfg->ns, "team-a");

  auto ops = loadKubeconfig(path, "ops");
  ASSERT_TRUE(ops.ok()) << ops.error().message;
  EXPECT_TRUE(ops->insecureSkipTlsVerify);
  EXPECT_EQ(ops->tokenFile, (dir_ / "token").string());
  EXPECT_EQ(ops->ns, "default");
}

TEST_F(KubeconfigTest, BadInputGivesOneLineErrorsNamingFileAndField) {
  const auto check = [&](const std::string& text, const std::string& expected) {
    const std::string path = write("bad", text);
    auto cfg = loadKubeconfig(path);
    ASSERT_FALSE(cfg.ok()) << text;
    EXPECT_TRUE(cfg.error().is(ErrorKind::Config));
    EXPECT_NE(cfg.error().message.find(path), std::string::npos) << cfg.error().message;
    EXPECT_NE(cfg.error().message.find(expected), std::string::npos) << cfg.error().message;
    EXPECT_EQ(cfg.error().message.find('\n'), std::string::npos) << cfg.error().message;
  };
  check("clusters: [unterminated", "invalid YAML");
  check("- just\n- a list\n", "not a kubeconfig");
  check("contexts: []\n", "current-context: not set");
  check("current-context: x\ncontexts: []\n", "contexts: no entry named \"x\"");
  check(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, "
      "cluster: {}}]\n",
      "clusters[c].cluster.server: missing");
  check(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, "
      "cluster: {server: 'ftp://h'}}]\n",
      "is not an http(s) URL");
  check(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, "
      "cluster: {server: 'https://h', certificate-authority-data: '@@@'}}]\n",
      "certificate-authority-data: not valid base64");
  check(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, "
      "cluster: {server: 'https://h', certificate-authority: /nonexistent/ca.crt}}]\n",
      "certificate-authority: /nonexistent/ca.crt: No such file or directory");
  check(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: "
      "[{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: "
      "{client-certificate-data: Q0VSVA==}}]\n",
      "client-certificate and client-key must be given together");
  const auto missing = loadKubeconfig((dir_ / "absent").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("absent: No such file or directory"), std::string::npos);
}

TEST_F(KubeconfigTest, InClusterReadsServiceAccountFiles) {
  write("token", "sa-token");
  write("ca.crt", "CA");
  write("namespace", "umbra-system\n");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = loadInCluster(dir_.string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg->ns, "umbra-system");
  EXPECT_EQ(cfg->tokenFile, (dir_ / "token").string());
  EXPECT_EQ(cfg->caPem, "CA");
  auto none = loadInCluster(dir_.string());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST(HttpIoThreads, TheSharedPoolIsSizedOnceAndASecondAttemptIsAClearError) {
  // The first call succeeds unless an earlier test in this process already made the pool.
  (void)setHttpIoThreads(2);
  const Status again = setHttpIoThreads(2);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("HTTP I/O thread pool"), std::string::npos)
      << again.error().message;
}

}  // namespace
}  // namespace umbra::kube

namespace umbra::kube {
namespace {

TEST(WatchLine, EventsBlankLinesAndWhatIsNotAnEvent) {
  auto added = parseWatchLine(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})");
  ASSERT_TRUE(added.ok() && added->has_value());
  EXPECT_EQ((*added)->type, WatchEventType::Added);
  EXPECT_EQ((*added)->object["metadata"]["name"], "a");
  auto gone = parseWatchLine(R"({"type":"ERROR","object":{"kind":"Status","code":410}})");
  ASSERT_TRUE(gone.ok() && gone->has_value()) << "an ERROR event is an event";
  EXPECT_EQ((*gone)->type, WatchEventType::Error);
  auto blank = parseWatchLine(" \r");
  ASSERT_TRUE(blank.ok());
  EXPECT_FALSE(blank->has_value());
  for (const char* bad : {"{", "[]", "null", R"({"object":{}})", R"({"type":1,"object":{}})",
                          R"({"type":"ADDED"})", R"({"type":"ADDED","object":[]})",
                          R"({"type":"RENAMED","object":{}})"}) {
    const auto r = parseWatchLine(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.rfind("malformed watch event: ", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace umbra::kube
