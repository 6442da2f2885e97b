#include "odata.hpp"

#include <cctype>
#include <optional>

#include "sim_util.hpp"

namespace mdesim {
using mdesync::util::ErrorCode;
using mdesync::util::fail;

enum class Op { eq, ne, gt, ge, lt, le };

struct Literal {
  enum class Kind { string, number, datetime, boolean, null } kind = Kind::null;
  std::string text;
  double number = 0;
  std::int64_t time = 0;
  bool boolean = false;
};

struct FilterNode {
  enum class Kind { and_, or_, not_, cmp, startswith, any } kind = Kind::cmp;
  std::shared_ptr<const FilterNode> left, right;
  std::string prop;
  Op op = Op::eq;
  Literal lit;
  std::shared_ptr<const FilterNode> inner;  // any(): body applied to each element via prop ""
};

namespace {

struct Token {
  enum class Kind { ident, string, number, lparen, rparen, comma, colon, end } kind;
  std::string text;
};

mdesync::util::Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (c == '(') {
      out.push_back({Token::Kind::lparen, "("});
      ++i;
    } else if (c == ')') {
      out.push_back({Token::Kind::rparen, ")"});
      ++i;
    } else if (c == ',') {
      out.push_back({Token::Kind::comma, ","});
      ++i;
    } else if (c == ':') {
      out.push_back({Token::Kind::colon, ":"});
      ++i;
    } else if (c == '\'') {
      std::string v;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            v.push_back('\'');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        v.push_back(s[i++]);
      }
      if (!closed) return fail(ErrorCode::parse, "unterminated string literal in $filter");
      out.push_back({Token::Kind::string, v});
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '-') {
      std::string v;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '.' ||
                              s[i] == ':' || s[i] == '-' || s[i] == '+')) {
        v.push_back(s[i++]);
      }
      out.push_back({Token::Kind::number, v});
    } else if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      std::string v;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '_' ||
                              s[i] == '/' || s[i] == '.')) {
        v.push_back(s[i++]);
      }
      out.push_back({Token::Kind::ident, v});
    } else {
      return fail(ErrorCode::parse, std::string("unexpected character '") + c + "' in $filter");
    }
  }
  out.push_back({Token::Kind::end, ""});
  return out;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::vector<std::string>& allowed)
      : m_t(std::move(tokens)), m_allowed(allowed) {}

  mdesync::util::Result<std::shared_ptr<const FilterNode>> parse() {
    auto e = parse_or();
    if (!e) return e;
    if (peek().kind != Token::Kind::end) {
      return fail(ErrorCode::parse, "unexpected '" + peek().text + "' in $filter");
    }
    return e;
  }

 private:
  const Token& peek() const { return m_t[m_i]; }
  bool keyword(const char* k) const {
    return peek().kind == Token::Kind::ident && iequals(peek().text, k);
  }

  mdesync::util::Result<std::string> property(const std::string& name) {
    if (!m_var.empty() && name == m_var) return std::string{};
    for (const auto& a : m_allowed) {
      if (iequals(a, name)) return a;
    }
    return fail(ErrorCode::parse, "property '" + name + "' is not filterable on this resource");
  }

  mdesync::util::Result<std::shared_ptr<const FilterNode>> parse_or() {
    auto l = parse_and();
    if (!l) return l;
    while (keyword("or")) {
      ++m_i;
      auto r = parse_and();
      if (!r) return r;
      auto n = std::make_shared<FilterNode>();
      n->kind = FilterNode::Kind::or_;
      n->left = *l;
      n->right = *r;
      l = n;
    }
    return l;
  }

  mdesync::util::Result<std::shared_ptr<const FilterNode>> parse_and() {
    auto l = parse_unary();
    if (!l) return l;
    while (keyword("and")) {
      ++m_i;
      auto r = parse_unary();
      if (!r) return r;
      auto n = std::make_shared<FilterNode>();
      n->kind = FilterNode::Kind::and_;
      n->left = *l;
      n->right = *r;
      l = n;
    }
    return l;
  }

  mdesync::util::Result<std::shared_ptr<const FilterNode>> parse_unary() {
    if (keyword("not")) {
      ++m_i;
      auto inner = parse_unary();
      if (!inner) return inner;
      auto n = std::make_shared<FilterNode>();
      n->kind = FilterNode::Kind::not_;
      n->left = *inner;
      return std::shared_ptr<const FilterNode>(n);
    }
    if (peek().kind == Token::Kind::lparen) {
      ++m_i;
      auto e = parse_or();
      if (!e) return e;
      if (peek().kind != Token::Kind::rparen)
        return fail(ErrorCode::parse, "missing ')' in $filter");
      ++m_i;
      return e;
    }
    if (keyword("startswith")) {
      ++m_i;
      if (peek().kind != Token::Kind::lparen)
        return fail(ErrorCode::parse, "expected '(' after startswith");
      ++m_i;
      if (peek().kind != Token::Kind::ident)
        return fail(ErrorCode::parse, "expected a property in startswith");
      auto prop = property(peek().text);
      if (!prop) return tl::unexpected(prop.error());
      ++m_i;
      if (peek().kind != Token::Kind::comma)
        return fail(ErrorCode::parse, "expected ',' in startswith");
      ++m_i;
      if (peek().kind != Token::Kind::string)
        return fail(ErrorCode::parse, "startswith needs a string literal");
      auto n = std::make_shared<FilterNode>();
      n->kind = FilterNode::Kind::startswith;
      n->prop = *prop;
      n->lit.kind = Literal::Kind::string;
      n->lit.text = peek().text;
      ++m_i;
      if (peek().kind != Token::Kind::rparen)
        return fail(ErrorCode::parse, "missing ')' after startswith");
      ++m_i;
      return std::shared_ptr<const FilterNode>(n);
    }
    if (peek().kind != Token::Kind::ident) {
      return fail(ErrorCode::parse,
                  "expected a property name in $filter, got '" + peek().text + "'");
    }
    const std::string name = peek().text;
    ++m_i;
    const auto slash = name.find('/');
    if (slash != std::string::npos) {
      if (!iequals(name.substr(slash + 1), "any") || !m_var.empty()) {
        return fail(ErrorCode::parse, "unsupported path '" + name + "' in $filter");
      }
      auto prop = property(name.substr(0, slash));
      if (!prop) return tl::unexpected(prop.error());
      if (peek().kind != Token::Kind::lparen)
        return fail(ErrorCode::parse, "expected '(' after any");
      ++m_i;
      if (peek().kind != Token::Kind::ident)
        return fail(ErrorCode::parse, "expected a lambda variable");
      m_var = peek().text;
      ++m_i;
      if (peek().kind != Token::Kind::colon)
        return fail(ErrorCode::parse, "expected ':' in lambda");
      ++m_i;
      auto body = parse_or();
      m_var.clear();
      if (!body) return body;
      if (peek().kind != Token::Kind::rparen)
        return fail(ErrorCode::parse, "missing ')' after lambda");
      ++m_i;
      auto n = std::make_shared<FilterNode>();
      n->kind = FilterNode::Kind::any;
      n->prop = *prop;
      n->inner = *body;
      return std::shared_ptr<const FilterNode>(n);
    }
    auto prop = property(name);
    if (!prop) return tl::unexpected(prop.error());
    if (peek().kind != Token::Kind::ident)
      return fail(ErrorCode::parse, "expected an operator after '" + name + "'");
    const std::string op = lower(peek().text);
    auto n = std::make_shared<FilterNode>();
    n->kind = FilterNode::Kind::cmp;
    n->prop = *prop;
    if (op == "eq")
      n->op = Op::eq;
    else if (op == "ne")
      n->op = Op::ne;
    else if (op == "gt")
      n->op = Op::gt;
    else if (op == "ge")
      n->op = Op::ge;
    else if (op == "lt")
      n->op = Op::lt;
    else if (op == "le")
      n->op = Op::le;
    else
      return fail(ErrorCode::parse, "unsupported operator '" + peek().text + "' in $filter");
    ++m_i;
    const Token& v = peek();
    if (v.kind == Token::Kind::string) {
      n->lit.kind = Literal::Kind::string;
      n->lit.text = v.text;
    } else if (v.kind == Token::Kind::number) {
      n->lit.text = v.text;
      if (auto t = parse_time(v.text)) {
        n->lit.kind = Literal::Kind::datetime;
        n->lit.time = *t;
      } else if (v.text.size() >= 5 && v.text.back() == 'Z' &&
                 parse_time(v.text.substr(0, v.text.size() - 1))) {
        n->lit.kind = Literal::Kind::datetime;
        n->lit.time = *parse_time(v.text.substr(0, v.text.size() - 1));
      } else {
        char* end = nullptr;
        n->lit.number = std::strtod(v.text.c_str(), &end);
        if (end == nullptr || *end != '\0')
          return fail(ErrorCode::parse, "invalid literal '" + v.text + "'");
        n->lit.kind = Literal::Kind::number;
      }
    } else if (v.kind == Token::Kind::ident &&
               (iequals(v.text, "true") || iequals(v.text, "false"))) {
      n->lit.kind = Literal::Kind::boolean;
      n->lit.boolean = iequals(v.text, "true");
    } else if (v.kind == Token::Kind::ident && iequals(v.text, "null")) {
      n->lit.kind = Literal::Kind::null;
    } else {
      return fail(ErrorCode::parse, "expected a literal after '" + op + "'");
    }
    ++m_i;
    return std::shared_ptr<const FilterNode>(n);
  }

  std::vector<Token> m_t;
  std::size_t m_i = 0;
  const std::vector<std::string>& m_allowed;
  std::string m_var;
};

template <typename T>
bool apply(Op op, const T& a, const T& b) {
  switch (op) {
    case Op::eq:
      return a == b;
    case Op::ne:
      return !(a == b);
    case Op::gt:
      return a > b;
    case Op::ge:
      return a >= b;
    case Op::lt:
      return a < b;
    case Op::le:
      return a <= b;
  }
  return false;
}

bool compare(const nlohmann::ordered_json& v, Op op, const Literal& lit) {
  if (v.is_array()) {
    for (const auto& e : v) {
      if (compare(e, op, lit)) return true;
    }
    return false;
  }
  if (lit.kind == Literal::Kind::null) return (op == Op::eq) == v.is_null();
  if (v.is_null()) return op == Op::ne;
  switch (lit.kind) {
    case Literal::Kind::string:
      if (v.is_string()) return apply(op, lower(v.get<std::string>()), lower(lit.text));
      if (v.is_number()) {
        char* end = nullptr;
        const double d = std::strtod(lit.text.c_str(), &end);
        if (end != nullptr && *end == '\0' && !lit.text.empty())
          return apply(op, v.get<double>(), d);
      }
      return op == Op::ne;
    case Literal::Kind::number:
      if (v.is_number()) return apply(op, v.get<double>(), lit.number);
      if (v.is_string()) return apply(op, lower(v.get<std::string>()), lower(lit.text));
      return op == Op::ne;
    case Literal::Kind::datetime:
      if (v.is_string()) {
        if (auto t = parse_time(v.get<std::string>())) return apply(op, *t, lit.time);
      }
      return op == Op::ne;
    case Literal::Kind::boolean:
      if (v.is_boolean()) return apply(op, v.get<bool>(), lit.boolean);
      return op == Op::ne;
    case Literal::Kind::null:
      break;
  }
  return false;
}

bool eval(const FilterNode& n, const nlohmann::ordered_json& row,
          const nlohmann::ordered_json* element) {
  auto value = [&](const std::string& prop) -> const nlohmann::ordered_json& {
    static const nlohmann::ordered_json null_value;
    if (prop.empty() && element != nullptr) return *element;
    auto it = row.find(prop);
    return it == row.end() ? null_value : *it;
  };
  switch (n.kind) {
    case FilterNode::Kind::and_:
      return eval(*n.left, row, element) && eval(*n.right, row, element);
    case FilterNode::Kind::or_:
      return eval(*n.left, row, element) || eval(*n.right, row, element);
    case FilterNode::Kind::not_:
      return !eval(*n.left, row, element);
    case FilterNode::Kind::cmp:
      return compare(value(n.prop), n.op, n.lit);
    case FilterNode::Kind::startswith: {
      const auto& v = value(n.prop);
      auto starts = [&](const nlohmann::ordered_json& e) {
        return e.is_string() && lower(e.get<std::string>()).rfind(lower(n.lit.text), 0) == 0;
      };
      if (v.is_array()) {
        for (const auto& e : v) {
          if (starts(e)) return true;
        }
        return false;
      }
      return starts(v);
    }
    case FilterNode::Kind::any: {
      const auto& v = value(n.prop);
      if (!v.is_array()) return false;
      for (const auto& e : v) {
        if (eval(*n.inner, row, &e)) return true;
      }
      return false;
    }
  }
  return false;
}

}  // namespace

mdesync::util::Result<Filter> Filter::parse(std::string_view text,
                                            const std::vector<std::string>& allowed) {
  auto tokens = tokenize(text);
  if (!tokens) return tl::unexpected(tokens.error());
  Parser p(std::move(*tokens), allowed);
  auto root = p.parse();
  if (!root) return tl::unexpected(root.error());
  Filter f;
  f.m_root = *root;
  return f;
}

bool Filter::matches(const nlohmann::ordered_json& row) const {
  return eval(*m_root, row, nullptr);
}

}  // namespace mdesim
