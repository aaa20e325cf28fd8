#pragma once
// Named prepared statements in transaction pooling: which statements each client prepared,
// and which of them each server already has.
//
// A client's statement "s1" is prepared on servers under a name derived from its content
// (query text and parameter types), so that every client preparing the same text shares one
// server-side statement, and a client that moves to another server finds it there or has it
// prepared there on first use. The relay (proxy/prepared_relay.cc) does the rewriting; this
// file only keeps the books.
//
//   ClientStatements  per client: client name -> Statement (shared, immutable)
//   ServerStatements  per server: the server names it has prepared, least recently used
//                     first, at most `capacity`; names used in the current transaction are
//                     never evicted.
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"

namespace reservoir::pool {

// One statement as a client prepared it. Immutable once made, shared between the names a
// client gave the same text.
struct Statement {
  std::string query;
  std::vector<std::uint32_t> param_types;
  std::string server_name;  // "rsv_" + 16 hex digits of the content hash
  Bytes parse;              // the Parse message that prepares it under server_name
};

// The server-side name for a query and its parameter types: "rsv_" followed by 16 hex
// digits of a 64-bit hash of both. Equal content gives equal names in every process run.
std::string server_statement_name(std::string_view query,
                                  const std::vector<std::uint32_t>& param_types);

// True if `name` has the form server_statement_name() produces.
bool is_server_statement_name(std::string_view name);

// The statements one client has prepared, by the client's names.
class ClientStatements {
 public:
  // The statement called `name`, or nullptr.
  const Statement* find(std::string_view name) const;
  // Records `name`; false (and nothing changes) if the client already has that name, which
  // PostgreSQL refuses with 42P05.
  [[nodiscard]] bool add(std::string name, std::shared_ptr<const Statement> statement);
  // Forgets `name` (Close); a name not there is not an error, as in PostgreSQL.
  void remove(std::string_view name);
  void clear() { by_name_.clear(); }
  std::size_t size() const { return by_name_.size(); }

 private:
  std::map<std::string, std::shared_ptr<const Statement>, std::less<>> by_name_;
};

// The statements one server has prepared (by server name), least recently used first.
class ServerStatements {
 public:
  explicit ServerStatements(std::size_t capacity = 200) : capacity_(capacity) {}

  void set_capacity(std::size_t capacity) { capacity_ = capacity; }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return index_.size(); }

  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }

  // Notes a use of `name` in the current transaction: it becomes the most recently used and
  // cannot be evicted until end_transaction(). False (and nothing noted) if the server does
  // not have it: one lookup for "has it?" and "use it".
  bool use(std::string_view name);

  // Records that `name` is being prepared on the server and uses it (see use()). Returns the
  // names to close on the server first to stay within capacity: least recently used ones
  // not in use in this transaction. When every statement is in use the set grows past
  // capacity for the moment rather than close one a pipeline still needs.
  [[nodiscard]] std::vector<std::string> insert(const std::string& name);

  // Forgets `name` (its Parse failed, or it was closed).
  void erase(const std::string& name);

  // The transaction ended: every statement may be evicted again. (A new transaction number:
  // nothing to clear, nothing freed or allocated per transaction.)
  void end_transaction() { ++transaction_; }

  // The server dropped all its statements (DISCARD ALL, DEALLOCATE ALL, a new connection).
  void clear();

  bool in_use(std::string_view name) const {
    const auto it = index_.find(name);
    return it != index_.end() && it->second->used_in == transaction_;
  }

  // Names from least to most recently used, for tests and the admin view.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(lru_.size());
    for (const Slot& slot : lru_) out.push_back(slot.name);
    return out;
  }

 private:
  struct Slot {
    std::string name;
    std::uint64_t used_in = 0;  // the transaction that last used it
  };
  // Lookups by string_view without building a std::string (names are longer than the
  // small-string buffer: that was an allocation per Bind).
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::size_t capacity_;
  std::list<Slot> lru_;  // front: least recently used
  std::unordered_map<std::string, std::list<Slot>::iterator, NameHash, std::equal_to<>> index_;
  std::uint64_t transaction_ = 1;  // the current one (used_in == transaction_: in use)
};

}  // namespace reservoir::pool
