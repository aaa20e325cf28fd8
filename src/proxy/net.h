#pragma once
// Shared I/O vocabulary of the proxy layer: one socket type for TCP and unix sockets,
// coroutine tasks, and the few helpers every connection needs.
#include <boost/asio.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "protocol/frame.h"

namespace reservoir::proxy {

namespace asio = boost::asio;
// Every executor here is an io_context's (one per worker), and the code names that type
// rather than the type-erased asio::any_io_executor: a completion then runs through the
// io_context directly instead of through any_executor's function tables and a wrapper.
using Executor = asio::io_context::executor_type;
// generic::stream_protocol carries both TCP and unix-domain sockets, so one code path
// serves clients on either and reaches PostgreSQL over either.
using Socket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <class T = void>
using Task = asio::awaitable<T, Executor>;
inline constexpr asio::use_awaitable_t<Executor> use_task{};

// Completion token that reports errors as values: nothing on the data path throws.
// For an operation co_awaited where it is written (`co_await timer.async_wait(nothrow)`):
// Asio then starts it from the awaiting coroutine's own frame, where use_task would first wrap
// it in a coroutine frame of its own, allocated, resumed and freed per operation (about 430
// instructions per transaction on the relay's reads). A deferred operation does nothing until
// it is co_awaited.
inline constexpr auto nothrow = asio::as_tuple(asio::deferred);
// The same as a Task, for what needs an awaitable object (awaitable operators: a || b).
inline constexpr auto nothrow_task = asio::as_tuple(use_task);

// A configured duration (seconds, fractions allowed) as a clock duration.
inline Duration to_duration(config::Seconds s) { return std::chrono::duration_cast<Duration>(s); }

// Writes every byte; false if the peer is gone.
Task<bool> write_all(Socket& socket, ByteView bytes);

// Which worker (event loop) the calling thread runs; 0 outside the workers.
int worker_index();
void set_worker_index(int index);

// Busy polling before the calling thread sleeps in epoll_wait (the `busy_poll` setting): for
// up to `window` it polls epoll without sleeping. Each worker thread sets it once before it
// runs its loop; zero, the default of every thread, sleeps at once. Workers poll only while
// allow_busy_poll(true) is in force: a fixed window sets it here, and for `automatic` threads
// the app's governor switches it (proxy/busy_poll.h); they poll at most a quarter of each
// 100 ms.
void set_busy_poll(std::chrono::nanoseconds window, bool automatic = false);
void allow_busy_poll(bool allowed);
bool busy_poll_allowed();  // whether workers poll now (/metrics)
// Time all workers have spent polling so far, in seconds.
double busy_poll_seconds();

// The relay's lean I/O. Reads wait for readiness first and then read into the worker's
// scratch buffer, so an idle connection holds no buffer and a read costs one syscall.
// Writes go straight out; only bytes the peer cannot take yet are copied into `spill`
// (that is the backpressure: the reader does not read again until they are written).
inline constexpr std::size_t kScratchSize = 32 * 1024;

// This thread's scratch buffer. Valid until the calling coroutine next suspends.
std::span<std::uint8_t> scratch();

// Reads what `socket` has: first into the connection's small `landing` buffer (an
// asynchronous read, which after an exhausting read goes straight to epoll without a
// syscall or an epoll_ctl), then, if that filled up, the rest straight into scratch().
// Returns the bytes (in scratch()) or an error code (eof when the peer closed).
struct ReadResult {
  boost::system::error_code error;
  ByteView bytes;
  // The read came back short with no epoll_wait since, so the socket looks drained. It may
  // not be: a FIN queued behind the data is only seen by the next recv(), and no new epoll
  // edge comes for it. The caller marks the socket drained (readiness::mark_drained, saving
  // the next recv) only where the protocol says the peer has nothing more to send now.
  bool short_read = false;
};
Task<ReadResult> read_ready(Socket& socket, std::span<std::uint8_t> landing);

// read_ready() in its three steps, for the relay's readers, which read twice per
// transaction and so spare a coroutine frame each time:
//   ReadStart start = read_start(socket, landing);
//   if (!start.result)
//     start.result = read_waited(socket, landing, start, co_await wait_read(socket, landing));
// read_start() reads at once where Asio would speculate; otherwise the caller waits in the
// reactor and read_waited() finishes the read. Exactly what read_ready() does.
struct ReadStart {
  std::optional<ReadResult> result;  // set when no wait is needed
  bool trusted = false;              // no write on this worker was pending before the wait
  std::uint64_t writes_started = 0;  // writes this worker had started before the wait
};
ReadStart read_start(Socket& socket, std::span<std::uint8_t> landing);
ReadResult read_waited(Socket& socket, std::span<std::uint8_t> landing, const ReadStart& start,
                       const boost::system::error_code& error, std::size_t n);
// read_start() without a landing buffer, for readers that wait on readiness
// (readiness::ReadyWait) rather than on an Asio read: where Asio would speculate, one recv()
// straight into scratch(); otherwise nothing (the caller waits, then calls it again).
ReadStart read_now(Socket& socket);
// Room for one pending asynchronous operation of a connection, kept by the connection: Asio
// builds a relay read's operation object here (OpAllocator) instead of taking it from the
// thread's recycling cache, which searches its slots on every allocation and free. An
// operation that does not fit, or a second one while the first is pending, gets the heap.
// Asio frees an operation before it runs its handler, so the handler's next read finds the
// room free again.
class OpMemory {
 public:
  OpMemory() = default;
  OpMemory(const OpMemory&) = delete;
  OpMemory& operator=(const OpMemory&) = delete;
  void* allocate(std::size_t size) {
    if (!in_use_ && size <= sizeof(storage_)) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size);
  }
  void deallocate(void* p) {
    if (p == storage_) {
      in_use_ = false;
    } else {
      ::operator delete(p);
    }
  }
  bool in_use() const { return in_use_; }

 private:
  alignas(std::max_align_t) std::byte storage_[256];
  bool in_use_ = false;
};

// The allocator Asio sees for an operation bound to an OpMemory (asio::bind_allocator).
template <class T>
struct OpAllocator {
  using value_type = T;
  OpMemory* memory;
  explicit OpAllocator(OpMemory* m) : memory(m) {}
  template <class U>
  OpAllocator(const OpAllocator<U>& other) : memory(other.memory) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(memory->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) { memory->deallocate(p); }
  template <class U>
  bool operator==(const OpAllocator<U>& other) const {
    return memory == other.memory;
  }
};

// Starts Asio's read of `socket` into `landing` for `handler`, its operation built in `memory`.
template <class Handler>
void read_in(Socket& socket, asio::mutable_buffer landing, OpMemory& memory, Handler&& handler) {
  socket.async_read_some(
      landing, asio::bind_allocator(OpAllocator<void>(&memory), std::forward<Handler>(handler)));
}

// The middle step: Asio's read into `landing`, an operation to co_await (no frame of its own),
// built in `memory`. (bind_allocator cannot wrap a deferred token in Boost 1.81, so the
// allocator is bound to the handler.)
inline auto wait_read(Socket& socket, std::span<std::uint8_t> landing, OpMemory& memory) {
  return asio::async_initiate<decltype(nothrow), void(boost::system::error_code, std::size_t)>(
      [&socket, landing, &memory](auto handler) {
        read_in(socket, asio::buffer(landing.data(), landing.size()), memory, std::move(handler));
      },
      nothrow);
}
// The same with the thread's recycling cache.
inline auto wait_read(Socket& socket, std::span<std::uint8_t> landing) {
  return socket.async_read_some(asio::buffer(landing.data(), landing.size()), nothrow);
}
// read_waited() for what co_await wait_read() yields.
inline ReadResult read_waited(Socket& socket, std::span<std::uint8_t> landing,
                              const ReadStart& start,
                              const std::tuple<boost::system::error_code, std::size_t>& waited) {
  return read_waited(socket, landing, start, std::get<0>(waited), std::get<1>(waited));
}

// Writes `bytes` (typically in scratch()) to `socket`, in two steps so that the common case
// costs no coroutine frame: forward_now() sends what the socket takes at once and leaves in
// `bytes` what it did not take (usually nothing); only then does the caller co_await
// forward_rest(), which copies that rest into `spill` and waits until it is written. Both
// return false if the peer is gone.
[[nodiscard]] bool forward_now(Socket& socket, ByteView& bytes);
Task<bool> forward_rest(Socket& socket, ByteView rest, Bytes& spill);
// Both steps in one coroutine, where its frame does not matter.
Task<bool> forward(Socket& socket, ByteView bytes, Bytes& spill);

// Reads until `reader` yields one complete frame. The frame's body stays valid until the
// reader is used again. Errors: connection closed (08006) or a malformed frame (08P01/54000).
// `peer_waits`: the peer sends nothing more until it is answered (a client during login), so
// a short read that ends exactly with the frame marks the socket drained (asio_readiness.h),
// sparing the next read a recv() that would fail with EAGAIN.
Task<Result<protocol::Frame>> read_frame(Socket& socket, protocol::FrameReader& reader,
                                         bool peer_waits = false);

// Appends an ErrorResponse frame with severity, SQLSTATE and message.
void append_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message);

// One suspended coroutine's completion handler (signature void(error_code, size_t)), kept in
// place: no allocation per wait. It is spent exactly once: resumed now, posted to an executor,
// handed to an Asio read of a socket, moved to another slot, or dropped (which destroys the
// waiting coroutine, as Asio does with the handlers of a destroyed I/O object). Signal and
// readiness::ReadyWait keep their waiter in one.
class HandlerSlot {
 public:
  HandlerSlot() = default;
  ~HandlerSlot() { drop(); }
  HandlerSlot(const HandlerSlot&) = delete;
  HandlerSlot& operator=(const HandlerSlot&) = delete;

  template <class Handler>
  void store(Handler&& handler) {
    using H = Held<std::decay_t<Handler>>;
    static_assert(sizeof(H) <= sizeof(storage_) && alignof(H) <= alignof(std::max_align_t));
    drop();
    waiter_ = new (&storage_) H(std::forward<Handler>(handler));
  }
  bool empty() const { return waiter_ == nullptr; }
  // Runs the handler with (ec, 0) later, from `executor`'s queue.
  void post(const Executor& executor, boost::system::error_code ec = {}) {
    if (Waiter* w = std::exchange(waiter_, nullptr)) w->post(executor, ec);
  }
  // Runs the handler with (ec, 0) inside this call.
  void resume(boost::system::error_code ec = {}) {
    if (Waiter* w = std::exchange(waiter_, nullptr)) w->resume(ec);
  }
  // Starts an Asio read of `socket` into `landing` that completes the handler.
  void read(Socket& socket, asio::mutable_buffer landing, OpMemory& memory) {
    if (Waiter* w = std::exchange(waiter_, nullptr)) w->read(socket, landing, memory);
  }
  void move_to(HandlerSlot& other) {
    if (Waiter* w = std::exchange(waiter_, nullptr)) {
      other.drop();
      other.waiter_ = w->move_to(&other.storage_);
    }
  }
  void drop() {
    if (Waiter* w = std::exchange(waiter_, nullptr)) w->drop();
  }

 private:
  // The handler lives in storage_ (placement new); each operation moves it out and destroys
  // what is left, so a Waiter is spent by exactly one of them.
  struct Waiter {
    virtual void post(const Executor& executor, boost::system::error_code ec) = 0;
    virtual void resume(boost::system::error_code ec) = 0;
    virtual void read(Socket& socket, asio::mutable_buffer landing, OpMemory& memory) = 0;
    virtual Waiter* move_to(void* storage) = 0;
    virtual void drop() = 0;

   protected:
    ~Waiter() = default;
  };
  template <class Handler>
  struct Held final : Waiter {
    explicit Held(Handler&& h) : handler(std::move(h)) {}
    // Posts a plain function that resumes the waiter, not the handler itself: a handler with
    // an executor of its own would be wrapped in a work_dispatcher that tracks work on that
    // executor and dispatches to it once more. The waiter runs on `executor` all the same: it
    // is the executor of the coroutine that waits.
    void post(const Executor& executor, boost::system::error_code ec) override {
      Handler h = take();
      asio::post(executor, [h = std::move(h), ec]() mutable { std::move(h)(ec, std::size_t{0}); });
    }
    void resume(boost::system::error_code ec) override { take()(ec, std::size_t{0}); }
    // The same handler the waiter's own co_await of async_read_some would have passed.
    void read(Socket& socket, asio::mutable_buffer landing, OpMemory& memory) override {
      read_in(socket, landing, memory, take());
    }
    Waiter* move_to(void* storage) override { return new (storage) Held(take()); }
    void drop() override { this->~Held(); }
    Handler take() {
      Handler h = std::move(handler);
      this->~Held();
      return h;
    }
    Handler handler;
  };
  Waiter* waiter_ = nullptr;  // in storage_, or none
  // Room for the handler types stored here (Asio's coroutine handler: a few pointers).
  alignas(std::max_align_t) std::byte storage_[64];
};

namespace readiness {
class ReadyWait;
}

// One coroutine waits, another on the same thread wakes it. Cheaper than parking on a timer
// and cancelling it (no timer queue, no reactor lock): the relay uses it once per transaction.
// notify() with nobody waiting does nothing, so a waiter re-checks its condition before
// waiting, and the waker changes that condition before notifying.
//
// The waker may instead hand the wait to a read (notify_with_read): the waiter then resumes
// when the read completes, straight from the reactor, rather than from a post after which it
// would start that same read itself. wait() yields the read's outcome, meaningful only when
// take_read() says a read was started; after notify() it yields no error and 0 bytes. Or it
// may hand the wait to a socket's readiness (hand_to): the waiter then resumes when the socket
// may be read, and reads for itself.
class Signal {
 public:
  explicit Signal(Executor executor) : executor_(std::move(executor)) {}
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // Suspends until notify(), or until the read started by notify_with_read() completes.
  // Only one waiter at a time.
  auto wait() {
    return asio::async_initiate<decltype(nothrow), void(boost::system::error_code, std::size_t)>(
        [this](auto handler) { slot_.store(std::move(handler)); }, nothrow);
  }

  // Resumes the waiter (later, from the executor's queue: never inside this call).
  void notify() { slot_.post(executor_); }

  // Resumes the waiter inside this call. Only from a handler running on the executor's own
  // thread, with no lock held: for a wake-up posted from another thread, which notify()
  // would post a second time.
  void notify_here() { slot_.resume(); }

  const Executor& executor() const { return executor_; }

  // Starts an asynchronous read of `socket` into `landing` that resumes the waiter when it
  // completes; read_waited() finishes it with take_read(). True if the read was started.
  // False, and a plain notify(), where Asio would first try a recv() (data may already be
  // there: the waiter reads for itself) or nobody waits.
  // The read's operation is built in `memory`.
  bool notify_with_read(Socket& socket, std::span<std::uint8_t> landing, OpMemory& memory);

  // Hands the waiter to `ready`, which resumes it when `socket` may be read (the waiter then
  // reads for itself; take_read() says nothing was read). True if handed over; false, and a
  // plain notify(), where data may already be there, or nobody waits.
  bool hand_to(readiness::ReadyWait& ready, Socket& socket);

  // Takes back a waiter that hand_to() gave to `ready` (if it still waits there): it waits
  // here again, for notify().
  void take_from(readiness::ReadyWait& ready);

  // After wait(): the read notify_with_read() started for it, if any (and forgets it).
  std::optional<ReadStart> take_read() { return std::exchange(read_, std::nullopt); }

  bool waiting() const { return !slot_.empty(); }

 private:
  Executor executor_;
  HandlerSlot slot_;
  std::optional<ReadStart> read_;
};

// The tcp_keep* / tcp_user_timeout settings, applied to client and server sockets alike.
struct TcpOptions {
  bool keepalive = true;
  int keepidle = 0;
  int keepintvl = 0;
  int keepcnt = 0;
  int user_timeout = 0;
  static TcpOptions from(const config::Settings& s) {
    return {s.tcp_keepalive, s.tcp_keepidle, s.tcp_keepintvl, s.tcp_keepcnt, s.tcp_user_timeout};
  }
  bool operator==(const TcpOptions&) const = default;
};

// Gives `socket` the fd of a socket that left Asio by release() (or was just accepted),
// non-blocking as it was: assign() starts with no non-blocking mode, and the relay's
// synchronous reads must get would_block, never wait in poll() and stall the worker. `modes`
// is what readiness::non_blocking_modes() said before the release (or
// readiness::non_blocking_from_start() for an fd accepted non-blocking), given back without a
// syscall where the shim allows. The fd must be the only one of its connection (see
// readiness::mark_sole_descriptor). On failure the fd is closed and `socket` is left closed.
void assign_released(Socket& socket, int family, int fd, unsigned modes,
                     boost::system::error_code& ec);

// Applies TCP_NODELAY and the keepalive options; no-op on unix sockets.
void apply_socket_options(Socket& socket, const TcpOptions& options);

// The next EPOLL_CTL_MOD of `fd` on this thread is skipped (-1: none is). For a wait that
// starts where the socket was just found drained, with no system call since: Asio's re-arm
// of its epoll entry then changes nothing, since anything that arrives raises a new edge.
// Clear it after the wait has started, in case Asio made no such call.
void skip_rearm(int fd);

// `options` with the kernel's defaults (net.ipv4.tcp_keepalive_*, read now) in place of the
// keepalive values left at 0.
TcpOptions with_kernel_defaults(TcpOptions options);

// Sets `options` on a TCP socket exactly: TCP_NODELAY, SO_KEEPALIVE on or off, and every
// keepalive value, the kernel's default where `options` says 0 (with_kernel_defaults(): pass
// options already resolved to spare the reads), so that nothing set before stays. Meant for a
// listening socket: Linux copies its options to each connection it accepts, which then needs
// no setsockopt() of its own. False if the kernel refused one of them (errno says why).
bool set_exact_tcp_options(int fd, const TcpOptions& options);

// "host:port" or the unix socket path of the peer, for logs.
std::string peer_name(const Socket& socket);
// The same from an address already known (accept() returns it for free).
std::string peer_name(const asio::generic::stream_protocol::endpoint& peer);

}  // namespace reservoir::proxy
