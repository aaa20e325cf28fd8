#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "test_streams.h"

namespace reservoir::protocol {
namespace {

struct Seen {
  char type;
  Bytes body;
  bool operator==(const Seen&) const = default;
};

// Feeds `stream` to a FrameReader in the given chunk sizes; returns the frames in order.
std::vector<Seen> read_all(const Bytes& stream, const std::vector<std::size_t>& chunks) {
  FrameReader reader;
  std::vector<Seen> seen;
  std::size_t pos = 0;
  for (std::size_t size : chunks) {
    reader.append(ByteView(stream).subspan(pos, size));
    pos += size;
    for (;;) {
      auto frame = reader.next();
      EXPECT_TRUE(frame.ok());
      if (!frame.ok() || !*frame) break;
      seen.push_back({(*frame)->type, Bytes((*frame)->body.begin(), (*frame)->body.end())});
    }
  }
  EXPECT_EQ(reader.buffered(), 0u);
  return seen;
}

TEST(FrameReader, AllAtOnceByteByByteAndRandomChunksAgree) {
  const Bytes stream = testing::sample_backend_stream();
  const auto whole = read_all(stream, {stream.size()});
  ASSERT_EQ(whole.size(), 9u);
  EXPECT_EQ(whole[0].type, 'R');
  EXPECT_EQ(whole[5].body.size(), 3000u);
  EXPECT_EQ(whole[8].type, 'Z');
  EXPECT_EQ(read_all(stream, std::vector<std::size_t>(stream.size(), 1)), whole);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(read_all(stream, testing::random_chunks(stream.size(), 1 + i * 20, rng)), whole);
  }
}

TEST(FrameReader, PartialHeaderNeedsMore) {
  FrameReader reader;
  const std::uint8_t part[] = {'Q', 0, 0};
  reader.append(part);
  auto r = reader.next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(reader.pending_frame_size(), 0u);
  const std::uint8_t rest[] = {0, 6, 'x'};
  reader.append(rest);
  r = reader.next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(reader.pending_frame_size(), 7u);
  const std::uint8_t last[] = {0};
  reader.append(last);
  r = reader.next();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->type, 'Q');
  EXPECT_EQ(as_chars((*r)->body), std::string_view("x\0", 2));
}

TEST(FrameReader, LengthBelowFourIsProtocolViolation) {
  for (std::uint32_t len : {0u, 1u, 3u}) {
    FrameReader reader;
    Bytes b{'Q'};
    ByteWriter(b).u32(len);
    reader.append(b);
    auto r = reader.next();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "08P01");
    EXPECT_FALSE(reader.next().ok());  // stays failed
  }
}

TEST(FrameReader, TooLongDetectedFromHeaderAlone) {
  FrameReader reader(1000);
  Bytes b{'d'};
  ByteWriter(b).u32(1001);
  reader.append(b);  // body never sent
  auto r = reader.next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "54000");

  FrameReader unlimited;
  Bytes huge{'d'};
  ByteWriter(huge).u32(0x80000000u);
  unlimited.append(huge);
  EXPECT_EQ(unlimited.next().error().sqlstate, "54000");
}

TEST(FrameReader, ExactlyMaxIsAccepted) {
  FrameReader reader(10);
  Bytes b;
  encode_frame(b, 'd', Bytes(6, 1));
  reader.append(b);
  auto r = reader.next();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->body.size(), 6u);
}

TEST(FrameReader, TakeRestHandsOverLeftovers) {
  Bytes b;
  Query{"select 1"}.encode(b);
  const std::size_t first = b.size();
  Sync{}.encode(b);
  b.push_back('Q');  // start of a partial header
  FrameReader reader;
  reader.append(b);
  auto r = reader.next();
  ASSERT_TRUE(r.ok() && r->has_value());
  ByteView rest = reader.take_rest();
  EXPECT_EQ(rest.size(), b.size() - first);
  EXPECT_EQ(rest[0], 'S');
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReader, BufferDoesNotGrowWithConsumedFrames) {
  FrameReader reader;
  Bytes one;
  Query{"select 1"}.encode(one);
  for (int i = 0; i < 10000; ++i) {
    reader.append(one);
    auto r = reader.next();
    ASSERT_TRUE(r.ok() && r->has_value());
  }
  EXPECT_EQ(reader.buffered(), 0u);
  reader.append(one);
  EXPECT_EQ(reader.buffered(), one.size());
}

TEST(FrameReader, ManyConcatenatedFrames) {
  Bytes b;
  for (int i = 0; i < 1000; ++i) Execute{"p" + std::to_string(i), i}.encode(b);
  FrameReader reader;
  reader.append(b);
  int n = 0;
  for (;;) {
    auto r = reader.next();
    ASSERT_TRUE(r.ok());
    if (!*r) break;
    auto e = Execute::decode((*r)->body);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->max_rows, n);
    ++n;
  }
  EXPECT_EQ(n, 1000);
}

TEST(EncodeFrame, WritesHeaderAndBody) {
  Bytes out;
  encode_frame(out, 'd', as_bytes("abc"));
  const Bytes expected{'d', 0, 0, 0, 7, 'a', 'b', 'c'};
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace reservoir::protocol
