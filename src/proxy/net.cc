#include "proxy/net.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>

#include "common/raw_syscall.h"
#include "protocol/messages/error_response.h"
#include "proxy/asio_readiness.h"

// recv() and epoll_wait() for the whole process, Asio's included: glibc's are thread
// cancellation points and bracket every call with switching asynchronous cancellation on and
// off (about 70 instructions of the relay's reads per transaction). Reservoir never cancels a
// thread (nothing calls pthread_cancel), so the bracket has nothing to do. The same behaviour
// otherwise: the count, or -1 with errno set (epoll_pwait without a signal mask is
// epoll_wait, on every architecture).
extern "C" ssize_t recv(int fd, void* buf, size_t len, int flags) {
  return reservoir::raw_syscall6(SYS_recvfrom, fd, reinterpret_cast<long>(buf),
                                 static_cast<long>(len), flags, 0, 0);
}

namespace {
// This thread's `busy_poll` window (set_busy_poll); zero on every thread but the workers.
thread_local std::chrono::nanoseconds busy_poll_window{0};
// `busy_poll = auto` on this thread: at most kAutoPollShare of each kAutoPollPeriod.
thread_local bool busy_poll_auto = false;
// Whether workers poll now: set once for a fixed window, switched by auto's governor.
std::atomic<bool> poll_allowed{false};
// Time every worker has spent polling, in nanoseconds (busy_poll_seconds()).
std::atomic<std::uint64_t> polled_ns{0};
constexpr auto kAutoPollPeriod = std::chrono::milliseconds(100);
constexpr auto kAutoPollShare = std::chrono::milliseconds(25);
thread_local std::chrono::steady_clock::time_point auto_period_start{};
thread_local std::chrono::steady_clock::duration auto_polled{};

int wait_for_events(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  return static_cast<int>(reservoir::raw_syscall6(
      SYS_epoll_pwait, epfd, reinterpret_cast<long>(events), maxevents, timeout, 0, 0));
}

void account_polling(std::chrono::steady_clock::duration polled) {
  if (busy_poll_auto) auto_polled += polled;
  polled_ns.fetch_add(static_cast<std::uint64_t>(
                          std::chrono::duration_cast<std::chrono::nanoseconds>(polled).count()),
                      std::memory_order_relaxed);
}

// A wait that would sleep (timeout not 0) on a thread with busy polling: polls epoll without
// sleeping for up to the window, then sleeps. Sleeping costs the latency of a wake-up (the
// kernel's, and on a virtual machine the host's waking an idle vCPU) on every message that
// arrives while the worker sleeps; polling costs the CPU of the window whenever nothing comes.
// A timer due within the window ends the polling at its time, as the sleep would have.
int poll_then_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  using Clock = std::chrono::steady_clock;
  if (!poll_allowed.load(std::memory_order_relaxed)) {
    return wait_for_events(epfd, events, maxevents, timeout);
  }
  const auto start = Clock::now();
  if (busy_poll_auto) {
    if (start - auto_period_start >= kAutoPollPeriod) {
      auto_period_start = start;
      auto_polled = {};
    } else if (auto_polled >= kAutoPollShare) {
      return wait_for_events(epfd, events, maxevents, timeout);
    }
  }
  const Clock::duration window = busy_poll_window;
  const auto limit =
      timeout > 0 ? std::min<Clock::duration>(window, std::chrono::milliseconds(timeout)) : window;
  Clock::time_point now;
  do {
    if (const int n = wait_for_events(epfd, events, maxevents, 0); n != 0) {
      account_polling(Clock::now() - start);
      return n;
    }
    // A task woken on this CPU (often the client this worker just answered) runs now rather
    // than after the window.
    sched_yield();
    now = Clock::now();
  } while (now - start < limit);
  account_polling(now - start);
  if (limit < window) return 0;  // the timer is due
  return wait_for_events(epfd, events, maxevents, timeout);
}
}  // namespace

// epoll_wait() also delivers the readiness that relay readers wait for without an Asio
// operation (readiness::ReadyWait): their coroutines resume inside this call, before the
// reactor sees the events left for it.
extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  const int n = timeout != 0 && busy_poll_window.count() > 0
                    ? poll_then_wait(epfd, events, maxevents, timeout)
                    : wait_for_events(epfd, events, maxevents, timeout);
  if (n <= 0) return n;
  return reservoir::proxy::readiness::dispatch_ready(epfd, events, n);
}

// Asio re-arms a socket's epoll entry (EPOLL_CTL_MOD with the same events) when a wait
// starts, so that an edge already raised is reported again. The accept loop knows better: it
// starts its wait on the listening socket right after accept4() found the queue empty, with
// no system call in between, so any connection that comes raises a new edge and the re-arm
// would change nothing. skip_rearm() lets that one call go unmade.
namespace {
thread_local int rearm_skipped_fd = -1;
}  // namespace

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) noexcept {
  if (op == EPOLL_CTL_MOD && fd == rearm_skipped_fd) {
    rearm_skipped_fd = -1;
    return 0;
  }
  return static_cast<int>(
      reservoir::raw_syscall6(SYS_epoll_ctl, epfd, op, fd, reinterpret_cast<long>(event), 0, 0));
}

namespace reservoir::proxy {

void skip_rearm(int fd) { rearm_skipped_fd = fd; }

void set_busy_poll(std::chrono::nanoseconds window, bool automatic) {
  busy_poll_window = window;
  busy_poll_auto = automatic;
  if (!automatic) allow_busy_poll(window.count() > 0);
}

void allow_busy_poll(bool allowed) { poll_allowed.store(allowed, std::memory_order_relaxed); }

bool busy_poll_allowed() { return poll_allowed.load(std::memory_order_relaxed); }

double busy_poll_seconds() {
  return static_cast<double>(polled_ns.load(std::memory_order_relaxed)) / 1e9;
}

namespace {
// Asynchronous writes this worker has started, and how many are still pending. A queued write
// that completes in the same epoll wake-up as a queued read makes Asio run the read's handler
// later, after other work (possibly another epoll_wait); such a read is not trusted to mark
// its socket drained (see asio_readiness.h).
thread_local std::uint64_t writes_started = 0;
thread_local int writes_pending = 0;
struct WriteInFlight {
  WriteInFlight() {
    ++writes_started;
    ++writes_pending;
  }
  ~WriteInFlight() { --writes_pending; }
  WriteInFlight(const WriteInFlight&) = delete;
  WriteInFlight& operator=(const WriteInFlight&) = delete;
};

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// Sends what the socket takes now, without waiting: the count sent (0 when its buffer is
// full), or nullopt on an error. write_all and forward_now try this before an Asio write, which
// even when it completes at once posts its completion, and the scheduler polls epoll (epoll_wait
// with timeout 0) before running it.
//
// The system call is made directly (raw_syscall.h): glibc's send() is a thread cancellation
// point and brackets every call with switching asynchronous cancellation on and off (about 45
// instructions of the relay's two sends per transaction), and Reservoir never cancels threads.
std::optional<std::size_t> send_now(Socket& socket, ByteView bytes) {
  for (;;) {
    const long n =
        raw_syscall6(SYS_sendto, socket.native_handle(), reinterpret_cast<long>(bytes.data()),
                     static_cast<long>(bytes.size()), MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return std::nullopt;
  }
}
}  // namespace

Task<bool> write_all(Socket& socket, ByteView bytes) {
  // Not while an Asio write is in flight on this worker: it might be on this socket, and
  // these bytes must not overtake its rest (Asio queues ours behind it).
  std::size_t sent = 0;
  if (writes_pending == 0 && !bytes.empty()) {
    const auto now = send_now(socket, bytes);
    if (!now) co_return false;
    sent = *now;
  }
  if (sent == bytes.size()) co_return true;
  WriteInFlight in_flight;
  auto [ec, n] = co_await asio::async_write(
      socket, asio::buffer(bytes.data() + sent, bytes.size() - sent), nothrow);
  co_return !ec;
}

namespace {
thread_local int this_worker = 0;
}  // namespace

int worker_index() { return this_worker; }
void set_worker_index(int index) { this_worker = index; }

std::span<std::uint8_t> scratch() {
  thread_local std::array<std::uint8_t, kScratchSize> buffer;
  return buffer;
}

namespace {
// The landing buffer's `n` bytes, and whatever more the socket has, in scratch().
ReadResult land(Socket& socket, std::span<std::uint8_t> landing, std::size_t n, bool drained) {
  auto buf = scratch();
  std::memcpy(buf.data(), landing.data(), n);
  std::size_t total = n;
  if (n == landing.size()) {
    boost::system::error_code more_error;
    const std::size_t room = buf.size() - n;
    const std::size_t more = socket.read_some(asio::buffer(buf.data() + n, room), more_error);
    total += more;
    drained = would_block(more_error) || (!more_error && more < room);
  }
  return ReadResult{{}, ByteView(buf.data(), total), drained};
}
}  // namespace

namespace {
// A read queued in the reactor: the handler runs inside the epoll wake-up that read the data,
// unless a write on this worker completed in the same wake-up (see WriteInFlight).
ReadStart queued_read() { return ReadStart{std::nullopt, writes_pending == 0, writes_started}; }
}  // namespace

// Why not async_wait(wait_read) and one read? Asio re-arms epoll (epoll_ctl) for every
// non-speculative operation; a queued read does not.
ReadStart read_start(Socket& socket, std::span<std::uint8_t> landing) {
  if (readiness::will_speculate(socket)) {
    // Asio would recv() before waiting; do it here, so data is handled now rather than after
    // a post, and an empty queue is known for certain.
    boost::system::error_code ec;
    const std::size_t n = socket.read_some(asio::buffer(landing.data(), landing.size()), ec);
    if (would_block(ec)) {
      readiness::mark_drained(socket);
    } else if (ec) {
      return ReadStart{ReadResult{ec, {}}};
    } else {
      // Whether the recv() came back short with no epoll_wait since: the socket is drained.
      return ReadStart{land(socket, landing, n, n < landing.size())};
    }
  }
  return queued_read();
}

ReadResult read_waited(Socket& socket, std::span<std::uint8_t> landing, const ReadStart& start,
                       const boost::system::error_code& error, std::size_t n) {
  if (error) return ReadResult{error, {}};
  const bool drained =
      n < landing.size() && start.trusted && writes_started == start.writes_started;
  return land(socket, landing, n, drained);
}

Task<ReadResult> read_ready(Socket& socket, std::span<std::uint8_t> landing) {
  ReadStart start = read_start(socket, landing);
  if (start.result) co_return *start.result;
  co_return read_waited(socket, landing, start, co_await wait_read(socket, landing));
}

bool Signal::notify_with_read(Socket& socket, std::span<std::uint8_t> landing, OpMemory& memory) {
  if (slot_.empty()) return false;
  if (readiness::will_speculate(socket)) {
    notify();
    return false;
  }
  read_ = queued_read();  // what read_start() returns where Asio would not speculate
  slot_.read(socket, asio::buffer(landing.data(), landing.size()), memory);
  return true;
}

bool Signal::hand_to(readiness::ReadyWait& ready, Socket& socket) {
  if (slot_.empty()) return false;
  if (readiness::will_speculate(socket)) {
    notify();
    return false;
  }
  ready.take(slot_, socket);
  return true;
}

void Signal::take_from(readiness::ReadyWait& ready) { ready.hand_back(slot_); }

ReadStart read_now(Socket& socket) {
  if (!readiness::will_speculate(socket)) return ReadStart{};
  auto buf = scratch();
  ssize_t n;
  do {
    n = ::recv(socket.native_handle(), buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    const auto got = static_cast<std::size_t>(n);
    // Short, with no epoll_wait since: the receive queue is empty (see ReadResult::short_read).
    return ReadStart{ReadResult{{}, ByteView(buf.data(), got), got < buf.size()}};
  }
  if (n == 0) return ReadStart{ReadResult{asio::error::eof, {}}};
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    readiness::mark_drained(socket);
    return ReadStart{};
  }
  return ReadStart{
      ReadResult{boost::system::error_code(errno, boost::system::system_category()), {}}};
}

bool forward_now(Socket& socket, ByteView& bytes) {
  const auto sent = send_now(socket, bytes);
  if (!sent) return false;
  bytes = bytes.subspan(*sent);
  return true;
}

Task<bool> forward_rest(Socket& socket, ByteView rest, Bytes& spill) {
  spill.assign(rest.begin(), rest.end());
  WriteInFlight in_flight;
  auto [write_error, n] = co_await asio::async_write(socket, asio::buffer(spill), nothrow);
  spill.clear();
  co_return !write_error;
}

Task<bool> forward(Socket& socket, ByteView bytes, Bytes& spill) {
  if (!forward_now(socket, bytes)) co_return false;
  if (bytes.empty()) co_return true;
  co_return co_await forward_rest(socket, bytes, spill);
}

Task<Result<protocol::Frame>> read_frame(Socket& socket, protocol::FrameReader& reader,
                                         bool peer_waits) {
  // A small landing buffer rather than a 4 KiB one: this frame lives on the heap while the
  // peer thinks, and a fresh pooler's RSS per logged-in client grew by the holes such
  // short-lived blocks left between long-lived ones.
  std::array<std::uint8_t, 128> landing;
  bool drained = false;  // the last read came back short, with no epoll_wait since
  for (;;) {
    auto frame = reader.next();
    if (!frame) co_return frame.error();
    if (*frame) {
      if (peer_waits && drained && reader.buffered() == 0) readiness::mark_drained(socket);
      co_return **frame;
    }
    auto [ec, bytes, short_read] = co_await read_ready(socket, landing);
    if (ec) co_return make_error("08006", "connection closed: " + ec.message());
    reader.append(bytes);
    drained = short_read;
  }
}

void append_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message) {
  protocol::ErrorResponse::make(std::string(severity), std::string(sqlstate), std::string(message))
      .encode(out);
}

void assign_released(Socket& socket, int family, int fd, unsigned modes,
                     boost::system::error_code& ec) {
  socket.assign(Socket::protocol_type(family, 0), fd, ec);
  if (ec) {
    ::close(fd);  // not assigned: the fd is still ours
    return;
  }
  readiness::mark_sole_descriptor(socket);
  if (!readiness::restore_non_blocking(socket, modes)) socket.non_blocking(true, ec);
  if (ec) {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
}

namespace {
void set_int(int fd, int level, int name, int value) {
  if (value > 0) ::setsockopt(fd, level, name, &value, sizeof value);
}
}  // namespace

void apply_socket_options(Socket& socket, const TcpOptions& s) {
  boost::system::error_code ec;
  const int family = socket.local_endpoint(ec).protocol().family();
  if (ec || (family != AF_INET && family != AF_INET6)) return;
  const int fd = socket.native_handle();
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (!s.keepalive) return;
  set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, s.keepidle);
  set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, s.keepintvl);
  set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, s.keepcnt);
  set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, s.user_timeout);
}

namespace {
// A net.ipv4 sysctl's value, or `fallback` where it cannot be read.
int ipv4_sysctl(const char* name, int fallback) {
  std::ifstream in(std::string("/proc/sys/net/ipv4/") + name);
  int value = 0;
  return in >> value && value > 0 ? value : fallback;
}

bool set_exactly(int fd, int level, int name, int value) {
  return ::setsockopt(fd, level, name, &value, sizeof value) == 0;
}
}  // namespace

TcpOptions with_kernel_defaults(TcpOptions s) {
  if (s.keepidle <= 0) s.keepidle = ipv4_sysctl("tcp_keepalive_time", 7200);
  if (s.keepintvl <= 0) s.keepintvl = ipv4_sysctl("tcp_keepalive_intvl", 75);
  if (s.keepcnt <= 0) s.keepcnt = ipv4_sysctl("tcp_keepalive_probes", 9);
  return s;
}

bool set_exact_tcp_options(int fd, const TcpOptions& options) {
  // A value set earlier (before a reload) stays on the listener unless overwritten: 0 means
  // the kernel's default, so that is what it gets.
  const TcpOptions s = with_kernel_defaults(options);
  bool ok = set_exactly(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  ok = set_exactly(fd, SOL_SOCKET, SO_KEEPALIVE, s.keepalive ? 1 : 0) && ok;
  ok = set_exactly(fd, IPPROTO_TCP, TCP_KEEPIDLE, s.keepidle) && ok;
  ok = set_exactly(fd, IPPROTO_TCP, TCP_KEEPINTVL, s.keepintvl) && ok;
  ok = set_exactly(fd, IPPROTO_TCP, TCP_KEEPCNT, s.keepcnt) && ok;
  return set_exactly(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, std::max(s.user_timeout, 0)) && ok;
}

std::string peer_name(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  return peer_name(ep);
}

std::string peer_name(const asio::generic::stream_protocol::endpoint& ep) {
  const auto* sa = reinterpret_cast<const sockaddr*>(ep.data());
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    std::string name = "[";
    name.append(host).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
    return name;
  }
  return "unix";
}

}  // namespace reservoir::proxy
