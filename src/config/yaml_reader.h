#pragma once

// The operator configuration's YAML reader (config.cc): typed reads that name the file and the
// field in their errors. Internal to src/config.
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>

#include "common/result.h"
#include "kube_core/quantity.h"

namespace umbra::config::detail {

// Walks the YAML tree, remembering the path for messages.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  Error error(const std::string& field, const std::string& what) const {
    return Error::config(origin_ + ": " + field + ": " + what);
  }

  // Rejects keys of `node` not in `known`.
  Status onlyKeys(const YAML::Node& node, const std::string& where,
                  const std::set<std::string>& known) const {
    if (!node) {
      return okStatus();
    }
    if (!node.IsMap()) {
      return error(where.empty() ? "(top level)" : where, "must be a mapping");
    }
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (known.count(key) == 0) {
        std::string field = where;
        field.append(where.empty() ? "" : ".").append(key);
        return error(field, "unknown field");
      }
    }
    return okStatus();
  }

  Status number(const YAML::Node& n, const std::string& field, double lo, double hi,
                double& out) const {
    if (!n) {
      return okStatus();
    }
    try {
      const double v = n.as<double>();
      if (v < lo || v > hi) {
        return error(field, "must be in [" + fmt(lo) + ", " + fmt(hi) + "], got " + fmt(v));
      }
      out = v;
      return okStatus();
    } catch (const YAML::Exception&) {
      return error(field, "must be a number, got \"" + n.Scalar() + "\"");
    }
  }

  Status integer(const YAML::Node& n, const std::string& field, int lo, int hi, int& out) const {
    if (!n) {
      return okStatus();
    }
    try {
      const int v = n.as<int>();
      if (v < lo || v > hi) {
        return error(field, "must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                                std::to_string(v));
      }
      out = v;
      return okStatus();
    } catch (const YAML::Exception&) {
      return error(field, "must be an integer, got \"" + n.Scalar() + "\"");
    }
  }

  Status duration(const YAML::Node& n, const std::string& field,
                  std::chrono::milliseconds& out) const {
    if (!n) {
      return okStatus();
    }
    const auto d = n.IsScalar() ? kube::parseDuration(n.Scalar()) : std::nullopt;
    if (!d || d->count() <= 0) {
      return error(field, "\"" + (n.IsScalar() ? n.Scalar() : std::string("?")) +
                              "\" is not a duration (e.g. 90s, 5m, 24h)");
    }
    out = *d;
    return okStatus();
  }

  Status quantity(const YAML::Node& n, const std::string& field, double& out) const {
    if (!n) {
      return okStatus();
    }
    const auto q = n.IsScalar() ? kube::parseQuantity(n.Scalar()) : std::nullopt;
    if (!q || *q <= 0) {
      return error(field, "\"" + (n.IsScalar() ? n.Scalar() : std::string("?")) +
                              "\" is not a positive quantity (e.g. 10m, 128Mi)");
    }
    out = *q;
    return okStatus();
  }

  Status boolean(const YAML::Node& n, const std::string& field, bool& out) const {
    if (!n) {
      return okStatus();
    }
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) {
      return error(field, "must be true or false");
    }
    out = n.Scalar() == "true";
    return okStatus();
  }

  Status string(const YAML::Node& n, const std::string& field, std::string& out) const {
    if (!n) {
      return okStatus();
    }
    if (!n.IsScalar() || n.Scalar().empty()) {
      return error(field, "must be a non-empty string");
    }
    out = n.Scalar();
    return okStatus();
  }

 private:
  static std::string fmt(double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') {
      s.pop_back();
    }
    return s;
  }
  std::string origin_;
};

}  // namespace umbra::config::detail
