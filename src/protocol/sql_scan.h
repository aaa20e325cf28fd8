#pragma once
// One cheap pass over client SQL for everything the relay must notice without parsing it.
// Runs on every Query and Parse in transaction mode, so it looks only at the first word of
// each statement (the beginning and after each ';', found with memchr) and at the words
// around each '_' (set_config, pg_advisory_*, pg_try_advisory_*). Quotes and comments are not
// parsed: it errs on the side of reporting a hint; a false hint costs a parse or a round trip,
// never a wrong answer.
#include <string_view>

namespace reservoir::protocol {

enum SqlHint : unsigned {
  kChangesSettings = 1u << 0,  // SET, RESET, DISCARD, or a call of set_config()
  kTouchesSession = 1u << 1,   // LISTEN, UNLISTEN, CREATE, DECLARE, CLOSE, PREPARE, DISCARD,
                               // DEALLOCATE, or an "_advisory" word: worth classify_sql()
  kDropsStatements = 1u << 2,  // DISCARD or DEALLOCATE: server prepared statements may go
  kDrops = 1u << 3,            // DROP (matters to a client with temporary objects)
};

// The SqlHint bits of `sql`. Keywords match in any letter case, as whole words.
unsigned scan_sql(std::string_view sql);

// The SQL text of a Query ('Q') or Parse ('P') message, given the message's body: up to its
// NUL, after the statement name for a Parse. A Query's text ends at the body's last byte when
// well formed (one with a NUL before it PostgreSQL refuses as malformed, and a scan of the
// whole may then report a hint too many, which is harmless); a Parse has parameter types
// after it. Empty for a Parse without a NUL after its name.
std::string_view statement_text(char type, std::string_view body);

}  // namespace reservoir::protocol
