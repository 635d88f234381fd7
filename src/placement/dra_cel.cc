// The CEL subset of DRA device selectors, evaluated over one device (parsed in
// dra_cel_parse.cc).
#include <cmath>

#include "kube_core/quantity.h"
#include "placement/dra_cel_tree.h"

namespace umbra::placement::dra {

namespace {

using N = Selector::Node;

struct Value {
  enum Kind { Bool, Number, String, Quantity, Map } kind = Bool;
  bool b = false;
  double n = 0;
  bool integer = false;
  std::string s;
  enum Layer { DeviceRoot, AttributeDomains, CapacityDomains, Attributes, Capacities } layer =
      DeviceRoot;
  Json map;  // Map: the object at this layer
};

Value boolean(bool b) {
  Value v;
  v.b = b;
  return v;
}
Value number(double n, bool integer) {
  Value v;
  v.kind = Value::Number;
  v.n = n;
  v.integer = integer;
  return v;
}
Value text(std::string s) {
  Value v;
  v.kind = Value::String;
  v.s = std::move(s);
  return v;
}
Value map(Value::Layer layer, Json m) {
  Value v;
  v.kind = Value::Map;
  v.layer = layer;
  v.map = std::move(m);
  return v;
}
Error evalError(const std::string& what) {
  return Error::make(ErrorKind::Terminal, what);
}

// Attributes and capacities grouped by domain; an unqualified name is in the driver's domain.
Json grouped(const Json& byName, const std::string& driver) {
  Json out = Json::object();
  for (const auto& [name, value] : byName.items()) {
    const auto slash = name.find('/');
    if (slash == std::string::npos)
      out[driver][name] = value;
    else
      out[name.substr(0, slash)][name.substr(slash + 1)] = value;
  }
  return out;
}

Result<Value> member(const Value& m, const std::string& key, const Device& d) {
  if (m.kind != Value::Map)
    return evalError("'" + key + "' of a value that is not a map");
  switch (m.layer) {
    case Value::DeviceRoot:
      if (key == "driver")
        return text(d.driver);
      if (key == "attributes")
        return map(Value::AttributeDomains, grouped(d.attributes, d.driver));
      if (key == "capacity")
        return map(Value::CapacityDomains, grouped(d.capacity, d.driver));
      return evalError("no such field device." + key);
    case Value::AttributeDomains:
    case Value::CapacityDomains:
      return map(m.layer == Value::AttributeDomains ? Value::Attributes : Value::Capacities,
                 m.map.value(key, Json::object()));
    case Value::Attributes: {
      const auto it = m.map.find(key);
      if (it == m.map.end())
        return evalError("no such key: " + key);
      if (it->contains("string"))
        return text((*it)["string"].get<std::string>());
      if (it->contains("version"))
        return text((*it)["version"].get<std::string>());
      if (it->contains("bool"))
        return boolean((*it)["bool"].get<bool>());
      if (it->contains("int"))
        return number((*it)["int"].get<double>(), true);
      return evalError("attribute " + key + " has no value");
    }
    case Value::Capacities: {
      const auto it = m.map.find(key);
      if (it == m.map.end())
        return evalError("no such key: " + key);
      const auto q = kube::parseQuantity(it->value("value", ""));
      if (!q)
        return evalError("capacity " + key + " is not a quantity");
      Value v;
      v.kind = Value::Quantity;
      v.n = *q;
      return v;
    }
  }
  return evalError("no such key: " + key);
}

Result<Value> evaluate(const N& node, const Device& d);

Result<bool> truth(const N& node, const Device& d) {
  UMBRA_TRY(const Value v, evaluate(node, d));
  if (v.kind != Value::Bool)
    return evalError("not a boolean");
  return v.b;
}

Result<Value> call(const N& node, const Device& d) {
  std::vector<Value> args;
  for (size_t i = 1; i < node.args.size(); ++i) {
    UMBRA_TRY(Value a, evaluate(*node.args[i], d));
    args.push_back(std::move(a));
  }
  if (node.name == "quantity") {
    if (args.size() != 1 || args[0].kind != Value::String)
      return evalError("quantity() takes one string");
    const auto q = kube::parseQuantity(args[0].s);
    if (!q)
      return evalError("quantity(\"" + args[0].s + "\"): not a quantity");
    Value v;
    v.kind = Value::Quantity;
    v.n = *q;
    return v;
  }
  UMBRA_TRY(const Value self, evaluate(*node.args[0], d));
  if (node.name == "asInteger" && self.kind == Value::Quantity && args.empty())
    return number(std::floor(self.n), true);
  if (args.size() == 1 && self.kind == Value::Quantity && args[0].kind == Value::Quantity) {
    const int cmp = self.n < args[0].n ? -1 : self.n > args[0].n ? 1 : 0;
    if (node.name == "compareTo")
      return number(cmp, true);
    if (node.name == "isGreaterThan")
      return boolean(cmp > 0);
    if (node.name == "isLessThan")
      return boolean(cmp < 0);
  }
  if (args.size() == 1 && self.kind == Value::String && args[0].kind == Value::String) {
    const std::string& s = self.s;
    const std::string& a = args[0].s;
    if (node.name == "startsWith")
      return boolean(s.rfind(a, 0) == 0);
    if (node.name == "endsWith")
      return boolean(s.size() >= a.size() && s.compare(s.size() - a.size(), a.size(), a) == 0);
    if (node.name == "contains")
      return boolean(s.find(a) != std::string::npos);
  }
  return evalError("no matching overload for " + node.name + "()");
}

Result<Value> binary(const N& node, const Device& d) {
  const std::string& op = node.name;
  if (op == "&&" || op == "||") {
    const bool isAnd = op == "&&";
    const Result<bool> l = truth(*node.args[0], d);
    if (l.ok() && *l != isAnd)
      return boolean(*l);  // false && _, true || _
    const Result<bool> r = truth(*node.args[1], d);
    if (r.ok() && *r != isAnd)
      return boolean(*r);  // _ && false (even an error), _ || true
    if (!l.ok())
      return l.error();
    if (!r.ok())
      return r.error();
    return boolean(isAnd);
  }
  UMBRA_TRY(const Value l, evaluate(*node.args[0], d));
  UMBRA_TRY(const Value r, evaluate(*node.args[1], d));
  if (op == "in") {
    if (l.kind != Value::String || r.kind != Value::Map)
      return evalError("'in' needs a string and a map");
    if (r.layer == Value::DeviceRoot)
      return boolean(l.s == "driver" || l.s == "attributes" || l.s == "capacity");
    if (r.layer == Value::AttributeDomains || r.layer == Value::CapacityDomains)
      return boolean(r.map.contains(l.s));
    return boolean(r.map.contains(l.s));
  }
  const bool comparable = l.kind == r.kind && l.kind != Value::Map && l.kind != Value::Quantity;
  if (op == "==" || op == "!=") {
    const bool equal = comparable && (l.kind == Value::Bool     ? l.b == r.b
                                      : l.kind == Value::Number ? l.n == r.n
                                                                : l.s == r.s);
    return boolean(op == "==" ? equal : !equal);  // values of different types are not equal
  }
  if (!comparable || l.kind == Value::Bool)
    return evalError("no matching overload for '" + op + "'");
  const int cmp = l.kind == Value::Number ? (l.n < r.n ? -1 : l.n > r.n ? 1 : 0)
                                          : l.s.compare(r.s) < 0   ? -1
                                            : l.s.compare(r.s) > 0 ? 1
                                                                   : 0;
  return boolean(op == "<" ? cmp < 0 : op == "<=" ? cmp <= 0 : op == ">" ? cmp > 0 : cmp >= 0);
}

Result<Value> evaluate(const N& node, const Device& d) {
  switch (node.kind) {
    case N::Literal:
      if (node.literal.kind == Token::String)
        return text(node.literal.text);
      if (node.literal.kind == Token::Number)
        return number(node.literal.number, node.literal.integer);
      return boolean(node.literal.text == "true");
    case N::Device:
      return map(Value::DeviceRoot, Json::object());
    case N::Select: {
      UMBRA_TRY(const Value m, evaluate(*node.args[0], d));
      return member(m, node.name, d);
    }
    case N::Index: {
      UMBRA_TRY(const Value m, evaluate(*node.args[0], d));
      UMBRA_TRY(const Value key, evaluate(*node.args[1], d));
      if (key.kind != Value::String)
        return evalError("map keys are strings");
      return member(m, key.s, d);
    }
    case N::Call:
      return call(node, d);
    case N::Not: {
      UMBRA_TRY(const bool b, truth(*node.args[0], d));
      return boolean(!b);
    }
    case N::Binary:
      return binary(node, d);
  }
  return evalError("unknown expression");
}


}  // namespace

Result<bool> Selector::matches(const Device& device) const {
  auto r = truth(*root_, device);
  if (!r.ok())
    return Error::make(ErrorKind::Terminal, "CEL selector \"" + text_ + "\" on device " +
                                                device.driver + "/" + device.pool + "/" +
                                                device.name + ": " + r.error().message);
  return r;
}


}  // namespace umbra::placement::dra
