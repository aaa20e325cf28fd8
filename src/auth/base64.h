#pragma once
// Standard base64 (RFC 4648 section 4: alphabet A-Z a-z 0-9 + /, '=' padding), as SCRAM and
// PostgreSQL's SCRAM secrets use it. The decoder is strict because its input is untrusted.
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::auth {

// Encodes `data` with padding; the output length is always a multiple of 4.
std::string base64_encode(ByteView data);

// Decodes canonical padded base64. Rejects (08P01) a length that is not a multiple of 4,
// characters outside the alphabet (whitespace included), misplaced or excess '=' and
// non-zero bits in the final partial group. The empty string decodes to no bytes.
Result<Bytes> base64_decode(std::string_view text);

}  // namespace reservoir::auth
