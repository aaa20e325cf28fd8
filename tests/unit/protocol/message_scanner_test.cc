#include "protocol/message_scanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string_view>
#include <tuple>
#include <vector>

#include "protocol/frame.h"
#include "test_streams.h"

namespace reservoir::protocol {
namespace {

// A message as located in the whole stream.
struct Located {
  char type;
  std::uint32_t length;
  std::size_t start;  // absolute offset of the type byte
  std::size_t end;    // absolute offset just past the message
  bool operator==(const Located&) const = default;
};

struct ScanResult {
  std::vector<Located> messages;
  std::vector<std::size_t> ends;  // absolute ends reported via completed()/last_end()
  char ready_status = 0;
  std::optional<char> ready_at_end;
};

ScanResult scan_all(const Bytes& stream, const std::vector<std::size_t>& chunks) {
  MessageScanner scanner;
  ScanResult out;
  std::size_t base = 0;
  for (std::size_t size : chunks) {
    ByteView chunk = ByteView(stream).subspan(base, size);
    Status st = scanner.scan(chunk, [&](const MessageHeader& h) {
      const std::size_t end = base + h.end;
      const std::size_t start = end - h.wire_size();
      if (!h.straddled)
        EXPECT_EQ(base + h.offset, start);
      else
        EXPECT_EQ(h.offset, 0u);
      out.messages.push_back({h.type, h.length, start, end});
    });
    EXPECT_TRUE(st.ok());
    if (scanner.completed() > 0) out.ends.push_back(base + scanner.last_end());
    base += size;
  }
  out.ready_status = scanner.ready_status();
  out.ready_at_end = scanner.ready_at_end();
  EXPECT_TRUE(scanner.at_boundary());
  return out;
}

// Ground truth from FrameReader on the whole stream.
std::vector<Located> frames_of(const Bytes& stream) {
  FrameReader reader;
  reader.append(stream);
  std::vector<Located> out;
  std::size_t pos = 0;
  for (;;) {
    auto f = reader.next();
    EXPECT_TRUE(f.ok());
    if (!f.ok() || !*f) break;
    const std::size_t wire = (*f)->wire_size();
    out.push_back({(*f)->type, static_cast<std::uint32_t>(wire - 1), pos, pos + wire});
    pos += wire;
  }
  return out;
}

TEST(MessageScanner, AgreesWithFrameReaderForAnyChunking) {
  const Bytes stream = testing::sample_backend_stream();
  const auto truth = frames_of(stream);
  ASSERT_EQ(truth.size(), 9u);

  auto check = [&](const std::vector<std::size_t>& chunks) {
    ScanResult r = scan_all(stream, chunks);
    EXPECT_EQ(r.messages, truth);
    EXPECT_EQ(r.ready_status, 'T');
    EXPECT_EQ(r.ready_at_end, std::optional<char>('T'));
    ASSERT_FALSE(r.ends.empty());
    EXPECT_EQ(r.ends.back(), stream.size());
    // Every reported end is the end of some message.
    for (std::size_t e : r.ends) {
      EXPECT_TRUE(std::any_of(truth.begin(), truth.end(), [&](auto& m) { return m.end == e; }));
    }
  };
  check({stream.size()});
  check(std::vector<std::size_t>(stream.size(), 1));
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) check(testing::random_chunks(stream.size(), 1 + i * 15, rng));
}

TEST(MessageScanner, ThreeArgumentCallback) {
  Bytes b;
  Query{"x"}.encode(b);
  Terminate{}.encode(b);
  MessageScanner scanner;
  std::vector<std::tuple<char, std::uint32_t, std::size_t>> seen;
  ASSERT_TRUE(scanner
                  .scan(b, [&](char t, std::uint32_t len,
                               std::size_t off) { seen.emplace_back(t, len, off); })
                  .ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_tuple('Q', 6u, std::size_t(0)));
  EXPECT_EQ(seen[1], std::make_tuple('X', 4u, std::size_t(7)));
}

TEST(MessageScanner, ReadyForQueryStatusSplitFromHeader) {
  Bytes b;
  ReadyForQuery{'E'}.encode(b);
  MessageScanner scanner;
  ASSERT_TRUE(scanner.scan(ByteView(b).first(5)).ok());
  EXPECT_FALSE(scanner.at_boundary());
  EXPECT_EQ(scanner.completed(), 0u);
  EXPECT_FALSE(scanner.ready_at_end());
  ASSERT_TRUE(scanner.scan(ByteView(b).subspan(5)).ok());
  EXPECT_EQ(scanner.completed(), 1u);
  EXPECT_EQ(scanner.last_end(), 1u);
  EXPECT_EQ(scanner.last_type(), 'Z');
  EXPECT_EQ(scanner.ready_at_end(), std::optional<char>('E'));
}

TEST(MessageScanner, ReadyForQueryFollowedByPartialMessage) {
  Bytes b;
  ReadyForQuery{'I'}.encode(b);
  b.push_back('N');
  MessageScanner scanner;
  ASSERT_TRUE(scanner.scan(b).ok());
  EXPECT_EQ(scanner.last_type(), 'Z');
  EXPECT_EQ(scanner.ready_status(), 'I');
  EXPECT_EQ(scanner.last_end(), 6u);
  EXPECT_FALSE(scanner.at_boundary());
  EXPECT_FALSE(scanner.ready_at_end());
}

TEST(MessageScanner, TerminateCutOffset) {
  Bytes b;
  Sync{}.encode(b);
  Terminate{}.encode(b);
  Query{"after"}.encode(b);
  MessageScanner scanner;
  std::optional<std::size_t> cut;
  ASSERT_TRUE(scanner
                  .scan(b,
                        [&](const MessageHeader& h) {
                          if (h.type == msg::kTerminate && !cut) cut = h.end;
                        })
                  .ok());
  EXPECT_EQ(cut, std::optional<std::size_t>(10));
}

TEST(MessageScanner, BodySpanningChunksEndsLater) {
  Bytes b;
  encode_frame(b, 'd', Bytes(100, 0));
  MessageScanner scanner;
  MessageHeader seen;
  ASSERT_TRUE(scanner.scan(ByteView(b).first(50), [&](const MessageHeader& h) { seen = h; }).ok());
  EXPECT_EQ(seen.end, 105u);  // beyond this chunk
  EXPECT_EQ(scanner.completed(), 0u);
  ASSERT_TRUE(scanner.scan(ByteView(b).subspan(50)).ok());
  EXPECT_EQ(scanner.completed(), 1u);
  EXPECT_EQ(scanner.last_end(), 55u);
  EXPECT_TRUE(scanner.at_boundary());
}

TEST(MessageScanner, BadLengthsFailAndStayFailed) {
  struct Case {
    char type;
    std::uint32_t length;
    std::uint32_t max;
    const char* sqlstate;
  };
  for (const Case& c :
       {Case{'Q', 3, kDefaultMaxPacketSize, "08P01"}, Case{'Q', 0, kDefaultMaxPacketSize, "08P01"},
        Case{'d', 101, 100, "54000"}, Case{'d', 0xffffffffu, kDefaultMaxPacketSize, "54000"},
        Case{'Z', 6, kDefaultMaxPacketSize, "08P01"},
        Case{'Z', 4, kDefaultMaxPacketSize, "08P01"}}) {
    Bytes b;
    Sync{}.encode(b);
    b.push_back(static_cast<std::uint8_t>(c.type));
    ByteWriter(b).u32(c.length);
    MessageScanner scanner(c.max);
    int calls = 0;
    Status st = scanner.scan(b, [&](const MessageHeader&) { ++calls; });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().sqlstate, c.sqlstate);
    EXPECT_EQ(calls, 1);  // the Sync before it
    EXPECT_TRUE(scanner.failed());
    EXPECT_FALSE(scanner.scan(b).ok());
    scanner.reset();
    EXPECT_FALSE(scanner.failed());
  }
}

// A raw message: type, length field = 4 + body size, body.
Bytes raw_message(char type, const Bytes& body) {
  Bytes b;
  b.push_back(static_cast<std::uint8_t>(type));
  ByteWriter(b).u32(static_cast<std::uint32_t>(4 + body.size()));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// Scans `stream` with a backend scanner in chunks of `chunk` bytes; the first failure.
Status scan_backend(const Bytes& stream, std::size_t chunk, int* messages = nullptr) {
  MessageScanner scanner(Checks::kBackend);
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    const std::size_t n = std::min(chunk, stream.size() - at);
    Status st = scanner.scan(ByteView(stream).subspan(at, n), [&](const MessageHeader&) {
      if (messages != nullptr) ++*messages;
    });
    if (!st) {
      EXPECT_TRUE(scanner.failed());
      EXPECT_FALSE(scanner.scan(ByteView(stream).first(1)).ok());  // stays failed
      return st;
    }
  }
  return Ok{};
}

TEST(MessageScanner, BackendChecksPassEveryBackendMessage) {
  Bytes stream;
  int expected = 0;
  for (char type : std::string_view("ACDEGHKNRSTVWdtv")) {
    const Bytes m = raw_message(type, Bytes(8, 'x'));
    stream.insert(stream.end(), m.begin(), m.end());
    ++expected;
  }
  for (char type : std::string_view("123nscI")) {
    const Bytes m = raw_message(type, {});
    stream.insert(stream.end(), m.begin(), m.end());
    ++expected;
  }
  for (char status : std::string_view("ITE")) {
    const Bytes m = raw_message('Z', {static_cast<std::uint8_t>(status)});
    stream.insert(stream.end(), m.begin(), m.end());
    ++expected;
  }
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{7}, stream.size()}) {
    int messages = 0;
    EXPECT_TRUE(scan_backend(stream, chunk, &messages).ok()) << "chunk " << chunk;
    EXPECT_EQ(messages, expected) << "chunk " << chunk;
  }
}

TEST(MessageScanner, BackendChecksAllowTheLongestMessagePostgreSQLCanSend) {
  Bytes header{'D'};
  ByteWriter(header).u32(MessageScanner::kMaxBackendLength);
  MessageScanner scanner(Checks::kBackend);
  EXPECT_TRUE(scanner.scan(header).ok());
  header.resize(1);
  ByteWriter(header).u32(MessageScanner::kMaxBackendLength + 1);
  MessageScanner again(Checks::kBackend);
  EXPECT_FALSE(again.scan(header).ok());
}

TEST(MessageScanner, BackendChecksRejectWhatNoServerSends) {
  struct Case {
    Bytes message;
    const char* says;
  };
  const Case cases[] = {
      // 'y' + "yyyy": a header read from inside a row after the framing was lost
      {raw_message('y', Bytes(8, 'y')), "invalid message type 'y' from the server"},
      {raw_message('Q', Bytes(8, 'x')), "invalid message type 'Q' from the server"},
      {raw_message('\0', Bytes(3, 0)), "invalid message type byte 0 from the server"},
      {raw_message('1', {0}), "invalid length 5 for message type '1' from the server"},
      // 'D' + "xxxx": a DataRow of 2 GB, longer than PostgreSQL can send
      {Bytes{'D', 'x', 'x', 'x', 'x', 0, 1},
       "invalid length 2021161080 for message type 'D' from the server"},
      {raw_message('I', Bytes(4, 0)), "invalid length 8 for message type 'I' from the server"},
      {raw_message('Z', {'Q'}), "invalid ReadyForQuery status 'Q' from the server"},
      {raw_message('Z', {0}), "invalid ReadyForQuery status byte 0 from the server"},
  };
  const Bytes before = raw_message('C', Bytes(7, 'x'));
  for (const Case& c : cases) {
    Bytes stream = before;
    stream.insert(stream.end(), c.message.begin(), c.message.end());
    for (std::size_t chunk : {std::size_t{1}, std::size_t{4}, stream.size()}) {
      Status st = scan_backend(stream, chunk);
      ASSERT_FALSE(st.ok()) << c.says << ", chunk " << chunk;
      EXPECT_EQ(st.error().sqlstate, "08P01");
      EXPECT_EQ(st.error().message, c.says);
    }
    // A scanner with only the length checks (the client's side) lets them through.
    if (c.message[0] != 'Z' && c.message[0] != '1' && c.message[0] != 'I' && c.message[0] != 'D') {
      MessageScanner lengths_only;
      EXPECT_TRUE(lengths_only.scan(stream).ok()) << c.says;
    }
  }
}

TEST(MessageScanner, SplitBadHeaderDetectedWhenComplete) {
  const std::uint8_t b[] = {'Q', 0, 0, 0, 2};
  MessageScanner scanner;
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(scanner.scan(ByteView(b + i, 1)).ok());
  EXPECT_FALSE(scanner.scan(ByteView(b + 4, 1)).ok());
}

TEST(MessageScanner, EmptyChunkIsNoOp) {
  MessageScanner scanner;
  EXPECT_TRUE(scanner.scan(ByteView()).ok());
  EXPECT_TRUE(scanner.at_boundary());
  EXPECT_EQ(scanner.completed(), 0u);
}

TEST(MessageScanner, CountsMessages) {
  Bytes b;
  for (int i = 0; i < 500; ++i) Sync{}.encode(b);
  MessageScanner scanner;
  ASSERT_TRUE(scanner.scan(b).ok());
  EXPECT_EQ(scanner.messages_seen(), 500u);
  EXPECT_EQ(scanner.completed(), 500u);
  EXPECT_EQ(scanner.last_end(), b.size());
}

// reset() in the middle of a message (a header half seen, a body half skipped) leaves a
// scanner indistinguishable from a new one: the relay resets once per transaction.
TEST(MessageScanner, ResetMidMessageIsLikeNew) {
  const std::uint8_t ready[] = {'Z', 0, 0, 0, 5, 'T'};
  const std::uint8_t sync[] = {'S', 0, 0, 0, 4};
  for (std::size_t cut = 1; cut < sizeof ready; ++cut) {
    MessageScanner scanner;
    ASSERT_TRUE(scanner.scan(ByteView(ready, sizeof ready)).ok());
    ASSERT_TRUE(scanner.scan(ByteView(ready, cut)).ok());  // a second one, cut short
    EXPECT_FALSE(scanner.at_boundary());
    scanner.reset();
    EXPECT_TRUE(scanner.at_boundary());
    EXPECT_EQ(scanner.messages_seen(), 0u);
    EXPECT_EQ(scanner.ready_status(), 0);
    EXPECT_EQ(scanner.last_type(), 0);
    EXPECT_EQ(scanner.partial_header_size(), 0u);
    EXPECT_FALSE(scanner.ready_at_end().has_value());
    std::vector<char> types;
    ASSERT_TRUE(scanner
                    .scan(ByteView(sync, sizeof sync),
                          [&](const MessageHeader& h) {
                            types.push_back(h.type);
                            EXPECT_EQ(h.offset, 0u);
                            EXPECT_FALSE(h.straddled);
                          })
                    .ok());
    EXPECT_EQ(types, std::vector<char>{'S'}) << "cut " << cut;
    EXPECT_TRUE(scanner.at_boundary());
    EXPECT_EQ(scanner.last_type(), 'S');
  }
}

}  // namespace
}  // namespace reservoir::protocol
