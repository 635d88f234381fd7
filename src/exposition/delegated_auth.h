#pragma once

// Authentication and authorization delegated to the API server, as controller-runtime's
// filters.WithAuthenticationAndAuthorization does for a manager's /metrics: the bearer token is
// checked with a TokenReview, then the user's right to `get` the path (a non-resource URL) with a
// SubjectAccessReview. Answers are cached for a minute (allowed and denied alike), so that a
// scrape every 15 s costs the API server one review pair per scraper per minute.
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "exposition/tls_server.h"
#include "kube/client.h"

namespace umbra::exposition {

class DelegatedAuth {
 public:
  explicit DelegatedAuth(kube::KubeClient& client,
                         std::chrono::seconds cacheFor = std::chrono::seconds(60));

  // {200, ""} when the request's bearer token belongs to a user the API server allows to `verb`
  // the request's path; 401 without a valid token, 403 when not allowed, 500 when the API server
  // cannot answer (not cached). The body says why, as a Kubernetes API server would.
  HttpReply check(const HttpRequest& request, const std::string& verb = "get");

 private:
  HttpReply review(const std::string& token, const std::string& path, const std::string& verb);

  kube::KubeClient& client_;
  std::chrono::seconds cacheFor_;
  std::mutex mutex_;
  struct Cached {
    HttpReply reply;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, Cached> cache_;  // SHA-256 of the token, path and verb -> answer
};

}  // namespace umbra::exposition
