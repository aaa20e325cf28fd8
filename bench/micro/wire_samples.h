#pragma once
// Typical wire traffic for the micro-benchmarks, built with the project's own encoders:
// what pgbench -S sends and receives, in both protocols.
#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/startup.h"

namespace reservoir::bench {

// RowDescription for one int4 column named `name`.
inline void append_row_description(Bytes& out, const std::string& name) {
  Bytes body;
  ByteWriter w(body);
  w.u16(1);
  w.cstr(name);
  w.u32(16384);  // table OID
  w.u16(2);      // column number
  w.u32(23);     // int4
  w.u16(4);
  w.i32(-1);
  w.u16(0);  // text format
  protocol::encode_frame(out, protocol::msg::kRowDescription, body);
}

// DataRow with one text value.
inline void append_data_row(Bytes& out, const std::string& value) {
  Bytes body;
  ByteWriter w(body);
  w.u16(1);
  w.u32(static_cast<std::uint32_t>(value.size()));
  w.raw(value);
  protocol::encode_frame(out, protocol::msg::kDataRow, body);
}

// A server's whole answer to a one-column SELECT of `rows` rows (simple protocol):
// RowDescription, DataRow x rows, CommandComplete, ReadyForQuery.
inline Bytes server_select_response(int rows) {
  Bytes out;
  append_row_description(out, "abalance");
  for (int i = 0; i < rows; ++i) append_data_row(out, std::to_string(-4711 + i));
  protocol::CommandComplete{"SELECT " + std::to_string(rows)}.encode(out);
  protocol::ReadyForQuery{protocol::tx_status::kIdle}.encode(out);
  return out;
}

// Bind of `statement` (unnamed: ""), Describe of the portal, Execute, Sync: the part of an
// extended-protocol transaction that follows its Parse (all of it for a named statement).
inline Bytes client_bind_batch(const std::string& statement) {
  Bytes out;
  protocol::Bind bind;
  bind.statement = statement;
  bind.params.push_back(Bytes{'4', '2', '4', '2', '4'});
  bind.encode(out);
  protocol::Describe{protocol::target::kPortal, ""}.encode(out);
  protocol::Execute{"", 0}.encode(out);
  protocol::Sync{}.encode(out);
  return out;
}

// What pgbench -M extended sends per transaction: Parse, Bind, Describe, Execute, Sync.
inline Bytes client_extended_batch() {
  Bytes out;
  protocol::Parse{"", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", {}}.encode(out);
  const Bytes rest = client_bind_batch("");
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// The server's answer to client_bind_batch(): BindComplete, RowDescription, DataRow,
// CommandComplete, ReadyForQuery.
inline Bytes server_bind_response() {
  Bytes out;
  protocol::BindComplete{}.encode(out);
  append_row_description(out, "abalance");
  append_data_row(out, "-4711");
  protocol::CommandComplete{"SELECT 1"}.encode(out);
  protocol::ReadyForQuery{protocol::tx_status::kIdle}.encode(out);
  return out;
}

// The server's answer to client_extended_batch(): ParseComplete, then the above.
inline Bytes server_extended_response() {
  Bytes out;
  protocol::ParseComplete{}.encode(out);
  const Bytes rest = server_bind_response();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// `copies` back-to-back repetitions of `unit`.
inline Bytes repeated(const Bytes& unit, int copies) {
  Bytes out;
  out.reserve(unit.size() * static_cast<std::size_t>(copies));
  for (int i = 0; i < copies; ++i) out.insert(out.end(), unit.begin(), unit.end());
  return out;
}

// A StartupMessage as libpq sends it.
inline Bytes startup_packet() {
  Bytes out;
  protocol::encode_startup(out, {{"user", "bench"},
                                 {"database", "bench"},
                                 {"application_name", "pgbench"},
                                 {"client_encoding", "UTF8"},
                                 {"DateStyle", "ISO"}});
  return out;
}

// The body (no header) of a typical ErrorResponse.
inline Bytes error_response_body() {
  auto error = protocol::ErrorResponse::make("ERROR", "42P01",
                                             "relation \"pgbench_acounts\" does not exist");
  error.set(protocol::field::kPosition, "27");
  error.set(protocol::field::kFile, "parse_relation.c");
  error.set(protocol::field::kLine, "1392");
  error.set(protocol::field::kRoutine, "parserOpenTable");
  Bytes whole;
  error.encode(whole);
  return Bytes(whole.begin() + protocol::kHeaderSize, whole.end());
}

// The body (no header) of a Bind with three text parameters (pgbench TPC-B's UPDATE).
inline Bytes bind_body() {
  protocol::Bind bind;
  bind.param_formats = {0};
  bind.params.push_back(Bytes{'-', '2', '3', '1'});
  bind.params.push_back(Bytes{'1', '2', '3', '4', '5', '6'});
  bind.params.push_back(std::nullopt);
  bind.result_formats = {0};
  Bytes whole;
  bind.encode(whole);
  return Bytes(whole.begin() + protocol::kHeaderSize, whole.end());
}

}  // namespace reservoir::bench
