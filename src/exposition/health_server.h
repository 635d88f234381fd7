#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace umbra::exposition {

// Serves GET /healthz (alive) and GET /readyz (the `ready` callback, e.g. caches synced) on
// --health-probe-bind-address, for the kubelet's probes, plus any `pages` (path -> text, served
// as Prometheus' text format, e.g. umbra-sim's /metrics). cpprestsdk stays in the .cc.
class HealthServer {
 public:
  using Pages = std::map<std::string, std::function<std::string()>>;
  static std::unique_ptr<HealthServer> start(
      const std::string& address, const std::function<bool()>& ready, std::string& error,
      Pages pages = {}, const std::string& flag = "--health-probe-bind-address");
  ~HealthServer();
  struct Impl;

 private:
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::exposition
