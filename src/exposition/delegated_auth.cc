#include "exposition/delegated_auth.h"

#include <openssl/evp.h>

#include "kube_core/resource.h"

namespace umbra::exposition {

namespace {

using kube::Json;

constexpr size_t MaxCached = 1024;

std::string sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

HttpReply text(int code, const std::string& message) {
  return {code, message + "\n", "text/plain; charset=utf-8"};
}

}  // namespace

DelegatedAuth::DelegatedAuth(kube::KubeClient& client, std::chrono::seconds cacheFor)
    : client_(client), cacheFor_(cacheFor) {}

HttpReply DelegatedAuth::check(const HttpRequest& request, const std::string& verb) {
  const std::string authorization = request.header("authorization");
  const std::string scheme = "bearer ";
  std::string token;
  if (authorization.size() > scheme.size()) {
    std::string head = authorization.substr(0, scheme.size());
    for (char& c : head)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == scheme)
      token = authorization.substr(scheme.size());
  }
  while (!token.empty() && token.front() == ' ')
    token.erase(0, 1);
  if (token.empty())
    return text(401, "Unauthorized: a bearer token is required");

  const std::string key = sha256(token + '\n' + request.path + '\n' + verb);
  const auto now = std::chrono::steady_clock::now();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = cache_.find(key); it != cache_.end() && it->second.until > now)
      return it->second.reply;
  }
  HttpReply reply = review(token, request.path, verb);
  if (reply.code != 500) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.size() >= MaxCached)
      std::erase_if(cache_, [now](const auto& e) { return e.second.until <= now; });
    if (cache_.size() < MaxCached)
      cache_[key] = {reply, now + cacheFor_};
  }
  return reply;
}

HttpReply DelegatedAuth::review(const std::string& token, const std::string& path,
                                const std::string& verb) {
  const Json tokenReview = {{"apiVersion", "authentication.k8s.io/v1"},
                            {"kind", "TokenReview"},
                            {"spec", {{"token", token}}}};
  auto authn = client_.create(kube::resources::tokenReviews(), "", tokenReview);
  if (!authn.ok())
    return text(500, "Internal Server Error: TokenReview: " + authn.error().message);
  const Json authnStatus = authn->value("status", Json::object());
  if (!authnStatus.value("authenticated", false)) {
    const std::string why = authnStatus.value("error", "");
    return text(401, "Unauthorized" + (why.empty() ? "" : ": " + why));
  }
  const Json user = authnStatus.value("user", Json::object());
  const std::string name = user.value("username", "");
  Json spec = {{"user", name},
               {"groups", user.value("groups", Json::array())},
               {"nonResourceAttributes", {{"path", path}, {"verb", verb}}}};
  if (user.contains("uid"))
    spec["uid"] = user["uid"];
  if (user.contains("extra"))
    spec["extra"] = user["extra"];
  const Json sar = {
      {"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
  auto authz = client_.create(kube::resources::subjectAccessReviews(), "", sar);
  if (!authz.ok())
    return text(500, "Internal Server Error: SubjectAccessReview: " + authz.error().message);
  const Json authzStatus = authz->value("status", Json::object());
  if (authzStatus.value("allowed", false))
    return {200, ""};
  std::string message =
      "Forbidden: user \"" + name + "\" may not " + verb + " path \"" + path + "\"";
  if (const std::string reason = authzStatus.value("reason", ""); !reason.empty())
    message += ": " + reason;
  return text(403, message);
}

}  // namespace umbra::exposition
