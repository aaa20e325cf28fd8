#include "protocol/startup.h"

#include <gtest/gtest.h>

#include "protocol/errors.h"

namespace reservoir::protocol {
namespace {

using namespace std::string_literals;

Bytes packet(std::uint32_t code, std::string_view payload) {
  Bytes out;
  ByteWriter w(out);
  w.u32(static_cast<std::uint32_t>(8 + payload.size()));
  w.u32(code);
  w.raw(payload);
  return out;
}

Bytes startup_payload(std::uint32_t version, std::string_view params) {
  return packet(version, params);
}

TEST(StartupLength, AcceptsBounds) {
  Bytes b;
  ByteWriter(b).u32(8);
  EXPECT_EQ(*startup_length(b), 8u);
  b.clear();
  ByteWriter(b).u32(kMaxStartupPacketSize);
  EXPECT_EQ(*startup_length(b), kMaxStartupPacketSize);
}

TEST(StartupLength, RefusesTooShort) {
  for (std::uint32_t len : {0u, 4u, 7u}) {
    Bytes b;
    ByteWriter(b).u32(len);
    auto r = startup_length(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
  Bytes three{0, 0, 8};
  EXPECT_FALSE(startup_length(three).ok());
}

TEST(StartupLength, RefusesTooLong) {
  for (std::uint32_t len : {kMaxStartupPacketSize + 1, 0x80000000u, 0xffffffffu}) {
    Bytes b;
    ByteWriter(b).u32(len);
    auto r = startup_length(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "54000");
  }
}

TEST(DecodeStartup, StartupMessageRoundTrip) {
  Bytes out;
  encode_startup(out, {{"user", "alice"}, {"database", "db"}, {"application_name", ""}});
  auto r = decode_startup(out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto& m = std::get<StartupMessage>(*r);
  EXPECT_EQ(m.version, kProtocolVersion3);
  ASSERT_EQ(m.params.size(), 3u);
  EXPECT_EQ(m.get("user"), "alice");
  EXPECT_EQ(m.get("database"), "db");
  EXPECT_EQ(m.get("missing"), "");
  EXPECT_TRUE(m.has("application_name"));
  EXPECT_FALSE(m.has("missing"));
}

TEST(DecodeStartup, LastDuplicateWins) {
  auto r = decode_startup(startup_payload(kProtocolVersion3, "user\0a\0user\0b\0\0"s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::get<StartupMessage>(*r).get("user"), "b");
}

TEST(DecodeStartup, MinorVersionReturnedAsIs) {
  auto r = decode_startup(startup_payload(kProtocolVersion3 | 2, "user\0u\0_pq_.x\0y\0\0"s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::get<StartupMessage>(*r).version, (3u << 16) | 2u);
}

TEST(DecodeStartup, BogusVersion) {
  auto r =
      decode_startup(startup_payload((1234u << 16) | (5678u + 100), std::string("user\0u\0\0", 8)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "08P01");
  EXPECT_EQ(r.error().message,
            "unsupported frontend protocol 1234.5778: server supports 3.0 to 3.0");
  auto v4 = decode_startup(startup_payload(4u << 16, std::string("user\0u\0\0", 8)));
  ASSERT_FALSE(v4.ok());
  EXPECT_EQ(v4.error().message, "unsupported frontend protocol 4.0: server supports 3.0 to 3.0");
  auto v2 = decode_startup(startup_payload(2u << 16, ""));
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().sqlstate, "08P01");
}

TEST(DecodeStartup, MissingUser) {
  for (std::string params :
       {std::string("database\0d\0\0", 12), std::string("\0", 1), std::string("user\0\0\0", 7)}) {
    auto r = decode_startup(startup_payload(kProtocolVersion3, params));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "28000");
    EXPECT_EQ(r.error().message, "no PostgreSQL user name specified in startup packet");
  }
}

TEST(DecodeStartup, BadLayouts) {
  const std::string cases[] = {
      std::string("", 0),                   // no terminator at all
      std::string("user\0alice", 10),       // unterminated value
      std::string("user\0alice\0", 11),     // no final empty name
      std::string("user", 4),               // unterminated name
      std::string("user\0alice\0\0x", 13),  // bytes after the terminator
  };
  for (const auto& params : cases) {
    auto r = decode_startup(startup_payload(kProtocolVersion3, params));
    ASSERT_FALSE(r.ok()) << params;
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
}

TEST(DecodeStartup, LengthMustMatchBuffer) {
  Bytes p = startup_payload(kProtocolVersion3, std::string("user\0u\0\0", 8));
  p.push_back(0);
  EXPECT_FALSE(decode_startup(p).ok());
  p.pop_back();
  p.pop_back();
  EXPECT_FALSE(decode_startup(p).ok());
  EXPECT_FALSE(decode_startup(ByteView()).ok());
}

TEST(DecodeStartup, SpecialRequests) {
  Bytes ssl, gss, cancel;
  encode_ssl_request(ssl);
  encode_gssenc_request(gss);
  encode_cancel_request(cancel, 4242, -7);
  EXPECT_TRUE(std::holds_alternative<SslRequest>(*decode_startup(ssl)));
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(*decode_startup(gss)));
  auto c = decode_startup(cancel);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<CancelRequest>(*c).pid, 4242);
  EXPECT_EQ(std::get<CancelRequest>(*c).secret, -7);
  EXPECT_EQ(ssl.size(), 8u);
  EXPECT_EQ(cancel.size(), 16u);
}

TEST(DecodeStartup, SpecialRequestsWithWrongLength) {
  EXPECT_FALSE(decode_startup(packet(kSslRequestCode, "x")).ok());
  EXPECT_FALSE(decode_startup(packet(kGssEncRequestCode, "xxxx")).ok());
  EXPECT_FALSE(decode_startup(packet(kCancelRequestCode, "1234")).ok());
  EXPECT_FALSE(decode_startup(packet(kCancelRequestCode, "123456789")).ok());
}

TEST(DecodeStartup, TooLongPacket) {
  Bytes p = packet(kProtocolVersion3, std::string(kMaxStartupPacketSize, 'a'));
  auto r = decode_startup(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "54000");
}

}  // namespace
}  // namespace reservoir::protocol
