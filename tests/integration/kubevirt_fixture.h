#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "harness/test_objects.h"
#include "integration/common.h"

namespace umbra::testing {

// A test with Umbra's and KubeVirt's CRDs installed, its own namespace and an admin client.
// KubeVirt and the nodes are umbra-sim's part; the nodes a test's simulator creates are named
// after its namespace (node()) and deleted when the test ends: nodes are cluster-scoped.
class KubeVirtFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status st = ControlPlane::instance().installAllCrds();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void SetUp() override { admin_ = ControlPlane::instance().adminClient(); }
  void TearDown() override {
    // The namespace goes with the test; its VMs first, so that the next test's simulator does not
    // try to start them in a namespace being terminated.
    if (auto vms = admin_->list(api::virtualMachines(), ns_.name(), {}); vms.ok()) {
      for (const auto& vm : (*vms)["items"])
        (void)admin_->remove(api::virtualMachines(),
                             {ns_.name(), vm["metadata"].value("name", "")});
    }
    auto l = admin_->list(kube::resources::nodes(), "", {});
    ASSERT_TRUE(l.ok());
    for (const auto& n : (*l)["items"]) {
      const std::string name = n["metadata"].value("name", "");
      if (name.rfind(ns_.name() + "-", 0) == 0)
        (void)admin_->remove(kube::resources::nodes(), {"", name});
    }
  }
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
};

}  // namespace umbra::testing
