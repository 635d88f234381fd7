#pragma once

#include <optional>
#include <string>

#include "common/error.h"

namespace umbra::kube {

// Maps an API response to an Error. `body` is the response text (a metav1.Status when the server
// produced it); `what` names the request ("GET https://host/api/v1/..."); `retryAfter` is the
// Retry-After header's value, if any. Pure: unit-tested without I/O.
Error errorFromResponse(int httpCode, const std::string& body, const std::string& what,
                        const std::optional<std::string>& retryAfter = std::nullopt);

// Maps a Status object delivered inside a watch stream (an ERROR event).
Error errorFromStatusJson(const std::string& statusJson, const std::string& what);

}  // namespace umbra::kube
