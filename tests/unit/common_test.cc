#include <gtest/gtest.h>

#include "common/backoff.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/result.h"
#include "common/tls_trust.h"

namespace umbra {
namespace {

using namespace std::chrono_literals;

TEST(ExponentialBackoff, DoublesFromFiveMillisecondsAndCapsAtThousandSeconds) {
  const ExponentialBackoff b;
  EXPECT_EQ(b.delay(0), 5ms);
  EXPECT_EQ(b.delay(1), 10ms);
  EXPECT_EQ(b.delay(10), 5120ms);
  EXPECT_EQ(b.delay(17), std::chrono::nanoseconds(655360ms));
  EXPECT_EQ(b.delay(18), std::chrono::nanoseconds(1000s));    // 1310.72 s capped
  EXPECT_EQ(b.delay(1000), std::chrono::nanoseconds(1000s));  // no overflow
}

TEST(JitteredBackoff, StaysWithinJitterBoundsAndCap) {
  JitteredBackoff b(800ms, 30s, 42);
  auto expected = 800ms;
  for (int i = 0; i < 10; ++i) {
    const auto d = b.next();
    EXPECT_GE(d, std::min<std::chrono::milliseconds>(expected / 2, 30s)) << i;
    EXPECT_LE(d, 30s) << i;
    expected = std::min<std::chrono::milliseconds>(expected * 2, 30s);
  }
  b.reset();
  EXPECT_LE(b.next(), 1200ms);
}

TEST(TokenBucket, AllowsBurstThenPacesAtQps) {
  TokenBucket bucket(10, 3);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_EQ(bucket.reserve(t0), 0ns);
  EXPECT_EQ(bucket.reserve(t0), 0ns);
  EXPECT_EQ(bucket.reserve(t0), 0ns);
  EXPECT_EQ(bucket.reserve(t0), 100ms);  // 4th token arrives 1/10 s later
  EXPECT_EQ(bucket.reserve(t0), 200ms);
  // After a second of idleness the bucket refills (capped at burst).
  EXPECT_EQ(bucket.reserve(t0 + 1300ms), 0ns);
}

TEST(Base64, RoundTripsAndRejectsGarbage) {
  for (const std::string s : {"", "a", "ab", "abc", "abcd", "hello world\n"}) {
    EXPECT_EQ(base64Decode(base64Encode(s)).value(), s);
  }
  EXPECT_EQ(base64Encode("abc"), "YWJj");
  EXPECT_EQ(base64Decode("YW\nJj").value(), "abc");
  EXPECT_FALSE(base64Decode("Y*Jj").has_value());
  EXPECT_FALSE(base64Decode("YQ==YQ").has_value());
}

TEST(Result, CarriesValueOrError) {
  Result<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  Result<int> bad = Error::make(ErrorKind::NotFound, "x: 404");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().is(ErrorKind::NotFound));
  EXPECT_EQ(bad.valueOr(7), 7);
  EXPECT_EQ(bad.error().describe(), "NotFound: x: 404");
}

Result<int> doubled(Result<int> in) {
  UMBRA_TRY(const int v, std::move(in));
  return v * 2;
}

TEST(Result, TryPropagatesErrors) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_TRUE(doubled(Error::config("f: bad")).error().is(ErrorKind::Config));
}

TEST(Log, FormatsTextAndJsonOnOneLine) {
  const std::string text = log::formatLine(log::Format::Text, log::Level::Info, "reconciled",
                                           {{"placement", "ns/a"}, {"note", "two words"}});
  EXPECT_NE(text.find(" INFO reconciled placement=ns/a note=\"two words\"\n"), std::string::npos);
  const std::string json =
      log::formatLine(log::Format::Json, log::Level::Warn, "a \"q\"\nb", {{"k", "v"}});
  EXPECT_NE(json.find(R"("level":"warn","msg":"a \"q\"\nb","k":"v"})"), std::string::npos);
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);
  log::Level l;
  EXPECT_TRUE(log::parseLevel("debug", l));
  EXPECT_FALSE(log::parseLevel("loud", l));
}

TEST(TlsTrust, PerConnectionBundleIsSkippedAndChildrenGetTheOriginalEnvironment) {
  const char* given = std::getenv("SSL_CERT_FILE");
  const std::string original = given ? given : "";
  const bool wasSet = given != nullptr;
  tls::skipPerConnectionBundle();
  tls::skipPerConnectionBundle();  // idempotent
  ASSERT_NE(std::getenv("SSL_CERT_FILE"), nullptr);
  EXPECT_STREQ(std::getenv("SSL_CERT_FILE"), "/dev/null");
  int seen = 0;
  for (const auto& e : tls::originalEnvironment()) {
    if (e.rfind("SSL_CERT_FILE=", 0) == 0) {
      ++seen;
      EXPECT_EQ(e, "SSL_CERT_FILE=" + original);
    }
  }
  EXPECT_EQ(seen, wasSet ? 1 : 0);
}

TEST(TlsTrust, BadMaterialIsRefusedNamingIt) {
  tls::Material m;
  m.caPem = "not a certificate";
  try {
    tls::apply(nullptr, m);
    ADD_FAILURE() << "accepted a CA that is not PEM";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("certificate-authority"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace umbra
