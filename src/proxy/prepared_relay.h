#pragma once
// PreparedRelay: named prepared statements across servers in transaction and statement
// mode. No I/O: the relay shows it every chunk in both directions and forwards what it
// returns.
//
// Client -> server. A client's Parse "s1" is recorded (pool::ClientStatements) and sent
// under the server name derived from its content ("rsv_..."). Bind and Describe of "s1" are
// rewritten to the server name; if the server does not have the statement yet, Close and
// Parse of it are sent first (injected). Close of "s1" only forgets it: the server keeps the
// statement for the next client. Unnamed statements and portals pass untouched.
//
// Server -> client. Every message the client sent is answered in order, so the replies to
// Parse (ParseComplete '1'), Close (CloseComplete '3') and Sync/Query (ReadyForQuery) are
// matched with a queue of ExpectedReply, filled as the client's messages go out:
//   Forward          the client's own request: passed on
//   Drop             an injected Parse or Close: the client never sees it
//   AsParseComplete  the client's Parse of a statement the server already had was sent as
//                    a harmless Close of a name no server has; its CloseComplete becomes
//                    the ParseComplete the client waits for, in the right place
//   AsError          the same for a Parse the client may not do (a name it already uses):
//                    its reply becomes the ErrorResponse PostgreSQL would have sent, and
//                    the client's messages up to Sync are dropped, as PostgreSQL would
// After an ErrorResponse the server skips everything up to Sync: the queue drops what the
// server will not answer, and forgets the statements those Parses would have made.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "pool/prepared.h"
#include "protocol/message_scanner.h"
#include "protocol/message_types.h"
#include "protocol/sql_scan.h"

namespace reservoir::proxy {

struct ExpectedReply {
  enum class Kind : std::uint8_t { ParseComplete, CloseComplete, Ready };
  enum class Action : std::uint8_t { Forward, Drop, AsParseComplete, AsError };
  struct Details {
    std::string server_name;  // Parse: the statement it makes on the server
    std::string client_name;  // the client's Parse: the name it defines for the client
    Bytes error;              // AsError: the ErrorResponse to send instead
  };
  Kind kind = Kind::Ready;
  Action action = Action::Forward;
  // Only for a reply that names a statement or is answered instead: the plain ones (an
  // unnamed Parse's ParseComplete, a Sync's ReadyForQuery), queued and popped for every
  // extended-protocol request, stay two bytes and a null pointer.
  std::unique_ptr<Details> details;
};

class PreparedRelay {
 public:
  explicit PreparedRelay(std::uint32_t max_packet_size = 0x7fffffff)
      : max_packet_size_(max_packet_size) {}

  // --- client -> server ---

  // Takes the next chunk read from the client and returns the bytes to scan and forward
  // now: a Parse, Bind, Describe or Close (or a message header) that does not end in the
  // chunk is kept back until it is whole, so it can be rewritten. May return nothing. The
  // view is valid until the next call.
  ByteView client_input(ByteView chunk) {
    if (carry_.empty() && body_left_ == 0 && chunk.size() >= protocol::kHeaderSize &&
        1 + std::size_t{load_be32(chunk.data() + 1)} == chunk.size()) {
      return chunk;  // one whole message (the usual request): nothing to keep back
    }
    return client_input_split(chunk);
  }

  // Notes a message of the chunk returned by client_input(), in order, as the relay's
  // scanner finds it (messages the relay drops itself are not noted).
  // `hints`: protocol::scan_sql() of a Query's or Parse's SQL when the caller has it
  // (kNotScanned: scanned here when needed).
  static constexpr unsigned kNotScanned = ~0u;
  void note_client_message(const protocol::MessageHeader& h, unsigned hints = kNotScanned) {
    // A Query that asks nothing of the relay, with nothing noted or being dropped before it:
    // only its ReadyForQuery is owed, which to_server() counts (no entry, no look at it).
    if (h.type == protocol::msg::kQuery && messages_.empty() && drop_left_ == 0 &&
        !skip_until_sync_ && hints != kNotScanned && (hints & protocol::kDropsStatements) == 0) {
      ++plain_queries_;
      return;
    }
    messages_.push_back({h.type, h.offset, h.end, hints});
  }
  // Forgets the noted messages (the chunk was answered without a server).
  void forget_client_messages() {
    messages_.clear();
    plain_queries_ = 0;
  }

  // Rewrites `out` (the noted messages, starting at chunk offset `base`) for `server`, and
  // queues the replies to expect. Returns `out` itself when nothing changes. The view is
  // valid until the next call.
  ByteView to_server(ByteView out, std::size_t base, pool::ServerStatements& server) {
    for (; plain_queries_ > 0; --plain_queries_) expect_ready();  // they came first
    if (messages_.empty() && drop_left_ == 0) return out;         // nothing to rewrite
    return rewrite(out, base, server);
  }

  // --- server -> client ---

  // Takes the next chunk read from the server: while replies are to be edited, a message
  // header split at the end of the chunk is kept back so each edited message is whole in
  // one chunk. `scanner` is the relay's (not yet shown this chunk). May return nothing.
  ByteView server_input(ByteView chunk, const protocol::MessageScanner& scanner) {
    if (server_carry_.empty() && edits_pending_ == 0) return chunk;  // the usual case
    return server_input_edited(chunk, scanner);
  }

  // Matches a server message of that chunk with the queue; call for each, in order. Only
  // ParseComplete, CloseComplete, ErrorResponse and ReadyForQuery matter: the rest (rows,
  // most of a reply) return here, without a call.
  void on_server_message(const protocol::MessageHeader& h, pool::ServerStatements& server) {
    switch (h.type) {
      case protocol::msg::kReadyForQuery:
        if (plain_ready_ > 0) {  // a counted one: forwarded as it comes
          --plain_ready_;
          return;
        }
        on_reply(h, server);
        return;
      case protocol::msg::kParseComplete:
      case protocol::msg::kCloseComplete:
      case protocol::msg::kErrorResponse:
        on_reply(h, server);
        return;
      default:
        return;
    }
  }

  // The chunk with the edits of on_server_message() applied (the chunk itself if none). The
  // view is valid until the next call.
  ByteView to_client(ByteView chunk) { return edits_.empty() ? chunk : apply_edits(chunk); }

  // --- state ---

  // A new server was attached: nothing is owed by the previous one.
  void attach();
  // True when no bytes are kept back in either direction.
  bool nothing_held_back() const { return carry_.empty() && server_carry_.empty(); }
  bool replies_pending() const { return plain_ready_ > 0 || head_ < expected_.size(); }
  pool::ClientStatements& statements() { return statements_; }
  // Server statements prepared (injected or for the client's Parse), for stats and tests.
  std::uint64_t prepares_sent() const { return prepares_sent_; }

 private:
  struct ClientMessage {
    char type;
    std::size_t offset;
    std::size_t end;
    unsigned hints;
  };
  struct Edit {
    std::size_t from, to;
    Bytes replacement;
  };
  class Splice;

  void on_parse(Splice& s, std::size_t off, ByteView whole, unsigned hints,
                pool::ServerStatements& server);
  void on_bind(Splice& s, std::size_t off, ByteView whole, pool::ServerStatements& server);
  void on_target(Splice& s, std::size_t off, ByteView whole, pool::ServerStatements& server);
  void rename(Splice& s, std::size_t off, std::size_t size, const pool::Statement& st, char type,
              std::string_view before, std::string_view after, pool::ServerStatements& server);
  std::optional<std::string> on_statement_sql(std::string_view sql, unsigned hints,
                                              pool::ServerStatements& server);
  // Appends Close (of the evicted and of this name) and Parse of `st` to `out`.
  void prepare_on(pool::ServerStatements& server, const pool::Statement& st, Bytes& out,
                  ExpectedReply::Action parse_action, std::string client_name);
  ByteView client_input_split(ByteView chunk);
  ByteView rewrite(ByteView out, std::size_t base, pool::ServerStatements& server);
  void expect(ExpectedReply reply);
  void expect_plain(ExpectedReply::Kind kind);
  // A ReadyForQuery (of a Query, Sync or FunctionCall) is counted while nothing is queued:
  // it is forwarded as it comes, and the books have nothing to match it with.
  void expect_ready() {
    if (head_ == expected_.size()) {
      ++plain_ready_;
    } else {
      expect_plain(ExpectedReply::Kind::Ready);
    }
  }
  void pop_front(bool skipped, pool::ServerStatements& server);
  void on_reply(const protocol::MessageHeader& h, pool::ServerStatements& server);
  ByteView server_input_edited(ByteView chunk, const protocol::MessageScanner& scanner);
  ByteView apply_edits(ByteView chunk);

  std::uint32_t max_packet_size_;
  pool::ClientStatements statements_;
  // A queue that keeps its memory: expected_[head_..] are pending (no allocation per
  // transaction, unlike std::deque).
  std::vector<ExpectedReply> expected_;
  std::size_t head_ = 0;
  // Plain ReadyForQuery replies (a Query's, Sync's or FunctionCall's, forwarded as they come)
  // expected before all of expected_[head_..]: counted rather than queued, which is the whole
  // queue of a client whose statements need no renaming. Only ever grows while expected_ has
  // nothing pending.
  std::size_t plain_ready_ = 0;
  int edits_pending_ = 0;         // entries of expected_ whose action is not Forward
  bool skip_until_sync_ = false;  // a Parse was refused: drop client messages until Sync
  std::size_t drop_left_ = 0;     // bytes of a dropped message still to come
  std::vector<ClientMessage> messages_;
  std::size_t plain_queries_ = 0;  // noted Queries, before all of messages_, owed a Ready only
  Bytes carry_;                    // client bytes kept back
  std::size_t carry_need_ = 0;     // carry_ size at which the kept message is whole
  std::uint32_t body_left_ = 0;    // bytes of a passed-through client message still to come
  Bytes joined_;                   // client_input()'s result when bytes were kept back
  Bytes rewritten_;                // to_server()'s result when something changed
  std::vector<Edit> edits_;        // for the server chunk being scanned
  Bytes server_carry_;
  Bytes server_joined_;
  Bytes edited_;
  std::uint64_t prepares_sent_ = 0;
};

}  // namespace reservoir::proxy
