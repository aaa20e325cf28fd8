#pragma once
// Big-endian byte reading and writing for the PostgreSQL wire format.
// ByteReader never reads out of bounds: every read reports failure instead.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace reservoir {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}
inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// Appends big-endian values to a growable buffer.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(std::uint8_t(v >> 8));
    out_.push_back(std::uint8_t(v));
  }
  void u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_.push_back(std::uint8_t(v >> s));
  }
  void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
  void i16(std::int16_t v) { u16(static_cast<std::uint16_t>(v)); }
  void raw(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void raw(std::string_view s) { raw(as_bytes(s)); }
  // NUL-terminated string as the protocol's String type.
  void cstr(std::string_view s) {
    raw(s);
    out_.push_back(0);
  }
  std::size_t size() const { return out_.size(); }
  // Overwrites a previously reserved 4-byte slot at `pos` (used for length prefixes).
  void patch_u32(std::size_t pos, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[pos + i] = std::uint8_t(v >> (24 - 8 * i));
  }

 private:
  Bytes& out_;
};

// Reads big-endian values from a bounded view. Each read returns false on underflow and
// leaves the reader in a failed state; callers check `ok()` once at the end.
class ByteReader {
 public:
  explicit ByteReader(ByteView in) : in_(in) {}
  bool ok() const { return ok_; }
  std::size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }

  bool u8(std::uint8_t& v) {
    if (!need(1)) return false;
    v = in_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (!need(2)) return false;
    v = load_be16(in_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool i16(std::int16_t& v) {
    std::uint16_t u;
    if (!u16(u)) return false;
    v = static_cast<std::int16_t>(u);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (!need(4)) return false;
    v = load_be32(in_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool i32(std::int32_t& v) {
    std::uint32_t u;
    if (!u32(u)) return false;
    v = static_cast<std::int32_t>(u);
    return true;
  }
  // Reads a NUL-terminated string; fails if no terminator lies within bounds.
  bool cstr(std::string_view& v) {
    if (!ok_) return false;
    const void* nul = std::memchr(in_.data() + pos_, 0, remaining());
    if (nul == nullptr) return fail();
    auto len = static_cast<const std::uint8_t*>(nul) - (in_.data() + pos_);
    v = std::string_view(reinterpret_cast<const char*>(in_.data() + pos_), std::size_t(len));
    pos_ += std::size_t(len) + 1;
    return true;
  }
  bool raw(std::size_t n, ByteView& v) {
    if (!need(n)) return false;
    v = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  ByteView rest() const { return in_.subspan(pos_); }

 private:
  bool need(std::size_t n) {
    if (!ok_ || remaining() < n) return fail();
    return true;
  }
  bool fail() {
    ok_ = false;
    return false;
  }
  ByteView in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace reservoir
