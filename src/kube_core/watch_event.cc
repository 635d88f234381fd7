#include "kube_core/watch_event.h"

#include <string>

namespace umbra::kube {

const char* toString(WatchEventType type) {
  switch (type) {
    case WatchEventType::Added: return "ADDED";
    case WatchEventType::Modified: return "MODIFIED";
    case WatchEventType::Deleted: return "DELETED";
    case WatchEventType::Bookmark: return "BOOKMARK";
    case WatchEventType::Error: return "ERROR";
  }
  return "ERROR";
}

Result<std::optional<WatchEvent>> parseWatchLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos)
    return std::optional<WatchEvent>();
  const auto bad = [](const std::string& why) {
    return Error::make(ErrorKind::Invalid, "malformed watch event: " + why);
  };
  Json ev = Json::parse(line, nullptr, false);
  if (ev.is_discarded() || !ev.is_object())
    return bad("not a JSON object");
  const auto type = ev.find("type");
  if (type == ev.end() || !type->is_string())
    return bad("no string \"type\"");
  const auto object = ev.find("object");
  if (object == ev.end() || !object->is_object())
    return bad("no \"object\" object");
  static constexpr WatchEventType Types[] = {WatchEventType::Added, WatchEventType::Modified,
                                             WatchEventType::Deleted, WatchEventType::Bookmark,
                                             WatchEventType::Error};
  const std::string& name = type->get_ref<const std::string&>();
  for (const WatchEventType t : Types)
    if (name == toString(t))
      return std::optional<WatchEvent>(WatchEvent{t, std::move(*object)});
  return bad("unknown type \"" + name.substr(0, 32) + "\"");
}

}  // namespace umbra::kube
