#include "dbsnap/alembic/revision_file.hpp"

#include <algorithm>
#include <map>
#include <span>
#include <system_error>

#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::alembic {

namespace fs = std::filesystem;

namespace {

// A tokenizer for the subset of Python that locates top-level statements and
// reads literals: names, strings (decoded), numbers, operators. Comments,
// line continuations and newlines inside brackets are consumed here, so the
// output is a list of logical lines.

enum class Kind { name, string, number, op };

struct Token {
  Kind kind = Kind::op;
  std::string_view text;  // the source text (strings: prefix and quotes included)
  int line = 0;
  std::size_t column = 0;
  std::string value;  // a string literal's decoded contents
  bool bytes = false;
  bool formatted = false;
};

using Tokens = std::span<const Token>;

template <typename... Args>
std::unexpected<Error> error_at(const fs::path& file, int line, fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorKind::config, "{}:{}: {}", file.string(), line,
                    fmt::format(format, std::forward<Args>(args)...));
}

bool is_name_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' || u >= 0x80;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The length of a valid string prefix (r, u, b, f, rb, br, rf, fr in any
// case) followed by a quote at `pos`, or npos.
std::size_t string_prefix_length(std::string_view src, std::size_t pos) {
  std::string prefix;
  while (prefix.size() < 3 && pos + prefix.size() < src.size() &&
         std::string_view("rRuUbBfF").find(src[pos + prefix.size()]) != std::string_view::npos) {
    prefix += static_cast<char>(src[pos + prefix.size()] | 0x20);
  }
  std::size_t quote = pos + prefix.size();
  if (quote >= src.size() || (src[quote] != '\'' && src[quote] != '"')) return std::string_view::npos;
  static constexpr std::string_view valid[] = {"", "r", "u", "b", "f", "rb", "br", "rf", "fr"};
  return std::ranges::find(valid, prefix) != std::end(valid) ? prefix.size() : std::string_view::npos;
}

// Decodes the escapes of a non-raw string body as Python does.
Expected<std::string> decode_escapes(std::string_view body, bool bytes, const fs::path& file, int line) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\') {
      out += body[i];
      continue;
    }
    char e = body[++i];  // the lexer guarantees a backslash is never last
    if (auto control = util::control_escape(e)) {
      out += *control;
      continue;
    }
    switch (e) {
      case '\n': break;
      case '\\': case '\'': case '"': out += e; break;
      case 'a': out += '\a'; break;
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        char32_t cp = 0;
        for (int n = 0; n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++n, ++i) cp = cp * 8 + (body[i] - '0');
        --i;
        if (bytes && cp > 0xFF) return error_at(file, line, "octal escape out of range in a bytes literal");
        if (bytes) out += static_cast<char>(cp); else append_utf8(out, cp);
        break;
      }
      case 'x': case 'u': case 'U': {
        if (e != 'x' && bytes) {
          out += '\\';
          out += e;
          break;
        }
        std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (std::size_t n = 1; n <= digits; ++n) {
          int v = i + n < body.size() ? util::hex_value(body[i + n]) : -1;
          if (v < 0) return error_at(file, line, "truncated \\{} escape in a string", e);
          cp = cp * 16 + static_cast<char32_t>(v);
        }
        i += digits;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return error_at(file, line, "\\{} escape is not a valid Unicode scalar value", e);
        }
        if (bytes) out += static_cast<char>(cp); else append_utf8(out, cp);
        break;
      }
      case 'N':
        if (!bytes) return error_at(file, line, "\\N{{...}} escapes are not supported");
        [[fallthrough]];
      default:
        out += '\\';
        out += e;
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view src, const fs::path& file) : src_(src), file_(file) {}

  // Splits the source into logical lines of tokens.
  Expected<std::vector<std::vector<Token>>> run() {
    std::vector<std::vector<Token>> lines;
    std::vector<Token> current;
    std::vector<std::pair<char, int>> open;  // open brackets and their lines
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == '\n') {
        if (open.empty() && !current.empty()) lines.push_back(std::exchange(current, {}));
        newline_at(pos_++);
      } else if (c == ' ' || c == '\t' || c == '\f') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else if (c == '\\') {
        if (pos_ + 1 >= src_.size() || src_[pos_ + 1] != '\n') return error_at(file_, line_, "expected a line break after '\\'");
        newline_at(pos_ + 1);
        pos_ += 2;
      } else if (auto prefix = string_prefix_length(src_, pos_); prefix != std::string_view::npos) {
        auto token = string(prefix);
        if (!token) return std::unexpected(token.error());
        current.push_back(std::move(*token));
      } else {
        Token token = start(Kind::name);
        if (is_digit(c) || (c == '.' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))) {
          token.kind = Kind::number;
          while (pos_ < src_.size() && (is_name_char(src_[pos_]) || src_[pos_] == '.')) ++pos_;
        } else if (is_name_char(c)) {
          while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        } else {
          token.kind = Kind::op;
          pos_ += operator_length();
          if (c == '(' || c == '[' || c == '{') {
            open.emplace_back(c, line_);
          } else if (c == ')' || c == ']' || c == '}') {
            char expected = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (open.empty()) return error_at(file_, line_, "unmatched '{}'", c);
            if (open.back().first != expected) {
              return error_at(file_, line_, "'{}' does not match '{}' on line {}", c, open.back().first, open.back().second);
            }
            open.pop_back();
          }
        }
        token.text = src_.substr(token_start_, pos_ - token_start_);
        current.push_back(std::move(token));
      }
    }
    if (!open.empty()) return error_at(file_, open.back().second, "'{}' is never closed", open.back().first);
    if (!current.empty()) lines.push_back(std::move(current));
    return lines;
  }

 private:
  void newline_at(std::size_t newline) {
    ++line_;
    line_start_ = newline + 1;
  }

  Token start(Kind kind) {
    token_start_ = pos_;
    Token token;
    token.kind = kind;
    token.line = line_;
    token.column = pos_ - line_start_;
    return token;
  }

  std::size_t operator_length() const {
    static constexpr std::string_view ops[] = {"**=", "//=", ">>=", "<<=", "...", "==", "!=", "<=", ">=", ":=",
                                               "->",  "**",  "//",  "<<",  ">>",  "+=", "-=", "*=", "/=", "%=",
                                               "&=",  "|=",  "^=",  "@="};
    for (auto op : ops) {
      if (src_.substr(pos_).starts_with(op)) return op.size();
    }
    return 1;
  }

  Expected<Token> string(std::size_t prefix_length) {
    Token token = start(Kind::string);
    std::string prefix(src_.substr(pos_, prefix_length));
    std::ranges::transform(prefix, prefix.begin(), [](char c) { return static_cast<char>(c | 0x20); });
    bool raw = prefix.contains('r');
    token.bytes = prefix.contains('b');
    token.formatted = prefix.contains('f');
    pos_ += prefix_length;
    const char quote = src_[pos_];
    const std::string triple(3, quote);
    const bool is_triple = src_.substr(pos_).starts_with(triple);
    pos_ += is_triple ? 3 : 1;
    const std::size_t body_start = pos_;
    for (;;) {
      if (pos_ >= src_.size()) {
        return error_at(file_, token.line, "{} string is never closed", is_triple ? "triple-quoted" : "this");
      }
      char c = src_[pos_];
      if (c == '\\') {
        if (pos_ + 1 < src_.size() && src_[pos_ + 1] == '\n') newline_at(pos_ + 1);
        pos_ += 2;
      } else if (c == '\n') {
        if (!is_triple) return error_at(file_, token.line, "this string is never closed on its line");
        newline_at(pos_++);
      } else if (c == quote && (!is_triple || src_.substr(pos_).starts_with(triple))) {
        break;
      } else {
        ++pos_;
      }
    }
    std::string_view body = src_.substr(body_start, pos_ - body_start);
    pos_ += is_triple ? 3 : 1;
    token.text = src_.substr(token_start_, pos_ - token_start_);
    if (token.bytes && std::ranges::any_of(body, [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
      return error_at(file_, token.line, "a bytes literal can only contain ASCII characters");
    }
    if (raw || token.formatted) {
      token.value = body;
    } else {
      auto decoded = decode_escapes(body, token.bytes, file_, token.line);
      if (!decoded) return std::unexpected(decoded.error());
      token.value = std::move(*decoded);
    }
    return token;
  }

  std::string_view src_;
  const fs::path& file_;
  std::size_t pos_ = 0;
  std::size_t token_start_ = 0;
  std::size_t line_start_ = 0;
  int line_ = 1;
};

// A literal value: None, a string, or a tuple or list of strings.
struct Value {
  enum class Kind { none, string, sequence } kind = Kind::none;
  std::string text;
  std::vector<std::string> items;
  int line = 0;
};

bool is_op(const Token& token, std::string_view op) { return token.kind == Kind::op && token.text == op; }

// Reads the value of `name = ...` from the tokens after the '='.
class ValueParser {
 public:
  ValueParser(Tokens tokens, std::string_view name, int line, const fs::path& file)
      : tokens_(tokens), name_(name), line_(line), file_(file) {}

  Expected<Value> parse() {
    bool comma = false;
    auto elements = elements_until(comma);
    if (!elements) return std::unexpected(elements.error());
    if (i_ < tokens_.size()) return expected("end of the statement");
    if (elements->empty()) return expected("a value");
    if (!comma) return std::move(elements->front());
    return sequence(std::move(*elements));
  }

 private:
  std::unexpected<Error> expected(std::string_view what) const {
    if (i_ >= tokens_.size()) return error_at(file_, line_, "{}: expected {}, found the end of the line", name_, what);
    std::string_view found = tokens_[i_].text;
    std::string shown(found.substr(0, 40));
    if (found.size() > 40) shown += "...";
    return error_at(file_, tokens_[i_].line, "{}: expected {}, found '{}'", name_, what, shown);
  }

  bool at_closer() const {
    return i_ >= tokens_.size() || is_op(tokens_[i_], ")") || is_op(tokens_[i_], "]") || is_op(tokens_[i_], ";");
  }

  // Comma-separated atoms up to a closing bracket or the end; `comma` tells
  // whether any comma was seen (which makes a tuple).
  Expected<std::vector<Value>> elements_until(bool& comma) {
    std::vector<Value> out;
    while (!at_closer()) {
      auto value = atom();
      if (!value) return std::unexpected(value.error());
      out.push_back(std::move(*value));
      if (i_ < tokens_.size() && is_op(tokens_[i_], ",")) {
        comma = true;
        ++i_;
      } else {
        break;
      }
    }
    return out;
  }

  Expected<Value> sequence(std::vector<Value> elements) const {
    Value out;
    out.kind = Value::Kind::sequence;
    out.line = line_;
    for (auto& element : elements) {
      if (element.kind != Value::Kind::string) {
        return error_at(file_, element.line, "{}: expected only strings inside the tuple or list", name_);
      }
      out.items.push_back(std::move(element.text));
    }
    return out;
  }

  Expected<Value> atom() {
    static constexpr std::string_view what = "a string, None, or a tuple or list of strings";
    const Token& token = tokens_[i_];
    Value out;
    out.line = token.line;
    if (token.kind == Kind::name && token.text == "None") {
      ++i_;
      return out;
    }
    if (token.kind == Kind::string) {
      out.kind = Value::Kind::string;
      for (; i_ < tokens_.size() && tokens_[i_].kind == Kind::string; ++i_) {
        if (tokens_[i_].formatted) return expected("a plain string (f-strings are not literals)");
        if (tokens_[i_].bytes != token.bytes) return expected("no mix of bytes and str literals");
        out.text += tokens_[i_].value;
      }
      return out;
    }
    if (is_op(token, "(") || is_op(token, "[")) {
      const std::string_view closer = token.text == "(" ? ")" : "]";
      ++i_;
      bool comma = false;
      auto elements = elements_until(comma);
      if (!elements) return std::unexpected(elements.error());
      if (i_ >= tokens_.size() || !is_op(tokens_[i_], closer)) return expected(fmt::format("',' or '{}'", closer));
      ++i_;
      if (closer == ")" && !comma && elements->size() == 1) return std::move(elements->front());
      return sequence(std::move(*elements));
    }
    return expected(what);
  }

  Tokens tokens_;
  std::string_view name_;
  int line_;
  const fs::path& file_;
  std::size_t i_ = 0;
};

bool is_augmented_assignment(const Token& token) {
  return token.kind == Kind::op && token.text.size() >= 2 && token.text.ends_with('=') && token.text != "==" &&
         token.text != "!=" && token.text != "<=" && token.text != ">=";
}

// Splits a logical line into its ';'-separated simple statements.
std::vector<Tokens> split_statements(Tokens line) {
  std::vector<Tokens> out;
  int depth = 0;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const Token& token = line[i];
    if (token.kind != Kind::op) continue;
    if (token.text == "(" || token.text == "[" || token.text == "{") ++depth;
    if (token.text == ")" || token.text == "]" || token.text == "}") --depth;
    if (depth == 0 && token.text == ";") {
      out.push_back(line.subspan(begin, i - begin));
      begin = i + 1;
    }
  }
  out.push_back(line.subspan(begin));
  return out;
}

bool starts_compound_statement(const Token& token) {
  static constexpr std::string_view keywords[] = {"if",  "elif",    "else",    "for",   "while", "with",
                                                  "def", "class",   "try",     "except", "finally", "async"};
  return token.kind == Kind::name && std::ranges::find(keywords, token.text) != std::end(keywords);
}

// Turns a value into a list of ids: None is empty, a string is one.
Expected<std::vector<std::string>> to_list(const Value& value, std::string_view name, const fs::path& file) {
  std::vector<std::string> out;
  if (value.kind == Value::Kind::string) out.push_back(value.text);
  if (value.kind == Value::Kind::sequence) out = value.items;
  for (const auto& item : out) {
    if (item.empty()) return error_at(file, value.line, "{}: expected non-empty strings, found ''", name);
  }
  return out;
}

void read_docstring(const std::string& doc, Revision& out) {
  std::string_view text = util::trim(doc);
  out.message = util::trim(text.substr(0, text.find('\n')));
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = std::min(text.find('\n', begin), text.size());
    std::string_view line = util::trim(text.substr(begin, end - begin));
    if (line.starts_with("Create Date:")) {
      out.create_date = util::trim(line.substr(12));
      return;
    }
    begin = end + 1;
  }
}

}  // namespace

Expected<Revision> parse_revision_file(std::string_view source, const fs::path& file) {
  std::string text;
  text.reserve(source.size());
  if (source.starts_with("\xEF\xBB\xBF")) source.remove_prefix(3);
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] != '\r') {
      text += source[i];
    } else if (i + 1 >= source.size() || source[i + 1] != '\n') {
      text += '\n';
    }
  }
  auto lines = Lexer(text, file).run();
  if (!lines) return std::unexpected(lines.error());

  Revision out;
  out.file = file;
  std::map<std::string_view, Value> assigned;  // the last top-level assignment wins, as in Python
  bool first_statement = true;
  for (const auto& line : *lines) {
    const bool top_level = line.front().column == 0;
    if (starts_compound_statement(line.front())) {
      first_statement = false;
      continue;
    }
    for (Tokens statement : split_statements(line)) {
      if (statement.empty()) continue;
      if (std::exchange(first_statement, false) && top_level &&
          std::ranges::all_of(statement, [](const Token& t) { return t.kind == Kind::string && !t.bytes && !t.formatted; })) {
        std::string doc;
        for (const auto& t : statement) doc += t.value;
        read_docstring(doc, out);
        continue;
      }
      const Token& target = statement.front();
      static constexpr std::string_view names[] = {"revision", "down_revision", "branch_labels", "depends_on"};
      if (!top_level || statement.size() < 2 || target.kind != Kind::name ||
          std::ranges::find(names, target.text) == std::end(names)) {
        continue;
      }
      std::size_t value_at = 0;
      if (is_op(statement[1], "=")) {
        value_at = 2;
      } else if (is_op(statement[1], ":")) {  // an annotation: the value follows the first '=' outside brackets
        int depth = 0;
        for (std::size_t i = 2; i < statement.size() && value_at == 0; ++i) {
          if (is_op(statement[i], "(") || is_op(statement[i], "[")) ++depth;
          if (is_op(statement[i], ")") || is_op(statement[i], "]")) --depth;
          if (depth == 0 && is_op(statement[i], "=")) value_at = i + 1;
        }
        if (value_at == 0) continue;  // a bare annotation assigns nothing
      } else if (is_op(statement[1], ",") || is_augmented_assignment(statement[1])) {
        return error_at(file, target.line, "expected `{} = value`; unpacking and augmented assignments are not supported",
                        target.text);
      } else {
        continue;
      }
      auto value = ValueParser(statement.subspan(value_at), target.text, target.line, file).parse();
      if (!value) return std::unexpected(value.error());
      value->line = target.line;
      assigned[target.text] = std::move(*value);
    }
  }

  auto revision = assigned.find("revision");
  if (revision == assigned.end()) {
    return make_error(ErrorKind::not_found, "{}: not an Alembic revision file (no top-level `revision = ...`)",
                      file.string());
  }
  const int line = revision->second.line;
  if (revision->second.kind != Value::Kind::string) {
    return error_at(file, line, "revision: expected a string id, found {}",
                    revision->second.kind == Value::Kind::none ? "None" : "a tuple or list");
  }
  out.id = revision->second.text;
  if (out.id.empty()) return error_at(file, line, "revision: expected a non-empty id");
  if (out.id.find_first_of("@-+") != std::string::npos) {
    return error_at(file, line, "revision: '{}' contains '@', '-' or '+', which Alembic does not allow in ids", out.id);
  }
  auto down = assigned.find("down_revision");
  if (down == assigned.end()) {
    return error_at(file, line, "expected a top-level `down_revision = ...` (None for a base revision)");
  }
  auto lists = {std::pair{&out.down_revisions, down}, std::pair{&out.branch_labels, assigned.find("branch_labels")},
                std::pair{&out.depends_on, assigned.find("depends_on")}};
  for (auto [field, it] : lists) {
    if (it == assigned.end()) continue;
    auto list = to_list(it->second, it->first, file);
    if (!list) return std::unexpected(list.error());
    *field = std::move(*list);
  }
  for (auto [name, ids] : {std::pair{"down_revision", &out.down_revisions}, std::pair{"depends_on", &out.depends_on}}) {
    if (std::ranges::find(*ids, out.id) != ids->end()) {
      return error_at(file, assigned[name].line, "{}: revision '{}' refers to itself", name, out.id);
    }
  }
  return out;
}

Expected<std::vector<Revision>> load_revisions(const fs::path& versions_dir) {
  std::error_code ec;
  if (!fs::is_directory(versions_dir, ec)) {
    return make_error(ErrorKind::config, "Alembic versions folder {} {}", versions_dir.string(),
                      fs::exists(versions_dir, ec) ? "is not a folder" : "does not exist");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(versions_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->path().extension() != ".py" || name.starts_with("__init__") || name.starts_with(".#")) continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) return make_error(ErrorKind::failure, "cannot list {}: {}", versions_dir.string(), ec.message());
  std::ranges::sort(files);

  std::vector<Revision> out;
  std::map<std::string, fs::path> seen;
  for (const auto& file : files) {
    auto source = util::read_small_file(file);
    if (!source) return std::unexpected(source.error());
    auto revision = parse_revision_file(*source, file);
    if (!revision && revision.error().kind == ErrorKind::not_found) continue;
    if (!revision) return std::unexpected(revision.error());
    auto [it, inserted] = seen.emplace(revision->id, file);
    if (!inserted) {
      return make_error(ErrorKind::config, "revision '{}' is declared twice: in {} and in {}", revision->id,
                        it->second.string(), file.string());
    }
    out.push_back(std::move(*revision));
  }
  return out;
}

}  // namespace dbsnap::alembic
