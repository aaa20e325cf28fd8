#include "proxy/sql_hints.h"

namespace reservoir::proxy {

namespace {

// ASCII only, no locale: this runs on every statement.
constexpr unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20) : c;
}

// Bytes >= 0x80 count as identifier characters, as in PostgreSQL's scanner.
constexpr bool identifier_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

// `word` (lower case) at position i of `sql`, as a whole word, in any letter case.
bool word_at(std::string_view sql, std::size_t i, std::string_view word) {
  if (sql.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (lower(static_cast<unsigned char>(sql[i + k])) != static_cast<unsigned char>(word[k])) {
      return false;
    }
  }
  return i + word.size() == sql.size() ||
         !identifier_char(static_cast<unsigned char>(sql[i + word.size()]));
}

bool starts_a_settings_statement(std::string_view sql, std::size_t i) {
  if (i >= sql.size()) return false;
  switch (lower(static_cast<unsigned char>(sql[i]))) {
    case 's':
      return word_at(sql, i, "set");
    case 'r':
      return word_at(sql, i, "reset");
    case 'd':
      return word_at(sql, i, "discard");
    default:
      return false;
  }
}

// A call of set_config: "set_config" as a whole word, found from its '_' with memchr.
bool mentions_set_config(std::string_view sql) {
  for (std::size_t at = sql.find('_', 3); at != std::string_view::npos;
       at = sql.find('_', at + 1)) {
    if (word_at(sql, at - 3, "set_config") &&
        (at == 3 || !identifier_char(static_cast<unsigned char>(sql[at - 4])))) {
      return true;
    }
  }
  return false;
}

// True if `at_start(sql, i)` holds at the start of some statement of `sql`: the beginning
// and after each ';' (found with memchr), past blanks and '('.
template <typename AtStart>
bool any_statement_start(std::string_view sql, AtStart at_start) {
  std::size_t start = 0;
  for (;;) {
    while (start < sql.size() && (sql[start] == ' ' || sql[start] == '\t' || sql[start] == '\n' ||
                                  sql[start] == '\r' || sql[start] == '(')) {
      ++start;
    }
    if (at_start(sql, start)) return true;
    const std::size_t semicolon = sql.find(';', start);
    if (semicolon == std::string_view::npos) return false;
    start = semicolon + 1;
  }
}

}  // namespace

bool may_drop_statements(std::string_view sql) {
  return any_statement_start(sql, [](std::string_view text, std::size_t i) {
    return word_at(text, i, "discard") || word_at(text, i, "deallocate");
  });
}

// True if `sql` may change session settings: a statement starting with SET, RESET or
// DISCARD, or a call of set_config(). Quotes and comments are not parsed, so it errs on the
// side of true; a false positive costs one extra round trip when the server is released.
bool may_change_settings(std::string_view sql) {
  // Runs on every Query and Parse in transaction mode, so it only looks at statement starts
  // and at each '_'.
  return any_statement_start(sql, starts_a_settings_statement) || mentions_set_config(sql);
}

}  // namespace reservoir::proxy
