#include "kube_core/resource.h"

namespace umbra::kube {

std::string ResourceType::groupVersionPath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

const char* contentType(PatchType type) {
  switch (type) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::Strategic: return "application/strategic-merge-patch+json";
    case PatchType::Apply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

namespace resources {
const ResourceType& services() {
  static const ResourceType t{"", "v1", "services", "Service", true};
  return t;
}
const ResourceType& apiServices() {
  static const ResourceType t{"apiregistration.k8s.io", "v1", "apiservices", "APIService", false};
  return t;
}
const ResourceType& subjectAccessReviews() {
  static const ResourceType t{"authorization.k8s.io", "v1", "subjectaccessreviews",
                              "SubjectAccessReview", false};
  return t;
}
const ResourceType& tokenReviews() {
  static const ResourceType t{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false};
  return t;
}
const ResourceType& configMaps() {
  static const ResourceType t{"", "v1", "configmaps", "ConfigMap", true};
  return t;
}
const ResourceType& namespaces() {
  static const ResourceType t{"", "v1", "namespaces", "Namespace", false};
  return t;
}
const ResourceType& nodes() {
  static const ResourceType t{"", "v1", "nodes", "Node", false};
  return t;
}
const ResourceType& pods() {
  static const ResourceType t{"", "v1", "pods", "Pod", true};
  return t;
}
const ResourceType& podTemplates() {
  static const ResourceType t{"", "v1", "podtemplates", "PodTemplate", true};
  return t;
}
const ResourceType& leases() {
  static const ResourceType t{"coordination.k8s.io", "v1", "leases", "Lease", true};
  return t;
}
const ResourceType& events() {
  static const ResourceType t{"events.k8s.io", "v1", "events", "Event", true};
  return t;
}
const ResourceType& customResourceDefinitions() {
  static const ResourceType t{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                              "CustomResourceDefinition", false};
  return t;
}
const ResourceType& clusterRoleBindings() {
  static const ResourceType t{"rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                              "ClusterRoleBinding", false};
  return t;
}
const ResourceType& roleBindings() {
  static const ResourceType t{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding",
                              true};
  return t;
}
const ResourceType& resourceClaims() {
  static const ResourceType t{"resource.k8s.io", "v1", "resourceclaims", "ResourceClaim", true};
  return t;
}
const ResourceType& resourceClaimTemplates() {
  static const ResourceType t{"resource.k8s.io", "v1", "resourceclaimtemplates",
                              "ResourceClaimTemplate", true};
  return t;
}
const ResourceType& deviceClasses() {
  static const ResourceType t{"resource.k8s.io", "v1", "deviceclasses", "DeviceClass", false};
  return t;
}
const ResourceType& resourceSlices() {
  static const ResourceType t{"resource.k8s.io", "v1", "resourceslices", "ResourceSlice", false};
  return t;
}

const ResourceType& podDisruptionBudgets() {
  static const ResourceType t{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
  return t;
}
const ResourceType& networkPolicies() {
  static const ResourceType t{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true};
  return t;
}
}  // namespace resources

}  // namespace umbra::kube
