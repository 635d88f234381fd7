#pragma once

#include <functional>
#include <memory>
#include <string>

namespace umbra::exposition {

// Serves GET /healthz (alive) and GET /readyz (the `ready` callback, e.g. caches synced) on
// --health-probe-bind-address, for the kubelet's probes. cpprestsdk stays in the .cc.
class HealthServer {
 public:
  static std::unique_ptr<HealthServer> start(const std::string& address,
                                             const std::function<bool()>& ready,
                                             std::string& error);
  ~HealthServer();
  struct Impl;

 private:
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::exposition
