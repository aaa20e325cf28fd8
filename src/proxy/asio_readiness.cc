#include "proxy/asio_readiness.h"

#include <sys/epoll.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/version.hpp>
#include <memory>
#include <mutex>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#define RESERVOIR_READINESS_SHIM 1
#endif

namespace reservoir::proxy::readiness {

#ifdef RESERVOIR_READINESS_SHIM
namespace {

using Reactor = asio::detail::epoll_reactor;
using DescriptorState = Reactor::descriptor_state;

// Explicit instantiation may name private members: the standard way to read a field of a
// library class without editing its header. Each Tag names one member's pointer type.
template <class Tag, typename Tag::type M>
struct Expose {
  friend typename Tag::type member(Tag) { return M; }
};
#define RESERVOIR_EXPOSE(TAG, TYPE, MEMBER) \
  struct TAG {                              \
    using type = TYPE;                      \
    friend type member(TAG);                \
  };                                        \
  template struct Expose<TAG, MEMBER>

RESERVOIR_EXPOSE(SpeculativeTag, bool (DescriptorState::*)[Reactor::max_ops],
                 &DescriptorState::try_speculative_);
RESERVOIR_EXPOSE(DescriptorTag, int DescriptorState::*, &DescriptorState::descriptor_);
RESERVOIR_EXPOSE(OwnerTag, Reactor* DescriptorState::*, &DescriptorState::reactor_);
RESERVOIR_EXPOSE(MutexTag, asio::detail::conditionally_enabled_mutex DescriptorState::*,
                 &DescriptorState::mutex_);
RESERVOIR_EXPOSE(
    OpQueuesTag,
    asio::detail::op_queue<asio::detail::reactor_op> (DescriptorState::*)[Reactor::max_ops],
    &DescriptorState::op_queue_);
RESERVOIR_EXPOSE(EpollFdTag, int Reactor::*, &Reactor::epoll_fd_);
RESERVOIR_EXPOSE(InterrupterTag, asio::detail::select_interrupter Reactor::*,
                 &Reactor::interrupter_);
RESERVOIR_EXPOSE(TimerFdTag, int Reactor::*, &Reactor::timer_fd_);
#undef RESERVOIR_EXPOSE

// basic_socket keeps its implementation protected; a derived class may form the member pointer.
struct SocketAccess : Socket {
  static auto& impl(Socket& s) { return s.*(&SocketAccess::impl_); }
};

DescriptorState* state_of(Socket& socket) {
  return SocketAccess::impl(socket).get_implementation().reactor_data_;
}

}  // namespace

bool supported() { return true; }

bool will_speculate(Socket& socket) {
  DescriptorState* state = state_of(socket);
  return state != nullptr && (state->*member(SpeculativeTag{}))[Reactor::read_op];
}

void mark_drained(Socket& socket) {
  if (DescriptorState* state = state_of(socket))
    (state->*member(SpeculativeTag{}))[Reactor::read_op] = false;
}

unsigned non_blocking_modes(Socket& socket) {
  return SocketAccess::impl(socket).get_implementation().state_ &
         asio::detail::socket_ops::non_blocking;
}

bool restore_non_blocking(Socket& socket, unsigned modes) {
  namespace ops = asio::detail::socket_ops;
  if ((modes & ops::user_set_non_blocking) == 0 || !socket.is_open()) return false;
  SocketAccess::impl(socket).get_implementation().state_ |=
      static_cast<ops::state_type>(modes & ops::non_blocking);
  return true;
}

unsigned non_blocking_from_start() { return asio::detail::socket_ops::non_blocking; }

void mark_sole_descriptor(Socket& socket) {
  SocketAccess::impl(socket).get_implementation().state_ &=
      static_cast<asio::detail::socket_ops::state_type>(~asio::detail::socket_ops::possible_dup);
}

// ---- ReadyWait: the shim's side ----

namespace {

// The reactor whose epoll set an fd is: the two registrations there that are not descriptor
// states (its interrupter and its timer). Set at the first bind() of one of its sockets,
// cleared when its loop is destroyed (ReactorWatch), so that dispatch_ready() looks only at
// the events of live reactors it knows, and never takes another pointer for a descriptor
// state.
struct ReactorEntry {
  std::atomic<const void*> interrupter{nullptr};
  std::atomic<const void*> timer{nullptr};
};

// Slots, and reactors, by fd; sized once to the soft fd limit when the first ReadyWait is made.
struct SlotTable {
  SlotTable() {
    rlimit limit{};
    std::size_t n = 1024;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      n = static_cast<std::size_t>(limit.rlim_cur);
    }
    size = std::min<std::size_t>(n, std::size_t{1} << 20);
    slots = std::make_unique<std::atomic<ReadyWait::Slot*>[]>(size);
    reactors = std::make_unique<ReactorEntry[]>(size);
  }
  std::size_t size = 0;
  std::unique_ptr<std::atomic<ReadyWait::Slot*>[]> slots;
  std::unique_ptr<ReactorEntry[]> reactors;
};
// Never destroyed: a loop destroyed during the process's exit (after static destructors have
// begun) still forgets its reactor here, and slots are never freed either.
SlotTable& slot_table() {
  static SlotTable& table = *new SlotTable;  // NOLINT: deliberately never deleted
  return table;
}
// The same table, for dispatch_ready(): null until the first ReadyWait made it.
std::atomic<const SlotTable*> made_table{nullptr};

// A service of each loop whose sockets were bound: its shutdown, when the loop is destroyed
// (before the reactor, which was made earlier), forgets the reactor's entry.
class ReactorWatch : public asio::execution_context::service {
 public:
  using key_type = ReactorWatch;
  static inline asio::execution_context::id id;
  explicit ReactorWatch(asio::execution_context& loop) : service(loop) {}
  int epoll_fd = -1;

 private:
  void shutdown() override {
    if (epoll_fd < 0) return;
    ReactorEntry& entry = slot_table().reactors[static_cast<std::size_t>(epoll_fd)];
    entry.interrupter.store(nullptr, std::memory_order_relaxed);
    entry.timer.store(nullptr, std::memory_order_relaxed);
    epoll_fd = -1;
  }
};

void know_reactor(Reactor* reactor, asio::execution_context& loop) {
  const int epoll_fd = reactor->*member(EpollFdTag{});
  SlotTable& table = slot_table();
  if (static_cast<unsigned>(epoll_fd) >= table.size) return;
  ReactorEntry& entry = table.reactors[static_cast<std::size_t>(epoll_fd)];
  const void* interrupter = &(reactor->*member(InterrupterTag{}));
  if (entry.interrupter.load(std::memory_order_relaxed) == interrupter) return;  // known
  asio::use_service<ReactorWatch>(loop).epoll_fd = epoll_fd;
  entry.timer.store(&(reactor->*member(TimerFdTag{})), std::memory_order_relaxed);
  entry.interrupter.store(interrupter, std::memory_order_release);
}

}  // namespace

std::size_t ReadyWait::make_table() {
  made_table.store(&slot_table(), std::memory_order_release);
  return slot_table().size;
}

bool ReadyWait::bind(Socket& socket) {
  DescriptorState* state = state_of(socket);
  const int fd = socket.native_handle();
  Slot& slot = *slot_;
  if (slot.fd == fd && state != nullptr && slot.state.load(std::memory_order_relaxed) == state) {
    return true;  // bound already: the usual case
  }
  SlotTable& table = slot_table();
  if (state == nullptr || static_cast<unsigned>(fd) >= table.size) return false;
  if (slot.fd >= 0 && slot.fd != fd) {
    Slot* mine = &slot;
    table.slots[static_cast<std::size_t>(slot.fd)].compare_exchange_strong(mine, nullptr);
  }
  slot.fd = fd;
  slot.state.store(state, std::memory_order_relaxed);
  slot.executor.emplace(socket.get_executor());
  table.slots[static_cast<std::size_t>(fd)].store(&slot, std::memory_order_release);
  know_reactor(state->*member(OwnerTag{}), socket.get_executor().context());
  return true;
}

void ReadyWait::unbind() {
  Slot& slot = *slot_;
  if (slot.fd >= 0) {
    Slot* mine = &slot;
    slot_table().slots[static_cast<std::size_t>(slot.fd)].compare_exchange_strong(mine, nullptr);
  }
  slot.fd = -1;
  slot.state.store(nullptr, std::memory_order_relaxed);
}

void ReadyWait::arm(Socket& socket) {
  if (!bind(socket)) return slot_->handler.post(socket.get_executor(), asio::error::bad_descriptor);
  // An event that came while nobody waited left only Asio's flag: no new edge will come.
  auto* state = static_cast<DescriptorState*>(slot_->state.load(std::memory_order_relaxed));
  if ((state->*member(SpeculativeTag{}))[Reactor::read_op]) {
    return slot_->handler.post(*slot_->executor);
  }
  slot_->armed.store(true, std::memory_order_release);
}

int reactor_epoll_fd(Socket& socket) {
  DescriptorState* state = state_of(socket);
  return state == nullptr ? -1 : (state->*member(OwnerTag{}))->*member(EpollFdTag{});
}

bool watches_reactor(int epoll_fd) {
  const SlotTable* made = made_table.load(std::memory_order_acquire);
  return made != nullptr && static_cast<unsigned>(epoll_fd) < made->size &&
         made->reactors[static_cast<std::size_t>(epoll_fd)].interrupter.load() != nullptr;
}

int dispatch_ready(int epoll_fd, epoll_event* events, int n) {
  const SlotTable* made = made_table.load(std::memory_order_acquire);
  if (made == nullptr || static_cast<unsigned>(epoll_fd) >= made->size) return n;
  const SlotTable& table = *made;
  const ReactorEntry& reactor = table.reactors[static_cast<std::size_t>(epoll_fd)];
  const void* interrupter = reactor.interrupter.load(std::memory_order_acquire);
  if (interrupter == nullptr) return n;  // not a reactor with bound sockets
  const void* timer = reactor.timer.load(std::memory_order_relaxed);
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    const epoll_event event = events[i];
    const void* ptr = event.data.ptr;
    ReadyWait::Slot* slot = nullptr;
    auto* state = static_cast<DescriptorState*>(event.data.ptr);
    if (ptr != interrupter && ptr != timer) {
      const auto fd = static_cast<unsigned>(state->*member(DescriptorTag{}));
      if (fd < table.size) slot = table.slots[fd].load(std::memory_order_acquire);
    }
    // Armed is read first: a slot armed on another loop has by then been bound to a
    // descriptor state of that loop's reactor, which is not this event's.
    const bool armed = slot != nullptr && slot->armed.load(std::memory_order_acquire);
    if (slot == nullptr || slot->state.load(std::memory_order_relaxed) != state) {
      events[kept++] = event;  // not a ReadyWait's socket: Asio's as ever
      continue;
    }
    // What Asio's descriptor_state::perform_io() does with the event before it runs the
    // operations: remember, per direction, that the socket may be ready.
    const std::uint32_t e = event.events;
    bool asio_waits = false;
    {
      asio::detail::conditionally_enabled_mutex& lock = state->*member(MutexTag{});
      lock.lock();
      bool* speculative = state->*member(SpeculativeTag{});
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) speculative[Reactor::read_op] = true;
      if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) speculative[Reactor::write_op] = true;
      if (e & (EPOLLPRI | EPOLLERR | EPOLLHUP)) speculative[Reactor::except_op] = true;
      auto& queues = state->*member(OpQueuesTag{});
      for (auto& queue : queues) asio_waits = asio_waits || !queue.empty();
      lock.unlock();
    }
    if (armed && (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
        (slot->serve == nullptr || !slot->serve(slot->serve_context)) &&
        slot->armed.exchange(false, std::memory_order_relaxed)) {
      slot->handler.resume();  // the waiting coroutine runs now; `slot` may be gone after
    }
    if (asio_waits) events[kept++] = event;  // Asio runs its own operations on the socket
  }
  return kept;
}
#else
bool supported() { return false; }
unsigned non_blocking_from_start() { return 0; }
void mark_sole_descriptor(Socket&) {}
bool will_speculate(Socket&) { return false; }
void mark_drained(Socket&) {}
unsigned non_blocking_modes(Socket&) { return 0; }
bool restore_non_blocking(Socket&, unsigned) { return false; }

std::size_t ReadyWait::make_table() { return 0; }
void ReadyWait::arm(Socket& socket) {
  slot_->handler.post(socket.get_executor(), asio::error::bad_descriptor);  // never usable()
}
bool ReadyWait::bind(Socket&) { return false; }
void ReadyWait::unbind() {}
int dispatch_ready(int, epoll_event*, int n) { return n; }
int reactor_epoll_fd(Socket&) { return -1; }
bool watches_reactor(int) { return false; }
#endif

// ---- ReadyWait: the same everywhere ----

namespace {
// The slots of sockets that move between loops are never freed, only reused: another loop may
// still read one it found in the table for an old event (see ReadyWait).
std::mutex slot_pool_lock;
ReadyWait::Slot* free_slots = nullptr;
}  // namespace

ReadyWait::ReadyWait(bool moves_between_loops) : pooled_(moves_between_loops) {
  if (table_size_.load(std::memory_order_relaxed) == 0) {
    table_size_.store(make_table(), std::memory_order_relaxed);
  }
  if (pooled_) {
    std::lock_guard lock(slot_pool_lock);
    if (free_slots != nullptr) slot_ = std::exchange(free_slots, free_slots->next_free);
  }
  if (slot_ == nullptr) {
    slot_ = pooled_ ? new Slot  // NOLINT: the pool's from now on (see above)
                    : new (&own_) Slot;
  }
}

ReadyWait::~ReadyWait() {
  cancel();
  unbind();
  if (!pooled_) {
    slot_->~Slot();
    return;
  }
  slot_->handler.drop();
  slot_->executor.reset();
  slot_->serve = nullptr;
  slot_->serve_context = nullptr;
  std::lock_guard lock(slot_pool_lock);
  slot_->next_free = std::exchange(free_slots, slot_);
}

void ReadyWait::take(HandlerSlot& from, Socket& socket) {
  from.move_to(slot_->handler);
  arm(socket);
}

void ReadyWait::hand_back(HandlerSlot& to) {
  if (slot_->armed.exchange(false, std::memory_order_relaxed)) slot_->handler.move_to(to);
}

void ReadyWait::cancel() {
  if (slot_->armed.exchange(false, std::memory_order_relaxed)) {
    slot_->handler.post(*slot_->executor, asio::error::operation_aborted);
  }
}

}  // namespace reservoir::proxy::readiness
