#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "harness/kubevirt_standin.h"
#include "integration/common.h"

namespace umbra::testing {

// A test with Umbra's and KubeVirt's CRDs installed, its own namespace, an admin client and the
// KubeVirt stand-in (whose nodes are deleted when the test ends).
class KubeVirtFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status st = ControlPlane::instance().installAllCrds();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void SetUp() override {
    admin_ = ControlPlane::instance().adminClient();
    standin_ = std::make_unique<KubeVirtStandIn>(*admin_);
  }
  // Node names are unique per test: nodes are cluster-scoped.
  std::string node(const std::string& suffix) const { return ns_.name() + "-" + suffix; }
  // The shadow VMIs in the test's namespace, read from the API server.
  std::vector<kube::Json> shadows() {
    kube::ListOptions o;
    o.labelSelector = "umbra.io/role=shadow";
    auto l = admin_->list(api::virtualMachineInstances(), ns_.name(), o);
    EXPECT_TRUE(l.ok());
    return l.ok() ? (*l)["items"].get<std::vector<kube::Json>>() : std::vector<kube::Json>{};
  }

  TestNamespace ns_;
  std::unique_ptr<kube::KubeClient> admin_;
  std::unique_ptr<KubeVirtStandIn> standin_;
};

}  // namespace umbra::testing
