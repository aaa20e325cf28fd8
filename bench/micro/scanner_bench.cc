// The relay's pure hot path: MessageScanner::scan over relayed chunks, with a callback that
// does what transaction pooling needs (note ReadyForQuery, errors, Terminate).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>

#include "wire_samples.h"

namespace reservoir::bench {
namespace {

// Scans `stream` in chunks of `chunk` bytes, as the relay sees socket reads.
void scan_stream(benchmark::State& state, const Bytes& stream, std::size_t chunk) {
  std::int64_t messages = 0;
  for (auto _ : state) {
    protocol::MessageScanner scanner;
    int interesting = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
      const std::size_t n = std::min(chunk, stream.size() - pos);
      auto status =
          scanner.scan(ByteView(stream).subspan(pos, n), [&](const protocol::MessageHeader& h) {
            if (h.type == protocol::msg::kErrorResponse || h.type == protocol::msg::kTerminate) {
              ++interesting;
            }
          });
      if (!status) std::abort();  // the stream is well-formed
      benchmark::DoNotOptimize(scanner.ready_at_end());
    }
    benchmark::DoNotOptimize(interesting);
    messages += static_cast<std::int64_t>(scanner.messages_seen());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
  state.SetItemsProcessed(messages);
}

// Server -> client: 64 responses of RowDescription + DataRow x rows + CommandComplete +
// ReadyForQuery. {rows per response, bytes per chunk}
void BM_ScanServerSelect(benchmark::State& state) {
  const Bytes stream = repeated(server_select_response(static_cast<int>(state.range(0))), 64);
  scan_stream(state, stream, static_cast<std::size_t>(state.range(1)));
}
BENCHMARK(BM_ScanServerSelect)->Args({1, 4096})->Args({100, 4096})->Args({100, 65536});

// Server -> client, extended protocol: ParseComplete ... ReadyForQuery, one chunk each
// (what a socket read returns per pgbench -M extended transaction).
void BM_ScanServerExtended(benchmark::State& state) {
  const Bytes stream = server_extended_response();
  scan_stream(state, stream, stream.size());
}
BENCHMARK(BM_ScanServerExtended);

// Client -> server: Parse, Bind, Describe, Execute, Sync, one chunk per transaction.
void BM_ScanClientExtended(benchmark::State& state) {
  const Bytes stream = client_extended_batch();
  scan_stream(state, stream, stream.size());
}
BENCHMARK(BM_ScanClientExtended);

}  // namespace
}  // namespace reservoir::bench
