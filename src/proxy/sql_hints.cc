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

namespace {

// True if a statement of `sql` starts with one of `words` (the beginning and after each ';',
// found with memchr).
template <std::size_t N>
bool statement_starts_with(std::string_view sql, const std::string_view (&words)[N]) {
  std::size_t start = 0;
  for (;;) {
    while (start < sql.size() && (sql[start] == ' ' || sql[start] == '\t' || sql[start] == '\n' ||
                                  sql[start] == '\r' || sql[start] == '(')) {
      ++start;
    }
    for (std::string_view word : words) {
      if (word_at(sql, start, word)) return true;
    }
    const std::size_t semicolon = sql.find(';', start);
    if (semicolon == std::string_view::npos) return false;
    start = semicolon + 1;
  }
}

}  // namespace

bool may_drop_statements(std::string_view sql) {
  static constexpr std::string_view kWords[] = {"discard", "deallocate"};
  return statement_starts_with(sql, kWords);
}

// True if `sql` may change session settings: a statement starting with SET, RESET or
// DISCARD, or a call of set_config(). Quotes and comments are not parsed, so it errs on the
// side of true; a false positive costs one extra round trip when the server is released.
bool may_change_settings(std::string_view sql) {
  // Runs on every Query and Parse in transaction mode, so it only looks at statement starts
  // (the beginning and after each ';', found with memchr) and searches for "_config".
  std::size_t start = 0;
  for (;;) {
    while (start < sql.size() && (sql[start] == ' ' || sql[start] == '\t' || sql[start] == '\n' ||
                                  sql[start] == '\r' || sql[start] == '(')) {
      ++start;
    }
    if (word_at(sql, start, "set") || word_at(sql, start, "reset") ||
        word_at(sql, start, "discard")) {
      return true;
    }
    const std::size_t semicolon = sql.find(';', start);
    if (semicolon == std::string_view::npos) break;
    start = semicolon + 1;
  }
  for (std::string_view needle : {"_config", "_CONFIG", "_Config"}) {
    for (std::size_t at = sql.find(needle); at != std::string_view::npos;
         at = sql.find(needle, at + 1)) {
      if (at >= 3 && word_at(sql, at - 3, "set_config") &&
          (at == 3 || !identifier_char(static_cast<unsigned char>(sql[at - 4])))) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace reservoir::proxy
