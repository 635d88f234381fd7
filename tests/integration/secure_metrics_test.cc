// The operator's /metrics over HTTPS, authenticated and authorized by the real API server
// (TokenReview, then SubjectAccessReview on the non-resource URL /metrics), scraped with curl
// and service-account tokens from the TokenRequest API; and the TLS server's certificate reload.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "exposition/delegated_auth.h"
#include "exposition/secure_metrics.h"
#include "exposition/serving_cert.h"
#include "integration/common.h"

namespace umbra::testing {
namespace {

using namespace std::chrono_literals;

struct Scrape {
  std::string code, body;
};

// curl's answer: the HTTP code ("000" when no HTTP answer came, e.g. plain HTTP to TLS) and body.
Scrape curl(const std::string& url, const std::string& token = "") {
  const std::string auth = token.empty() ? "" : " -H 'Authorization: Bearer " + token + "'";
  const auto r = runCommand("curl -sk --max-time 10 -w '\\n%{http_code}'" + auth + " '" + url +
                            "' 2>/dev/null");
  const auto nl = r.output.rfind('\n');
  if (nl == std::string::npos)
    return {r.output, ""};
  return {r.output.substr(nl + 1), r.output.substr(0, nl)};
}

class SecureMetricsTest : public ::testing::Test {
 protected:
  std::string kubectl() const { return ControlPlane::instance().kubectl(); }
  std::string run(const std::string& args) {
    const auto r = runCommand(kubectl() + " " + args + " 2>&1");
    EXPECT_EQ(r.exitCode, 0) << args << ": " << r.output;
    return r.output;
  }
  std::string token(const std::string& sa) {
    std::string t = run("-n " + ns_.name() + " create token " + sa);
    while (!t.empty() && (t.back() == '\n' || t.back() == ' '))
      t.pop_back();
    return t;
  }
  void SetUp() override {
    run("-n " + ns_.name() + " create serviceaccount scraper");
    run("-n " + ns_.name() + " create serviceaccount stranger");
    role_ = ns_.name() + "-metrics-reader";
    run("create clusterrole " + role_ + " --verb=get --non-resource-url=/metrics");
    run("create clusterrolebinding " + role_ + " --clusterrole=" + role_ +
        " --serviceaccount=" + ns_.name() + ":scraper");
  }
  void TearDown() override {
    runCommand(kubectl() + " delete clusterrolebinding,clusterrole " + role_ +
               " --ignore-not-found 2>&1");
  }
  TestNamespace ns_;
  std::string role_;
};

TEST_F(SecureMetricsTest, OnlyAScraperTheApiServerAuthorizesReadsMetrics) {
  auto client = ControlPlane::instance().adminClient();
  auto server = exposition::serveSecureMetrics({"127.0.0.1:0", ""}, *client,
                                               [] { return std::string("umbra_up 1\n"); });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string base = "https://127.0.0.1:" + std::to_string((*server)->port());

  const Scrape anonymous = curl(base + "/metrics");
  EXPECT_EQ(anonymous.code, "401") << anonymous.body;
  EXPECT_EQ(curl(base + "/metrics", "not-a-token").code, "401");
  const Scrape stranger = curl(base + "/metrics", token("stranger"));
  EXPECT_EQ(stranger.code, "403");
  EXPECT_NE(stranger.body.find("system:serviceaccount:" + ns_.name() +
                               ":stranger\" may not get path \"/metrics\""),
            std::string::npos)
      << stranger.body;
  const std::string scraper = token("scraper");
  const Scrape allowed = curl(base + "/metrics", scraper);
  EXPECT_EQ(allowed.code, "200") << allowed.body;
  EXPECT_EQ(allowed.body, "umbra_up 1\n");
  EXPECT_EQ(curl(base + "/debug/pprof", scraper).code, "404");
  // Plain HTTP gets no HTTP answer at all.
  EXPECT_EQ(curl("http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics").code, "000");
  // A bad address is one line naming the flag.
  auto bad = exposition::serveSecureMetrics({"localhost", ""}, *client, [] { return ""; });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "--metrics-bind-address localhost: expected host:port");
  auto noCert =
      exposition::serveSecureMetrics({"127.0.0.1:0", "/nonexistent"}, *client, [] { return ""; });
  ASSERT_FALSE(noCert.ok());
  EXPECT_NE(noCert.error().message.find("cannot read /nonexistent/tls.crt"), std::string::npos)
      << noCert.error().message;
}

// Answers are cached for the TTL, then asked again: a revoked binding stops a scraper.
TEST_F(SecureMetricsTest, ARevokedRightStopsTheScraperAfterTheCache) {
  auto client = ControlPlane::instance().adminClient();
  exposition::DelegatedAuth auth(*client, 1s);
  exposition::HttpRequest req;
  req.path = "/metrics";
  req.headers = {{"authorization", "Bearer " + token("scraper")}};
  ASSERT_EQ(auth.check(req).code, 200);
  run("delete clusterrolebinding " + role_);
  EXPECT_EQ(auth.check(req).code, 200) << "cached";
  EXPECT_TRUE(eventually([&] { return auth.check(req).code == 403; }, 10s));
  req.headers = {{"authorization", "Basic dXNlcjpwdw=="}};
  EXPECT_EQ(auth.check(req).code, 401);
}

// A rotated certificate (as cert-manager writes tls.crt and tls.key) is served to new
// connections without a restart; a half-written pair keeps the previous one.
TEST(TlsServerTest, ServesARotatedCertificateToNewConnections) {
  const std::string dir = ControlPlane::instance().dir() + "/rotated-cert";
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& cn) {
    auto c = exposition::generateServingCert("test CA", {cn}, {"127.0.0.1"}, 1);
    ASSERT_TRUE(c.ok());
    std::ofstream(dir + "/tls.crt.tmp") << c->certPem;
    std::ofstream(dir + "/tls.key.tmp") << c->keyPem;
    std::filesystem::rename(dir + "/tls.crt.tmp", dir + "/tls.crt");
    std::filesystem::rename(dir + "/tls.key.tmp", dir + "/tls.key");
  };
  write("first.example");
  exposition::TlsServerOptions o;
  o.address = "127.0.0.1:0";
  o.flag = "--test";
  o.certFile = dir + "/tls.crt";
  o.keyFile = dir + "/tls.key";
  o.reloadCheck = 100ms;
  auto server = exposition::TlsServer::start(o, [](const exposition::HttpRequest&) {
    return exposition::HttpReply{200, "ok"};
  });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const auto subject = [&] {
    return runCommand("openssl s_client -connect 127.0.0.1:" + std::to_string((*server)->port()) +
                      " </dev/null 2>/dev/null | openssl x509 -noout -subject 2>&1")
        .output;
  };
  EXPECT_NE(subject().find("first.example"), std::string::npos) << subject();
  std::this_thread::sleep_for(20ms);  // a later modification time
  write("second.example");
  EXPECT_TRUE(eventually([&] { return subject().find("second.example") != std::string::npos; }, 5s))
      << subject();
  std::ofstream(dir + "/tls.key", std::ios::trunc) << "half-written";
  std::this_thread::sleep_for(300ms);
  EXPECT_NE(subject().find("second.example"), std::string::npos) << "the previous pair serves on";
}

}  // namespace
}  // namespace umbra::testing
