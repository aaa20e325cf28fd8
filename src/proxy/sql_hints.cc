#include "proxy/sql_hints.h"

#include <cctype>

namespace reservoir::proxy {

namespace {

bool identifier_char(unsigned char c) { return std::isalnum(c) || c == '_'; }

bool word_at(std::string_view sql, std::size_t i, std::string_view word) {
  if (sql.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(sql[i + k])) != word[k]) return false;
  }
  return i + word.size() == sql.size() ||
         !identifier_char(static_cast<unsigned char>(sql[i + word.size()]));
}

}  // namespace

// True if `sql` may change session settings: a statement starting with SET, RESET or
// DISCARD, or a call of set_config(). Quotes and comments are not parsed, so it errs on the
// side of true; a false positive costs one extra round trip when the server is released.
bool may_change_settings(std::string_view sql) {
  bool statement_start = true;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == ';') {
      statement_start = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(') {
      continue;
    } else {
      if (statement_start &&
          (word_at(sql, i, "set") || word_at(sql, i, "reset") || word_at(sql, i, "discard"))) {
        return true;
      }
      if ((c | 0x20) == 's' && word_at(sql, i, "set_config")) return true;
      statement_start = false;
    }
  }
  return false;
}

}  // namespace reservoir::proxy
