#include "config/conn_params.h"

#include "config/ini_reader.h"

namespace reservoir::config {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  bool at_end() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    return pos_ >= text_.size();
  }

  Result<ConnParam> next() {
    const auto start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '=' && !is_space(text_[pos_])) ++pos_;
    ConnParam param{std::string(text_.substr(start, pos_ - start)), ""};
    if (param.key.empty()) return failure("expected a parameter name before '='");
    if (at_end() || text_[pos_] != '=') return failure("expected '=' after '" + param.key + "'");
    ++pos_;
    at_end();  // skips spaces after '='
    auto value = pos_ < text_.size() && text_[pos_] == '\'' ? quoted_value() : bare_value();
    if (!value) return value.error();
    param.value = std::move(*value);
    return param;
  }

 private:
  Result<std::string> bare_value() {
    std::string value;
    for (; pos_ < text_.size() && !is_space(text_[pos_]); ++pos_) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      value += text_[pos_];
    }
    return value;
  }

  Result<std::string> quoted_value() {
    std::string value;
    for (++pos_; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
      if ((c == '\\' && (next == '\'' || next == '\\')) || (c == '\'' && next == '\'')) {
        value += next;
        ++pos_;
      } else if (c == '\'') {
        ++pos_;
        return value;
      } else {
        value += c;
      }
    }
    return failure("unterminated quoted value");
  }

  static Error failure(std::string reason) {
    return make_error(kConfigFileError, std::move(reason));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<std::vector<ConnParam>> parse_conn_params(std::string_view text) {
  Scanner scanner(text);
  std::vector<ConnParam> params;
  while (!scanner.at_end()) {
    auto param = scanner.next();
    if (!param) return param.error();
    params.push_back(std::move(*param));
  }
  return params;
}

}  // namespace reservoir::config
