#pragma once

// A KubeClient with no server behind it: every call is a test failure (ADD_FAILURE) and an error.
// Tests that expect some calls derive from it and override just those.
#include <gtest/gtest.h>

#include "kube/client.h"

namespace umbra::testing {

class NoServer : public kube::KubeClient {
 public:
  using Json = nlohmann::json;
  Result<Json> get(const kube::ResourceType&, const kube::ObjectRef&) override { return no(); }
  Result<Json> list(const kube::ResourceType&, const std::string&,
                    const kube::ListOptions&) override {
    return no();
  }
  Result<Json> create(const kube::ResourceType&, const std::string&, const Json&,
                      const kube::WriteOptions&) override {
    return no();
  }
  Result<Json> update(const kube::ResourceType&, const Json&, const kube::WriteOptions&,
                      const std::string&) override {
    return no();
  }
  Result<Json> patch(const kube::ResourceType&, const kube::ObjectRef&, kube::PatchType,
                     const Json&, const kube::WriteOptions&, const std::string&) override {
    return no();
  }
  Result<Json> remove(const kube::ResourceType&, const kube::ObjectRef&,
                      const kube::DeleteOptions&) override {
    return no();
  }
  Result<Json> send(const kube::HttpRequest&) override { return no(); }
  Status watch(const kube::ResourceType&, const std::string&, const kube::WatchOptions&,
               const kube::WatchHandler&, const CancellationPtr&) override {
    return no().error();
  }

 private:
  static Result<Json> no() {
    ADD_FAILURE() << "an unexpected call to the API server";
    return Error::make(ErrorKind::Internal, "no server");
  }
};

}  // namespace umbra::testing
