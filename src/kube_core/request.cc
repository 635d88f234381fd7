#include "kube_core/request.h"

#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace umbra::kube {
namespace {

void addWriteOptions(HttpRequest& req, const WriteOptions& opts) {
  if (!opts.fieldManager.empty()) {
    req.query.emplace_back("fieldManager", opts.fieldManager);
  }
  if (!opts.fieldValidation.empty()) {
    req.query.emplace_back("fieldValidation", opts.fieldValidation);
  }
  if (opts.dryRun) {
    req.query.emplace_back("dryRun", "All");
  }
}

void addIfSet(HttpRequest& req, const char* key, const std::string& value) {
  if (!value.empty()) {
    req.query.emplace_back(key, value);
  }
}

}  // namespace

std::string urlEncode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

std::string HttpRequest::target() const {
  std::string out = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    out += sep;
    out += urlEncode(k) + "=" + urlEncode(v);
    sep = '&';
  }
  return out;
}

std::string HttpRequest::describe() const {
  return method + " " + target();
}

std::string collectionPath(const ResourceType& type, const std::string& ns) {
  std::string path = type.groupVersionPath();
  if (type.namespaced && !ns.empty()) {
    path += "/namespaces/" + ns;
  }
  return path + "/" + type.resource;
}

std::string objectPath(const ResourceType& type, const std::string& ns, const std::string& name,
                       const std::string& subresource) {
  std::string path = collectionPath(type, ns) + "/" + name;
  if (!subresource.empty()) {
    path += "/" + subresource;
  }
  return path;
}

HttpRequest getRequest(const ResourceType& type, const ObjectRef& ref,
                       const std::string& subresource) {
  return HttpRequest{"GET", objectPath(type, ref.ns, ref.name, subresource), {}, "", "", false};
}

HttpRequest listRequest(const ResourceType& type, const std::string& ns, const ListOptions& opts) {
  HttpRequest req{"GET", collectionPath(type, ns), {}, "", "", false};
  addIfSet(req, "labelSelector", opts.labelSelector);
  addIfSet(req, "fieldSelector", opts.fieldSelector);
  if (opts.limit > 0) {
    req.query.emplace_back("limit", std::to_string(opts.limit));
  }
  addIfSet(req, "continue", opts.continueToken);
  addIfSet(req, "resourceVersion", opts.resourceVersion);
  addIfSet(req, "resourceVersionMatch", opts.resourceVersionMatch);
  return req;
}

HttpRequest watchRequest(const ResourceType& type, const std::string& ns,
                         const WatchOptions& opts) {
  HttpRequest req{"GET", collectionPath(type, ns), {{"watch", "1"}}, "", "", true};
  addIfSet(req, "labelSelector", opts.labelSelector);
  addIfSet(req, "fieldSelector", opts.fieldSelector);
  addIfSet(req, "resourceVersion", opts.resourceVersion);
  if (opts.timeoutSeconds > 0) {
    req.query.emplace_back("timeoutSeconds", std::to_string(opts.timeoutSeconds));
  }
  if (opts.allowWatchBookmarks) {
    req.query.emplace_back("allowWatchBookmarks", "true");
  }
  return req;
}

HttpRequest createRequest(const ResourceType& type, const std::string& ns, std::string body,
                          const WriteOptions& opts) {
  HttpRequest req{"POST", collectionPath(type, ns), {}, std::move(body), "application/json", false};
  addWriteOptions(req, opts);
  return req;
}

HttpRequest updateRequest(const ResourceType& type, const ObjectRef& ref, std::string body,
                          const WriteOptions& opts, const std::string& subresource) {
  HttpRequest req{"PUT",
                  objectPath(type, ref.ns, ref.name, subresource),
                  {},
                  std::move(body),
                  "application/json",
                  false};
  addWriteOptions(req, opts);
  return req;
}

HttpRequest patchRequest(const ResourceType& type, const ObjectRef& ref, PatchType patchType,
                         std::string body, const WriteOptions& opts,
                         const std::string& subresource) {
  HttpRequest req{"PATCH",
                  objectPath(type, ref.ns, ref.name, subresource),
                  {},
                  std::move(body),
                  contentType(patchType),
                  false};
  addWriteOptions(req, opts);
  if (patchType == PatchType::Apply && opts.force) {
    req.query.emplace_back("force", "true");
  }
  return req;
}

HttpRequest deleteRequest(const ResourceType& type, const ObjectRef& ref,
                          const DeleteOptions& opts) {
  // DeleteOptions travel in the body, as client-go sends them.
  nlohmann::json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!opts.propagationPolicy.empty()) {
    body["propagationPolicy"] = opts.propagationPolicy;
  }
  if (opts.gracePeriodSeconds) {
    body["gracePeriodSeconds"] = *opts.gracePeriodSeconds;
  }
  if (opts.preconditionUid) {
    body["preconditions"]["uid"] = *opts.preconditionUid;
  }
  if (opts.preconditionResourceVersion) {
    body["preconditions"]["resourceVersion"] = *opts.preconditionResourceVersion;
  }
  return HttpRequest{
      "DELETE", objectPath(type, ref.ns, ref.name), {}, body.dump(), "application/json", false};
}

HttpRequest deleteCollectionRequest(const ResourceType& type, const std::string& ns,
                                    const ListOptions& selectors, const DeleteOptions& opts) {
  HttpRequest req = deleteRequest(type, {ns, ""}, opts);
  req.path = collectionPath(type, ns);
  addIfSet(req, "labelSelector", selectors.labelSelector);
  addIfSet(req, "fieldSelector", selectors.fieldSelector);
  return req;
}

}  // namespace umbra::kube
