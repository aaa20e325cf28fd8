#include "proxy/prepared_relay.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/codec.h"
#include "protocol/message_types.h"
#include "protocol/messages/describe_close.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/parse.h"
#include "protocol/messages/query.h"
#include "protocol/sql_classify.h"
#include "protocol/sql_scan.h"

namespace reservoir::proxy {

namespace msg = protocol::msg;
using Action = ExpectedReply::Action;
using Kind = ExpectedReply::Kind;

namespace {

constexpr std::size_t kHeader = protocol::kHeaderSize;

// A statement name no server ever has (server names are "rsv_" + 16 hex digits): a Close of
// it does nothing on the server and is answered with CloseComplete, in order.
constexpr std::string_view kNoopName = "rsv_none";

// Sent instead of the client's DEALLOCATE of one of its protocol-level statements (the
// server knows it by another name, and other clients may still use it): a utility statement
// that does nothing, answered like DEALLOCATE except for its command tag ("DO").
constexpr std::string_view kNoopSql = "DO $rsv$BEGIN END$rsv$";

ExpectedReply reply(Kind kind, Action action = Action::Forward, std::string server_name = {},
                    std::string client_name = {}) {
  ExpectedReply r;
  r.kind = kind;
  r.action = action;
  if (action != Action::Forward || !server_name.empty() || !client_name.empty()) {
    r.details = std::make_unique<ExpectedReply::Details>(
        ExpectedReply::Details{std::move(server_name), std::move(client_name), {}});
  }
  return r;
}

bool rewritable(char type) {
  return type == msg::kParse || type == msg::kBind || type == msg::kDescribe || type == msg::kClose;
}

void append_close(Bytes& out, std::string_view name) {
  protocol::Close close;
  close.kind = protocol::target::kStatement;
  close.name = std::string(name);
  close.encode(out);
}

// Reads a NUL-terminated string of `body` from `at`; advances `at` past the NUL.
std::optional<std::string_view> cstring(std::string_view body, std::size_t& at) {
  const auto nul = body.find('\0', at);
  if (nul == std::string_view::npos) return std::nullopt;
  std::string_view s = body.substr(at, nul - at);
  at = nul + 1;
  return s;
}

// Appends message `type` whose body is `a`, `name` NUL-terminated, then `rest`.
void append_renamed(Bytes& out, char type, std::string_view a, std::string_view name,
                    std::string_view rest) {
  ByteWriter w(out);
  w.u8(static_cast<std::uint8_t>(type));
  w.u32(static_cast<std::uint32_t>(4 + a.size() + name.size() + 1 + rest.size()));
  w.raw(a);
  w.cstr(name);
  w.raw(rest);
}

}  // namespace

// Builds an edited copy of a chunk lazily: nothing is copied until the first change.
// Changes must come in increasing offset order.
class PreparedRelay::Splice {
 public:
  Splice(ByteView in, Bytes& out) : in_(in), out_(out) {}

  void replace(std::size_t from, std::size_t to, ByteView bytes) {
    Bytes& out = replace_with(from, to);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  // The same, for a replacement the caller appends to the buffer returned (before the next
  // call): no temporary copy of it.
  Bytes& replace_with(std::size_t from, std::size_t to) {
    if (!changed_) {
      out_.clear();
      changed_ = true;
    }
    out_.insert(out_.end(), in_.begin() + pos_, in_.begin() + from);
    pos_ = to;
    return out_;
  }
  void drop(std::size_t from, std::size_t to) { replace(from, to, {}); }

  ByteView result() {
    if (!changed_) return in_;
    out_.insert(out_.end(), in_.begin() + pos_, in_.end());
    return out_;
  }

 private:
  ByteView in_;
  Bytes& out_;
  std::size_t pos_ = 0;
  bool changed_ = false;
};

ByteView PreparedRelay::client_input_split(ByteView chunk) {
  if (!carry_.empty()) {
    carry_.insert(carry_.end(), chunk.begin(), chunk.end());
    if (carry_.size() < carry_need_) return {};
    joined_.swap(carry_);
    carry_.clear();
    chunk = joined_;
  }
  const std::size_t n = chunk.size();
  std::size_t i = std::min<std::size_t>(body_left_, n);
  body_left_ -= static_cast<std::uint32_t>(i);
  while (i < n) {
    if (n - i < kHeader) {
      carry_need_ = kHeader;
      break;
    }
    const char type = static_cast<char>(chunk[i]);
    const std::uint32_t length = load_be32(chunk.data() + i + 1);
    if (length < 4 || length > max_packet_size_) return chunk;  // the scanner refuses it
    const std::size_t end = i + 1 + length;
    if (end <= n) {
      i = end;
      continue;
    }
    if (rewritable(type)) {
      carry_need_ = end - i;
      break;
    }
    body_left_ = static_cast<std::uint32_t>(end - n);  // passes through as it comes
    i = n;
  }
  if (i < n) {
    carry_.assign(chunk.begin() + i, chunk.end());
    chunk = chunk.first(i);
  }
  return chunk;
}

ByteView PreparedRelay::rewrite(ByteView out, std::size_t base, pool::ServerStatements& server) {
  Splice s(out, rewritten_);
  const std::size_t size = out.size();
  if (drop_left_ > 0) {  // the rest of a message dropped in an earlier chunk
    const std::size_t first = messages_.empty() ? size : messages_.front().offset - base;
    const std::size_t d = std::min(drop_left_, first);
    s.drop(0, d);
    drop_left_ -= d;
  }
  for (const ClientMessage& m : messages_) {
    const std::size_t off = m.offset - base;
    const std::size_t end = m.end - base;
    if (skip_until_sync_) {
      if (m.type == msg::kSync) {
        skip_until_sync_ = false;
        expect_ready();
        continue;
      }
      s.drop(off, std::min(end, size));
      if (end > size) drop_left_ = end - size;
      continue;
    }
    const ByteView whole = end <= size ? out.subspan(off, end - off) : ByteView();
    switch (m.type) {
      case msg::kParse:
        on_parse(s, off, whole, m.hints, server);
        break;
      case msg::kBind:
        on_bind(s, off, whole, server);
        break;
      case msg::kClose:
        expect_plain(Kind::CloseComplete);
        on_target(s, off, whole, server);
        break;
      case msg::kDescribe:
        on_target(s, off, whole, server);
        break;
      case msg::kQuery: {
        if (m.hints != kNotScanned && (m.hints & protocol::kDropsStatements) == 0) {
          expect_ready();  // the usual Query: the relay's scan found nothing it must handle
          break;
        }
        std::string_view sql =
            as_chars(out.subspan(off + kHeader, std::min(end, size) - off - kHeader));
        if (!sql.empty() && sql.back() == '\0') sql.remove_suffix(1);
        if (auto instead = on_statement_sql(sql, m.hints, server); instead && end <= size) {
          Bytes query;
          protocol::Query{*instead}.encode(query);
          s.replace(off, end, query);
        }
        expect_ready();
        break;
      }
      case msg::kSync:
      case msg::kFunctionCall:
        expect_ready();
        break;
      default:
        break;
    }
  }
  messages_.clear();
  return s.result();
}

// DEALLOCATE and DISCARD: of one protocol-level statement of the client (psycopg 3 evicting
// one from its cache), it is forgotten here and the SQL replaced (the returned text);
// DEALLOCATE ALL and DISCARD ALL drop the client's statements and the server's, which a
// later use prepares again (Close first, so one the server kept after all does no harm).
std::optional<std::string> PreparedRelay::on_statement_sql(std::string_view sql, unsigned hints,
                                                           pool::ServerStatements& server) {
  if (hints == kNotScanned) hints = protocol::scan_sql(sql);
  if ((hints & protocol::kDropsStatements) == 0) return std::nullopt;
  const auto effects = protocol::classify_sql(sql);
  using Effect = protocol::SqlEffect::Kind;
  if (effects.size() == 1 && effects[0].kind == Effect::Deallocate &&
      statements_.find(effects[0].name) != nullptr) {
    statements_.remove(effects[0].name);
    return std::string(kNoopSql);
  }
  for (const auto& e : effects) {
    if (e.kind == Effect::DeallocateAll || e.kind == Effect::DiscardAll) statements_.clear();
  }
  server.clear();
  return std::nullopt;
}

void PreparedRelay::on_parse(Splice& s, std::size_t off, ByteView whole, unsigned hints,
                             pool::ServerStatements& server) {
  // The unnamed statement (the extended protocol's usual case), when the relay's scan says
  // its SQL cannot drop statements: nothing to rewrite or remember, nothing to decode.
  if (whole.size() > kHeader && whole[kHeader] == 0 && hints != kNotScanned &&
      (hints & protocol::kDropsStatements) == 0) {
    expect_plain(Kind::ParseComplete);
    return;
  }
  auto parse = whole.empty() ? Result<protocol::Parse>(make_error("08P01", "incomplete"))
                             : protocol::Parse::decode(whole.subspan(kHeader));
  if (!parse || parse->name.empty()) {  // the server answers a malformed one itself
    if (parse) {
      if (auto instead = on_statement_sql(parse->query, hints, server)) {
        Bytes replacement;
        protocol::Parse{"", *instead, {}}.encode(replacement);
        s.replace(off, off + whole.size(), replacement);
      }
    }
    expect_plain(Kind::ParseComplete);
    return;
  }
  (void)on_statement_sql(parse->query, hints, server);
  Bytes replacement;
  if (statements_.find(parse->name) != nullptr) {
    append_close(replacement, kNoopName);
    ExpectedReply refused = reply(Kind::CloseComplete, Action::AsError);
    protocol::ErrorResponse::make(
        "ERROR", "42P05", fmt::format("prepared statement \"{}\" already exists", parse->name))
        .encode(refused.details->error);
    expect(std::move(refused));
    skip_until_sync_ = true;
  } else {
    auto st = std::make_shared<pool::Statement>();
    st->server_name = pool::server_statement_name(parse->query, parse->param_types);
    protocol::Parse{st->server_name, parse->query, parse->param_types}.encode(st->parse);
    st->query = std::move(parse->query);
    st->param_types = std::move(parse->param_types);
    (void)statements_.add(parse->name, st);
    if (server.use(st->server_name)) {
      append_close(replacement, kNoopName);
      expect(reply(Kind::CloseComplete, Action::AsParseComplete, "", parse->name));
    } else {
      prepare_on(server, *st, replacement, Action::Forward, parse->name);
    }
  }
  s.replace(off, off + whole.size(), replacement);
}

void PreparedRelay::on_bind(Splice& s, std::size_t off, ByteView whole,
                            pool::ServerStatements& server) {
  if (whole.empty()) return;
  const std::string_view body = as_chars(whole.subspan(kHeader));
  // The unnamed portal of the unnamed statement (the extended protocol's usual case):
  // nothing to rename.
  if (body.size() >= 2 && body[0] == '\0' && body[1] == '\0') return;
  std::size_t at = 0;
  const auto portal = cstring(body, at);
  if (!portal) return;
  const std::size_t name_at = at;
  const auto name = cstring(body, at);
  if (!name || name->empty()) return;
  const pool::Statement* st = statements_.find(*name);
  if (st == nullptr) return;  // the server answers 26000, as PostgreSQL would
  rename(s, off, whole.size(), *st, msg::kBind, body.substr(0, name_at), body.substr(at), server);
}

// Describe or Close of a statement.
void PreparedRelay::on_target(Splice& s, std::size_t off, ByteView whole,
                              pool::ServerStatements& server) {
  const char type = whole.empty() ? 0 : static_cast<char>(whole[0]);
  const std::string_view body = whole.empty() ? "" : as_chars(whole.subspan(kHeader));
  const bool statement =
      body.size() >= 2 && body[0] == protocol::target::kStatement && body.back() == '\0';
  const std::string_view name = statement ? body.substr(1, body.size() - 2) : "";
  if (name.empty()) return;
  if (type == msg::kClose) {
    // The client forgets the name; the server keeps the statement for other clients.
    statements_.remove(name);
    append_close(s.replace_with(off, off + whole.size()), kNoopName);
    return;
  }
  const pool::Statement* st = statements_.find(name);
  if (st == nullptr) return;  // the server answers 26000
  rename(s, off, whole.size(), *st, msg::kDescribe, body.substr(0, 1), "", server);
}

// Replaces the client's message at `off` (`size` bytes) with message `type` naming the
// server's statement for `st` (body: `before`, the name, `after`), preceded by its Parse where
// the server lacks it. Written straight into the rewritten chunk: this runs for every Bind of
// a named statement.
void PreparedRelay::rename(Splice& s, std::size_t off, std::size_t size, const pool::Statement& st,
                           char type, std::string_view before, std::string_view after,
                           pool::ServerStatements& server) {
  Bytes& out = s.replace_with(off, off + size);
  if (!server.use(st.server_name)) prepare_on(server, st, out, Action::Drop, "");
  append_renamed(out, type, before, st.server_name, after);
}

void PreparedRelay::prepare_on(pool::ServerStatements& server, const pool::Statement& st,
                               Bytes& out, Action parse_action, std::string client_name) {
  for (const std::string& evicted : server.insert(st.server_name)) {
    append_close(out, evicted);
    expect(reply(Kind::CloseComplete, Action::Drop));
  }
  // Close first: harmless if the server does not have it, and it keeps a statement the
  // server kept against our books (a DEALLOCATE ALL that failed) from failing the Parse.
  append_close(out, st.server_name);
  expect(reply(Kind::CloseComplete, Action::Drop));
  out.insert(out.end(), st.parse.begin(), st.parse.end());
  expect(reply(Kind::ParseComplete, parse_action, st.server_name, std::move(client_name)));
  ++prepares_sent_;
}

void PreparedRelay::expect_plain(Kind kind) {
  expected_.emplace_back().kind = kind;  // forwarded as it comes: no names, no edit
}

void PreparedRelay::expect(ExpectedReply reply) {
  if (reply.action != Action::Forward) ++edits_pending_;
  expected_.push_back(std::move(reply));
}

// Removes the oldest expected reply; `skipped`: the server will not answer it (an earlier
// message failed), so what it would have made does not exist.
void PreparedRelay::pop_front(bool skipped, pool::ServerStatements& server) {
  ExpectedReply& front = expected_[head_];
  if (front.action != Action::Forward) --edits_pending_;
  if (skipped && front.kind != Kind::Ready && front.details) {
    if (!front.details->server_name.empty()) server.erase(front.details->server_name);
    if (!front.details->client_name.empty()) statements_.remove(front.details->client_name);
  }
  if (++head_ == expected_.size()) {
    expected_.clear();
    head_ = 0;
  } else if (head_ >= 256 && head_ * 2 >= expected_.size()) {  // a client that never waits
    expected_.erase(expected_.begin(), expected_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

ByteView PreparedRelay::server_input_edited(ByteView chunk,
                                            const protocol::MessageScanner& scanner) {
  if (!server_carry_.empty()) {
    server_joined_.assign(server_carry_.begin(), server_carry_.end());
    server_joined_.insert(server_joined_.end(), chunk.begin(), chunk.end());
    server_carry_.clear();
    chunk = server_joined_;
  }
  if (edits_pending_ == 0) return chunk;
  protocol::MessageScanner probe = scanner;
  if (!probe.scan(chunk)) return chunk;  // the relay's scan reports it
  const std::size_t partial = probe.partial_header_size();
  if (partial == 0 || partial > chunk.size()) return chunk;
  server_carry_.assign(chunk.end() - static_cast<std::ptrdiff_t>(partial), chunk.end());
  return chunk.first(chunk.size() - partial);
}

void PreparedRelay::on_reply(const protocol::MessageHeader& h, pool::ServerStatements& server) {
  switch (h.type) {
    case msg::kParseComplete:
    case msg::kCloseComplete: {
      const Kind kind = h.type == msg::kParseComplete ? Kind::ParseComplete : Kind::CloseComplete;
      if (plain_ready_ > 0 || !replies_pending() || expected_[head_].kind != kind) {
        spdlog::debug("prepared statements: unexpected '{}' from the server", h.type);
        return;
      }
      ExpectedReply& front = expected_[head_];
      if (front.action != Action::Forward && !h.straddled && h.body_size() == 0) {
        Bytes replacement;
        if (front.action == Action::AsParseComplete) {
          replacement = {static_cast<std::uint8_t>(msg::kParseComplete), 0, 0, 0, 4};
        } else if (front.action == Action::AsError) {
          replacement = std::move(front.details->error);
        }
        edits_.push_back({h.offset, h.end, std::move(replacement)});
      }
      pop_front(false, server);
      return;
    }
    case msg::kErrorResponse:
      // Extended protocol: the server skips to the next Sync. (A counted plain Ready at the
      // front: a Query's error, followed by its ReadyForQuery.)
      if (plain_ready_ > 0) return;
      while (replies_pending() && expected_[head_].kind != Kind::Ready) pop_front(true, server);
      return;
    case msg::kReadyForQuery:  // (a counted one never gets here: on_server_message())
      while (replies_pending()) {
        const bool ready = expected_[head_].kind == Kind::Ready;
        pop_front(!ready, server);
        if (ready) break;
      }
      return;
    default:
      return;
  }
}

ByteView PreparedRelay::apply_edits(ByteView chunk) {
  Splice s(chunk, edited_);
  for (const Edit& e : edits_) s.replace(e.from, std::min(e.to, chunk.size()), e.replacement);
  edits_.clear();
  return s.result();
}

void PreparedRelay::attach() {
  expected_.clear();
  head_ = 0;
  plain_ready_ = 0;
  edits_pending_ = 0;
  edits_.clear();
  server_carry_.clear();
}

}  // namespace reservoir::proxy
