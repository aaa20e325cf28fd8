#include "protocol/sql_scan.h"

#include "protocol/message_types.h"

namespace reservoir::protocol {

namespace {

// ASCII only, no locale.
constexpr unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20) : c;
}

// Bytes >= 0x80 count as identifier characters, as in PostgreSQL's scanner.
constexpr bool identifier_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

// `word` (lower case) at position i of `sql`, in any letter case (a prefix of what is there).
bool prefix_at(std::string_view sql, std::size_t i, std::string_view word) {
  if (i > sql.size() || sql.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (lower(static_cast<unsigned char>(sql[i + k])) != static_cast<unsigned char>(word[k])) {
      return false;
    }
  }
  return true;
}

// Like prefix_at, as a whole word: not followed by an identifier character.
bool word_at(std::string_view sql, std::size_t i, std::string_view word) {
  return prefix_at(sql, i, word) &&
         (i + word.size() == sql.size() ||
          !identifier_char(static_cast<unsigned char>(sql[i + word.size()])));
}

unsigned statement_hints(std::string_view sql, std::size_t i) {
  if (i >= sql.size()) return 0;
  switch (lower(static_cast<unsigned char>(sql[i]))) {
    case 's':
      return word_at(sql, i, "set") ? unsigned{kChangesSettings} : 0u;
    case 'r':
      return word_at(sql, i, "reset") ? unsigned{kChangesSettings} : 0u;
    case 'l':
      return word_at(sql, i, "listen") ? unsigned{kTouchesSession} : 0u;
    case 'u':
      return word_at(sql, i, "unlisten") ? unsigned{kTouchesSession} : 0u;
    case 'p':
      return word_at(sql, i, "prepare") ? unsigned{kTouchesSession} : 0u;
    case 'c':
      return word_at(sql, i, "create") || word_at(sql, i, "close") ? unsigned{kTouchesSession} : 0u;
    case 'd':
      if (word_at(sql, i, "discard")) return kChangesSettings | kTouchesSession | kDropsStatements;
      if (word_at(sql, i, "deallocate")) return kTouchesSession | kDropsStatements;
      if (word_at(sql, i, "declare")) return kTouchesSession;
      return word_at(sql, i, "drop") ? unsigned{kDrops} : 0u;
    default:
      return 0;
  }
}

// Hints from the words around an '_' at `at`: set_config and pg_advisory_* or
// pg_try_advisory_* (any "_advisory" counts).
unsigned underscore_hints(std::string_view sql, std::size_t at) {
  unsigned hints = 0;
  // Most identifiers with '_' are neither: the letters next to it rule them out cheaply.
  if (at >= 3 && lower(static_cast<unsigned char>(sql[at - 1])) == 't' &&
      word_at(sql, at - 3, "set_config") &&
      (at == 3 || !identifier_char(static_cast<unsigned char>(sql[at - 4])))) {
    hints |= kChangesSettings;
  }
  if (at + 2 < sql.size() && lower(static_cast<unsigned char>(sql[at + 2])) == 'd' &&
      prefix_at(sql, at + 1, "advisory")) {
    hints |= kTouchesSession;  // pg_[try_]advisory_*
  }
  return hints;
}

}  // namespace

unsigned scan_sql(std::string_view sql) {
  unsigned hints = 0;
  std::size_t start = 0;
  for (;;) {
    while (start < sql.size() && (sql[start] == ' ' || sql[start] == '\t' || sql[start] == '\n' ||
                                  sql[start] == '\r' || sql[start] == '(')) {
      ++start;
    }
    hints |= statement_hints(sql, start);
    const std::size_t semicolon = sql.find(';', start);
    if (semicolon == std::string_view::npos) break;
    start = semicolon + 1;
  }
  for (std::size_t at = sql.find('_'); at != std::string_view::npos; at = sql.find('_', at + 1)) {
    hints |= underscore_hints(sql, at);
  }
  return hints;
}

std::string_view statement_text(char type, std::string_view body) {
  if (type == msg::kParse) {
    const auto nul = body.find('\0');  // skip the statement name
    body = nul == std::string_view::npos ? std::string_view() : body.substr(nul + 1);
  }
  if (type == msg::kQuery && !body.empty() && body.back() == '\0') {
    body.remove_suffix(1);
  } else if (const auto end = body.find('\0'); end != std::string_view::npos) {
    body = body.substr(0, end);
  }
  return body;
}

}  // namespace reservoir::protocol
