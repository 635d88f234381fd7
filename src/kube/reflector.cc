#include "kube/reflector.h"

#include "common/backoff.h"
#include "common/log.h"
#include "kube_core/status.h"

namespace umbra::kube {
namespace {
constexpr auto HealthyReset = std::chrono::seconds(120);

std::string resourceVersionOf(const Json& obj) {
  const auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) {
    return "";
  }
  return meta->value("resourceVersion", "");
}
}  // namespace

Reflector::Reflector(KubeClient& client, ReflectorOptions options, Store& store,
                     EventHandlers handlers)
    : client_(client),
      options_(std::move(options)),
      store_(store),
      handlers_(std::move(handlers)),
      rng_(options_.seed) {
  what_ = options_.type.resource + (options_.ns.empty() ? "" : " in " + options_.ns);
}

std::string Reflector::lastResourceVersion() const {
  const std::lock_guard<std::mutex> lock(rvMutex_);
  return resourceVersion_;
}

void Reflector::setResourceVersion(const std::string& rv) {
  if (rv.empty()) {
    return;
  }
  const std::lock_guard<std::mutex> lock(rvMutex_);
  resourceVersion_ = rv;
}

void Reflector::setResourceVersionForTest(const std::string& rv) {
  setResourceVersion(rv);
}

Status Reflector::listAndReplace() {
  state_ = State::Listing;
  ListOptions opts;
  opts.labelSelector = options_.labelSelector;
  opts.fieldSelector = options_.fieldSelector;
  opts.limit = options_.pageSize;
  UMBRA_TRY(Json list, listAll(client_, options_.type, options_.ns, opts));
  std::vector<Json> items;
  items.reserve(list["items"].size());
  for (auto& item : list["items"]) {
    // List items carry no kind/apiVersion; restore them so stored objects are complete.
    item["kind"] = options_.type.kind;
    item["apiVersion"] = options_.type.apiVersion();
    transform(item);
    items.push_back(std::move(item));
  }
  auto previous = store_.replace(std::move(items));
  setResourceVersion(list["metadata"].value("resourceVersion", ""));
  ++relists_;
  // Tell the handlers what changed relative to what they saw before.
  for (const ObjectPtr& obj : store_.list()) {
    const auto it = previous.find(keyOf(*obj));
    if (it == previous.end()) {
      if (handlers_.onAdd)
        handlers_.onAdd(obj);
    } else {
      if (handlers_.onUpdate && resourceVersionOf(*it->second) != resourceVersionOf(*obj)) {
        handlers_.onUpdate(it->second, obj);
      }
      previous.erase(it);
    }
  }
  for (const auto& [key, obj] : previous) {
    if (handlers_.onDelete)
      handlers_.onDelete(obj);
  }
  synced_ = true;
  state_ = State::Watching;
  return okStatus();
}

void Reflector::transform(Json& obj) const {
  if (options_.keepManagedFields)
    return;
  if (const auto meta = obj.find("metadata"); meta != obj.end() && meta->is_object())
    meta->erase("managedFields");
}

void Reflector::applyEvent(WatchEvent& event) {
  setResourceVersion(resourceVersionOf(event.object));
  transform(event.object);
  switch (event.type) {
    case WatchEventType::Added:
    case WatchEventType::Modified: {
      ObjectPtr current;
      ObjectPtr previous = store_.upsert(std::move(event.object), &current);
      if (previous == nullptr) {
        if (handlers_.onAdd)
          handlers_.onAdd(current);
      } else if (handlers_.onUpdate) {
        handlers_.onUpdate(previous, current);
      }
      break;
    }
    case WatchEventType::Deleted: {
      ObjectPtr previous = store_.erase(keyOf(event.object));
      if (handlers_.onDelete) {
        handlers_.onDelete(previous ? previous : std::make_shared<const Json>(event.object));
      }
      break;
    }
    case WatchEventType::Bookmark:
    case WatchEventType::Error: break;
  }
}

Status Reflector::watchOnce(const CancellationPtr& cancel) {
  const int min = static_cast<int>(options_.minWatchTimeout.count());
  WatchOptions opts;
  opts.labelSelector = options_.labelSelector;
  opts.fieldSelector = options_.fieldSelector;
  opts.resourceVersion = lastResourceVersion();
  opts.allowWatchBookmarks = true;
  opts.timeoutSeconds = std::uniform_int_distribution<int>(min, 2 * min)(rng_);
  ++watches_;
  Status streamError = okStatus();
  Status st = client_.watch(
      options_.type, options_.ns, opts,
      [&](WatchEvent&& event) {
        if (event.type == WatchEventType::Error) {
          streamError = errorFromStatusJson(event.object.dump(), "watch " + what_);
          return false;
        }
        applyEvent(event);
        return true;
      },
      cancel);
  if (!st.ok()) {
    return st;
  }
  return streamError;
}

void Reflector::run(const CancellationPtr& cancel) {
  JitteredBackoff backoff(std::chrono::milliseconds(800), std::chrono::seconds(30), options_.seed);
  while (!cancel->cancelled()) {
    if (state_ != State::Watching) {
      Status st = listAndReplace();
      if (!st.ok()) {
        state_ = State::Empty;
        log::warn("list failed, retrying", {{"resource", what_}, {"error", st.error().describe()}});
        cancel->waitFor(backoff.next());
        continue;
      }
    }
    const auto started = std::chrono::steady_clock::now();
    Status st = watchOnce(cancel);
    if (std::chrono::steady_clock::now() - started > HealthyReset) {
      backoff.reset();
    }
    if (st.ok()) {
      continue;  // the server closed the stream: resume from the last resourceVersion
    }
    if (st.error().is(ErrorKind::Cancelled)) {
      break;
    }
    if (st.error().is(ErrorKind::Gone)) {
      log::info("resourceVersion too old, relisting", {{"resource", what_}});
      state_ = State::Empty;
      continue;
    }
    log::warn("watch failed, retrying", {{"resource", what_}, {"error", st.error().describe()}});
    cancel->waitFor(backoff.next());
  }
}

}  // namespace umbra::kube
