#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kube_core/resource.h"

namespace umbra::kube {

// An API request as data: built by pure functions, sent by a transport. Unit tests check these
// without any I/O (kube-core's request builders).
struct HttpRequest {
  std::string method;  // GET POST PUT PATCH DELETE
  std::string path;    // absolute path, e.g. /api/v1/namespaces/x/configmaps
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  std::string contentType;  // for bodies
  bool watch = false;       // a streaming response

  // path + "?" + url-encoded query
  std::string target() const;
  // "GET /api/v1/..." for messages
  std::string describe() const;
};

std::string urlEncode(const std::string& s);

// Path of a collection ("" ns for cluster-scoped or all namespaces) or of one object.
std::string collectionPath(const ResourceType& type, const std::string& ns);
std::string objectPath(const ResourceType& type, const std::string& ns, const std::string& name,
                       const std::string& subresource = "");

HttpRequest getRequest(const ResourceType& type, const ObjectRef& ref,
                       const std::string& subresource = "");
HttpRequest listRequest(const ResourceType& type, const std::string& ns, const ListOptions& opts);
HttpRequest watchRequest(const ResourceType& type, const std::string& ns, const WatchOptions& opts);
HttpRequest createRequest(const ResourceType& type, const std::string& ns, std::string body,
                          const WriteOptions& opts);
HttpRequest updateRequest(const ResourceType& type, const ObjectRef& ref, std::string body,
                          const WriteOptions& opts, const std::string& subresource = "");
HttpRequest patchRequest(const ResourceType& type, const ObjectRef& ref, PatchType patchType,
                         std::string body, const WriteOptions& opts,
                         const std::string& subresource = "");
HttpRequest deleteRequest(const ResourceType& type, const ObjectRef& ref,
                          const DeleteOptions& opts);
// DELETE on a collection: every object matching the selectors, in one request (RBAC verb
// `deletecollection`).
HttpRequest deleteCollectionRequest(const ResourceType& type, const std::string& ns,
                                    const ListOptions& selectors, const DeleteOptions& opts);

}  // namespace umbra::kube
