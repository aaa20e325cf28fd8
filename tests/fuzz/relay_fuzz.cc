// libFuzzer entry point for what the relay does with a client's and a server's bytes in
// transaction mode, short of I/O: the prepared-statement relay (client_input, to_server,
// server_input, on_server_message, to_client), the MessageScanners that drive it, and the
// SQL scan and classification of Query and Parse texts. Fuzz it with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//     tests/fuzz/relay_fuzz.cc src/proxy/prepared_relay.cc src/pool/prepared.cc
//     src/protocol/*.cc src/protocol/messages/*.cc -lpg_query -lfmt -lspdlog -o relay_fuzz
//   ./relay_fuzz -max_len=4096 tests/fuzz/corpus/relay
// (one command line). `make test` replays tests/fuzz/corpus/relay (replay_main.cc).
// Input: one control byte (chunk sizes, statement capacity), then the client's stream; a
// 0xFF 0xFE 0xFD 0xFC marker, if present, ends it and starts the server's stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pool/prepared.h"
#include "protocol/message_scanner.h"
#include "protocol/message_types.h"
#include "protocol/sql_classify.h"
#include "protocol/sql_scan.h"
#include "proxy/prepared_relay.h"

namespace {

using namespace reservoir;
using reservoir::proxy::PreparedRelay;

constexpr std::uint8_t kSplit[] = {0xFF, 0xFE, 0xFD, 0xFC};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  ByteView input(data + 1, size - 1);
  const std::size_t client_chunk = 1 + (control & 0x0F) * 7;
  const std::size_t server_chunk = 1 + ((control >> 4) & 0x07) * 9;
  const std::size_t capacity = (control & 0x80) ? 2 : 200;

  const auto split = std::search(input.begin(), input.end(), std::begin(kSplit), std::end(kSplit));
  ByteView client = input.first(static_cast<std::size_t>(split - input.begin()));
  ByteView server =
      split == input.end() ? ByteView{} : input.subspan(client.size() + sizeof kSplit);

  PreparedRelay relay(1 << 16);
  pool::ServerStatements statements(capacity);
  protocol::MessageScanner from_client(1 << 16);
  protocol::MessageScanner from_server(1 << 16, protocol::Checks::kBackend);
  protocol::MessageScanner to_client(1 << 24, protocol::Checks::kBackend);  // the relay's output
  relay.attach();

  // Client -> server, chunk by chunk, as client_reader does.
  for (std::size_t pos = 0; pos < client.size(); pos += client_chunk) {
    ByteView chunk = client.subspan(pos, std::min(client_chunk, client.size() - pos));
    relay.forget_client_messages();
    chunk = relay.client_input(chunk);
    if (chunk.empty()) continue;
    bool cut = false;
    const auto scanned = from_client.scan(chunk, [&](const protocol::MessageHeader& h) {
      if (cut) return;
      if (h.type == protocol::msg::kTerminate) {
        cut = true;
        return;
      }
      unsigned hints = PreparedRelay::kNotScanned;
      const bool whole = !h.straddled && h.end <= chunk.size();
      if ((h.type == protocol::msg::kQuery || h.type == protocol::msg::kParse) && whole) {
        const std::string_view sql = protocol::statement_text(
            h.type, as_chars(chunk.subspan(h.offset + protocol::kHeaderSize, h.body_size())));
        hints = protocol::scan_sql(sql);
        if (hints & protocol::kDropsStatements) (void)protocol::classify_sql(sql);
      }
      relay.note_client_message(h, hints);
    });
    if (!scanned.ok()) break;
    (void)relay.to_server(chunk, 0, statements);
    if (cut) break;
  }

  // Server -> client, as server_reader does.
  for (std::size_t pos = 0; pos < server.size(); pos += server_chunk) {
    ByteView chunk = server.subspan(pos, std::min(server_chunk, server.size() - pos));
    chunk = relay.server_input(chunk, from_server);
    if (chunk.empty()) continue;
    const auto scanned = from_server.scan(
        chunk, [&](const protocol::MessageHeader& h) { relay.on_server_message(h, statements); });
    if (!scanned.ok()) break;
    ByteView out = relay.to_client(chunk);
    // What goes to the client is a well-formed stream whenever the server's was: an edit
    // replaces whole messages with whole messages.
    if (!to_client.scan(out).ok()) __builtin_trap();
    // ... and, where the server's stream is between messages with nothing kept back, the
    // client's is too.
    if (from_server.at_boundary() && relay.nothing_held_back() && !to_client.at_boundary()) {
      __builtin_trap();
    }
    if (from_server.ready_at_end()) statements.end_transaction();
  }
  return 0;
}
