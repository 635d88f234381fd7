#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "kube/cancel.h"
#include "kube_core/object.h"
#include "kube_core/request.h"
#include "kube_core/resource.h"
#include "kube_core/watch_event.h"

namespace umbra::kube {

// Called for every event of a watch stream. Return false to end the stream.
using WatchHandler = std::function<bool(WatchEvent&&)>;

// The Kubernetes API as Umbra uses it: the one seam tests substitute (tests/fakes/). Every call is
// blocking and thread-safe; errors are values (common/error.h) whose message names the request.
class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // @return the object, or NotFound etc.
  virtual Result<Json> get(const ResourceType& type, const ObjectRef& ref) = 0;
  // One page; follow `metadata.continue` for more (see listAll()).
  virtual Result<Json> list(const ResourceType& type, const std::string& ns,
                            const ListOptions& opts) = 0;
  virtual Result<Json> create(const ResourceType& type, const std::string& ns, const Json& obj,
                              const WriteOptions& opts = {}) = 0;
  // PUT of the whole object (or of `subresource`, e.g. "status"); 409 on a stale resourceVersion.
  virtual Result<Json> update(const ResourceType& type, const Json& obj,
                              const WriteOptions& opts = {},
                              const std::string& subresource = "") = 0;
  // Merge / JSON / strategic patch or server-side apply (body: the applied configuration).
  virtual Result<Json> patch(const ResourceType& type, const ObjectRef& ref, PatchType patchType,
                             const Json& body, const WriteOptions& opts = {},
                             const std::string& subresource = "") = 0;
  // @return the deleted object or a Status (the server's answer), NotFound if already gone.
  virtual Result<Json> remove(const ResourceType& type, const ObjectRef& ref,
                              const DeleteOptions& opts = {}) = 0;
  // Any request not covered above: discovery, /version, KubeVirt subresources (`start`,
  // `migrate`: PUT .../virtualmachines/x/start under subresources.kubevirt.io).
  virtual Result<Json> send(const HttpRequest& request) = 0;
  // Streams events until the server ends the stream (Ok), the handler returns false (Ok),
  // `cancel` fires (Cancelled), or an error. An ERROR event is handed to the handler as is.
  virtual Status watch(const ResourceType& type, const std::string& ns, const WatchOptions& opts,
                       const WatchHandler& handler, const CancellationPtr& cancel) = 0;
};

using KubeClientPtr = std::unique_ptr<KubeClient>;
using KubeClientSharedPtr = std::shared_ptr<KubeClient>;

// Lists every page (limit per page) and returns one List object with all items and the
// resourceVersion of the last page.
Result<Json> listAll(KubeClient& client, const ResourceType& type, const std::string& ns,
                     ListOptions opts);

}  // namespace umbra::kube
