#pragma once
// Named maxima and protocol codes of the PostgreSQL v3 wire protocol.
#include <cstddef>
#include <cstdint>

namespace reservoir::protocol {

// PostgreSQL's MAX_STARTUP_PACKET_LENGTH: a startup packet longer than this is refused
// before anything is allocated for it.
inline constexpr std::uint32_t kMaxStartupPacketSize = 10000;
// Largest typed message accepted unless configured lower (the length field is signed in PG).
inline constexpr std::uint32_t kDefaultMaxPacketSize = 2147483647u;
// Type byte + 4-byte length of a typed message.
inline constexpr std::size_t kHeaderSize = 5;
// Smallest startup packet: length + protocol code.
inline constexpr std::uint32_t kMinStartupPacketSize = 8;

inline constexpr std::uint32_t kProtocolVersion3 = 196608;     // 3 << 16 | 0
inline constexpr std::uint32_t kCancelRequestCode = 80877102;  // 1234 << 16 | 5678
inline constexpr std::uint32_t kSslRequestCode = 80877103;     // 1234 << 16 | 5679
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;  // 1234 << 16 | 5680

inline constexpr std::uint32_t protocol_major(std::uint32_t code) { return code >> 16; }
inline constexpr std::uint32_t protocol_minor(std::uint32_t code) { return code & 0xffffu; }

}  // namespace reservoir::protocol
