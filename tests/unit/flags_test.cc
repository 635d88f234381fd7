// The operator's command line (operator/flags.cc, CLI11).
#include <gtest/gtest.h>

#include <vector>

#include "flags.h"

namespace umbra::op {
namespace {

Flags parse(std::vector<const char*> args, int& code) {
  args.insert(args.begin(), "umbra-operator");
  return parseFlags(static_cast<int>(args.size()), const_cast<char**>(args.data()), code);
}

TEST(OperatorFlags, LeaderElectAcceptsEveryBooleanSpelling) {
  for (const char* on : {"--leader-elect", "--leader-elect=true", "--leader-elect=1"}) {
    int code = -1;
    EXPECT_TRUE(parse({on}, code).leaderElect) << on;
    EXPECT_EQ(code, -1) << on;
  }
  for (const char* off : {"--leader-elect=false", "--leader-elect=0"}) {
    int code = -1;
    EXPECT_FALSE(parse({off}, code).leaderElect) << off;
    EXPECT_EQ(code, -1) << off;
  }
}

TEST(OperatorFlags, SecureMetricsAsTheChartPassesThem) {
  int code = -1;
  const Flags f = parse({"--metrics-bind-address=10.1.2.3:8443", "--metrics-secure",
                         "--metrics-cert-dir=/etc/umbra-metrics-tls"},
                        code);
  EXPECT_EQ(code, -1);
  EXPECT_TRUE(f.metricsSecure);
  EXPECT_EQ(f.metricsBindAddress, "10.1.2.3:8443");
  EXPECT_EQ(f.metricsCertDir, "/etc/umbra-metrics-tls");
  EXPECT_FALSE(parse({}, code).metricsSecure) << "plain HTTP unless asked (local runs, the demo)";
}

TEST(OperatorFlags, ABadFlagOrValueExitsWith2) {
  for (const char* bad : {"--bogus", "--leader-elect=maybe", "--workers=0", "--log-level=loud"}) {
    int code = -1;
    parse({bad}, code);
    EXPECT_EQ(code, 2) << bad;
  }
}

TEST(OperatorFlags, HelpAndVersionExitWith0) {
  for (const char* ok : {"--help", "-h", "--version"}) {
    int code = -1;
    parse({ok}, code);
    EXPECT_EQ(code, 0) << ok;
  }
}

TEST(OperatorFlags, ValuesWithOrWithoutEquals) {
  int code = -1;
  const Flags f = parse({"--namespace", "team-a", "--workers=8", "--config=/etc/umbra.yaml"}, code);
  EXPECT_EQ(code, -1);
  EXPECT_EQ(f.ns, "team-a");
  EXPECT_EQ(f.workers, 8);
  EXPECT_EQ(f.config, "/etc/umbra.yaml");
}

}  // namespace
}  // namespace umbra::op
