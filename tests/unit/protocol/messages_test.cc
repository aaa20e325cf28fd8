#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "protocol/frame.h"

namespace reservoir::protocol {
namespace {

// Encodes `m`, reads it back as one frame of type `type` and decodes it again.
template <class M>
M round_trip(const M& m, char type) {
  Bytes out;
  m.encode(out);
  FrameReader reader;
  reader.append(out);
  auto frame = reader.next();
  EXPECT_TRUE(frame.ok() && frame->has_value());
  EXPECT_EQ((*frame)->type, type);
  EXPECT_EQ((*frame)->wire_size(), out.size());
  auto decoded = M::decode((*frame)->body);
  EXPECT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_TRUE(*decoded == m);
  return *decoded;
}

template <class M>
Error decode_error(std::string_view body) {
  auto r = M::decode(as_bytes(body));
  EXPECT_FALSE(r.ok()) << "decoded: " << testing::PrintToString(body);
  return r.ok() ? Error{} : r.error();
}

TEST(Authentication, RoundTripAllKinds) {
  round_trip(Authentication::ok(), 'R');
  round_trip(Authentication::cleartext_password(), 'R');
  auto md5 = round_trip(Authentication::md5_password({1, 2, 3, 4}), 'R');
  EXPECT_EQ(md5.salt[3], 4);
  auto sasl = round_trip(Authentication::sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}), 'R');
  EXPECT_EQ(sasl.mechanisms.size(), 2u);
  round_trip(Authentication::sasl_continue(Bytes{'r', '=', 'x'}), 'R');
  round_trip(Authentication::sasl_final(Bytes{'v', '='}), 'R');
  EXPECT_TRUE(Authentication::sasl_final({}).is_supported());
}

TEST(Authentication, SaslStepIsTheSameMessageBuiltInPlace) {
  const Bytes data{'r', '=', 'a', 'b', 'c'};
  for (auto code : {AuthCode::kSaslContinue, AuthCode::kSaslFinal}) {
    Bytes built;
    (code == AuthCode::kSaslContinue ? Authentication::sasl_continue(data)
                                     : Authentication::sasl_final(data))
        .encode(built);
    Bytes in_place = {'x'};  // appended after what the buffer holds
    Authentication::encode_sasl_step(in_place, code, data);
    ASSERT_EQ(in_place.size(), 1 + built.size());
    EXPECT_TRUE(std::equal(built.begin(), built.end(), in_place.begin() + 1));
  }
}

// A message built into an empty buffer takes one allocation, not one per doubling from a
// byte; many messages into one buffer still grow it geometrically (no reserve per frame).
TEST(FrameBuilder, SmallMessageAllocatesOnceAndGrowthStaysGeometric) {
  Bytes one;
  Authentication::sasl_final(Bytes(60, 'v')).encode(one);
  EXPECT_EQ(one.size(), 1 + 4 + 4 + 60u);
  EXPECT_GE(one.capacity(), 128u);

  Bytes many;
  int growths = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::size_t before = many.capacity();
    ReadyForQuery{'I'}.encode(many);
    if (many.capacity() != before) ++growths;
  }
  EXPECT_EQ(many.size(), 60000u);
  EXPECT_LE(growths, 12);  // 128 bytes doubling to 60,000: ten steps
}

TEST(Authentication, UnknownCodesCarryTheCode) {
  auto r = Authentication::decode(as_bytes(std::string("\0\0\0\x07", 4)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, AuthCode::kGss);
  EXPECT_FALSE(r->is_supported());
  auto odd = Authentication::decode(as_bytes(std::string("\0\0\0\x63zz", 6)));
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(static_cast<int>(odd->code), 99);
  EXPECT_EQ(odd->data.size(), 2u);
}

TEST(Authentication, Malformed) {
  decode_error<Authentication>("");
  decode_error<Authentication>(std::string("\0\0\0", 3));
  decode_error<Authentication>(std::string("\0\0\0\0x", 5));               // Ok with payload
  decode_error<Authentication>(std::string("\0\0\0\x05\1\2\3", 7));        // short salt
  decode_error<Authentication>(std::string("\0\0\0\x05\1\2\3\4\5", 9));    // long salt
  decode_error<Authentication>(std::string("\0\0\0\x0aSCRAM", 9));         // unterminated
  decode_error<Authentication>(std::string("\0\0\0\x0aSCRAM\0", 10));      // no list end
  decode_error<Authentication>(std::string("\0\0\0\x0a\0", 5));            // empty list
  auto e = decode_error<Authentication>(std::string("\0\0\0\x0a\0x", 6));  // trailing
  EXPECT_EQ(e.sqlstate, "08P01");
}

TEST(ParameterStatus, RoundTripAndMalformed) {
  round_trip(ParameterStatus{"TimeZone", "UTC"}, 'S');
  round_trip(ParameterStatus{"", ""}, 'S');
  decode_error<ParameterStatus>(std::string("a\0b", 3));
  decode_error<ParameterStatus>(std::string("a\0b\0c", 5));
}

TEST(BackendKeyData, RoundTripAndMalformed) {
  round_trip(BackendKeyData{-1, 0x7fffffff}, 'K');
  decode_error<BackendKeyData>("1234567");
  decode_error<BackendKeyData>("123456789");
}

TEST(ReadyForQuery, RoundTripAndMalformed) {
  for (char s : {'I', 'T', 'E'}) round_trip(ReadyForQuery{s}, 'Z');
  decode_error<ReadyForQuery>("");
  decode_error<ReadyForQuery>("X");
  decode_error<ReadyForQuery>("II");
}

TEST(ErrorResponse, MakeAndAccessors) {
  auto e = ErrorResponse::make("FATAL", "53300", "too many connections");
  e.set(field::kDetail, "limit 10");
  e.set(field::kHint, "wait");
  auto d = round_trip(e, 'E');
  EXPECT_EQ(d.severity(), "FATAL");
  EXPECT_EQ(d.severity_nonlocalized(), "FATAL");
  EXPECT_EQ(d.sqlstate(), "53300");
  EXPECT_EQ(d.message(), "too many connections");
  EXPECT_EQ(d.detail(), "limit 10");
  EXPECT_EQ(d.hint(), "wait");
  EXPECT_EQ(d.get(field::kWhere), "");
  e.set(field::kHint, "later");
  EXPECT_EQ(e.hint(), "later");
  EXPECT_EQ(e.fields.size(), 6u);
}

TEST(ErrorResponse, SeverityFallsBackToLocalized) {
  ErrorResponse e;
  e.set(field::kSeverity, "FEHLER");
  EXPECT_EQ(e.severity_nonlocalized(), "FEHLER");
}

TEST(NoticeResponse, RoundTripAndMalformed) {
  auto n = round_trip(NoticeResponse::make("WARNING", "01000", "careful"), 'N');
  EXPECT_EQ(n.message(), "careful");
  round_trip(NoticeResponse{}, 'N');
  decode_error<NoticeResponse>("");                            // no terminator
  decode_error<NoticeResponse>("Mhello");                      // unterminated value
  decode_error<NoticeResponse>(std::string("Mhello\0", 7));    // no final zero
  decode_error<ErrorResponse>(std::string("Mhello\0\0x", 9));  // trailing
}

TEST(NegotiateProtocolVersion, RoundTripAndMalformed) {
  round_trip(NegotiateProtocolVersion{0, {"_pq_.a", "_pq_.b"}}, 'v');
  round_trip(NegotiateProtocolVersion{2, {}}, 'v');
  decode_error<NegotiateProtocolVersion>(
      std::string("\0\0\0\0\0\0\0\x02"
                  "a\0",
                  10));
  decode_error<NegotiateProtocolVersion>(std::string("\0\0\0\0\xff\xff\xff\xff", 8));
  decode_error<NegotiateProtocolVersion>(std::string("\0\0\0\0\x7f\xff\xff\xff", 8));
  decode_error<NegotiateProtocolVersion>(std::string("\0\0\0\0", 4));
}

TEST(CommandComplete, RoundTrip) {
  round_trip(CommandComplete{"INSERT 0 1"}, 'C');
  decode_error<CommandComplete>("SELECT");
}

TEST(EmptyMessages, RoundTripAndRefuseBody) {
  round_trip(EmptyQueryResponse{}, 'I');
  round_trip(ParseComplete{}, '1');
  round_trip(BindComplete{}, '2');
  round_trip(CloseComplete{}, '3');
  round_trip(NoData{}, 'n');
  round_trip(PortalSuspended{}, 's');
  round_trip(Sync{}, 'S');
  round_trip(Flush{}, 'H');
  round_trip(Terminate{}, 'X');
  round_trip(CopyDone{}, 'c');
  decode_error<Sync>("x");
  decode_error<Terminate>("x");
}

TEST(PasswordFamily, RoundTrip) {
  round_trip(PasswordMessage{"md5abcdef"}, 'p');
  round_trip(SaslInitialResponse{"SCRAM-SHA-256", Bytes{'n', ',', ','}}, 'p');
  round_trip(SaslInitialResponse{"SCRAM-SHA-256", std::nullopt}, 'p');
  round_trip(SaslInitialResponse{"SCRAM-SHA-256", Bytes{}}, 'p');
  round_trip(SaslResponse{Bytes{'c', '=', 'b', 'i', 'w', 's'}}, 'p');
  round_trip(SaslResponse{}, 'p');
}

TEST(PasswordFamily, Malformed) {
  decode_error<PasswordMessage>("secret");
  decode_error<PasswordMessage>(std::string("secret\0x", 8));
  decode_error<SaslInitialResponse>(
      std::string("SCRAM\0\0\0\0\x05"
                  "abc",
                  13));  // short
  decode_error<SaslInitialResponse>(
      std::string("SCRAM\0\0\0\0\x01"
                  "abc",
                  13));                                                           // long
  decode_error<SaslInitialResponse>(std::string("SCRAM\0\xff\xff\xff\xfe", 10));  // -2
  decode_error<SaslInitialResponse>(
      std::string("SCRAM\0\xff\xff\xff\xff"
                  "x",
                  11));
  decode_error<SaslInitialResponse>(std::string("SCRAM\0\0\0", 8));
  decode_error<SaslInitialResponse>("SCRAM");
}

TEST(Query, RoundTrip) {
  round_trip(Query{"select 1;"}, 'Q');
  round_trip(Query{""}, 'Q');
  decode_error<Query>("");
  decode_error<Query>("select");
}

TEST(Parse, RoundTripAndMalformed) {
  round_trip(Parse{"s1", "select $1, $2", {23, 25}}, 'P');
  round_trip(Parse{"", "select 1", {}}, 'P');
  decode_error<Parse>(std::string("s\0q\0\0\x02\0\0\0\x17", 10));  // count 2, one oid
  decode_error<Parse>(std::string("s\0q\0\xff\xff", 6));           // negative count
  decode_error<Parse>(std::string("s\0q\0\0\0x", 7));              // trailing
  decode_error<Parse>(std::string("s\0q\0\0", 5));                 // short count
}

TEST(Bind, RoundTripAndMalformed) {
  Bind b{"p", "s", {0, 1}, {Bytes{'4', '2'}, std::nullopt, Bytes{}}, {1}};
  auto d = round_trip(b, 'B');
  EXPECT_FALSE(d.params[1].has_value());
  EXPECT_TRUE(d.params[2].has_value());
  round_trip(Bind{}, 'B');
  const std::string ok("\0\0\0\0\0\x01\0\0\0\x01x\0\0", 13);
  ASSERT_TRUE(Bind::decode(as_bytes(ok)).ok());
  decode_error<Bind>(std::string("\0\0\0\0\0\x01\0\0\0\x05x\0\0", 13));       // value too short
  decode_error<Bind>(std::string("\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0", 12));  // length -2
  decode_error<Bind>(std::string("\0\0\x7f\xff", 4));                         // huge format count
  decode_error<Bind>(std::string("\0\0\0\0\x80\0", 6));                       // negative count
  decode_error<Bind>(std::string("\0\0\0\0\0\0", 6));                         // no result count
  decode_error<Bind>(ok + "x");                                               // trailing
}

TEST(Execute, RoundTripAndMalformed) {
  round_trip(Execute{"", 0}, 'E');
  round_trip(Execute{"portal", 100}, 'E');
  decode_error<Execute>(std::string("p\0\0\0\0", 5));
}

TEST(DescribeClose, RoundTripAndMalformed) {
  round_trip(Describe{'S', "stmt"}, 'D');
  round_trip(Describe{'P', ""}, 'D');
  round_trip(Close{'S', "stmt"}, 'C');
  round_trip(Close{'P', "portal"}, 'C');
  decode_error<Describe>(std::string("Xname\0", 6));
  decode_error<Close>("Sname");
  decode_error<Close>("");
}

TEST(Copy, RoundTrip) {
  round_trip(CopyData{Bytes{1, 2, 0, 3}}, 'd');
  round_trip(CopyData{}, 'd');
  round_trip(CopyFail{"aborted by user"}, 'f');
  decode_error<CopyFail>("oops");
}

TEST(MessageName, ByDirection) {
  EXPECT_EQ(message_name('E', Direction::kFrontend), "Execute");
  EXPECT_EQ(message_name('E', Direction::kBackend), "ErrorResponse");
  EXPECT_EQ(message_name('Z', Direction::kBackend), "ReadyForQuery");
  EXPECT_EQ(message_name('Z', Direction::kFrontend), "Unknown");
}

}  // namespace
}  // namespace reservoir::protocol
