#pragma once

// KubeVirt's subresource API (subresources.kubevirt.io/v1, served by virt-api behind an
// APIService; ../shared/kubevirt/API-NOTES.md sections 3, 12 and 13): the requests Umbra sends,
// as data. Every call is a PUT; RBAC verb `update` on e.g. virtualmachineinstances/pause in API
// group subresources.kubevirt.io. Send them with KubeClient::send().
#include <map>
#include <string>

#include "kube_core/request.h"

namespace umbra::api {

inline constexpr const char* SubresourceGroup = "subresources.kubevirt.io";

// PUT .../virtualmachineinstances/{name}/pause and /unpause (200 on success; 409 when the VMI is
// not running, already paused or not paused).
kube::HttpRequest pauseVmi(const std::string& ns, const std::string& name);
kube::HttpRequest unpauseVmi(const std::string& ns, const std::string& name);
// PUT .../virtualmachines/{name}/start with StartOptions {paused} (202; 409 if it runs).
kube::HttpRequest startVm(const std::string& ns, const std::string& name, bool paused = false);
// PUT .../virtualmachines/{name}/stop (202; 409 if it is not running).
kube::HttpRequest stopVm(const std::string& ns, const std::string& name);
// PUT .../virtualmachines/{name}/migrate with MigrateOptions {addedNodeSelector}: virt-api creates
// a VirtualMachineInstanceMigration (generateName kubevirt-migrate-vm-).
kube::HttpRequest migrateVm(const std::string& ns, const std::string& name,
                            const std::map<std::string, std::string>& addedNodeSelector = {});

}  // namespace umbra::api
