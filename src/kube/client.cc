#include "kube/client.h"

namespace umbra::kube {

Result<Json> listAll(KubeClient& client, const ResourceType& type, const std::string& ns,
                     ListOptions opts) {
  Json all = {{"kind", type.kind + "List"},
              {"apiVersion", type.apiVersion()},
              {"metadata", Json::object()},
              {"items", Json::array()}};
  opts.continueToken.clear();
  while (true) {
    UMBRA_TRY(Json page, client.list(type, ns, opts));
    for (auto& item : page["items"]) {
      all["items"].push_back(std::move(item));
    }
    const Json& meta = page["metadata"];
    all["metadata"]["resourceVersion"] = meta.value("resourceVersion", "");
    opts.continueToken = meta.value("continue", "");
    if (opts.continueToken.empty()) {
      return all;
    }
    // Later pages are served from the snapshot the continue token names.
    opts.resourceVersion.clear();
    opts.resourceVersionMatch.clear();
  }
}

}  // namespace umbra::kube
