#include "harness/control_plane.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "kube/config.h"

namespace umbra::testing {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

std::string randomSuffix() {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 6; ++i) {
    s += alphabet[rng() % 36];
  }
  return s;
}

class ControlPlaneEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const Status st = ControlPlane::instance().start();
    if (!st.ok()) {
      // Every integration test needs it: fail loudly rather than skip.
      std::fprintf(stderr, "control plane: %s\n", st.error().message.c_str());
      std::abort();
    }
  }
  void TearDown() override { ControlPlane::instance().stop(); }
};

[[maybe_unused]] ::testing::Environment* const g_environment =
    ::testing::AddGlobalTestEnvironment(new ControlPlaneEnvironment);

}  // namespace

CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed";
    return result;
  }
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    result.output.append(buf.data(), n);
  }
  const int status = ::pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ControlPlane::sourceDir() {
  return UMBRA_SOURCE_DIR;
}

std::string ControlPlane::thirdPartyDir() {
  return sourceDir() + "/third_party";
}

Status ControlPlane::installAllCrds() {
  std::vector<std::string> manifests;
  for (const std::string& base : {sourceDir() + "/crds", thirdPartyDir() + "/kubevirt/crds"}) {
    if (!std::filesystem::is_directory(base)) {
      return Error::config(base + ": CRD directory not found");
    }
    for (const auto& entry : std::filesystem::directory_iterator(base)) {
      if (entry.path().extension() == ".yaml") {
        manifests.push_back(entry.path().string());
      }
    }
  }
  return installCrds(manifests);
}

ControlPlane& ControlPlane::instance() {
  static ControlPlane cp;
  return cp;
}

Status ControlPlane::start() {
  if (running_) {
    return okStatus();
  }
  char tmpl[] = "/tmp/umbra-test-cp.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return Error::make(ErrorKind::Internal, "mkdtemp failed");
  }
  dir_ = tmpl;
  const auto r = runCommand(sourceDir() + "/scripts/local-cluster.sh up --dir " + dir_ +
                            " --owner-pid " + std::to_string(::getpid()));
  if (r.exitCode != 0) {
    std::filesystem::remove_all(dir_);
    return Error::make(ErrorKind::Network, "scripts/local-cluster.sh up failed: " + r.output);
  }
  std::ifstream in(dir_ + "/cluster.env");
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) {
      env_.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    }
  }
  running_ = true;
  auto client = adminClient();
  auto version = client->send(kube::HttpRequest{"GET", "/version", {}, "", "", false});
  if (!version.ok()) {
    return version.error();
  }
  std::fprintf(stderr, "[harness] kube-apiserver %s at %s (state in %s)\n",
               version->value("gitVersion", "?").c_str(), apiServer().c_str(), dir_.c_str());
  return okStatus();
}

void ControlPlane::stop() {
  if (!running_) {
    return;
  }
  runCommand(sourceDir() + "/scripts/local-cluster.sh down --dir " + dir_);
  running_ = false;
}

std::string ControlPlane::env(const std::string& key) const {
  for (const auto& [k, v] : env_) {
    if (k == key) {
      return v;
    }
  }
  return "";
}

std::string ControlPlane::token(const std::string& who) const {
  std::ifstream in(dir_ + "/tokens/" + who);
  std::string t;
  std::getline(in, t);
  return trim(t);
}

std::unique_ptr<kube::KubeClient> ControlPlane::adminClient() const {
  auto cfg = kube::loadKubeconfig(kubeconfig());
  if (!cfg.ok()) {
    ADD_FAILURE() << cfg.error().message;
    return nullptr;
  }
  auto client = kube::RestClient::fromConfig(*cfg);
  if (!client.ok()) {
    ADD_FAILURE() << client.error().message;
    return nullptr;
  }
  return std::move(client).value();
}

Status ControlPlane::installCrds(const std::vector<std::string>& manifests) {
  auto client = adminClient();
  for (const auto& path : manifests) {
    const auto r = runCommand(kubectl() + " create -o name -f " + path);
    if (r.exitCode != 0 && r.output.find("AlreadyExists") == std::string::npos &&
        r.output.find("already exists") == std::string::npos) {
      return Error::make(ErrorKind::Invalid, "kubectl create -f " + path + ": " + r.output);
    }
  }
  // Wait for every CRD: Established=True, then its plural in discovery (discovery can lag).
  auto crds = kube::listAll(*client, kube::resources::customResourceDefinitions(), "", {});
  if (!crds.ok()) {
    return crds.error();
  }
  for (const auto& crd : (*crds)["items"]) {
    const std::string name = crd["metadata"]["name"];
    const std::string group = crd["spec"]["group"];
    const std::string plural = crd["spec"]["names"]["plural"];
    std::string version;
    for (const auto& v : crd["spec"]["versions"]) {
      if (v.value("storage", false)) {
        version = v["name"];
      }
    }
    const bool established = eventually(
        [&] {
          auto c = client->get(kube::resources::customResourceDefinitions(), {"", name});
          if (!c.ok() || !(*c).contains("status")) {
            return false;
          }
          for (const auto& cond : (*c)["status"].value("conditions", kube::Json::array())) {
            if (cond.value("type", "") == "Established" && cond.value("status", "") == "True") {
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(60));
    if (!established) {
      return Error::make(ErrorKind::Timeout, "CRD " + name + " did not become Established");
    }
    std::string discoveryPath = "/apis/";
    discoveryPath.append(group).append("/").append(version);
    const bool discovered = eventually(
        [&] {
          auto d = client->send({"GET", discoveryPath, {}, "", "", false});
          if (!d.ok()) {
            return false;
          }
          for (const auto& r : (*d)["resources"]) {
            if (r.value("name", "") == plural) {
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(60));
    if (!discovered) {
      return Error::make(ErrorKind::Timeout, "CRD " + name + " never appeared in discovery");
    }
  }
  return okStatus();
}

TestNamespace::TestNamespace() {
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::string n = "t-";
  for (const char c : test) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 && n.size() < 40) {
      n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  name_ = n + "-" + randomSuffix();
  auto client = ControlPlane::instance().adminClient();
  auto r = client->create(
      kube::resources::namespaces(), "",
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name_}}}});
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message;
  }
}

TestNamespace::~TestNamespace() {
  auto client = ControlPlane::instance().adminClient();
  (void)client->remove(kube::resources::namespaces(), {"", name_}, {});
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace umbra::testing
