#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "kube/client.h"
#include "kube/config.h"

namespace umbra::kube {

// Observes every request's outcome (verb, HTTP code or 0 for a network error, seconds), for
// client metrics and request counting. Called on the requesting thread; must be thread-safe.
using RequestObserver = std::function<void(const std::string& verb, int code, double seconds)>;

// Sizes cpprestsdk's process-wide I/O thread pool (its default is 40 threads). Every HTTP client in
// the process (this one, Prometheus') shares it; it runs socket and TLS completions only, since
// Umbra waits for its requests on its own threads and attaches no continuations. Call before the
// first request: afterwards the pool exists and this fails.
Status setHttpIoThreads(size_t threads);

// KubeClient over HTTPS with cpprestsdk (the only file that includes cpprestsdk headers is the
// .cc). Thread-safe; connections are pooled.
class RestClient final : public KubeClient {
 public:
  // Validates the TLS material up front: a bad PEM is a Config error naming its source.
  static Result<std::unique_ptr<RestClient>> fromConfig(const ClusterConfig& config);
  ~RestClient() override;

  void setObserver(RequestObserver observer);
  const ClusterConfig& config() const;

  Result<Json> get(const ResourceType& type, const ObjectRef& ref) override;
  Result<Json> list(const ResourceType& type, const std::string& ns,
                    const ListOptions& opts) override;
  // Defaults repeat KubeClient's: calls through a RestClient use these.
  Result<Json> create(const ResourceType& type, const std::string& ns, const Json& obj,
                      const WriteOptions& opts = {}) override;
  Result<Json> update(const ResourceType& type, const Json& obj, const WriteOptions& opts = {},
                      const std::string& subresource = "") override;
  Result<Json> patch(const ResourceType& type, const ObjectRef& ref, PatchType patchType,
                     const Json& body, const WriteOptions& opts = {},
                     const std::string& subresource = "") override;
  Result<Json> remove(const ResourceType& type, const ObjectRef& ref,
                      const DeleteOptions& opts = {}) override;
  Result<Json> send(const HttpRequest& request) override;
  Status watch(const ResourceType& type, const std::string& ns, const WatchOptions& opts,
               const WatchHandler& handler, const CancellationPtr& cancel) override;

  struct Impl;

 private:
  explicit RestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::kube
