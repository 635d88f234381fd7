// The ShadowPlacement API as the API server enforces it: CRD schema, CEL rules, printer columns,
// and the examples a user applies.
#include <filesystem>
#include <fstream>

#include "integration/common.h"

namespace umbra::testing {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status st = ControlPlane::instance().installAllCrds();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  CommandResult kubectl(const std::string& args) {
    return runCommand(ControlPlane::instance().kubectl() + " -n " + ns_.name() + " " + args);
  }
  TestNamespace ns_;
};

TEST_F(ApiTest, ExamplesApply) {
  const auto r = kubectl("apply -f " + ControlPlane::sourceDir() + "/examples/");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("virtualmachine.kubevirt.io/web-1 created"), std::string::npos);
  EXPECT_NE(r.output.find("shadowplacement.umbra.io/web-1 created"), std::string::npos);
  // Defaults from the schema are applied by the server.
  const auto sp = kubectl("get sp web-1 -o jsonpath={.spec.mode}/{.spec.shadow.fidelity}");
  EXPECT_EQ(sp.output, "Apply/Passive");
}

TEST_F(ApiTest, InvalidSpecsAreRejectedWithTheSchemasMessage) {
  const std::string dir = ControlPlane::sourceDir() + "/tests/integration/testdata/invalid";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string first;
    std::getline(in, first);
    const std::string prefix = "# expect: ";
    ASSERT_EQ(first.rfind(prefix, 0), 0u) << entry.path() << " must start with '" << prefix << "'";
    const std::string expected = first.substr(prefix.size());
    const auto r = kubectl("apply -f " + entry.path().string());
    EXPECT_NE(r.exitCode, 0) << entry.path().filename() << " was accepted";
    EXPECT_NE(r.output.find(expected), std::string::npos)
        << entry.path().filename() << ": expected \"" << expected << "\" in:\n"
        << r.output;
    ++checked;
  }
  EXPECT_GE(checked, 8);
  EXPECT_EQ(kubectl("get sp -o name").output, "") << "no invalid object may have been stored";
}

TEST_F(ApiTest, TargetIsImmutableButOtherFieldsChange) {
  ASSERT_EQ(kubectl("apply -f " + ControlPlane::sourceDir() + "/examples/02-shadowplacement.yaml")
                .exitCode,
            0);
  const auto moved =
      kubectl("patch sp web-1 --type merge -p '{\"spec\":{\"target\":{\"name\":\"web-2\"}}}'");
  EXPECT_NE(moved.exitCode, 0);
  EXPECT_NE(moved.output.find("spec.target is immutable"), std::string::npos) << moved.output;
  const auto mode = kubectl("patch sp web-1 --type merge -p '{\"spec\":{\"mode\":\"Recommend\"}}'");
  EXPECT_EQ(mode.exitCode, 0) << mode.output;
}

TEST_F(ApiTest, PrinterColumnsShortNameAndCategory) {
  ASSERT_EQ(kubectl("apply -f " + ControlPlane::sourceDir() + "/examples/02-shadowplacement.yaml")
                .exitCode,
            0);
  const auto get = kubectl("get sp");
  ASSERT_EQ(get.exitCode, 0) << get.output;
  const std::string header = get.output.substr(0, get.output.find('\n'));
  for (const char* column : {"NAME", "TARGET", "PHASE", "NODE", "CONFIDENCE", "AGE"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column << " missing in: " << header;
  }
  const auto wide = kubectl("get sp -o wide");
  EXPECT_NE(wide.output.find("MODE"), std::string::npos) << wide.output;
  const auto category = kubectl("get umbra -o name");
  EXPECT_NE(category.output.find("shadowplacement.umbra.io/web-1"), std::string::npos)
      << category.output;
}

}  // namespace
}  // namespace umbra::testing
