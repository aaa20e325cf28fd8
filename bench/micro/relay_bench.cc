// The per-transaction work of the relay that is not I/O, piece by piece: what client_reader
// and server_reader do to every request and reply between the reads and the sends.
//   BM_ScanSql/<text>          the SQL scan of every Query and Parse (transaction mode)
//   BM_PreparedRelay<kind>     one extended-protocol transaction through the prepared
//                              statement relay, both directions, with the relay's scanners
//   BM_PoolLendAndReturn       a server lent from the pool and given back (no waiters)
//   BM_PoolHandOff             a release that goes straight to the next waiter
//   BM_HistogramObserve        a latency observation (once per transaction)
// The I/O itself (two reads, two sends and the wake-ups) costs far more; the instruction
// counts per transaction in bench/RESULTS.md put these pieces in proportion.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "observability/histogram.h"
#include "pool/pool.h"
#include "protocol/message_scanner.h"
#include "protocol/sql_scan.h"
#include "proxy/prepared_relay.h"
#include "wire_samples.h"

namespace reservoir::bench {
namespace {

// pgbench -S; a SET; what an ORM sends (underscores everywhere); a multi-statement text.
constexpr std::string_view kSqlTexts[] = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = 54260;",
    "SET application_name = 'billing-worker'",
    "SELECT users.id AS users_id, users.name AS users_name, users.created_at AS "
    "users_created_at FROM users WHERE users.org_id = $1 ORDER BY users.created_at DESC "
    "LIMIT $2",
    "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1; SELECT "
    "abalance FROM pgbench_accounts WHERE aid = 1; END;",
};

void BM_ScanSql(benchmark::State& state) {
  const std::string_view sql = kSqlTexts[state.range(0)];
  for (auto _ : state) {
    benchmark::DoNotOptimize(protocol::scan_sql(sql));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sql.size()));
}
BENCHMARK(BM_ScanSql)->DenseRange(0, 3);

// What the relay's own SQL scan passes along with a Query or Parse (note_client_sql).
unsigned sql_hints(ByteView chunk, const protocol::MessageHeader& h) {
  if (h.type != protocol::msg::kParse && h.type != protocol::msg::kQuery) {
    return proxy::PreparedRelay::kNotScanned;
  }
  std::string_view body(reinterpret_cast<const char*>(chunk.data()) + h.offset + 5,
                        h.end - h.offset - 5);
  if (h.type == protocol::msg::kParse) body.remove_prefix(body.find('\0') + 1);
  return protocol::scan_sql(body.substr(0, body.find('\0')));
}

// One transaction through the relay's extended-protocol path, as client_reader and
// server_reader call it: client bytes in, scanned (the SQL too), noted, rewritten for the
// server; the server's reply scanned, matched and edited back for the client.
struct RelayPair {
  proxy::PreparedRelay relay;
  pool::ServerStatements server{200};
  protocol::MessageScanner from_client;
  protocol::MessageScanner from_server;

  std::size_t client(const Bytes& in) {
    relay.forget_client_messages();
    ByteView chunk = relay.client_input(in);
    (void)from_client.scan(chunk, [&](const protocol::MessageHeader& h) {
      relay.note_client_message(h, sql_hints(chunk, h));
    });
    return relay.to_server(chunk, 0, server).size();
  }
  std::size_t reply(const Bytes& in) {
    ByteView chunk = relay.server_input(in, from_server);
    (void)from_server.scan(
        chunk, [&](const protocol::MessageHeader& h) { relay.on_server_message(h, server); });
    const std::size_t n = relay.to_client(chunk).size();
    server.end_transaction();
    return n;
  }
};

// pgbench -M extended: an unnamed Parse, Bind, Describe, Execute, Sync. Passes untouched.
void BM_PreparedRelayUnnamed(benchmark::State& state) {
  const Bytes request = client_extended_batch();
  const Bytes response = server_extended_response();
  RelayPair pair;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pair.client(request));
    benchmark::DoNotOptimize(pair.reply(response));
  }
}
BENCHMARK(BM_PreparedRelayUnnamed);

// pgbench -M prepared after its first transaction: Bind of the client's statement "P_0",
// rewritten to the server's name for it, Describe, Execute, Sync.
void BM_PreparedRelayNamed(benchmark::State& state) {
  RelayPair pair;
  Bytes first;
  protocol::Parse{"P_0", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", {}}.encode(first);
  const Bytes batch = client_bind_batch("P_0");
  first.insert(first.end(), batch.begin(), batch.end());
  pair.client(first);  // the server gets Close + Parse of the server name first
  Bytes first_reply;
  protocol::CloseComplete{}.encode(first_reply);
  protocol::ParseComplete{}.encode(first_reply);
  const Bytes response = server_bind_response();
  first_reply.insert(first_reply.end(), response.begin(), response.end());
  pair.reply(first_reply);
  for (auto _ : state) {
    benchmark::DoNotOptimize(pair.client(batch));
    benchmark::DoNotOptimize(pair.reply(response));
  }
  if (pair.relay.replies_pending() || !pair.relay.nothing_held_back()) {
    state.SkipWithError("the relay fell out of step with the replies");
  }
}
BENCHMARK(BM_PreparedRelayNamed);

using BenchPool = pool::Pool<int>;

BenchPool pool_with_idle(int servers, TimePoint now) {
  BenchPool p(pool::PoolLimits{});
  for (int i = 0; i < servers; ++i) {
    p.connect_started();
    (void)p.connect_succeeded(BenchPool::Lease{i, now, now, 0}, now);
  }
  return p;
}

// A transaction's pool work when a server is free: acquire, then release to idle.
void BM_PoolLendAndReturn(benchmark::State& state) {
  const TimePoint now = SteadyClock::now();
  BenchPool p = pool_with_idle(20, now);
  pool::WaiterId id = 0;
  for (auto _ : state) {
    auto got = p.acquire(++id, now);
    auto back = p.release(std::move(*got.lease), now);
    benchmark::DoNotOptimize(back.kind);
  }
}
BENCHMARK(BM_PoolLendAndReturn);

// With every server busy and `range(0)` clients queued: a release hands the server to the
// longest waiter, who queues again after its transaction (500 clients, pool of 20).
void BM_PoolHandOff(benchmark::State& state) {
  const TimePoint now = SteadyClock::now();
  BenchPool p = pool_with_idle(1, now);
  auto lease = p.acquire(0, now).lease;
  pool::WaiterId id = 0;
  for (int i = 0; i < state.range(0); ++i) (void)p.acquire(++id, now);
  for (auto _ : state) {
    auto handed = p.release(std::move(*lease), now);
    lease = std::move(handed.lease);
    (void)p.acquire(++id, now);
    benchmark::DoNotOptimize(handed.waiter);
  }
}
BENCHMARK(BM_PoolHandOff)->Arg(10)->Arg(480);

void BM_HistogramObserve(benchmark::State& state) {
  observability::HistogramCell cell;
  std::int64_t us = 0;
  for (auto _ : state) {
    cell.observe(std::chrono::microseconds(300 + (++us & 1023)));
  }
  benchmark::DoNotOptimize(cell);
}
BENCHMARK(BM_HistogramObserve);

}  // namespace
}  // namespace reservoir::bench
