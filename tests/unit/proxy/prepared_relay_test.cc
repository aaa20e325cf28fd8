#include "proxy/prepared_relay.h"

#include <gtest/gtest.h>

#include "protocol/messages/bind.h"
#include "protocol/messages/describe_close.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/parse.h"

namespace reservoir::proxy {
namespace {

Bytes parse(std::string name, std::string query) {
  Bytes out;
  protocol::Parse{std::move(name), std::move(query), {}}.encode(out);
  return out;
}
Bytes bind(std::string statement) {
  Bytes out;
  protocol::Bind b;
  b.statement = std::move(statement);
  b.encode(out);
  return out;
}
Bytes close_statement(std::string name) {
  Bytes out;
  protocol::Close c;
  c.name = std::move(name);
  c.encode(out);
  return out;
}
Bytes describe_statement(std::string name) {
  Bytes out;
  protocol::Describe d;
  d.name = std::move(name);
  d.encode(out);
  return out;
}
Bytes simple(char type, Bytes body = {}) {
  Bytes out{static_cast<std::uint8_t>(type), 0, 0, 0, static_cast<std::uint8_t>(4 + body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
Bytes sync() { return simple('S'); }
Bytes execute() { return simple('E', {0, 0, 0, 0, 0}); }
Bytes ready() { return simple('Z', {'I'}); }
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
std::string rsv(const std::string& query) { return pool::server_statement_name(query, {}); }

// Runs bytes through the relay the way client_reader does, `step` bytes per read.
struct Harness {
  PreparedRelay relay;
  pool::ServerStatements server{10};
  protocol::MessageScanner from_client;
  protocol::MessageScanner from_server;

  Bytes client(const Bytes& in, std::size_t step = 1 << 20) {
    Bytes sent;
    for (std::size_t at = 0; at < in.size(); at += step) {
      relay.forget_client_messages();
      ByteView chunk = relay.client_input(ByteView(in).subspan(at, std::min(step, in.size() - at)));
      if (chunk.empty()) continue;
      EXPECT_TRUE(from_client.scan(chunk, [&](const protocol::MessageHeader& h) {
        relay.note_client_message(h, hints(h, chunk));
      }));
      ByteView out = relay.to_server(chunk, 0, server);
      sent.insert(sent.end(), out.begin(), out.end());
    }
    return sent;
  }

  // What the relay passes for a message: a whole Query's scan_sql() hints (which lets the
  // relay count it rather than queue it), nothing for the rest.
  static unsigned hints(const protocol::MessageHeader& h, ByteView chunk) {
    if (h.type != 'Q' || h.straddled || h.end > chunk.size()) return PreparedRelay::kNotScanned;
    return protocol::scan_sql(protocol::statement_text(
        'Q', as_chars(chunk.subspan(h.offset + protocol::kHeaderSize, h.body_size()))));
  }

  Bytes reply(const Bytes& in, std::size_t step = 1 << 20) {
    Bytes got;
    for (std::size_t at = 0; at < in.size(); at += step) {
      ByteView chunk =
          relay.server_input(ByteView(in).subspan(at, std::min(step, in.size() - at)), from_server);
      if (chunk.empty()) continue;
      EXPECT_TRUE(from_server.scan(
          chunk, [&](const protocol::MessageHeader& h) { relay.on_server_message(h, server); }));
      ByteView out = relay.to_client(chunk);
      got.insert(got.end(), out.begin(), out.end());
    }
    return got;
  }
};

const Bytes kParseComplete = simple('1');
const Bytes kBindComplete = simple('2');
const Bytes kCloseComplete = simple('3');

TEST(PreparedRelay, FirstParseIsSentUnderTheServerName) {
  for (std::size_t step : {std::size_t(1), std::size_t(3), std::size_t(1000)}) {
    Harness h;
    const std::string name = rsv("SELECT 1");
    const Bytes in = cat({parse("s1", "SELECT 1"), bind("s1"), execute(), sync()});
    EXPECT_EQ(h.client(in, step),
              cat({close_statement(name), parse(name, "SELECT 1"), bind(name), execute(), sync()}))
        << "step " << step;
    // The injected Close's reply is dropped; the client sees its ParseComplete.
    const Bytes server = cat({kCloseComplete, kParseComplete, kBindComplete, ready()});
    EXPECT_EQ(h.reply(server, step), cat({kParseComplete, kBindComplete, ready()}));
    EXPECT_TRUE(h.server.contains(name));
    EXPECT_FALSE(h.relay.replies_pending());
    EXPECT_TRUE(h.relay.nothing_held_back());
  }
}

TEST(PreparedRelay, ParseOfAStatementTheServerHasBecomesANoop) {
  Harness h;
  const std::string name = rsv("SELECT 1");
  (void)h.server.insert(name);
  const Bytes sent = h.client(cat({parse("other", "SELECT 1"), sync()}));
  EXPECT_EQ(sent, cat({close_statement("rsv_none"), sync()}));
  EXPECT_EQ(h.reply(cat({kCloseComplete, ready()}), 1), cat({kParseComplete, ready()}));
}

TEST(PreparedRelay, BindOnAServerWithoutTheStatementPreparesItFirst) {
  Harness h;
  const std::string name = rsv("SELECT 2");
  (void)h.client(cat({parse("s", "SELECT 2"), sync()}));
  (void)h.reply(cat({kCloseComplete, kParseComplete, ready()}));
  pool::ServerStatements other(10);  // the client moved to another server
  std::swap(h.server, other);
  h.relay.attach();
  EXPECT_EQ(h.client(cat({describe_statement("s"), bind("s"), execute(), sync()}), 2),
            cat({close_statement(name), parse(name, "SELECT 2"), describe_statement(name),
                 bind(name), execute(), sync()}));
  const Bytes t = simple('t', {0, 0});
  const Bytes n = simple('n');
  EXPECT_EQ(h.reply(cat({kCloseComplete, kParseComplete, t, n, kBindComplete, ready()}), 1),
            cat({t, n, kBindComplete, ready()}));
}

TEST(PreparedRelay, CloseIsAnsweredWithoutDroppingTheServerStatement) {
  Harness h;
  const std::string name = rsv("SELECT 3");
  (void)h.client(cat({parse("s", "SELECT 3"), sync()}));
  (void)h.reply(cat({kCloseComplete, kParseComplete, ready()}));
  EXPECT_EQ(h.client(cat({close_statement("s"), sync()})),
            cat({close_statement("rsv_none"), sync()}));
  EXPECT_EQ(h.reply(cat({kCloseComplete, ready()})), cat({kCloseComplete, ready()}));
  EXPECT_EQ(h.relay.statements().find("s"), nullptr);
  EXPECT_TRUE(h.server.contains(name));
  // An unknown name passes untouched: the server answers 26000.
  EXPECT_EQ(h.client(bind("s")), bind("s"));
}

TEST(PreparedRelay, DuplicateNameIsRefusedUntilSync) {
  Harness h;
  (void)h.client(cat({parse("s", "SELECT 1"), sync()}));
  (void)h.reply(cat({kCloseComplete, kParseComplete, ready()}));
  const Bytes sent = h.client(cat({parse("s", "SELECT 9"), bind("s"), execute(), sync()}), 4);
  EXPECT_EQ(sent, cat({close_statement("rsv_none"), sync()}));
  Bytes error;
  protocol::ErrorResponse::make("ERROR", "42P05", "prepared statement \"s\" already exists")
      .encode(error);
  EXPECT_EQ(h.reply(cat({kCloseComplete, ready()}), 1), cat({error, ready()}));
  // The first statement is still there.
  EXPECT_EQ(h.relay.statements().find("s")->query, "SELECT 1");
}

TEST(PreparedRelay, AFailedParseDefinesNothing) {
  Harness h;
  const std::string name = rsv("SELEC 1");
  (void)h.client(cat({parse("bad", "SELEC 1"), sync()}));
  Bytes error;
  protocol::ErrorResponse::make("ERROR", "42601", "syntax error").encode(error);
  EXPECT_EQ(h.reply(cat({kCloseComplete, error, ready()})), cat({error, ready()}));
  EXPECT_EQ(h.relay.statements().find("bad"), nullptr);
  EXPECT_FALSE(h.server.contains(name));
}

TEST(PreparedRelay, AnErrorSkipsTheRestOfTheBatch) {
  Harness h;
  // Bind of an unknown statement fails; the Parse after it is skipped by the server.
  (void)h.client(cat({bind("nope"), parse("later", "SELECT 5"), sync()}));
  Bytes error;
  protocol::ErrorResponse::make("ERROR", "26000", "does not exist").encode(error);
  EXPECT_EQ(h.reply(cat({error, ready()})), cat({error, ready()}));
  EXPECT_EQ(h.relay.statements().find("later"), nullptr);
  EXPECT_FALSE(h.server.contains(rsv("SELECT 5")));
  EXPECT_FALSE(h.relay.replies_pending());
}

TEST(PreparedRelay, EvictionClosesTheLeastRecentlyUsed) {
  Harness h;
  h.server.set_capacity(1);
  (void)h.client(cat({parse("a", "SELECT 'a'"), sync()}));
  (void)h.reply(cat({kCloseComplete, kParseComplete, ready()}));
  h.server.end_transaction();
  const std::string a = rsv("SELECT 'a'"), b = rsv("SELECT 'b'");
  EXPECT_EQ(h.client(cat({parse("b", "SELECT 'b'"), sync()})),
            cat({close_statement(a), close_statement(b), parse(b, "SELECT 'b'"), sync()}));
  EXPECT_EQ(h.reply(cat({kCloseComplete, kCloseComplete, kParseComplete, ready()}), 1),
            cat({kParseComplete, ready()}));
  EXPECT_EQ(h.server.names(), std::vector<std::string>{b});
}

TEST(PreparedRelay, UnnamedStatementsAndQueriesPassUntouched) {
  Harness h;
  const Bytes in = cat({parse("", "SELECT 1"), bind(""), execute(), sync(),
                        simple('Q', {'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0})});
  ByteView chunk = h.relay.client_input(in);
  ASSERT_TRUE(h.from_client.scan(
      chunk, [&](const protocol::MessageHeader& m) { h.relay.note_client_message(m); }));
  ByteView out = h.relay.to_server(chunk, 0, h.server);
  EXPECT_EQ(out.data(), chunk.data());  // not copied
  EXPECT_EQ(Bytes(out.begin(), out.end()), in);
}

TEST(PreparedRelay, DiscardAllForgetsTheServersStatements) {
  Harness h;
  (void)h.server.insert(rsv("SELECT 1"));
  (void)h.client(simple('Q', {'D', 'I', 'S', 'C', 'A', 'R', 'D', ' ', 'A', 'L', 'L', 0}));
  EXPECT_EQ(h.server.size(), 0u);
}

TEST(PreparedRelay, DeallocateOfAProtocolStatementIsForgottenHere) {
  Harness h;
  (void)h.client(cat({parse("_pg3_0", "SELECT 1"), sync()}));
  (void)h.reply(cat({kCloseComplete, kParseComplete, ready()}));
  const Bytes sent = h.client(cat({parse("", "DEALLOCATE _pg3_0"), bind(""), execute(), sync()}));
  EXPECT_EQ(sent, cat({parse("", "DO $rsv$BEGIN END$rsv$"), bind(""), execute(), sync()}));
  EXPECT_EQ(h.relay.statements().find("_pg3_0"), nullptr);
  EXPECT_TRUE(h.server.contains(rsv("SELECT 1")));  // other clients may use it
  // DEALLOCATE ALL goes to the server and drops everything.
  const Bytes all =
      simple('Q', Bytes{'D', 'E', 'A', 'L', 'L', 'O', 'C', 'A', 'T', 'E', ' ', 'A', 'L', 'L', 0});
  EXPECT_EQ(h.client(all), all);
  EXPECT_EQ(h.server.size(), 0u);
}

Bytes query(const std::string& sql) {
  Bytes body(sql.begin(), sql.end());
  body.push_back(0);
  Bytes out{'Q', 0, 0, 0, 0};
  const auto len = static_cast<std::uint32_t>(4 + body.size());
  out[1] = static_cast<std::uint8_t>(len >> 24);
  out[2] = static_cast<std::uint8_t>(len >> 16);
  out[3] = static_cast<std::uint8_t>(len >> 8);
  out[4] = static_cast<std::uint8_t>(len);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Simple-protocol Queries expect a plain ReadyForQuery each (counted, not queued); a client
// that pipelines them with named Parses still gets every reply edited in its place, and a
// Query's error leaves the Parses behind it alone.
TEST(PreparedRelay, QueriesPipelinedWithParsesKeepTheirOrder) {
  Harness h;
  const std::string name = rsv("SELECT 4");
  const Bytes c = simple('C', {'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0});
  Bytes error;
  protocol::ErrorResponse::make("ERROR", "22012", "division by zero").encode(error);
  // Query, Query (fails), Parse s + Sync, Query: all sent before any reply.
  const Bytes in = cat(
      {query("SELECT 1"), query("SELECT 1/0"), parse("s", "SELECT 4"), sync(), query("SELECT 1")});
  EXPECT_EQ(h.client(in, 7), cat({query("SELECT 1"), query("SELECT 1/0"), close_statement(name),
                                  parse(name, "SELECT 4"), sync(), query("SELECT 1")}));
  EXPECT_TRUE(h.relay.replies_pending());
  const Bytes server =
      cat({c, ready(), error, ready(), kCloseComplete, kParseComplete, ready(), c, ready()});
  EXPECT_EQ(h.reply(server, 3),
            cat({c, ready(), error, ready(), kParseComplete, ready(), c, ready()}));
  EXPECT_TRUE(h.server.contains(name));  // the Query's error did not undo the later Parse
  EXPECT_NE(h.relay.statements().find("s"), nullptr);
  EXPECT_FALSE(h.relay.replies_pending());
  // And once more, now that the queue is empty again.
  EXPECT_EQ(h.client(cat({query("SELECT 1"), bind("s"), execute(), sync()})),
            cat({query("SELECT 1"), bind(name), execute(), sync()}));
  EXPECT_EQ(h.reply(cat({c, ready(), kBindComplete, c, ready()}), 1),
            cat({c, ready(), kBindComplete, c, ready()}));
  EXPECT_FALSE(h.relay.replies_pending());
}

// A Query the pooler answered itself (refused: its chunk's notes were forgotten) is owed no
// ReadyForQuery by the server: the next batch's replies are matched as if it never came.
TEST(PreparedRelay, AQueryAnsweredWithoutAServerIsNotOwed) {
  Harness h;
  const Bytes q = query("SELECT 1");
  ByteView chunk = h.relay.client_input(q);
  ASSERT_TRUE(h.from_client.scan(chunk, [&](const protocol::MessageHeader& m) {
    h.relay.note_client_message(m, Harness::hints(m, chunk));
  }));
  h.relay.forget_client_messages();
  const std::string name = rsv("SELECT 4");
  EXPECT_EQ(h.client(cat({parse("s", "SELECT 4"), sync()})),
            cat({close_statement(name), parse(name, "SELECT 4"), sync()}));
  EXPECT_EQ(h.reply(cat({kCloseComplete, kParseComplete, ready()})),
            cat({kParseComplete, ready()}));
  EXPECT_FALSE(h.relay.replies_pending());
}

}  // namespace
}  // namespace reservoir::proxy
