#include "kube/store.h"

#include <algorithm>
#include <mutex>

#include "kube/client.h"

namespace umbra::kube {
namespace {

const nlohmann::json& labelsOf(const nlohmann::json& obj) {
  static const nlohmann::json empty = nlohmann::json::object();
  const auto meta = obj.find("metadata");
  if (meta == obj.end()) {
    return empty;
  }
  const auto labels = meta->find("labels");
  return labels != meta->end() && labels->is_object() ? *labels : empty;
}

std::string namespaceOf(const nlohmann::json& obj) {
  return obj.at("metadata").value("namespace", "");
}

}  // namespace

ObjectPtr Store::get(const std::string& key) const {
  const std::shared_lock lock(mutex_);
  const auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::collectLocked(const std::set<std::string>* keys) const {
  std::vector<ObjectPtr> out;
  if (keys == nullptr) {
    return out;
  }
  out.reserve(keys->size());
  for (const auto& k : *keys) {
    out.push_back(items_.at(k));
  }
  return out;
}

std::vector<ObjectPtr> Store::list() const {
  const std::shared_lock lock(mutex_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) {
    out.push_back(v);
  }
  return out;
}

std::vector<ObjectPtr> Store::byNamespace(const std::string& ns) const {
  const std::shared_lock lock(mutex_);
  const auto it = byNamespace_.find(ns);
  return collectLocked(it == byNamespace_.end() ? nullptr : &it->second);
}

std::vector<ObjectPtr> Store::byLabel(const std::string& label, const std::string& value) const {
  const std::shared_lock lock(mutex_);
  const auto it = byLabel_.find(label + "=" + value);
  return collectLocked(it == byLabel_.end() ? nullptr : &it->second);
}

size_t Store::countByLabel(const std::string& label, const std::string& value) const {
  const std::shared_lock lock(mutex_);
  const auto it = byLabel_.find(label + "=" + value);
  return it == byLabel_.end() ? 0 : it->second.size();
}

size_t Store::size() const {
  const std::shared_lock lock(mutex_);
  return items_.size();
}

void Store::indexLocked(const std::string& key, const nlohmann::json& obj) {
  byNamespace_[namespaceOf(obj)].insert(key);
  for (const auto& [k, v] : labelsOf(obj).items()) {
    if (v.is_string()) {
      byLabel_[k + "=" + v.get<std::string>()].insert(key);
    }
  }
}

void Store::unindexLocked(const std::string& key, const nlohmann::json& obj) {
  const auto drop = [&key](std::map<std::string, std::set<std::string>>& index,
                           const std::string& idx) {
    const auto it = index.find(idx);
    if (it != index.end()) {
      it->second.erase(key);
      if (it->second.empty()) {
        index.erase(it);
      }
    }
  };
  drop(byNamespace_, namespaceOf(obj));
  for (const auto& [k, v] : labelsOf(obj).items()) {
    if (v.is_string()) {
      drop(byLabel_, k + "=" + v.get<std::string>());
    }
  }
}

ObjectPtr Store::upsert(nlohmann::json obj, ObjectPtr* stored) {
  const std::string key = keyOf(obj);
  auto ptr = std::make_shared<const nlohmann::json>(std::move(obj));
  if (stored != nullptr) {
    *stored = ptr;
  }
  const std::unique_lock lock(mutex_);
  ObjectPtr previous;
  auto it = items_.find(key);
  if (it != items_.end()) {
    previous = it->second;
    unindexLocked(key, *previous);
    it->second = ptr;
  } else {
    items_.emplace(key, ptr);
  }
  indexLocked(key, *ptr);
  notifyLocked(key, previous, ptr);
  return previous;
}

ObjectPtr Store::erase(const std::string& key) {
  const std::unique_lock lock(mutex_);
  const auto it = items_.find(key);
  if (it == items_.end()) {
    return nullptr;
  }
  ObjectPtr previous = it->second;
  unindexLocked(key, *previous);
  items_.erase(it);
  notifyLocked(key, previous, nullptr);
  return previous;
}

std::unordered_map<std::string, ObjectPtr> Store::replace(std::vector<nlohmann::json> objects) {
  // Build the new content outside the lock, then swap.
  std::unordered_map<std::string, ObjectPtr> fresh;
  fresh.reserve(objects.size());
  for (auto& obj : objects) {
    std::string key = keyOf(obj);
    fresh.emplace(std::move(key), std::make_shared<const nlohmann::json>(std::move(obj)));
  }
  const std::unique_lock lock(mutex_);
  items_.swap(fresh);
  byNamespace_.clear();
  byLabel_.clear();
  for (const auto& [k, v] : items_) {
    indexLocked(k, *v);
  }
  if (!observers_.empty()) {
    for (const auto& [k, old] : fresh) {
      if (items_.count(k) == 0)
        notifyLocked(k, old, nullptr);
    }
    for (const auto& [k, v] : items_) {
      const auto old = fresh.find(k);
      notifyLocked(k, old == fresh.end() ? nullptr : old->second, v);
    }
  }
  return fresh;  // now the previous content
}

void Store::notifyLocked(const std::string& key, const ObjectPtr& before,
                         const ObjectPtr& after) const {
  for (auto* o : observers_) {
    o->changed(key, before.get(), after.get());
  }
}

void Store::observe(StoreObserver* observer) const {
  const std::unique_lock lock(mutex_);
  observers_.push_back(observer);
  for (const auto& [k, v] : items_) {
    observer->changed(k, nullptr, v.get());
  }
}

void Store::unobserve(StoreObserver* observer) const {
  const std::unique_lock lock(mutex_);
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

}  // namespace umbra::kube
