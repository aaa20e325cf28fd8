#pragma once
// MessageScanner: finds typed-message boundaries in a relayed byte stream without buffering.
//
// The relay forwards chunks as they arrive; the scanner is shown each chunk once, in order,
// and reports every message whose 5-byte header completes inside that chunk. Bodies are
// skipped arithmetically (no per-byte work, no allocation); up to 4 header bytes are carried
// over when a header is split between chunks.
//
// Example (server -> client relay, transaction pooling):
//
//   MessageScanner scanner;                      // one per direction per connection
//   Status st = scanner.scan(chunk, [&](const MessageHeader& h) {
//     if (h.type == msg::kErrorResponse) ++errors;
//   });
//   if (!st) return close_with(st.error());
//   forward(chunk);
//   if (auto status = scanner.ready_at_end(); status && *status == 'I')
//     release_server();                          // chunk ended right after ReadyForQuery 'I'
//
// Client -> server, stopping at Terminate:
//
//   std::optional<std::size_t> cut;
//   Status st = scanner.scan(chunk, [&](const MessageHeader& h) {
//     if (h.type == msg::kTerminate && !cut) cut = h.end;   // Terminate has no body
//   });
//   forward(chunk.first(cut.value_or(chunk.size())));
//
// The callback may take `(const MessageHeader&)` or `(char type, std::uint32_t length,
// std::size_t offset)`; its return value is ignored.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/limits.h"

namespace reservoir::protocol {

// One message whose header completed inside the chunk being scanned.
struct MessageHeader {
  char type = 0;
  std::uint32_t length = 0;  // the wire length field: counts itself and the body
  std::size_t offset = 0;    // chunk offset of the type byte; 0 if the header was straddled
  bool straddled = false;    // the header began in an earlier chunk
  std::size_t end = 0;       // chunk offset just past the message; > chunk size if it ends later

  std::uint32_t body_size() const { return length - 4; }
  // Bytes on the wire: header + body.
  std::size_t wire_size() const { return std::size_t(length) + 1; }
};

// What a scanner checks beyond lengths. kBackend: the stream comes from a server, so every type
// byte must be a backend message's, the messages without a body must have none, none may be
// longer than PostgreSQL can build (1 GB), and a ReadyForQuery's status must be I, T or E. A stream
// that breaks this has lost its framing (or was never PostgreSQL's): relaying on would hand the
// client garbage as messages, such as a header read from the middle of a row that announces 2 GB.
enum class Checks : std::uint8_t { kLengths, kBackend };

namespace scanner_detail {

// Checks::kBackend: the longest length field (MessageScanner::kMaxBackendLength).
inline constexpr std::uint32_t kMaxBackendLength = 0x3FFFFFFFu - 1 + 4;

// Checks::kBackend: the lengths a backend message type may have, as low and low + span
// (compared in one unsigned subtraction). A byte that is no backend message's type gets
// low = 2^32 - 1, span 0: only that length passes, and max_packet_size refuses it.
struct LengthRange {
  std::uint32_t low;
  std::uint32_t span;
};
inline constexpr std::uint32_t kNotBackendType = 0xFFFFFFFFu;  // LengthRange::low of such a byte
constexpr std::array<LengthRange, 256> make_backend_lengths() {
  std::array<LengthRange, 256> lengths{};
  for (auto& r : lengths) r = {kNotBackendType, 0};
  for (unsigned char t : std::string_view("ACDEGHKNRSTVWdtv"))
    lengths[t] = {4, kMaxBackendLength - 4};
  lengths['Z'] = {5, 0};  // ReadyForQuery: its status byte
  // ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended, CopyDone,
  // EmptyQueryResponse: a header and nothing else.
  for (unsigned char t : std::string_view("123nscI")) lengths[t] = {4, 0};
  return lengths;
}
inline constexpr std::array<LengthRange, 256> kBackendLengths = make_backend_lengths();

}  // namespace scanner_detail

class MessageScanner {
 public:
  explicit MessageScanner(std::uint32_t max_packet_size = kDefaultMaxPacketSize,
                          Checks checks = Checks::kLengths)
      : max_packet_size_(max_packet_size), backend_(checks == Checks::kBackend) {}
  explicit MessageScanner(Checks checks) : MessageScanner(kDefaultMaxPacketSize, checks) {}

  // Checks::kBackend: the longest length field. PostgreSQL builds every message it sends in
  // memory, in at most 1 GB - 1 (MaxAllocSize); a longer one is a header read out of the
  // middle of something else.
  static constexpr std::uint32_t kMaxBackendLength = scanner_detail::kMaxBackendLength;

  // Scans the next chunk of the stream, calling `on_message_start(header)` for each message
  // whose header completes in it, in order. Fails with 08P01 when a length field is < 4 (or
  // a ReadyForQuery is not 5 bytes long, or Checks::kBackend finds a fault) and 54000 when it
  // exceeds max_packet_size; callbacks for earlier messages have already run. After a failure
  // the scanner stays failed and every later scan returns the same error.
  template <class F>
  [[nodiscard]] Status scan(ByteView chunk, F&& on_message_start);

  // scan() without a callback: only the summary below is updated.
  [[nodiscard]] Status scan(ByteView chunk) {
    return scan(chunk, [](const MessageHeader&) {});
  }

  // --- Summary, updated by every scan() ---

  // Messages that ended inside the last scanned chunk.
  std::size_t completed() const { return completed_; }
  // Offset in the last scanned chunk just past the last message that ended in it; 0 when
  // completed() == 0.
  std::size_t last_end() const { return last_end_; }
  // Type of the most recent message that ended, in this chunk or an earlier one; 0 if none.
  char last_type() const { return last_type_; }
  // Status byte ('I', 'T', 'E') of the most recent complete ReadyForQuery, even if its
  // header and status byte arrived in different chunks; 0 if none yet.
  char ready_status() const { return ready_status_; }
  // Bytes of a message header the stream so far ends with (0..4): they were the last bytes
  // of the chunks scanned, and the header completes in a later chunk.
  std::size_t partial_header_size() const { return header_have_; }
  // True when the stream so far ends exactly on a message boundary.
  bool at_boundary() const { return header_have_ == 0 && body_left_ == 0; }
  // The ReadyForQuery status if the stream so far ends exactly after a ReadyForQuery.
  std::optional<char> ready_at_end() const {
    if (at_boundary() && last_type_ == kReadyForQueryType) return ready_status_;
    return std::nullopt;
  }
  // Messages whose header has been seen since construction or reset().
  std::uint64_t messages_seen() const { return messages_seen_; }
  bool failed() const { return error_.has_value(); }

  // Forgets all state, including a failure (for a new stream). Field by field: the relay
  // does this once per transaction, and a whole new scanner would rebuild error_ too.
  void reset() {
    header_have_ = 0;  // header_ bytes beyond header_have_ are never read
    body_left_ = 0;
    current_type_ = 0;
    want_status_ = false;
    pending_status_ = 0;
    last_type_ = 0;
    ready_status_ = 0;
    completed_ = 0;
    last_end_ = 0;
    messages_seen_ = 0;
    if (error_) error_.reset();
  }

 private:
  static constexpr char kReadyForQueryType = 'Z';

  // Records the end of the current message at chunk offset `end`.
  void finish_message(std::size_t end) {
    ++completed_;
    last_end_ = end;
    last_type_ = current_type_;
    if (current_type_ == kReadyForQueryType) ready_status_ = pending_status_;
  }
  // Validates `h`; on failure stores and returns the error.
  Status check_header(const MessageHeader& h);
  // The quick form of check_header(): true when it would pass.
  bool header_valid(const MessageHeader& h) const {
    if (backend_) {  // one table lookup: the type's lengths, ReadyForQuery's 5 included
      const scanner_detail::LengthRange r =
          scanner_detail::kBackendLengths[static_cast<unsigned char>(h.type)];
      return h.length - r.low <= r.span && h.length <= max_packet_size_;
    }
    return h.length >= 4 && h.length <= max_packet_size_ &&
           (h.type != kReadyForQueryType || h.length == 5);
  }
  // False for a byte that is no backend message's type (for check_header's message).
  static bool backend_type(char type) {
    return scanner_detail::kBackendLengths[static_cast<unsigned char>(type)].low !=
           scanner_detail::kNotBackendType;
  }
  static bool status_valid(char status) { return status == 'I' || status == 'T' || status == 'E'; }
  // Stores and returns the error for a ReadyForQuery status that is none of I, T, E.
  Status bad_status(char status);
  // scan()'s loop over whole messages (see its definition).
  template <class F>
  std::size_t scan_whole(const std::uint8_t* p, std::size_t n, std::size_t i, F& on_message_start);
  // Counts the message and shows it to the caller's callback.
  template <class F>
  void announce(const MessageHeader& h, F& on_message_start) {
    ++messages_seen_;
    if constexpr (std::is_invocable_v<F&, const MessageHeader&>) {
      on_message_start(h);
    } else {
      on_message_start(h.type, h.length, h.offset);
    }
    current_type_ = h.type;
  }

  std::uint32_t max_packet_size_;
  bool backend_ = false;  // Checks::kBackend
  std::uint8_t header_[kHeaderSize] = {};
  std::size_t header_have_ = 0;  // header bytes carried over from earlier chunks (0..4)
  std::uint32_t body_left_ = 0;  // body bytes of the current message not yet seen
  char current_type_ = 0;
  bool want_status_ = false;  // the next body byte is a ReadyForQuery status
  char pending_status_ = 0;
  char last_type_ = 0;
  char ready_status_ = 0;
  std::size_t completed_ = 0;
  std::size_t last_end_ = 0;
  std::uint64_t messages_seen_ = 0;
  std::optional<Error> error_;
};

template <class F>
Status MessageScanner::scan(ByteView chunk, F&& on_message_start) {
  if (error_) [[unlikely]]
    return *error_;
  completed_ = 0;
  last_end_ = 0;
  const std::uint8_t* p = chunk.data();
  const std::size_t n = chunk.size();
  std::size_t i = 0;
  while (i < n) {
    if (header_have_ == 0 && body_left_ == 0) {  // the usual case: whole messages
      i = scan_whole(p, n, i, on_message_start);
      if (i == n) break;
    }
    if (body_left_ > 0) {  // skip (the rest of) a body
      const std::size_t take = std::min<std::size_t>(body_left_, n - i);
      if (want_status_) {
        pending_status_ = static_cast<char>(p[i]);
        want_status_ = false;
        if (backend_ && !status_valid(pending_status_)) return bad_status(pending_status_);
      }
      i += take;
      body_left_ -= static_cast<std::uint32_t>(take);
      if (body_left_ == 0) finish_message(i);
      continue;
    }
    // A message that does not end in this chunk, or one scan_whole() would not take.
    MessageHeader h;
    if (header_have_ == 0 && n - i >= kHeaderSize) {  // its whole header is here
      h.type = static_cast<char>(p[i]);
      h.length = load_be32(p + i + 1);
      h.offset = i;
      i += kHeaderSize;
    } else {  // header split across chunks: carry its bytes over
      const std::size_t take = std::min(kHeaderSize - header_have_, n - i);
      std::memcpy(header_ + header_have_, p + i, take);
      header_have_ += take;
      i += take;
      if (header_have_ < kHeaderSize) break;
      header_have_ = 0;
      h.type = static_cast<char>(header_[0]);
      h.length = load_be32(header_ + 1);
      h.straddled = true;
    }
    if (!header_valid(h)) return check_header(h);
    h.end = i + (h.length - 4);
    announce(h, on_message_start);
    body_left_ = h.length - 4;
    want_status_ = h.type == kReadyForQueryType;
    if (body_left_ == 0) finish_message(i);
  }
  return Ok{};
}

// From offset `i`, at a message boundary: every message that is whole in the chunk, header
// and body, and valid, announced in order; returns the offset of the first that is not (or
// n). The summary is kept in registers and stored once: this loop is the relay's per-message
// cost, and the callback would otherwise make every field a store per message.
template <class F>
std::size_t MessageScanner::scan_whole(const std::uint8_t* p, std::size_t n, std::size_t i,
                                       F& on_message_start) {
  std::size_t count = 0;
  char type = 0;
  char status = ready_status_;
  while (n - i >= kHeaderSize) {
    MessageHeader h;
    h.type = static_cast<char>(p[i]);
    h.length = load_be32(p + i + 1);
    h.offset = i;
    h.end = i + 1 + std::size_t(h.length);
    if (h.end > n || !header_valid(h)) break;
    if (h.type == kReadyForQueryType) {  // header_valid(): its length is 5; the status ends it
      const char s = static_cast<char>(p[h.end - 1]);
      if (backend_ && !status_valid(s)) break;  // the general path reports it
      status = s;
    }
    if constexpr (std::is_invocable_v<F&, const MessageHeader&>) {
      on_message_start(h);
    } else {
      on_message_start(h.type, h.length, h.offset);
    }
    type = h.type;
    i = h.end;
    ++count;
  }
  if (count > 0) {
    messages_seen_ += count;
    completed_ += count;
    last_end_ = i;
    current_type_ = last_type_ = type;
    ready_status_ = pending_status_ = status;
  }
  return i;
}

}  // namespace reservoir::protocol
