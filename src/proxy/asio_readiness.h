#pragma once
// What Asio's epoll reactor believes about a socket's receive queue, and a way to correct it.
//
// Boost 1.81's reactor tries a recv() before waiting in epoll ("speculative" read) unless the
// previous read came back empty. A relay read that returns a short chunk has drained the
// socket, but Asio still speculates on the next read: one recv() per wake-up that always
// fails with EAGAIN. Telling the reactor "drained" after a short read removes that syscall.
//
// This reaches into Asio's private per-descriptor state, so it is enabled only for the exact
// Boost version and reactor it was written against; elsewhere both calls are inert and Asio
// behaves as shipped. Correctness rests on two rules: mark a socket drained only when no
// epoll_wait can have run between the recv() that came back short and the mark (a later
// arrival then raises a fresh edge, which the reactor sees; read_ready() in net.cc tracks
// this), and only when the peer cannot have closed behind the data just read: a FIN queued
// behind data raises no further edge and only the next recv() reports it, so the relay marks
// a short read drained only at a protocol point where the peer waits for us (a client's
// complete requests; a server's reply ending in ReadyForQuery).
#include <atomic>
#include <optional>

#include "proxy/net.h"

struct epoll_event;

namespace reservoir::proxy::readiness {

// True where this shim is active (Boost 1.81, epoll reactor).
bool supported();

// Whether Asio would try recv() first on the next async read of `socket`.
bool will_speculate(Socket& socket);

// Records that `socket`'s receive queue was just found empty.
void mark_drained(Socket& socket);

// The non-blocking modes Asio records for `socket` (set by non_blocking(true), and for its own
// operations): release() leaves the fd as it is but the socket forgets them, and assign() of
// the same fd starts with none, so a synchronous read_some() would then wait in poll() for
// data rather than report would_block. A parked client leaves Asio and comes back this way:
// it takes non_blocking_modes() before release() and restore_non_blocking() after assign(),
// which tells Asio again without a syscall. Returns false, changing nothing, where the shim
// is inactive or `modes` lacks the user's non-blocking mode: then call non_blocking(true).
unsigned non_blocking_modes(Socket& socket);
bool restore_non_blocking(Socket& socket, unsigned modes);

// The modes of a socket made non-blocking from the start (accept4 with SOCK_NONBLOCK), for
// restore_non_blocking() after assign(); 0 where the shim is inactive.
unsigned non_blocking_from_start();

// Asio treats every assign()ed descriptor as a possible dup() of another and, before closing
// it, removes it from its epoll set with a system call. Descriptors that Reservoir assigns
// (just accepted, or released by one of its own sockets) are the only ones of their
// connection: closing them removes them from epoll already. This tells Asio so.
void mark_sole_descriptor(Socket& socket);

// Direct wake-ups for the relay's reads.
//
// Asio resumes a coroutine that waits to read a socket through its scheduler: the reactor's
// epoll_wait queues the socket's descriptor state, the scheduler runs it, that performs the
// pending read operation, and the operation's handler resumes the coroutine. That costs
// several hundred instructions per wake-up, and the relay has two per transaction. A
// ReadyWait keeps the waiting coroutine's handler itself instead, with no Asio operation, and
// the worker's epoll_wait (net.cc defines it for the process and calls dispatch_ready())
// resumes it inside the wake-up that reports the socket readable. The waiter then reads for
// itself (read_now()).
//
// The socket stays registered with Asio as it was. dispatch_ready() sets Asio's per-socket
// "try the operation first" flags for each event exactly as Asio's own processing would, and
// hands the event on to Asio whenever Asio has an operation pending on the socket (a write
// waiting for room, a read of a reset query), so Asio's operations on the socket behave as
// before. A spurious wake-up is possible (a descriptor state reused by another socket of the
// same fd number); the waiter's read then finds nothing and it waits again.
//
// Servers move between workers: the binding (fd, Asio's descriptor state) is made again
// at the first wait on the new worker. The slot of a socket that moves (`moves_between_loops`)
// is never freed, only reused, since a worker still looking at an old event may read it; a
// client's stays on its worker and is freed with it.
class ReadyWait {
 public:
  explicit ReadyWait(bool moves_between_loops = false);
  // A waiter still here resumes with operation_aborted, from its executor's queue (as the
  // handler of an Asio operation does when its socket is destroyed).
  ~ReadyWait();
  ReadyWait(const ReadyWait&) = delete;
  ReadyWait& operator=(const ReadyWait&) = delete;

  // Whether `socket` can be waited on this way: the shim is active, and the fd is below the
  // soft fd limit the process had when its first ReadyWait was made (false before that).
  static bool usable(Socket& socket) {
    return static_cast<unsigned>(socket.native_handle()) <
           table_size_.load(std::memory_order_relaxed);
  }

  // Suspends until `socket` may be readable (data, end of stream or an error): the waiter
  // resumes inside the epoll wake-up that reported it, with no error and 0, or later with
  // operation_aborted after cancel(). Where the socket may be readable already (it was not
  // found empty since its last event), the waiter resumes at once, from the executor's
  // queue. Only where usable(socket); one waiter at a time.
  auto wait(Socket& socket) {
    return asio::async_initiate<decltype(nothrow), void(boost::system::error_code, std::size_t)>(
        [this, &socket](auto handler) {
          slot_->handler.store(std::move(handler));
          arm(socket);
        },
        nothrow);
  }

  // Where the socket may be readable while a waiter waits, dispatch_ready() calls `serve`
  // first: it may take the event itself (true: the waiter waits on, as if nothing came) or
  // leave it to the waiter (false: resumed then, unless a cancel() in `serve` took it).
  // Null: the waiter resumes at once.
  using Serve = bool (*)(void* context);
  void serve_with(Serve serve, void* context) {
    slot_->serve = serve;
    slot_->serve_context = context;
  }

  // The same wait for a waiter taken from `from` (Signal::hand_to).
  void take(HandlerSlot& from, Socket& socket);

  // A waiter resumes with operation_aborted, from its executor's queue.
  void cancel();

  // Moves a waiter that waits here to `to`, where it waits on (Signal::take_from).
  void hand_back(HandlerSlot& to);

  bool waiting() const { return slot_->armed.load(std::memory_order_relaxed); }

  // What dispatch_ready() and the slot pool see (defined here so that wait() stays inline).
  struct Slot {
    std::atomic<bool> armed{false};
    std::atomic<void*> state{nullptr};  // Asio's descriptor state of the socket
    int fd = -1;
    std::optional<Executor> executor;  // where cancel() posts the waiter
    HandlerSlot handler;
    Serve serve = nullptr;
    void* serve_context = nullptr;
    Slot* next_free = nullptr;
  };

 private:
  // Points the slot at `socket` (its fd, Asio's state for it, its loop's epoll set), if it
  // is not already; false where it cannot be waited on (closed, or its fd beyond the table).
  bool bind(Socket& socket);
  void unbind();
  // Binds, then waits for the handler stored in the slot, or posts it (see wait()).
  void arm(Socket& socket);
  static std::size_t make_table();  // the table's size (0 where the shim is inactive)
  Slot* slot_ = nullptr;
  bool pooled_ = false;
  // A slot of its own, where it does not move between loops: no allocation per client.
  alignas(Slot) std::byte own_[sizeof(Slot)];
  // Slots in the fd table; 0 where the shim is inactive (nothing is usable then).
  inline static std::atomic<std::size_t> table_size_{0};
};

// The epoll fd of the reactor `socket` is registered with (-1 where the shim is inactive), and
// whether dispatch_ready() looks at that epoll set's events: only while its loop lives and
// after a ReadyWait bound one of its sockets. For tests.
int reactor_epoll_fd(Socket& socket);
bool watches_reactor(int epoll_fd);

// Called by the process's epoll_wait() with what the kernel reported on `epoll_fd`: resumes
// the ReadyWait waiters among them and drops the events Asio has no use for. Returns how many
// events are left for the caller, at the front of `events`.
int dispatch_ready(int epoll_fd, epoll_event* events, int n);

}  // namespace reservoir::proxy::readiness
