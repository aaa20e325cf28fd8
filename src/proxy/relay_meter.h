#pragma once
// RelayMeter: what the relay counts for its pool, kept apart from the relay's own logic.
// One per client session, on the session's thread; it writes only the PoolMetricsCell of
// that thread's worker (single writer: no lock, no atomic read-modify-write, no syscall).
//
//   transaction  from the first request sent while not in a transaction to ReadyForQuery 'I'
//   query        from a request to its ReadyForQuery (pipelined requests are timed back to back)
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/clock.h"
#include "observability/metrics.h"
#include "protocol/message_scanner.h"

namespace reservoir::proxy {

class RelayMeter {
 public:
  void attach(observability::PoolMetricsCell* cell) { cell_ = cell; }
  observability::PoolMetricsCell* cell() const { return cell_; }

  // Slow query log (slow_query_threshold): statements slower than `threshold` are logged
  // with `who` (pool and client) and the first kSlowTextLimit characters of their text.
  // Only the text of Query and Parse is kept, never Bind's parameter values.
  static constexpr std::size_t kSlowTextLimit = 200;
  void enable_slow_log(Duration threshold, std::string who) {
    slow_ = std::make_unique<SlowLog>(SlowLog{threshold, std::move(who), {}});
  }

  // A client message header seen by the relay's scanner: keeps the statement text when the
  // slow query log is on (one branch otherwise).
  void on_client_message(const protocol::MessageHeader& h, ByteView chunk) {
    if (!slow_) return;
    if (h.type != 'Q' && h.type != 'P') return;
    slow_->text.clear();
    if (h.straddled || h.offset + 5 > chunk.size()) return;
    const std::size_t stop = std::min<std::size_t>(h.end, chunk.size());
    std::string_view body(reinterpret_cast<const char*>(chunk.data()) + h.offset + 5,
                          stop - h.offset - 5);
    if (h.type == 'P') {  // skip the statement name
      const auto nul = body.find('\0');
      body = nul == std::string_view::npos ? std::string_view() : body.substr(nul + 1);
    }
    body = body.substr(0, std::min(body.find('\0'), kSlowTextLimit));
    slow_->text.assign(body);
  }

  // Client bytes forwarded to the server, carrying `requests` new requests.
  void on_forward(std::size_t bytes, std::uint64_t requests, TimePoint now) {
    if (cell_ == nullptr) return;
    cell_->bytes_received.add(bytes);
    if (requests == 0) return;
    if (outstanding_ == 0) query_start_ = now;
    if (!in_tx_) {
      in_tx_ = true;
      tx_start_ = now;
    }
    outstanding_ += requests;
  }

  // Server bytes forwarded to the client.
  void on_server_bytes(std::size_t bytes) {
    if (cell_ != nullptr) cell_->bytes_sent.add(bytes);
  }

  // A server message header seen by the relay's scanner (only ReadyForQuery and
  // ErrorResponse matter).
  void on_server_message(const protocol::MessageHeader& h, ByteView chunk, TimePoint now) {
    if (cell_ == nullptr) return;
    if (h.type == 'Z') {
      // The status byte ends the message; if it is still to come, count it as in-transaction.
      on_ready(h.end <= chunk.size() && h.end > 0 ? static_cast<char>(chunk[h.end - 1]) : 'T', now);
    } else if (h.type == 'E') {
      on_error(h, chunk);
    }
  }

  // The session's server went away mid-transaction (or was released): start afresh.
  void reset() {
    in_tx_ = false;
    outstanding_ = 0;
  }

 private:
  void on_ready(char status, TimePoint now) {
    cell_->queries.add();
    if (outstanding_ > 0) {
      cell_->query_time.observe(now - query_start_);
      if (slow_ && now - query_start_ > slow_->threshold) {
        log_slow(now - query_start_);
      }
      --outstanding_;
      query_start_ = now;
    }
    if (status == 'I' && in_tx_) {
      in_tx_ = false;
      cell_->transactions.add();
      cell_->transaction_time.observe(now - tx_start_);
    }
  }

  // Counts the ErrorResponse by the class of its SQLSTATE (field 'C'), read from the part of
  // the message in this chunk; "??" when the code is not there.
  void on_error(const protocol::MessageHeader& h, ByteView chunk) {
    std::string_view code;
    if (!h.straddled && h.offset + 5 < chunk.size()) {
      const std::size_t stop = std::min<std::size_t>(h.end, chunk.size());
      std::string_view body(reinterpret_cast<const char*>(chunk.data()) + h.offset + 5,
                            stop - h.offset - 5);
      while (!body.empty() && body[0] != '\0') {
        const char field = body[0];
        const auto nul = body.find('\0', 1);
        if (nul == std::string_view::npos) break;
        if (field == 'C') {
          code = body.substr(1, nul - 1);
          break;
        }
        body.remove_prefix(nul + 1);
      }
    }
    cell_->errors.add(code.size() >= 2 ? code : std::string_view("??"));
  }

  void log_slow(Duration took) const {
    spdlog::warn("slow query: {:.3f} s (slow_query_threshold={:.3f} s) {}: {}",
                 std::chrono::duration<double>(took).count(),
                 std::chrono::duration<double>(slow_->threshold).count(), slow_->who,
                 slow_->text.empty() ? "(statement text not captured)" : slow_->text);
  }

  observability::PoolMetricsCell* cell_ = nullptr;
  // The slow query log, where it is on: most clients never have one, and an idle client
  // should not carry its strings.
  struct SlowLog {
    Duration threshold;
    std::string who;
    std::string text;  // first kSlowTextLimit characters of the latest statement
  };
  std::unique_ptr<SlowLog> slow_;
  TimePoint query_start_{};
  TimePoint tx_start_{};
  std::uint64_t outstanding_ = 0;
  bool in_tx_ = false;
};

}  // namespace reservoir::proxy
