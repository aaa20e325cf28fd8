// Decoding of the messages a pooler parses fully: StartupMessage, ErrorResponse, Bind.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "wire_samples.h"

namespace reservoir::bench {
namespace {

void BM_DecodeStartup(benchmark::State& state) {
  const Bytes packet = startup_packet();
  for (auto _ : state) {
    auto decoded = protocol::decode_startup(packet);
    if (!decoded) std::abort();
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(packet.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeStartup);

void BM_DecodeErrorResponse(benchmark::State& state) {
  const Bytes body = error_response_body();
  for (auto _ : state) {
    auto decoded = protocol::ErrorResponse::decode(body);
    if (!decoded) std::abort();
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeErrorResponse);

void BM_DecodeBind(benchmark::State& state) {
  const Bytes body = bind_body();
  for (auto _ : state) {
    auto decoded = protocol::Bind::decode(body);
    if (!decoded) std::abort();
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeBind);

}  // namespace
}  // namespace reservoir::bench
