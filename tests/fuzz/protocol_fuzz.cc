// libFuzzer entry point for the protocol layer. Fuzz it with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/protocol_fuzz.cc src/protocol/*.cc src/protocol/messages/*.cc
//     -lpg_query -lfmt -lspdlog -o protocol_fuzz
//   ./protocol_fuzz -max_len=4096 tests/fuzz/corpus/protocol
// (one command line). `make test` replays tests/fuzz/corpus/protocol (replay_main.cc).
// The first input byte picks the packet-size limit and chunking; the rest is the stream.
#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/startup.h"

namespace {

using namespace reservoir;
using namespace reservoir::protocol;

void decode_everything(ByteView body) {
  (void)Authentication::decode(body);
  (void)ParameterStatus::decode(body);
  (void)BackendKeyData::decode(body);
  (void)ReadyForQuery::decode(body);
  (void)ErrorResponse::decode(body);
  (void)NoticeResponse::decode(body);
  (void)NegotiateProtocolVersion::decode(body);
  (void)CommandComplete::decode(body);
  (void)EmptyQueryResponse::decode(body);
  (void)PasswordMessage::decode(body);
  (void)SaslInitialResponse::decode(body);
  (void)SaslResponse::decode(body);
  (void)Query::decode(body);
  (void)Parse::decode(body);
  (void)Bind::decode(body);
  (void)Execute::decode(body);
  (void)Describe::decode(body);
  (void)Close::decode(body);
  (void)CopyData::decode(body);
  (void)CopyFail::decode(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  ByteView input(data + 1, size - 1);
  const std::uint32_t max_packet = (control & 1) ? 256 : kDefaultMaxPacketSize;
  const std::size_t chunk = 1 + (control >> 1);

  (void)startup_length(input);
  (void)decode_startup(input);
  decode_everything(input);

  // FrameReader and MessageScanner fed the same chunks must agree on every boundary.
  FrameReader reader(max_packet);
  MessageScanner scanner(max_packet);
  MessageScanner backend(max_packet, Checks::kBackend);  // the server side's stricter checks
  std::size_t frames = 0;
  std::size_t headers = 0;
  std::size_t backend_headers = 0;
  bool reader_failed = false;
  bool scanner_failed = false;
  bool backend_failed = false;
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) {
    ByteView piece = input.subspan(pos, std::min(chunk, input.size() - pos));
    if (!scanner_failed) {
      scanner_failed = !scanner.scan(piece, [&](const MessageHeader&) { ++headers; }).ok();
    }
    if (!backend_failed) {
      backend_failed = !backend.scan(piece, [&](const MessageHeader&) { ++backend_headers; }).ok();
    }
    // Until the stricter scanner refuses something, both find the same messages.
    if (!backend_failed && !scanner_failed && backend_headers != headers) __builtin_trap();
    if (!backend_failed && scanner_failed) __builtin_trap();
    reader.append(piece);
    while (!reader_failed) {
      auto frame = reader.next();
      if (!frame.ok()) {
        reader_failed = true;
        break;
      }
      if (!*frame) break;
      ++frames;
      decode_everything((*frame)->body);
    }
  }
  // The scanner sees a header as soon as it is complete; the reader waits for the body.
  // (The scanner also refuses a ReadyForQuery of the wrong length, which the reader passes.)
  if (!scanner_failed && headers < frames) __builtin_trap();
  return 0;
}
