#include "kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "common/files.h"

namespace umbra::kube {
namespace {

namespace fs = std::filesystem;

// Finds the entry named `name` in a kubeconfig list (clusters/users/contexts).
Result<YAML::Node> findNamed(const YAML::Node& root, const std::string& list,
                             const std::string& name, const std::string& origin) {
  const YAML::Node items = root[list];
  if (!items || !items.IsSequence()) {
    return Error::config(origin + ": " + list + ": missing or not a list");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i]["name"] && items[i]["name"].as<std::string>() == name) {
      return YAML::Node(items[i]);
    }
  }
  return Error::config(origin + ": " + list + ": no entry named \"" + name + "\"");
}

std::string resolve(const std::string& baseDir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || baseDir.empty()) {
    return path;
  }
  return (fs::path(baseDir) / path).string();
}

// Loads `<key>-data` (base64) or `<key>` (a file path) from `node`; "" when neither is set.
Result<std::string> pemField(const YAML::Node& node, const std::string& key,
                             const std::string& where, const std::string& baseDir,
                             std::string& source) {
  if (node[key + "-data"]) {
    auto decoded = base64Decode(node[key + "-data"].as<std::string>());
    if (!decoded) {
      return Error::config(where + "." + key + "-data: not valid base64");
    }
    source = where + "." + key + "-data";
    return *decoded;
  }
  if (node[key]) {
    const std::string path = resolve(baseDir, node[key].as<std::string>());
    auto text = readFile(path);
    if (!text.ok()) {
      return Error::config(where + "." + key + ": " + text.error().message);
    }
    source = where + "." + key + " (" + path + ")";
    return std::move(text).value();
  }
  return std::string();
}

Result<ClusterConfig> parseKubeconfigNode(const YAML::Node& root, const std::string& origin,
                                          const std::string& baseDir, std::string context) {
  if (!root.IsMap()) {
    return Error::config(origin + ": not a kubeconfig (expected a YAML mapping)");
  }
  if (context.empty()) {
    if (!root["current-context"] || root["current-context"].as<std::string>().empty()) {
      return Error::config(origin + ": current-context: not set and no --context given");
    }
    context = root["current-context"].as<std::string>();
  }
  UMBRA_TRY(const YAML::Node ctxEntry, findNamed(root, "contexts", context, origin));
  const YAML::Node ctx = ctxEntry["context"];
  if (!ctx || !ctx["cluster"]) {
    return Error::config(origin + ": contexts[" + context + "].context.cluster: missing");
  }
  ClusterConfig cfg;
  cfg.source = "kubeconfig " + origin + " (context " + context + ")";
  if (ctx["namespace"]) {
    cfg.ns = ctx["namespace"].as<std::string>();
  }
  const std::string clusterName = ctx["cluster"].as<std::string>();
  UMBRA_TRY(const YAML::Node clusterEntry, findNamed(root, "clusters", clusterName, origin));
  const YAML::Node cluster = clusterEntry["cluster"];
  const std::string cwhere = origin + ": clusters[" + clusterName + "].cluster";
  if (!cluster || !cluster["server"] || cluster["server"].as<std::string>().empty()) {
    return Error::config(cwhere + ".server: missing");
  }
  cfg.server = cluster["server"].as<std::string>();
  while (!cfg.server.empty() && cfg.server.back() == '/') {
    cfg.server.pop_back();
  }
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return Error::config(cwhere + ".server: \"" + cfg.server + "\" is not an http(s) URL");
  }
  if (cluster["insecure-skip-tls-verify"]) {
    cfg.insecureSkipTlsVerify = cluster["insecure-skip-tls-verify"].as<bool>();
  }
  UMBRA_TRY(cfg.caPem, pemField(cluster, "certificate-authority", cwhere, baseDir, cfg.caSource));

  if (ctx["user"]) {
    const std::string userName = ctx["user"].as<std::string>();
    UMBRA_TRY(const YAML::Node userEntry, findNamed(root, "users", userName, origin));
    const YAML::Node user = userEntry["user"] ? userEntry["user"] : YAML::Node(YAML::NodeType::Map);
    const std::string uwhere = origin + ": users[" + userName + "].user";
    std::string keySource;
    UMBRA_TRY(cfg.clientCertPem,
              pemField(user, "client-certificate", uwhere, baseDir, cfg.clientCertSource));
    UMBRA_TRY(cfg.clientKeyPem, pemField(user, "client-key", uwhere, baseDir, keySource));
    if (cfg.clientCertPem.empty() != cfg.clientKeyPem.empty()) {
      return Error::config(uwhere + ": client-certificate and client-key must be given together");
    }
    if (user["token"]) {
      cfg.token = user["token"].as<std::string>();
    }
    if (user["tokenFile"]) {
      cfg.tokenFile = resolve(baseDir, user["tokenFile"].as<std::string>());
      auto probe = readFile(cfg.tokenFile);
      if (!probe.ok()) {
        return Error::config(uwhere + ".tokenFile: " + probe.error().message);
      }
    }
    if (user["exec"] || user["auth-provider"]) {
      return Error::config(uwhere +
                           ": exec and auth-provider plugins are not supported; "
                           "use a token, tokenFile or client certificate");
    }
  }
  return cfg;
}

}  // namespace

Result<ClusterConfig> parseKubeconfig(const std::string& yaml, const std::string& origin,
                                      const std::string& baseDir, const std::string& context) {
  try {
    return parseKubeconfigNode(YAML::Load(yaml), origin, baseDir, context);
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based.
    return Error::config(origin + ":" + std::to_string(e.mark.line + 1) +
                         ": invalid YAML: " + e.msg);
  }
}

Result<ClusterConfig> loadKubeconfig(const std::string& path, const std::string& context) {
  UMBRA_TRY(const std::string text, readFile(path));
  const std::string baseDir = fs::path(path).parent_path().string();
  return parseKubeconfig(text, path, baseDir, context);
}

Result<ClusterConfig> loadInCluster(const std::string& saDir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0') {
    return Error::config("in-cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT not set");
  }
  ClusterConfig cfg;
  std::string h = host;
  if (h.find(':') != std::string::npos) {
    h = "[" + h + "]";  // IPv6
  }
  cfg.server = "https://" + h + ":" + port;
  cfg.source = "in-cluster";
  cfg.tokenFile = saDir + "/token";
  auto probe = readFile(cfg.tokenFile);
  if (!probe.ok()) {
    return Error::config("in-cluster: " + probe.error().message);
  }
  UMBRA_TRY(cfg.caPem, readFile(saDir + "/ca.crt"));
  cfg.caSource = saDir + "/ca.crt";
  auto ns = readFile(saDir + "/namespace");
  if (ns.ok()) {
    cfg.ns = *ns;
    while (!cfg.ns.empty() && (cfg.ns.back() == '\n' || cfg.ns.back() == ' ')) {
      cfg.ns.pop_back();
    }
  }
  return cfg;
}

Result<ClusterConfig> loadDefault(const std::string& kubeconfigPath, const std::string& context) {
  if (!kubeconfigPath.empty()) {
    return loadKubeconfig(kubeconfigPath, context);
  }
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string first = env;
    first = first.substr(0, first.find(':'));  // merging several files is not supported
    return loadKubeconfig(first, context);
  }
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    return loadInCluster();
  }
  const char* home = std::getenv("HOME");
  return loadKubeconfig(std::string(home != nullptr ? home : "") + "/.kube/config", context);
}

}  // namespace umbra::kube
