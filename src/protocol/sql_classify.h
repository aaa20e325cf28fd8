#pragma once
// What a client's SQL does to its session beyond the current transaction, so that
// transaction pooling can keep such a client on its server (pinning) or refuse the statement.
//
// Two steps, so ordinary statements stay cheap:
//   may_touch_session(sql)  a keyword look at statement starts and pg_advisory_* (sql_scan.h);
//                           false for plain SELECT/INSERT/UPDATE/DELETE, which are never
//                           parsed
//   classify_sql(sql)       PostgreSQL's own parser (libpg_query) on what passed the first
//                           step: LISTEN/UNLISTEN, session advisory locks, temporary tables,
//                           WITH HOLD cursors, SQL PREPARE/DEALLOCATE, DISCARD
//
// SessionPins keeps the books per client: what it holds that lives on its server's session.
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace reservoir::protocol {

struct SqlEffect {
  enum class Kind {
    Listen,             // name: the channel
    Unlisten,           // name: the channel
    UnlistenAll,        // UNLISTEN *
    AdvisoryLock,       // pg_advisory_lock[_shared], pg_try_advisory_lock[_shared]
    AdvisoryUnlock,     // pg_advisory_unlock[_shared]
    AdvisoryUnlockAll,  // pg_advisory_unlock_all()
    CreateTemp,         // name: a temporary table, view or sequence
    Drop,               // name: a dropped table, view or sequence
    DeclareHold,        // name: a cursor WITH HOLD
    CloseCursor,        // name
    CloseAllCursors,    // CLOSE ALL
    Prepare,            // name: SQL PREPARE
    Deallocate,         // name
    DeallocateAll,      // DEALLOCATE ALL
    DiscardAll,         // DISCARD ALL
    DiscardTemp,        // DISCARD TEMP
  };
  Kind kind;
  std::string name;

  bool operator==(const SqlEffect&) const = default;
};

// Cheap prefilter: true if `sql` may contain a statement classify_sql() reports (scan_sql's
// kTouchesSession: the first word of each statement, and pg_advisory_* calls). `drop_matters`: also
// true for DROP (the client has temporary objects to forget).
bool may_touch_session(std::string_view sql, bool drop_matters);

// The session effects of every statement in `sql`, in order, from PostgreSQL's parser.
// Nothing for SQL that does not parse (the server rejects it anyway).
std::vector<SqlEffect> classify_sql(std::string_view sql);

// True for effects that tie the client to its server (LISTEN, a lock, a temporary object,
// a cursor WITH HOLD, PREPARE).
bool needs_pinning(const SqlEffect& effect);

// What a client holds in its server's session. pinned() while anything is held.
class SessionPins {
 public:
  void apply(const SqlEffect& effect);
  bool pinned() const {
    return !listens_.empty() || advisory_locks_ > 0 || !temp_objects_.empty() ||
           !cursors_.empty() || !prepared_.empty();
  }
  bool has_temp_objects() const { return !temp_objects_.empty(); }
  // "LISTEN x, 2 advisory locks" for logs; "" when nothing is held.
  std::string describe() const;
  void clear() { *this = SessionPins(); }

 private:
  std::set<std::string, std::less<>> listens_;
  int advisory_locks_ = 0;
  std::set<std::string, std::less<>> temp_objects_;
  std::set<std::string, std::less<>> cursors_;
  std::set<std::string, std::less<>> prepared_;
};

}  // namespace reservoir::protocol
