#pragma once

#include <optional>
#include <string>

namespace umbra::kube {

// A group/version/resource with what the REST mapping needs to build a path.
struct ResourceType {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, lower case
  std::string kind;
  bool namespaced = true;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1" or "/apis/<group>/<version>"
  std::string groupVersionPath() const;
};

namespace resources {
const ResourceType& configMaps();
const ResourceType& namespaces();
const ResourceType& nodes();
const ResourceType& pods();
const ResourceType& podTemplates();
const ResourceType& leases();
const ResourceType& events();
const ResourceType& customResourceDefinitions();
const ResourceType& clusterRoleBindings();
const ResourceType& roleBindings();
const ResourceType& services();
// The aggregation layer (apiregistration.k8s.io/v1) and authorization.k8s.io/v1's reviews.
const ResourceType& apiServices();
const ResourceType& subjectAccessReviews();
const ResourceType& tokenReviews();
// Dynamic Resource Allocation (resource.k8s.io/v1).
const ResourceType& resourceClaims();
const ResourceType& resourceClaimTemplates();
const ResourceType& deviceClasses();
const ResourceType& resourceSlices();
const ResourceType& podDisruptionBudgets();  // policy/v1
const ResourceType& networkPolicies();       // networking.k8s.io/v1
}  // namespace resources

// Parameters of a LIST (one page).
struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  int64_t limit = 0;  // 0: no limit
  std::string continueToken;
  std::string resourceVersion;
  std::string resourceVersionMatch;  // NotOlderThan | Exact
};

// Parameters of a WATCH.
struct WatchOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion;
  int timeoutSeconds = 0;  // server closes the stream after this; 0: server default
  bool allowWatchBookmarks = true;
};

// Options common to create/update/patch.
struct WriteOptions {
  std::string fieldManager = "umbra";
  // Strict: an unknown or duplicate field is an error instead of a silent drop (we always send it).
  std::string fieldValidation = "Strict";
  bool force = false;  // server-side apply: take ownership of conflicting fields
  bool dryRun = false;
};

enum class PatchType { Merge, Json, Strategic, Apply };
const char* contentType(PatchType type);

struct DeleteOptions {
  std::string propagationPolicy;  // Foreground | Background | Orphan; "" = server default
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
  std::optional<int64_t> gracePeriodSeconds;
};

// Where a namespaced object lives; `ns` is ignored for cluster-scoped types.
struct ObjectRef {
  std::string ns;
  std::string name;
};

}  // namespace umbra::kube
