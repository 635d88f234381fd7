#pragma once

#include <optional>
#include <string>

#include "common/clock.h"

namespace umbra::kube {

// metav1.MicroTime: "2006-01-02T15:04:05.000000Z"; metav1.Time: "2006-01-02T15:04:05Z".
std::string formatMicroTime(SystemTime t);
std::string formatTime(SystemTime t);
// Parses either form (fraction optional); nullopt on anything else.
std::optional<SystemTime> parseTime(const std::string& s);

}  // namespace umbra::kube
