#pragma once

#include <atomic>

#include "kube/client.h"

namespace umbra::testing {

// Wraps a real KubeClient and fails call number `failAt` (0-based, counting every call) with a
// network error, once; every other call goes through (Beast's test::fail_count).
class FaultInjectingClient final : public kube::KubeClient {
 public:
  FaultInjectingClient(kube::KubeClient& inner, int failAt) : inner_(inner), failAt_(failAt) {}

  int calls() const { return calls_.load(); }
  bool fired() const { return fired_.load(); }

  Result<kube::Json> get(const kube::ResourceType& t, const kube::ObjectRef& r) override {
    if (fault())
      return injected("GET");
    return inner_.get(t, r);
  }
  Result<kube::Json> list(const kube::ResourceType& t, const std::string& ns,
                          const kube::ListOptions& o) override {
    if (fault())
      return injected("LIST");
    return inner_.list(t, ns, o);
  }
  Result<kube::Json> create(const kube::ResourceType& t, const std::string& ns,
                            const kube::Json& obj, const kube::WriteOptions& o = {}) override {
    if (fault())
      return injected("POST");
    return inner_.create(t, ns, obj, o);
  }
  Result<kube::Json> update(const kube::ResourceType& t, const kube::Json& obj,
                            const kube::WriteOptions& o = {},
                            const std::string& sub = "") override {
    if (fault())
      return injected("PUT");
    return inner_.update(t, obj, o, sub);
  }
  Result<kube::Json> patch(const kube::ResourceType& t, const kube::ObjectRef& r,
                           kube::PatchType pt, const kube::Json& body,
                           const kube::WriteOptions& o = {}, const std::string& sub = "") override {
    if (fault())
      return injected("PATCH");
    return inner_.patch(t, r, pt, body, o, sub);
  }
  Result<kube::Json> remove(const kube::ResourceType& t, const kube::ObjectRef& r,
                            const kube::DeleteOptions& o = {}) override {
    if (fault())
      return injected("DELETE");
    return inner_.remove(t, r, o);
  }
  Result<kube::Json> send(const kube::HttpRequest& req) override {
    if (fault())
      return injected(req.method);
    return inner_.send(req);
  }
  Status watch(const kube::ResourceType& t, const std::string& ns, const kube::WatchOptions& o,
               const kube::WatchHandler& h, const CancellationPtr& c) override {
    return inner_.watch(t, ns, o, h, c);  // watches are not counted
  }

 private:
  bool fault() {
    if (calls_++ == failAt_) {
      fired_ = true;
      return true;
    }
    return false;
  }
  static Error injected(const std::string& verb) {
    return Error::make(ErrorKind::Network, verb + " https://apiserver.test: injected fault");
  }
  kube::KubeClient& inner_;
  int failAt_;
  std::atomic<int> calls_{0};
  std::atomic<bool> fired_{false};
};

}  // namespace umbra::testing
