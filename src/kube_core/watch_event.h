#pragma once

#include <optional>
#include <string_view>

#include "common/result.h"
#include "kube_core/object.h"

namespace umbra::kube {

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };
const char* toString(WatchEventType type);

struct WatchEvent {
  WatchEventType type;
  Json object;  // the object; for Error, the metav1.Status
};

// One line of a watch stream (a JSON-encoded metav1.WatchEvent): the event, nullopt for a blank
// line, or an Invalid error for anything else (not JSON, not an object, `type` not a string, an
// unknown type, `object` missing or not an object). An ERROR event is an event, not an error.
Result<std::optional<WatchEvent>> parseWatchLine(std::string_view line);

}  // namespace umbra::kube
