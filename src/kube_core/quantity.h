#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace umbra::kube {

// Kubernetes resource.Quantity: "2", "500m", "4Gi", "1.5G", "1e3". Returns the value in base
// units (cores for CPU, bytes for memory); nullopt if the text is not a quantity.
std::optional<double> parseQuantity(const std::string& text);
// CPU as millicores ("25m"), rounded up so that a limit never falls below what was computed.
std::string formatMilliCpu(double cores);
// Memory in Mi, rounded up ("64Mi").
std::string formatMebibytes(double bytes);

// Go durations as used in the CRD ("90s", "5m", "1h30m", "1.5s", "250ms"); nullopt otherwise.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace umbra::kube
