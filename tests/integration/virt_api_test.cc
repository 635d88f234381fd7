// umbra-sim's virt-api behind a real APIService: kube-apiserver (aggregation layer configured by
// scripts/local-cluster.sh) authenticates and authorizes the caller, then proxies the PUT over TLS
// with its front-proxy client certificate; umbra-sim checks that certificate, asks the API server
// with a SubjectAccessReview, and changes what KubeVirt would. One simulator for the suite.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "api/kubevirt_subresources.h"
#include "api/shadow_placement.h"
#include "harness/process.h"
#include "integration/common.h"

namespace umbra::testing {
namespace {

using kube::Json;
using namespace std::chrono_literals;

using kube::resources::apiServices;

bool available(kube::KubeClient& client, const std::string& name) {
  auto s = client.get(apiServices(), {"", name});
  if (!s.ok())
    return false;
  for (const auto& c : (*s).value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == "Available")
      return c.value("status", "") == "True";
  return false;
}

class VirtApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status st = ControlPlane::instance().installAllCrds();
    ASSERT_TRUE(st.ok()) << st.error().message;
    log_ = ControlPlane::instance().dir() + "/umbra-sim-virt-api.log";
    sim_ = new ChildProcess(
        {UMBRA_SIM_BINARY, "--kubeconfig", ControlPlane::instance().kubeconfig(), "--cluster",
         ControlPlane::sourceDir() + "/tests/integration/testdata/sim-cluster.yaml",
         "--metrics-addr", "127.0.0.1:" + std::to_string(freePort()), "--virt-api-addr",
         "127.0.0.1:0", "--boot-delay", "300ms", "--migration-delay", "300ms", "--tick", "100ms"},
        log_);
    auto admin = ControlPlane::instance().adminClient();
    ASSERT_TRUE(eventually(
        [&] {
          return available(*admin, "v1.subresources.kubevirt.io") &&
                 available(*admin, "v1alpha3.subresources.kubevirt.io");
        },
        60s))
        << runCommand("cat " + log_).output;
    auto svc = admin->get(apiServices(), {"", "v1.subresources.kubevirt.io"});
    ASSERT_TRUE(svc.ok());
    backendPort_ = (*svc)["spec"]["service"].value("port", 0);
  }
  static void TearDownTestSuite() {
    if (!sim_)
      return;
    sim_->signal(SIGTERM);
    EXPECT_EQ(sim_->wait(20), 0) << "umbra-sim shuts down cleanly on SIGTERM";
    delete sim_;
    sim_ = nullptr;
    // It took its APIServices with it: an unavailable group would stall discovery and the
    // namespace controller.
    auto admin = ControlPlane::instance().adminClient();
    for (const char* name : {"v1.subresources.kubevirt.io", "v1alpha3.subresources.kubevirt.io"}) {
      auto s = admin->get(apiServices(), {"", name});
      EXPECT_TRUE(!s.ok() && s.error().is(ErrorKind::NotFound)) << name << " is left behind";
    }
  }
  void SetUp() override { admin_ = ControlPlane::instance().adminClient(); }

  Json vm(const std::string& name, const std::string& runStrategy) {
    return {
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", "VirtualMachine"},
        {"metadata", {{"name", name}, {"namespace", ns_.name()}}},
        {"spec",
         {{"runStrategy", runStrategy},
          {"template",
           {{"spec",
             {{"domain",
               {{"cpu", {{"cores", 1}}},
                {"memory", {{"guest", "1Gi"}}},
                {"resources", {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}}}},
                {"devices",
                 {{"disks", Json::array({{{"name", "root"}, {"disk", {{"bus", "virtio"}}}}})}}}}},
              {"volumes",
               Json::array(
                   {{{"name", "root"},
                     {"containerDisk", {{"image", "quay.io/containerdisks/fedora:40"}}}}})}}}}}}}};
  }
  Json get(const kube::ResourceType& t, const std::string& name) {
    auto r = admin_->get(t, {ns_.name(), name});
    return r.ok() ? *r : Json();
  }
  bool hasCondition(const Json& obj, const std::string& type) {
    if (obj.is_null())
      return false;
    for (const auto& c : obj.value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == type && c.value("status", "") == "True")
        return true;
    return false;
  }
  std::string phase(const std::string& vmi) {
    const Json o = get(api::virtualMachineInstances(), vmi);
    return o.is_null() ? "<gone>" : o.value("status", Json::object()).value("phase", "");
  }
  std::string printable(const std::string& vm) {
    return get(api::virtualMachines(), vm)
        .value("status", Json::object())
        .value("printableStatus", "");
  }
  // kubectl as the user without RBAC bindings; "" on success, else its error output.
  std::string asUser(const std::string& path) {
    const std::string body = ControlPlane::instance().dir() + "/empty.json";
    std::ofstream(body) << "{}";
    const auto r = runCommand(ControlPlane::instance().kubectl() +
                              " --kubeconfig=" + ControlPlane::instance().userKubeconfig() +
                              " replace --raw " + path + " -f " + body);
    return r.exitCode == 0 ? "" : r.output;
  }
  // curl straight to the backend, bypassing the API server: `cert` "" (none), "front-proxy-client"
  // or "admin" (signed by the cluster CA, not the front proxy's).
  std::string direct(const std::string& path, const std::string& cert,
                     const std::string& headers = "") {
    const std::string pki = ControlPlane::instance().dir() + "/pki/";
    std::string cmd = "curl -sS -k -X PUT -d '{}' ";
    if (!cert.empty())
      cmd += "--cert " + pki + cert + ".crt --key " + pki + cert + ".key ";
    cmd += headers + " https://127.0.0.1:" + std::to_string(backendPort_) + path + " 2>&1";
    return runCommand(cmd).output;
  }

  static inline ChildProcess* sim_ = nullptr;
  static inline std::string log_;
  static inline int backendPort_ = 0;
  TestNamespace ns_;
  std::unique_ptr<kube::KubeClient> admin_;
};

TEST_F(VirtApiTest, DiscoveryThroughTheApiServerListsTheSubresources) {
  const auto r = runCommand(ControlPlane::instance().kubectl() +
                            " get --raw /apis/subresources.kubevirt.io/v1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const Json doc = Json::parse(r.output, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.output;
  std::vector<std::string> names;
  for (const auto& res : doc["resources"])
    names.push_back(res.value("name", ""));
  for (const char* want :
       {"virtualmachines/start", "virtualmachines/stop", "virtualmachines/migrate",
        "virtualmachineinstances/pause", "virtualmachineinstances/unpause"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST_F(VirtApiTest, APausedStartHoldsTheVmAndUnpauseActivatesItBeforeTheReply) {
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm("standby", "Halted")).ok());
  // Halted + start {paused: true}: a state change request, then virt-controller sets the VM
  // running and starts its VMI paused.
  auto started = admin_->send(api::startVm(ns_.name(), "standby", true));
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE(eventually([&] { return printable("standby") == "Paused"; }))
      << get(api::virtualMachines(), "standby").dump();
  const Json vmi = get(api::virtualMachineInstances(), "standby");
  EXPECT_EQ(vmi["spec"].value("startStrategy", ""), "Paused");
  EXPECT_EQ(phase("standby"), "Running");
  EXPECT_TRUE(hasCondition(vmi, "Paused"));
  const Json vmNow = get(api::virtualMachines(), "standby");
  EXPECT_EQ(vmNow["spec"].value("runStrategy", ""), "Always");
  EXPECT_TRUE(eventually([&] {
    return !get(api::virtualMachines(), "standby")["status"].contains("stateChangeRequests");
  })) << "the start request is done once its VMI exists";

  // A second start: the VM runs already.
  auto again = admin_->send(api::startVm(ns_.name(), "standby", true));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(ErrorKind::Conflict));
  EXPECT_NE(again.error().message.find("VM is already running"), std::string::npos)
      << again.error().message;

  // Unpause and pause are synchronous in KubeVirt (virt-api -> virt-handler -> libvirt): the VMI
  // has changed when the call returns. Twenty round trips through the API server, timed.
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto un = admin_->send(api::unpauseVmi(ns_.name(), "standby"));
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(un.ok()) << un.error().message;
    ASSERT_FALSE(hasCondition(get(api::virtualMachineInstances(), "standby"), "Paused"));
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    auto p = admin_->send(api::pauseVmi(ns_.name(), "standby"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_TRUE(hasCondition(get(api::virtualMachineInstances(), "standby"), "Paused"));
  }
  std::sort(ms.begin(), ms.end());
  std::cout << "[ figure ] unpause through kube-apiserver -> umbra-sim virt-api: p50 " << ms[10]
            << " ms, max " << ms.back() << " ms (20 calls)\n";

  auto twice = admin_->send(api::pauseVmi(ns_.name(), "standby"));
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(twice.error().is(ErrorKind::Conflict));
  EXPECT_NE(twice.error().message.find("VMI is already paused"), std::string::npos);
  ASSERT_TRUE(admin_->send(api::unpauseVmi(ns_.name(), "standby")).ok());
  auto notPaused = admin_->send(api::unpauseVmi(ns_.name(), "standby"));
  ASSERT_FALSE(notPaused.ok());
  EXPECT_NE(notPaused.error().message.find("VMI is not paused"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return printable("standby") == "Running"; }));
}

TEST_F(VirtApiTest, StopStartMigrateAndRestartAsVirtApiDoes) {
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm("web", "Always")).ok());
  ASSERT_TRUE(eventually([&] { return phase("web") == "Running"; }));

  // Migrate with an added node selector: virt-api creates the migration, umbra-sim carries it out.
  auto migrated =
      admin_->send(api::migrateVm(ns_.name(), "web", {{"kubernetes.io/hostname", "sim-busy"}}));
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  auto list = admin_->list(api::migrations(), ns_.name(), {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["items"].size(), 1u);
  const Json vmim = (*list)["items"][0];
  EXPECT_EQ(vmim["metadata"].value("generateName", ""), "kubevirt-migrate-vm-");
  EXPECT_EQ(vmim["spec"]["addedNodeSelector"]["kubernetes.io/hostname"], "sim-busy");
  EXPECT_TRUE(eventually([&] {
    return get(api::virtualMachineInstances(), "web")["status"].value("nodeName", "") == "sim-busy";
  }));

  // Stop: Always -> Halted, the VMI goes.
  ASSERT_TRUE(admin_->send(api::stopVm(ns_.name(), "web")).ok());
  EXPECT_EQ(get(api::virtualMachines(), "web")["spec"].value("runStrategy", ""), "Halted");
  EXPECT_TRUE(eventually([&] { return phase("web") == "<gone>"; }));
  auto stopAgain = admin_->send(api::stopVm(ns_.name(), "web"));
  ASSERT_FALSE(stopAgain.ok());
  EXPECT_NE(stopAgain.error().message.find("VM is not running"), std::string::npos)
      << stopAgain.error().message;
  auto migrateStopped = admin_->send(api::migrateVm(ns_.name(), "web"));
  ASSERT_FALSE(migrateStopped.ok());
  EXPECT_TRUE(migrateStopped.error().is(ErrorKind::Conflict));

  // Manual: start and restart go through state change requests.
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm("manual", "Manual")).ok());
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(phase("manual"), "<gone>") << "Manual starts nothing by itself";
  ASSERT_TRUE(admin_->send(api::startVm(ns_.name(), "manual")).ok());
  ASSERT_TRUE(eventually([&] { return phase("manual") == "Running"; }));
  const std::string uid =
      get(api::virtualMachineInstances(), "manual")["metadata"].value("uid", "");
  kube::HttpRequest restart = api::startVm(ns_.name(), "manual");
  restart.path.replace(restart.path.rfind("/start"), 6, "/restart");
  ASSERT_TRUE(admin_->send(restart).ok());
  EXPECT_TRUE(eventually([&] {
    const Json now = get(api::virtualMachineInstances(), "manual");
    return !now.is_null() && now["metadata"].value("uid", "") != uid &&
           now.value("status", Json::object()).value("phase", "") == "Running";
  })) << "a new VMI replaces the old one";
  ASSERT_TRUE(admin_->send(api::stopVm(ns_.name(), "manual")).ok());
  EXPECT_TRUE(eventually([&] { return phase("manual") == "<gone>"; }));
  EXPECT_EQ(get(api::virtualMachines(), "manual")["spec"].value("runStrategy", ""), "Manual");
}

TEST_F(VirtApiTest, TheApiServerAndTheBackendBothAuthorizeTheCaller) {
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm("guarded", "Always")).ok());
  ASSERT_TRUE(eventually([&] { return phase("guarded") == "Running"; }));
  const std::string pause = "/apis/subresources.kubevirt.io/v1/namespaces/" + ns_.name() +
                            "/virtualmachineinstances/guarded/pause";
  // kube-apiserver refuses a user without `update` on virtualmachineinstances/pause.
  const std::string refused = asUser(pause);
  EXPECT_NE(refused.find("Forbidden"), std::string::npos) << refused;
  EXPECT_NE(refused.find("virtualmachineinstances/pause"), std::string::npos) << refused;
  EXPECT_FALSE(hasCondition(get(api::virtualMachineInstances(), "guarded"), "Paused"));
  // Granted exactly that, the same call pauses the VMI.
  // (`kubectl create role` refuses a resource discovery lists only as subresources.)
  const std::string rbac = ControlPlane::instance().dir() + "/pauser.yaml";
  std::ofstream(rbac)
      << "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
         "metadata: {name: pauser, namespace: "
      << ns_.name()
      << "}\n"
         "rules: [{apiGroups: [subresources.kubevirt.io], verbs: [update],\n"
         "         resources: [virtualmachineinstances/pause]}]\n---\n"
         "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
         "metadata: {name: pauser, namespace: "
      << ns_.name()
      << "}\n"
         "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pauser}\n"
         "subjects: [{kind: User, name: umbra-user}]\n";
  const auto grant = runCommand(ControlPlane::instance().kubectl() + " apply -f " + rbac);
  ASSERT_EQ(grant.exitCode, 0) << grant.output;
  EXPECT_TRUE(eventually([&] { return asUser(pause).empty(); }, 10s));
  EXPECT_TRUE(hasCondition(get(api::virtualMachineInstances(), "guarded"), "Paused"));

  // The backend itself, reached without the API server: no client certificate -> 401; the front
  // proxy's certificate vouching for a user without rights -> 403 from its SubjectAccessReview;
  // a certificate from another CA never completes the TLS handshake.
  EXPECT_NE(direct(pause, "").find("request is not authenticated"), std::string::npos);
  const std::string mallory = direct(pause, "front-proxy-client", "-H 'X-Remote-User: mallory'");
  EXPECT_NE(mallory.find("\"code\":403"), std::string::npos) << mallory;
  EXPECT_NE(mallory.find("User \\\"mallory\\\" cannot update"), std::string::npos) << mallory;
  const std::string vouched = direct(pause, "front-proxy-client", "-H 'X-Remote-User: umbra-user'");
  EXPECT_NE(vouched.find("VMI is already paused"), std::string::npos) << vouched;
  const std::string otherCa = direct(pause, "admin", "-H 'X-Remote-User: umbra-user'");
  EXPECT_EQ(otherCa.find("\"code\""), std::string::npos) << otherCa;
  // Discovery needs no authentication, as virt-api's.
  const auto discovery =
      runCommand("curl -sS -k https://127.0.0.1:" + std::to_string(backendPort_) +
                 "/apis/subresources.kubevirt.io/v1");
  EXPECT_NE(discovery.output.find("virtualmachineinstances/pause"), std::string::npos);
}

TEST_F(VirtApiTest, ErrorsAreKubernetesStatusesNamingTheObject) {
  auto missing = admin_->send(api::pauseVmi(ns_.name(), "nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().is(ErrorKind::NotFound));
  EXPECT_NE(missing.error().message.find("virtualmachineinstance.kubevirt.io \"nope\" not found"),
            std::string::npos)
      << missing.error().message;
  auto noVm = admin_->send(api::startVm(ns_.name(), "ghost"));
  ASSERT_FALSE(noVm.ok());
  EXPECT_NE(noVm.error().message.find("virtualmachine.kubevirt.io \"ghost\" not found"),
            std::string::npos);
  ASSERT_TRUE(admin_->create(api::virtualMachines(), ns_.name(), vm("body", "Halted")).ok());
  kube::HttpRequest bad = api::startVm(ns_.name(), "body");
  bad.body = "[1, 2";
  auto badBody = admin_->send(bad);
  ASSERT_FALSE(badBody.ok());
  EXPECT_TRUE(badBody.error().is(ErrorKind::BadRequest)) << badBody.error().describe();
  EXPECT_EQ(phase("body"), "<gone>");
}

}  // namespace
}  // namespace umbra::testing
