// The CEL subset of DRA device selectors, parsed: a tokenizer and a recursive-descent parser to
// the small tree of dra_cel_tree.h (evaluated in dra_cel.cc).
#include <cctype>
#include <set>

#include "placement/dra_cel_tree.h"

namespace umbra::placement::dra {

namespace {

Result<std::vector<Token>> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_'))
        ++j;
      out.push_back({Token::Ident, s.substr(i, j - i)});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool integer = true;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) {
        integer &= s[j] != '.';
        ++j;
      }
      Token t{Token::Number, s.substr(i, j - i)};
      t.number = std::stod(t.text);
      t.integer = integer;
      out.push_back(t);
      i = j;
    } else if (c == '"' || c == '\'') {
      std::string text;
      size_t j = i + 1;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' && j + 1 < s.size())
          ++j;
        text += s[j++];
      }
      if (j >= s.size())
        return Error::make(ErrorKind::Terminal, "unterminated string");
      out.push_back({Token::String, text});
      i = j + 1;
    } else {
      static const char* const two[] = {"==", "!=", "<=", ">=", "&&", "||"};
      std::string op(1, c);
      for (const char* t : two) {
        if (s.compare(i, 2, t) == 0)
          op = t;
      }
      if (std::string("()[].,!<>").find(c) == std::string::npos && op.size() == 1)
        return Error::make(ErrorKind::Terminal, "unsupported character '" + op + "'");
      out.push_back({Token::Op, op});
      i += op.size();
    }
  }
  out.push_back({Token::End, ""});
  return out;
}

using NodeP = std::shared_ptr<const Selector::Node>;
using N = Selector::Node;

const std::set<std::string> Methods = {"compareTo",  "isGreaterThan", "isLessThan", "asInteger",
                                       "startsWith", "endsWith",      "contains"};

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}

  Result<NodeP> parse() {
    UMBRA_TRY(NodeP e, expr());
    if (peek().kind != Token::End)
      return unsupported("'" + peek().text + "'");
    return e;
  }

 private:
  const Token& peek() const { return t_[i_]; }
  bool accept(const std::string& op) {
    if (peek().kind == Token::Op && peek().text == op) {
      ++i_;
      return true;
    }
    return false;
  }
  static Error unsupported(const std::string& what) {
    return Error::make(ErrorKind::Terminal, "unsupported " + what);
  }
  static NodeP make(N::Kind kind, std::string name, std::vector<NodeP> args) {
    auto n = std::make_shared<N>();
    n->kind = kind;
    n->name = std::move(name);
    n->args = std::move(args);
    return n;
  }

  Result<NodeP> expr() { return leftAssociative("||", &Parser::conjunction); }
  Result<NodeP> conjunction() { return leftAssociative("&&", &Parser::unary); }
  // operand (op operand)*, grouped to the left.
  Result<NodeP> leftAssociative(const char* op, Result<NodeP> (Parser::*operand)()) {
    UMBRA_TRY(NodeP left, (this->*operand)());
    while (accept(op)) {
      UMBRA_TRY(NodeP right, (this->*operand)());
      left = make(N::Binary, op, {left, right});
    }
    return left;
  }
  Result<NodeP> unary() {
    if (accept("!")) {
      UMBRA_TRY(NodeP operand, unary());
      return make(N::Not, "!", {operand});
    }
    return comparison();
  }
  Result<NodeP> comparison() {
    UMBRA_TRY(NodeP left, postfix());
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (accept(op)) {
        UMBRA_TRY(NodeP right, postfix());
        return make(N::Binary, op, {left, right});
      }
    }
    if (peek().kind == Token::Ident && peek().text == "in") {
      ++i_;
      UMBRA_TRY(NodeP right, postfix());
      return make(N::Binary, "in", {left, right});
    }
    return left;
  }
  Result<NodeP> postfix() {
    UMBRA_TRY(NodeP e, primary());
    for (;;) {
      if (accept(".")) {
        if (peek().kind != Token::Ident)
          return unsupported("'." + peek().text + "'");
        const std::string name = t_[i_++].text;
        if (accept("(")) {
          if (Methods.count(name) == 0)
            return unsupported("function '" + name + "'");
          UMBRA_TRY(std::vector<NodeP> args, arguments());
          args.insert(args.begin(), e);
          e = make(N::Call, name, std::move(args));
        } else {
          e = make(N::Select, name, {e});
        }
      } else if (accept("[")) {
        UMBRA_TRY(NodeP key, expr());
        if (!accept("]"))
          return unsupported("index: missing ']'");
        e = make(N::Index, "", {e, key});
      } else {
        return e;
      }
    }
  }
  Result<std::vector<NodeP>> arguments() {
    std::vector<NodeP> args;
    if (accept(")"))
      return args;
    do {
      UMBRA_TRY(NodeP a, expr());
      args.push_back(a);
    } while (accept(","));
    if (!accept(")"))
      return unsupported("call: missing ')'");
    return args;
  }
  Result<NodeP> primary() {
    const Token t = peek();
    if (accept("(")) {
      UMBRA_TRY(NodeP e, expr());
      if (!accept(")"))
        return unsupported("parentheses: missing ')'");
      return e;
    }
    if (t.kind == Token::String || t.kind == Token::Number) {
      ++i_;
      auto n = std::make_shared<N>();
      n->literal = t;
      return NodeP(n);
    }
    if (t.kind == Token::Ident) {
      ++i_;
      if (t.text == "device")
        return make(N::Device, "device", {});
      if (t.text == "true" || t.text == "false") {
        auto n = std::make_shared<N>();
        n->literal = {Token::Ident, t.text};
        return NodeP(n);
      }
      if (t.text == "quantity" && accept("(")) {
        UMBRA_TRY(std::vector<NodeP> args, arguments());
        args.insert(args.begin(), nullptr);
        return make(N::Call, "quantity", std::move(args));
      }
      return unsupported("identifier '" + t.text + "'");
    }
    return unsupported(t.kind == Token::End ? std::string("end of expression")
                                            : "'" + t.text + "'");
  }

  std::vector<Token> t_;
  size_t i_ = 0;
};


}  // namespace

Result<Selector> Selector::parse(const std::string& expression) {
  const auto fail = [&](const Error& e) {
    return Error::make(ErrorKind::Terminal, "CEL selector \"" + expression + "\": " + e.message +
                                                " (Umbra evaluates driver, attribute and "
                                                "capacity comparisons)");
  };
  auto tokens = tokenize(expression);
  if (!tokens.ok())
    return fail(tokens.error());
  auto root = Parser(std::move(*tokens)).parse();
  if (!root.ok())
    return fail(root.error());
  Selector s;
  s.root_ = *root;
  s.text_ = expression;
  return s;
}

}  // namespace umbra::placement::dra
