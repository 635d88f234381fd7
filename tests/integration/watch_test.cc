#include <mutex>
#include <thread>

#include "integration/common.h"
#include "kube/informer.h"
#include "kube/reflector.h"

namespace umbra::testing {
namespace {

using kube::Json;
namespace res = kube::resources;

// Records handler calls in order.
struct Recorder {
  std::mutex mutex;
  std::vector<std::string> events;  // "add:name", "update:name", "delete:name"

  kube::EventHandlers handlers() {
    return {[this](const kube::ObjectPtr& o) { push("add", *o); },
            [this](const kube::ObjectPtr&, const kube::ObjectPtr& o) { push("update", *o); },
            [this](const kube::ObjectPtr& o) { push("delete", *o); }};
  }
  void push(const std::string& what, const Json& o) {
    const std::lock_guard<std::mutex> lock(mutex);
    events.push_back(what + ":" + o["metadata"]["name"].get<std::string>());
  }
  size_t count(const std::string& e) {
    const std::lock_guard<std::mutex> lock(mutex);
    return static_cast<size_t>(std::count(events.begin(), events.end(), e));
  }
  std::vector<std::string> snapshot() {
    const std::lock_guard<std::mutex> lock(mutex);
    return events;
  }
};

// Runs a reflector on its own thread for the test's lifetime.
class RunningReflector {
 public:
  RunningReflector(kube::KubeClient& client, kube::ReflectorOptions opts, kube::Store& store,
                   kube::EventHandlers handlers)
      : reflector_(client, std::move(opts), store, std::move(handlers)),
        cancel_(std::make_shared<Cancellation>()),
        thread_([this] { reflector_.run(cancel_); }) {}
  ~RunningReflector() {
    cancel_->cancel();
    thread_.join();
  }
  kube::Reflector& operator*() { return reflector_; }
  kube::Reflector* operator->() { return &reflector_; }

 private:
  kube::Reflector reflector_;
  CancellationPtr cancel_;
  std::thread thread_;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = ControlPlane::instance().adminClient(); }
  std::unique_ptr<kube::KubeClient> client_;
  TestNamespace ns_;
};

TEST_F(WatchTest, DeliversAddedModifiedDeletedInOrder) {
  auto list = client_->list(res::configMaps(), ns_.name(), {});
  ASSERT_TRUE(list.ok());
  std::vector<std::pair<std::string, std::string>> seen;  // (type, name)
  auto cancel = std::make_shared<Cancellation>();
  std::thread watcher([&] {
    kube::WatchOptions opts;
    opts.resourceVersion = (*list)["metadata"]["resourceVersion"];
    opts.timeoutSeconds = 30;
    const Status st = client_->watch(
        res::configMaps(), ns_.name(), opts,
        [&](kube::WatchEvent&& ev) {
          if (ev.type == kube::WatchEventType::Bookmark) {
            return true;
          }
          seen.emplace_back(kube::toString(ev.type), ev.object["metadata"]["name"]);
          return seen.size() < 4;
        },
        cancel);
    EXPECT_TRUE(st.ok()) << st.error().message;
  });
  auto c = client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "w1"));
  ASSERT_TRUE(c.ok());
  Json u = *c;
  u["data"]["x"] = "y";
  ASSERT_TRUE(client_->update(res::configMaps(), u).ok());
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "w2")).ok());
  ASSERT_TRUE(client_->remove(res::configMaps(), {ns_.name(), "w1"}).ok());
  watcher.join();
  const std::vector<std::pair<std::string, std::string>> expected{
      {"ADDED", "w1"}, {"MODIFIED", "w1"}, {"ADDED", "w2"}, {"DELETED", "w1"}};
  EXPECT_EQ(seen, expected);
}

TEST_F(WatchTest, CancellationEndsABlockedWatchPromptly) {
  auto cancel = std::make_shared<Cancellation>();
  Status result = okStatus();
  std::thread watcher([&] {
    result = client_->watch(
        res::configMaps(), ns_.name(), {.timeoutSeconds = 300},
        [](kube::WatchEvent&&) { return true; }, cancel);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the stream open
  const auto start = std::chrono::steady_clock::now();
  cancel->cancel();
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.error().is(ErrorKind::Cancelled)) << result.error().describe();
}

TEST_F(WatchTest, ServerClosedWatchResumesWithoutLossOrDuplicates) {
  kube::Store store;
  Recorder rec;
  kube::ReflectorOptions opts{res::configMaps(), ns_.name()};
  opts.minWatchTimeout = std::chrono::seconds(1);  // the server closes each stream after 1-2 s
  RunningReflector reflector(*client_, opts, store, rec.handlers());
  ASSERT_TRUE(eventually([&] { return reflector->hasSynced(); }));

  // Write across several stream lifetimes.
  constexpr int N = 30;
  for (int i = 0; i < N; ++i) {
    ASSERT_TRUE(
        client_
            ->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "r" + std::to_string(i)))
            .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  ASSERT_TRUE(eventually([&] { return store.size() == N; })) << store.size();
  EXPECT_GE(reflector->watchesStarted(), 2) << "the server should have closed the stream";
  EXPECT_EQ(reflector->relists(), 1) << "a closed stream resumes, it does not relist";
  for (int i = 0; i < N; ++i) {
    EXPECT_EQ(rec.count("add:r" + std::to_string(i)), 1u) << "r" << i;
  }
  EXPECT_EQ(rec.snapshot().size(), static_cast<size_t>(N)) << "no duplicates, no updates";
}

// The current etcd revision (from etcdctl).
int64_t etcdRevision() {
  const auto r = runCommand(ControlPlane::instance().etcdctl() + " endpoint status -w json");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  const auto j = Json::parse(r.output, nullptr, false);
  return j.is_array() && !j.empty() ? j[0]["Status"]["header"]["revision"].get<int64_t>() : 0;
}

Json podTemplate(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "PodTemplate"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"template", {{"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}};
}

TEST_F(WatchTest, GoneAfterEtcdCompactionLeadsToRelist) {
  // podtemplates have no watch cache in the test control plane (local-cluster.sh), so a watch
  // from a compacted revision reaches etcd and fails with 410 Gone.
  ASSERT_TRUE(client_->create(res::podTemplates(), ns_.name(), podTemplate(ns_.name(), "a")).ok());
  kube::Store store;
  Recorder rec;
  kube::ReflectorOptions opts{res::podTemplates(), ns_.name()};
  opts.minWatchTimeout = std::chrono::seconds(1);
  RunningReflector reflector(*client_, opts, store, rec.handlers());
  ASSERT_TRUE(eventually([&] { return reflector->hasSynced(); }));
  const std::string oldRv = reflector->lastResourceVersion();

  // Changes the reflector will miss, then compact etcd past them.
  ASSERT_TRUE(client_->create(res::podTemplates(), ns_.name(), podTemplate(ns_.name(), "b")).ok());
  ASSERT_TRUE(client_->remove(res::podTemplates(), {ns_.name(), "a"}).ok());
  ASSERT_TRUE(eventually([&] { return store.size() == 1; }));
  const int64_t rev = etcdRevision();
  ASSERT_GT(rev, std::stoll(oldRv));
  const auto compact =
      runCommand(ControlPlane::instance().etcdctl() + " compact " + std::to_string(rev));
  ASSERT_EQ(compact.exitCode, 0) << compact.output;

  reflector->setResourceVersionForTest(oldRv);  // the next watch starts below the compaction
  ASSERT_TRUE(eventually([&] { return reflector->relists() >= 2; }, std::chrono::seconds(30)))
      << "a 410 must lead to a relist";
  ASSERT_TRUE(eventually([&] { return reflector->state() == kube::Reflector::State::Watching; }));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_NE(store.get(ns_.name() + "/b"), nullptr);
  EXPECT_EQ(store.get(ns_.name() + "/a"), nullptr);

  // And it keeps watching afterwards.
  ASSERT_TRUE(client_->create(res::podTemplates(), ns_.name(), podTemplate(ns_.name(), "c")).ok());
  EXPECT_TRUE(eventually([&] { return store.get(ns_.name() + "/c") != nullptr; }));
}

TEST_F(WatchTest, RelistReportsObjectsDeletedWhileAway) {
  kube::Store store;
  store.upsert(configMap(ns_.name(), "ghost"));  // as if seen before a disconnect
  Recorder rec;
  RunningReflector reflector(*client_, {res::configMaps(), ns_.name()}, store, rec.handlers());
  ASSERT_TRUE(eventually([&] { return reflector->hasSynced(); }));
  EXPECT_EQ(rec.count("delete:ghost"), 1u);
  EXPECT_EQ(store.get(ns_.name() + "/ghost"), nullptr);
}

TEST_F(WatchTest, InformerResyncRedeliversCachedObjects) {
  ASSERT_TRUE(client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "a")).ok());
  Recorder rec;
  kube::Informer informer(*client_, {res::configMaps(), ns_.name()}, rec.handlers(),
                          std::chrono::seconds(1));
  informer.start();
  ASSERT_TRUE(informer.waitForSync(std::chrono::seconds(20)));
  EXPECT_EQ(rec.count("add:a"), 1u);
  // No change happens, yet a level-based controller must see the object again.
  EXPECT_TRUE(eventually([&] { return rec.count("update:a") >= 2; }, std::chrono::seconds(10)));
  informer.stop();
}

TEST_F(WatchTest, StoreHoldsObjectsWithoutManagedFieldsAndUpdatesFromItKeepTheServers) {
  const auto hasManagedFields = [](const Json& o) {
    return o["metadata"].contains("managedFields");
  };
  // With data: the server records no managedFields entry for an object that sets no field.
  const Json data = {{"k", "v1"}, {"other", "x"}};
  kube::WriteOptions byCreator;
  byCreator.fieldManager = "umbra-creator";
  ASSERT_TRUE(
      client_->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "listed", data)).ok());
  kube::Store store;
  kube::Store kept;
  kube::ReflectorOptions keep{res::configMaps(), ns_.name()};
  keep.keepManagedFields = true;
  RunningReflector reflector(*client_, {res::configMaps(), ns_.name()}, store, {});
  RunningReflector keeping(*client_, keep, kept, {});
  ASSERT_TRUE(eventually([&] { return reflector->hasSynced() && keeping->hasSynced(); }));
  ASSERT_TRUE(
      client_
          ->create(res::configMaps(), ns_.name(), configMap(ns_.name(), "watched", data), byCreator)
          .ok());
  ASSERT_TRUE(eventually(
      [&] { return store.get(ns_.name() + "/watched") && kept.get(ns_.name() + "/watched"); }));
  for (const std::string name : {"listed", "watched"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(hasManagedFields(*store.get(ns_.name() + "/" + name)));
    EXPECT_TRUE(hasManagedFields(*kept.get(ns_.name() + "/" + name)));
  }
  // A controller updates from its cached copy: the server keeps the other managers' ownership
  // (the creator still owns data.other; a request that cleared managedFields would drop it).
  Json updated = *store.get(ns_.name() + "/watched");
  updated["data"]["k"] = "v2";
  ASSERT_TRUE(client_->update(res::configMaps(), updated).ok());
  const auto onServer = client_->get(res::configMaps(), {ns_.name(), "watched"});
  ASSERT_TRUE(onServer.ok());
  bool creatorKept = false;
  for (const auto& mf : (*onServer)["metadata"].value("managedFields", Json::array()))
    creatorKept |= mf.value("manager", "") == "umbra-creator";
  EXPECT_TRUE(creatorKept) << (*onServer)["metadata"].dump();
  ASSERT_TRUE(eventually([&] {
    const auto o = store.get(ns_.name() + "/watched");
    return o && (*o)["data"].value("k", "") == "v2";
  }));
  EXPECT_FALSE(hasManagedFields(*store.get(ns_.name() + "/watched")));
}

}  // namespace
}  // namespace umbra::testing
