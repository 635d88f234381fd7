#include <fstream>

#include "common/files.h"
#include "integration/common.h"
#include "kube/config.h"

namespace umbra::testing {
namespace {

kube::ClusterConfig adminConfig() {
  auto cfg = kube::loadKubeconfig(ControlPlane::instance().kubeconfig());
  EXPECT_TRUE(cfg.ok());
  return *cfg;
}

void expectOneLine(const Error& e) {
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
  EXPECT_FALSE(e.message.empty());
}

TEST(BadInput, UnreachableServerNamesTheUrl) {
  kube::ClusterConfig cfg = adminConfig();
  cfg.server = "https://127.0.0.1:1";
  cfg.requestTimeout = std::chrono::seconds(5);
  auto client = kube::RestClient::fromConfig(cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get(kube::resources::configMaps(), {"default", "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Network)) << r.error().describe();
  EXPECT_NE(r.error().message.find("https://127.0.0.1:1/api/v1/namespaces/default/configmaps/x"),
            std::string::npos)
      << r.error().message;
  expectOneLine(r.error());
}

TEST(BadInput, WrongCaFailsTheHandshakeAndNamesTheCaSource) {
  // A CA that did not sign the server's certificate.
  char dir[] = "/tmp/umbra-badca.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string ca = std::string(dir) + "/other-ca.crt";
  ASSERT_EQ(runCommand("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + std::string(dir) +
                       "/k -out " + ca + " -days 1 -subj /CN=other")
                .exitCode,
            0);
  kube::ClusterConfig cfg = adminConfig();
  cfg.caPem = *readFile(ca);
  cfg.caSource =
      "test kubeconfig: clusters[umbra-local].cluster.certificate-authority (" + ca + ")";
  auto client = kube::RestClient::fromConfig(cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get(kube::resources::configMaps(), {"default", "x"});
  runCommand("rm -rf " + std::string(dir));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Network)) << r.error().describe();
  EXPECT_NE(r.error().message.find("TLS handshake failed"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(ca), std::string::npos) << r.error().message;
  expectOneLine(r.error());
}

TEST(BadInput, BadTokenIsUnauthorized) {
  kube::ClusterConfig cfg = adminConfig();
  cfg.clientCertPem.clear();
  cfg.clientKeyPem.clear();
  cfg.token = "not-a-real-token";
  auto client = kube::RestClient::fromConfig(cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->list(kube::resources::configMaps(), "default", {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(ErrorKind::Unauthorized)) << r.error().describe();
  EXPECT_NE(r.error().message.find(cfg.server), std::string::npos) << r.error().message;
  expectOneLine(r.error());
}

TEST(BadInput, TokenFileIsReadAndUsed) {
  char dir[] = "/tmp/umbra-token.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string tokenFile = std::string(dir) + "/token";
  std::ofstream(tokenFile) << ControlPlane::instance().token("admin") << "\n";
  kube::ClusterConfig cfg = adminConfig();
  cfg.clientCertPem.clear();
  cfg.clientKeyPem.clear();
  cfg.tokenFile = tokenFile;
  auto client = kube::RestClient::fromConfig(cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->list(kube::resources::configMaps(), "default", {});
  runCommand("rm -rf " + std::string(dir));
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST(BadInput, InvalidPemIsAConfigErrorNamingTheField) {
  kube::ClusterConfig cfg = adminConfig();
  cfg.caPem = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  cfg.caSource = "kc: clusters[x].cluster.certificate-authority-data";
  auto client = kube::RestClient::fromConfig(cfg);
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(client.error().is(ErrorKind::Config));
  EXPECT_NE(client.error().message.find("certificate-authority-data"), std::string::npos)
      << client.error().message;
  expectOneLine(client.error());
}

TEST(BadInput, MalformedKubeconfigNamesTheFile) {
  char dir[] = "/tmp/umbra-kc.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/config";
  std::ofstream(path) << "apiVersion: v1\nclusters: [ {name: a\n";
  auto cfg = kube::loadKubeconfig(path);
  runCommand("rm -rf " + std::string(dir));
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find(path), std::string::npos) << cfg.error().message;
  expectOneLine(cfg.error());
}

}  // namespace
}  // namespace umbra::testing
