#pragma once

// Internal to src/placement/dra_cel*.cc: the parsed form of a device selector.
#include <memory>
#include <string>
#include <vector>

#include "placement/dra_cel.h"

namespace umbra::placement::dra {

struct Token {
  enum Kind { End, Ident, String, Number, Op } kind = End;
  std::string text;
  double number = 0;
  bool integer = false;
};

struct Selector::Node {
  enum Kind { Literal, Device, Select, Index, Call, Not, Binary } kind = Literal;
  std::string name;  // Select: field; Call: function; Binary: operator
  Token literal;
  std::vector<std::shared_ptr<const Node>> args;  // operands; Call: receiver (or null) first
};

}  // namespace umbra::placement::dra
