#pragma once

#include <gtest/gtest.h>

#include "harness/control_plane.h"
#include "kube/client.h"

namespace umbra::testing {

inline const kube::ResourceType& widgets() {
  static const kube::ResourceType t{"test.umbra.io", "v1", "widgets", "Widget", true};
  return t;
}

// Installs the test CRD once per binary.
inline void ensureWidgetCrd() {
  static const bool installed = [] {
    const Status st = ControlPlane::instance().installCrds(
        {ControlPlane::sourceDir() + "/tests/integration/testdata/widgets.test.umbra.io.yaml"});
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
    return st.ok();
  }();
  ASSERT_TRUE(installed);
}

inline kube::Json configMap(const std::string& ns, const std::string& name,
                            kube::Json data = kube::Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", std::move(data)}};
}

inline kube::Json widget(const std::string& ns, const std::string& name, int size) {
  return {{"apiVersion", "test.umbra.io/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"size", size}, {"color", "red"}}}};
}

}  // namespace umbra::testing
