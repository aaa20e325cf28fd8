// Random and mutated buffers through every decoder: no crash, no out-of-bounds read (run
// under -fsanitize=address,undefined to check the latter). Each buffer is copied into an
// exactly sized heap allocation so ASan catches a read one byte past the end.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/startup.h"
#include "test_streams.h"

namespace reservoir::protocol {
namespace {

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
  (void)Sync::decode(body);
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

void drive_all(ByteView input) {
  auto exact = std::make_unique<std::uint8_t[]>(input.size() + 1);
  std::copy(input.begin(), input.end(), exact.get());
  ByteView buf(exact.get(), input.size());

  decode_everything(buf);
  (void)startup_length(buf);
  (void)decode_startup(buf);

  FrameReader reader(4096);
  reader.append(buf);
  for (int i = 0; i < 10000; ++i) {
    auto f = reader.next();
    if (!f.ok() || !*f) break;
    decode_everything((*f)->body);
  }

  MessageScanner scanner(4096);
  const std::size_t half = buf.size() / 2;
  (void)scanner.scan(buf.first(half), [](const MessageHeader&) {});
  (void)scanner.scan(buf.subspan(half), [](const MessageHeader&) {});
}

TEST(Garbage, RandomBuffersNeverCrash) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> len(0, 64);
  for (int i = 0; i < 4000; ++i) {
    Bytes b(len(rng));
    for (auto& x : b) x = static_cast<std::uint8_t>(byte(rng));
    drive_all(b);
  }
}

TEST(Garbage, MutatedValidStreamsNeverCrash) {
  Bytes seed = testing::sample_backend_stream();
  Parse{"s", "select $1", {23}}.encode(seed);
  Bind{"", "s", {1}, {Bytes{0, 0, 0, 1}}, {1}}.encode(seed);
  SaslInitialResponse{"SCRAM-SHA-256", Bytes{'n', ',', ','}}.encode(seed);
  NegotiateProtocolVersion{0, {"_pq_.x"}}.encode(seed);
  Authentication::sasl({"SCRAM-SHA-256"}).encode(seed);
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    Bytes b = seed;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    drive_all(b);
    // Every prefix-truncated body must also be safe for each decoder.
    FrameReader reader;
    reader.append(b);
    for (int k = 0; k < 64; ++k) {
      auto f = reader.next();
      if (!f.ok() || !*f) break;
      ByteView body = (*f)->body;
      drive_all(body.first(rng() % (body.size() + 1)));
    }
  }
}

TEST(Garbage, RandomStartupPackets) {
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    Bytes b;
    ByteWriter w(b);
    const std::size_t n = rng() % 40;
    w.u32(static_cast<std::uint32_t>(n + 8));
    w.u32(rng() % 4 == 0 ? kProtocolVersion3 : static_cast<std::uint32_t>(rng()));
    for (std::size_t k = 0; k < n; ++k) w.u8(rng() % 3 == 0 ? 0 : static_cast<std::uint8_t>(rng()));
    drive_all(b);
  }
}

}  // namespace
}  // namespace reservoir::protocol
