#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/client.h"
#include "kube/rest_client.h"

namespace umbra::testing {

// Output and exit status of a shell command.
struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout and stderr together
};
CommandResult runCommand(const std::string& command);

// One real control plane (etcd + kube-apiserver + kube-controller-manager) per test binary, started
// by scripts/local-cluster.sh on loopback, as envtest does per suite.
// Guarantees: started before the first test (a gtest Environment), stopped after the last; if the
// binary dies, the script's watchdog (--owner-pid) tears it down, so no process or directory is
// left behind either way.
class ControlPlane {
 public:
  static ControlPlane& instance();

  Status start();
  void stop();
  bool running() const { return running_; }

  const std::string& dir() const { return dir_; }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  std::string userKubeconfig() const { return dir_ + "/user.kubeconfig"; }
  std::string apiServer() const { return env("API_SERVER"); }
  std::string etcdEndpoint() const { return env("ETCD_ENDPOINT"); }
  std::string kubectl() const { return env("KUBECTL") + " --kubeconfig=" + kubeconfig(); }
  std::string etcdctl() const { return env("ETCD_BIN") + "/etcdctl --endpoints=" + etcdEndpoint(); }
  std::string token(const std::string& who) const;  // "admin" or "user" (no RBAC bindings)

  // A new admin client (client certificate in system:masters).
  std::unique_ptr<kube::KubeClient> adminClient() const;

  // Creates CRDs from manifest files and waits until each is Established and served by discovery.
  Status installCrds(const std::vector<std::string>& manifests);

  // Source tree root (for scripts/ and the shared/ folder beside it).
  static std::string sourceDir();
  // Other projects' files the tests need, in the repository (third_party/README.md).
  static std::string thirdPartyDir();
  // Umbra's CRDs (crds/*.yaml) and KubeVirt's (third_party/kubevirt/crds), Established and
  // discoverable.
  Status installAllCrds();

 private:
  std::string env(const std::string& key) const;

  std::string dir_;
  bool running_ = false;
  std::vector<std::pair<std::string, std::string>> env_;
};

// A namespace for one test, deleted (with everything in it) when the test ends.
class TestNamespace {
 public:
  TestNamespace();
  ~TestNamespace();
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes; true if it held.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace umbra::testing
