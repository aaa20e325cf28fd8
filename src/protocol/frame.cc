#include "protocol/frame.h"

#include <string>

#include "protocol/codec.h"
#include "protocol/errors.h"

namespace reservoir::protocol {

Status check_message_length(char type, std::uint32_t length, std::uint32_t max_packet_size) {
  if (length < 4) {
    return protocol_violation("invalid message length " + std::to_string(length) +
                              " for message type " +
                              std::to_string(static_cast<unsigned char>(type)));
  }
  if (length > max_packet_size) {
    return message_too_long("message too long: " + std::to_string(length) + " bytes, at most " +
                            std::to_string(max_packet_size));
  }
  return Ok{};
}

FrameReader::FrameReader(std::uint32_t max_packet_size) : max_packet_size_(max_packet_size) {}

void FrameReader::append(ByteView bytes) {
  // Drop consumed bytes first; one move per append keeps next() O(1) per frame.
  if (pos_ > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Frame>> FrameReader::next() {
  const std::size_t available = buffered();
  if (available < kHeaderSize) return std::optional<Frame>{};
  const std::uint8_t* header = buf_.data() + pos_;
  const char type = static_cast<char>(header[0]);
  const std::uint32_t length = load_be32(header + 1);
  if (auto ok = check_message_length(type, length, max_packet_size_); !ok) return ok.error();
  const std::size_t wire = std::size_t(length) + 1;
  if (available < wire) return std::optional<Frame>{};
  Frame frame{type, ByteView(header + kHeaderSize, length - 4)};
  pos_ += wire;
  return std::optional<Frame>{frame};
}

std::size_t FrameReader::pending_frame_size() const {
  if (buffered() < kHeaderSize) return 0;
  return std::size_t(load_be32(buf_.data() + pos_ + 1)) + 1;
}

ByteView FrameReader::take_rest() {
  ByteView rest(buf_.data() + pos_, buffered());
  pos_ = buf_.size();
  return rest;
}

void FrameReader::clear() {
  buf_.clear();
  pos_ = 0;
}

void encode_frame(Bytes& out, char type, ByteView body) {
  FrameBuilder frame(out, type);
  frame.body().raw(body);
  frame.finish();
}

}  // namespace reservoir::protocol
