// FrameReader over a stream of typical server messages, fed in socket-sized chunks.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>

#include "wire_samples.h"

namespace reservoir::bench {
namespace {

// Appends `stream` to a reader `chunk` bytes at a time and takes every frame out.
void BM_FrameReader(benchmark::State& state) {
  const Bytes stream = repeated(server_select_response(static_cast<int>(state.range(0))), 64);
  const auto chunk = static_cast<std::size_t>(state.range(1));
  std::int64_t frames = 0;
  for (auto _ : state) {
    protocol::FrameReader reader;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
      const std::size_t n = std::min(chunk, stream.size() - pos);
      reader.append(ByteView(stream).subspan(pos, n));
      for (;;) {
        auto frame = reader.next();
        if (!frame) std::abort();  // the stream is well-formed
        if (!*frame) break;
        benchmark::DoNotOptimize((*frame)->type);
        ++frames;
      }
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
  state.SetItemsProcessed(frames);
}
// {rows per response, bytes per append}
BENCHMARK(BM_FrameReader)->Args({1, 4096})->Args({100, 4096})->Args({100, 65536});

}  // namespace
}  // namespace reservoir::bench
