#pragma once
// Small helpers shared by the message encoders and decoders.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/errors.h"

namespace reservoir::protocol {

// Writes one typed message: the constructor emits the type byte and a length placeholder,
// finish() patches the length (which counts itself and the body, not the type byte).
class FrameBuilder {
 public:
  FrameBuilder(Bytes& out, char type) : out_(out), writer_(out) {
    // Room for a small message at once: a fresh buffer would otherwise grow from one byte,
    // an allocation per doubling. Growth beyond stays geometric (no reserve per frame).
    if (out_.capacity() - out_.size() < kHeadroom) {
      out_.reserve(std::max(out_.size() + kHeadroom, 2 * out_.capacity()));
    }
    writer_.u8(static_cast<std::uint8_t>(type));
    length_pos_ = out_.size();
    writer_.u32(0);
  }
  ByteWriter& body() { return writer_; }
  // Must be called once, after the body is written.
  void finish() {
    writer_.patch_u32(length_pos_, static_cast<std::uint32_t>(out_.size() - length_pos_));
  }

 private:
  static constexpr std::size_t kHeadroom = 128;
  Bytes& out_;
  ByteWriter writer_;
  std::size_t length_pos_ = 0;
};

// The outcome of a decoder that read with `r`: an error naming `what` if a read ran past the
// body or bytes were left over (PostgreSQL also refuses trailing bytes), otherwise Ok.
inline Status finish_decode(const ByteReader& r, std::string_view what) {
  if (!r.ok()) return protocol_violation("malformed " + std::string(what) + " message");
  if (!r.at_end()) return protocol_violation("trailing bytes in " + std::string(what) + " message");
  return Ok{};
}

}  // namespace reservoir::protocol
