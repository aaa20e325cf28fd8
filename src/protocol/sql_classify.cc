#include "protocol/sql_classify.h"

#include <fmt/format.h>
#include <pg_query.h>

#include <boost/json.hpp>

#include "protocol/sql_scan.h"

namespace reservoir::protocol {

namespace json = boost::json;
using Kind = SqlEffect::Kind;

namespace {

bool contains_advisory(std::string_view sql) {
  for (std::string_view needle : {"advisory", "ADVISORY", "Advisory"}) {
    if (sql.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

// --- reading libpg_query's JSON parse tree ---

const json::value* field(const json::value& v, std::string_view key) {
  const json::object* o = v.if_object();
  if (o == nullptr) return nullptr;
  auto it = o->find(key);
  return it == o->end() ? nullptr : &it->value();
}

std::string text(const json::value* v) {
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

// RangeVar: {"relname": ..., "relpersistence": "t"} -> the name if temporary.
bool temporary(const json::value* rel) {
  return rel != nullptr && text(field(*rel, "relpersistence")) == "t";
}

// The last String of a name list ([{"String":{"sval":"pg_catalog"}},{"String":...}]).
std::string last_name(const json::value* list) {
  if (list == nullptr || !list->is_array() || list->get_array().empty()) return {};
  const json::value* s = field(list->get_array().back(), "String");
  return s ? text(field(*s, "sval")) : std::string();
}

void advisory_calls(const json::value& v, std::vector<SqlEffect>& out) {
  if (const json::object* o = v.if_object()) {
    for (const auto& [key, child] : *o) {
      if (key == "FuncCall") {
        const std::string f = last_name(field(child, "funcname"));
        if (f == "pg_advisory_lock" || f == "pg_advisory_lock_shared" ||
            f == "pg_try_advisory_lock" || f == "pg_try_advisory_lock_shared") {
          out.push_back({Kind::AdvisoryLock, {}});
        } else if (f == "pg_advisory_unlock" || f == "pg_advisory_unlock_shared") {
          out.push_back({Kind::AdvisoryUnlock, {}});
        } else if (f == "pg_advisory_unlock_all") {
          out.push_back({Kind::AdvisoryUnlockAll, {}});
        }
      }
      advisory_calls(child, out);
    }
  } else if (const json::array* a = v.if_array()) {
    for (const auto& child : *a) advisory_calls(child, out);
  }
}

constexpr std::int64_t kCursorOptHold = 0x0020;  // CURSOR_OPT_HOLD in parsenodes.h

void statement_effects(std::string_view type, const json::value& node, bool advisory,
                       std::vector<SqlEffect>& out) {
  if (type == "ListenStmt") {
    out.push_back({Kind::Listen, text(field(node, "conditionname"))});
  } else if (type == "UnlistenStmt") {
    const std::string channel = text(field(node, "conditionname"));
    out.push_back({channel.empty() ? Kind::UnlistenAll : Kind::Unlisten, channel});
  } else if (type == "CreateStmt" || type == "CreateSeqStmt" || type == "ViewStmt") {
    const json::value* rel = field(node, type == "CreateStmt"      ? "relation"
                                         : type == "CreateSeqStmt" ? "sequence"
                                                                   : "view");
    if (temporary(rel)) out.push_back({Kind::CreateTemp, text(field(*rel, "relname"))});
  } else if (type == "CreateTableAsStmt") {
    const json::value* into = field(node, "into");
    const json::value* rel = into ? field(*into, "rel") : nullptr;
    if (temporary(rel)) out.push_back({Kind::CreateTemp, text(field(*rel, "relname"))});
  } else if (type == "DropStmt") {
    const std::string what = text(field(node, "removeType"));
    const json::value* objects = field(node, "objects");
    if ((what == "OBJECT_TABLE" || what == "OBJECT_VIEW" || what == "OBJECT_SEQUENCE") && objects &&
        objects->is_array()) {
      for (const auto& o : objects->get_array()) {
        const json::value* list = field(o, "List");
        if (list) out.push_back({Kind::Drop, last_name(field(*list, "items"))});
      }
    }
  } else if (type == "DeclareCursorStmt") {
    const json::value* options = field(node, "options");
    if (options && options->is_int64() && (options->get_int64() & kCursorOptHold)) {
      out.push_back({Kind::DeclareHold, text(field(node, "portalname"))});
    }
  } else if (type == "ClosePortalStmt") {
    const std::string name = text(field(node, "portalname"));
    out.push_back({name.empty() ? Kind::CloseAllCursors : Kind::CloseCursor, name});
  } else if (type == "PrepareStmt") {
    out.push_back({Kind::Prepare, text(field(node, "name"))});
  } else if (type == "DeallocateStmt") {
    const std::string name = text(field(node, "name"));
    out.push_back({name.empty() ? Kind::DeallocateAll : Kind::Deallocate, name});
  } else if (type == "DiscardStmt") {
    const std::string target = text(field(node, "target"));
    if (target == "DISCARD_ALL") out.push_back({Kind::DiscardAll, {}});
    if (target == "DISCARD_TEMP") out.push_back({Kind::DiscardTemp, {}});
  }
  if (advisory) advisory_calls(node, out);
}

}  // namespace

bool may_touch_session(std::string_view sql, bool drop_matters) {
  return (scan_sql(sql) & (kTouchesSession | (drop_matters ? kDrops : 0u))) != 0;
}

std::vector<SqlEffect> classify_sql(std::string_view sql) {
  std::vector<SqlEffect> out;
  const std::string query(sql);  // libpg_query wants a NUL-terminated string
  PgQueryParseResult parsed = pg_query_parse(query.c_str());
  if (parsed.error == nullptr && parsed.parse_tree != nullptr) {
    boost::system::error_code ec;
    const json::value tree = json::parse(parsed.parse_tree, ec);
    const json::value* stmts = ec ? nullptr : field(tree, "stmts");
    const bool advisory = contains_advisory(sql);
    if (stmts && stmts->is_array()) {
      for (const auto& raw : stmts->get_array()) {
        const json::value* stmt = field(raw, "stmt");
        const json::object* o = stmt ? stmt->if_object() : nullptr;
        if (o == nullptr) continue;
        for (const auto& [type, node] : *o) statement_effects(type, node, advisory, out);
      }
    }
  }
  pg_query_free_parse_result(parsed);
  return out;
}

bool needs_pinning(const SqlEffect& effect) {
  switch (effect.kind) {
    case Kind::Listen:
    case Kind::AdvisoryLock:
    case Kind::CreateTemp:
    case Kind::DeclareHold:
    case Kind::Prepare:
      return true;
    default:
      return false;
  }
}

void SessionPins::apply(const SqlEffect& e) {
  switch (e.kind) {
    case Kind::Listen:
      listens_.insert(e.name);
      break;
    case Kind::Unlisten:
      listens_.erase(e.name);
      break;
    case Kind::UnlistenAll:
      listens_.clear();
      break;
    case Kind::AdvisoryLock:
      ++advisory_locks_;
      break;
    case Kind::AdvisoryUnlock:
      if (advisory_locks_ > 0) --advisory_locks_;
      break;
    case Kind::AdvisoryUnlockAll:
      advisory_locks_ = 0;
      break;
    case Kind::CreateTemp:
      temp_objects_.insert(e.name);
      break;
    case Kind::Drop:
      temp_objects_.erase(e.name);
      break;
    case Kind::DeclareHold:
      cursors_.insert(e.name);
      break;
    case Kind::CloseCursor:
      cursors_.erase(e.name);
      break;
    case Kind::CloseAllCursors:
      cursors_.clear();
      break;
    case Kind::Prepare:
      prepared_.insert(e.name);
      break;
    case Kind::Deallocate:
      prepared_.erase(e.name);
      break;
    case Kind::DeallocateAll:
      prepared_.clear();
      break;
    case Kind::DiscardAll:
      clear();
      break;
    case Kind::DiscardTemp:
      temp_objects_.clear();
      break;
  }
}

std::string SessionPins::describe() const {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (!listens_.empty()) add(fmt::format("{} LISTEN", listens_.size()));
  if (advisory_locks_ > 0) add(fmt::format("{} advisory lock(s)", advisory_locks_));
  if (!temp_objects_.empty()) add(fmt::format("{} temporary object(s)", temp_objects_.size()));
  if (!cursors_.empty()) add(fmt::format("{} WITH HOLD cursor(s)", cursors_.size()));
  if (!prepared_.empty()) add(fmt::format("{} SQL prepared statement(s)", prepared_.size()));
  return out;
}

}  // namespace reservoir::protocol
