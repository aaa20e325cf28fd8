#pragma once
// Typed messages: 1 type byte, then a 4-byte big-endian length that counts itself and the
// body but not the type byte. FrameReader buffers a stream and yields whole messages (for the
// parts of a session that decode: startup, auth, errors); MessageScanner (included below)
// only finds boundaries in bytes that are relayed without buffering.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/frame_length.h"
#include "protocol/limits.h"
#include "protocol/message_scanner.h"

namespace reservoir::protocol {

struct Frame {
  char type = 0;
  ByteView body;  // excludes the 5-byte header

  // Bytes on the wire: header + body.
  std::size_t wire_size() const { return kHeaderSize + body.size(); }
};

// Accumulates bytes and yields complete frames.
//
//   FrameReader reader;
//   reader.append(chunk);
//   for (;;) {
//     auto frame = reader.next();
//     if (!frame) return fail(frame.error());
//     if (!*frame) break;                       // need more bytes
//     handle((*frame)->type, (*frame)->body);   // views into the reader's buffer
//   }
//
// Memory: consumed bytes are dropped on the next append(), so the buffer holds at most one
// partial frame plus the newest chunk.
class FrameReader {
 public:
  explicit FrameReader(std::uint32_t max_packet_size = kDefaultMaxPacketSize);

  // Adds bytes to the end of the stream. Invalidates views returned earlier.
  void append(ByteView bytes);

  // The next complete frame, std::nullopt if more bytes are needed, or an error as soon as a
  // header is complete and its length is < 4 (08P01 "invalid message length") or
  // > max_packet_size (54000 "message too long"), before its body is waited for. An error
  // is returned again on every later call: the stream cannot be resynchronised.
  // The frame's body stays valid until the next append() or next().
  [[nodiscard]] Result<std::optional<Frame>> next();

  // Bytes appended but not yet returned as frames (including a partial frame).
  std::size_t buffered() const { return buf_.size() - pos_; }

  // Length of the header-announced frame still being waited for, in wire bytes, or 0 when
  // fewer than 5 header bytes are buffered. Lets a caller size its next read.
  std::size_t pending_frame_size() const;

  // Hands over every unconsumed byte (e.g. to a relay after authentication) and empties the
  // reader. The view stays valid until the next append().
  ByteView take_rest();

  // Forgets all buffered bytes.
  void clear();

 private:
  Bytes buf_;
  std::size_t pos_ = 0;  // start of the first unconsumed byte in buf_
  std::uint32_t max_packet_size_;
};

// Appends a typed message with `type` and `body`.
void encode_frame(Bytes& out, char type, ByteView body);

}  // namespace reservoir::protocol
