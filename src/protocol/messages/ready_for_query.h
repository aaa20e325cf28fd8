#pragma once
// ReadyForQuery ('Z', backend): the server is idle; the status says the transaction state.
#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

namespace tx_status {
inline constexpr char kIdle = 'I';
inline constexpr char kInTransaction = 'T';
inline constexpr char kFailed = 'E';  // in a failed transaction block
}  // namespace tx_status

struct ReadyForQuery {
  char status = tx_status::kIdle;

  // Decodes a 1-byte body that must be 'I', 'T' or 'E'. Errors: 08P01.
  [[nodiscard]] static Result<ReadyForQuery> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const ReadyForQuery&) const = default;
};

}  // namespace reservoir::protocol
