// read_ready() and forward() over real socket pairs: every byte arrives, in order, and a
// reader never waits for data that is already there (the readiness shim's one risk).
#include "proxy/net.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/version.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "proxy/asio_readiness.h"
#include "socket_pair.h"

namespace reservoir::proxy {
namespace {

using testing::byte_at;
using testing::Pair;

// Sends `total` bytes in bursts of random size with random pauses, like a client's queries.
void send_bursts(int fd, std::size_t total, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> out;
  for (std::size_t sent = 0; sent < total;) {
    const std::size_t n = std::min<std::size_t>(total - sent, 1 + rng() % 700);
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = byte_at(sent + i);
    for (std::size_t off = 0; off < n;) {
      const ssize_t w = ::send(fd, out.data() + off, n - off, 0);
      ASSERT_GT(w, 0);
      off += static_cast<std::size_t>(w);
    }
    sent += n;
    if (rng() % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
  }
}

// Reads with read_ready() until `total` bytes arrived; returns how many matched.
Task<void> read_all(Socket& socket, std::size_t total, std::size_t& matched, bool& failed) {
  std::array<std::uint8_t, 256> landing;
  std::size_t got = 0;
  while (got < total) {
    auto [ec, bytes, short_read] = co_await read_ready(socket, landing);
    if (ec) {
      failed = true;
      co_return;
    }
    // As the relay does at a message boundary: the stream goes on, so short means drained.
    if (short_read) readiness::mark_drained(socket);
    for (std::uint8_t b : bytes) {
      if (b == byte_at(got)) ++matched;
      ++got;
    }
  }
}

TEST(ReadinessShim, ActiveOnTheBoostItWasWrittenFor) {
#if BOOST_VERSION == 108100
  EXPECT_TRUE(readiness::supported());
#else
  GTEST_SKIP() << "the readiness shim is written for Boost 1.81 only; this is " << BOOST_VERSION;
#endif
}

TEST(ReadReady, ShortReadIsReportedAndLeftToTheCaller) {
  if (!readiness::supported()) GTEST_SKIP() << "readiness shim inactive on this Boost";
  asio::io_context io(1);
  Pair pair(io);
  ASSERT_EQ(::send(pair.theirs, "hello", 5, 0), 5);
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        std::array<std::uint8_t, 256> landing;
        auto [ec, bytes, short_read] = co_await read_ready(pair.ours, landing);
        EXPECT_FALSE(ec);
        EXPECT_EQ(bytes.size(), 5u);
        EXPECT_TRUE(short_read);
        // read_ready does not decide: a FIN may be queued behind the data.
        EXPECT_TRUE(readiness::will_speculate(pair.ours));
        readiness::mark_drained(pair.ours);
        EXPECT_FALSE(readiness::will_speculate(pair.ours));
        done = true;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(done);
}

// The bug behind a hang when PostgreSQL restarted: a server's FATAL and its FIN came in one
// epoll edge and one short recv() read the FATAL; marking the socket drained then lost the
// end of the stream (a FIN already queued raises no new edge). The next read must see it.
TEST(ReadReady, CloseQueuedBehindDataIsSeenByTheNextRead) {
  asio::io_context io(1);
  Pair pair(io);
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        std::array<std::uint8_t, 256> landing;
        auto first = co_await read_ready(pair.ours, landing);  // waits in epoll
        EXPECT_FALSE(first.error);
        EXPECT_EQ(first.bytes.size(), 3u);
        auto second = co_await read_ready(pair.ours, landing);
        EXPECT_EQ(second.error, asio::error::eof);
        done = true;
      },
      asio::detached);
  // Runs after the reader is waiting: data and FIN reach the socket before the next epoll_wait.
  asio::post(io, [&] {
    EXPECT_EQ(::send(pair.theirs, "bye", 3, 0), 3);
    EXPECT_EQ(::shutdown(pair.theirs, SHUT_WR), 0);
  });
  io.run_for(std::chrono::seconds(5));  // a lost end of stream shows as a hang, caught here
  EXPECT_TRUE(done) << "the end of the stream was not seen";
}

TEST(ReadReady, EveryByteArrivesWhileDataComesInBursts) {
  asio::io_context io(1);
  Pair pair(io);
  constexpr std::size_t kTotal = 4 << 20;
  std::size_t matched = 0;
  bool failed = false;
  bool done = false;
  std::thread writer(send_bursts, pair.theirs, kTotal, 42u);
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        co_await read_all(pair.ours, kTotal, matched, failed);
        done = true;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(60));  // a lost wake-up shows as a hang, caught here
  writer.join();
  EXPECT_TRUE(done) << "reader stalled with " << matched << " of " << kTotal << " bytes";
  EXPECT_FALSE(failed);
  EXPECT_EQ(matched, kTotal);
}

TEST(ReadReady, EveryByteArrivesWhileTheSameSocketSpillsAWrite) {
  // The peer reads our 8 MiB slowly, so forward() spills and its asynchronous write
  // completes in the same wake-ups as reads: the case read_ready() must not trust.
  asio::io_context io(1);
  Pair pair(io);
  constexpr std::size_t kTotal = 2 << 20;
  constexpr std::size_t kOut = 8 << 20;
  std::size_t matched = 0;
  bool failed = false;
  bool read_done = false;
  bool write_ok = false;
  std::thread writer(send_bursts, pair.theirs, kTotal, 7u);
  std::thread drainer([fd = pair.theirs] {
    std::vector<std::uint8_t> sink(3000);
    std::size_t got = 0;
    while (got < kOut) {
      const ssize_t r = ::recv(fd, sink.data(), sink.size(), 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
      if (got % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  Bytes big(kOut, 0x5a);
  Bytes spill;
  asio::co_spawn(
      io, [&]() -> Task<void> { write_ok = co_await forward(pair.ours, big, spill); },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        co_await read_all(pair.ours, kTotal, matched, failed);
        read_done = true;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(60));
  writer.join();
  drainer.join();
  EXPECT_TRUE(read_done) << "reader stalled with " << matched << " of " << kTotal << " bytes";
  EXPECT_TRUE(write_ok);
  EXPECT_EQ(matched, kTotal);
}

// A parked client's socket leaves Asio (release) and comes back (assign): the fd stays
// non-blocking but the socket forgets it, and a synchronous read would then wait in poll()
// instead of reporting would_block (a whole worker stalled). restore_non_blocking() gives the
// modes back without a syscall.
TEST(ReadinessShim, NonBlockingModesSurviveReleaseAndAssign) {
  if (!readiness::supported()) GTEST_SKIP() << "readiness shim inactive on this Boost";
  asio::io_context io(1);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Socket ours(io, asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
  EXPECT_EQ(readiness::non_blocking_modes(ours), 0u);
  EXPECT_FALSE(readiness::restore_non_blocking(ours, 0));  // no user mode to give back
  boost::system::error_code ec;
  ours.non_blocking(true, ec);  // as the acceptor does for every client
  ASSERT_FALSE(ec);
  const unsigned modes = readiness::non_blocking_modes(ours);
  ASSERT_NE(modes, 0u);

  const int fd = ours.release(ec);
  ASSERT_FALSE(ec);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);  // what restoring relies on
  ours.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fd, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(readiness::non_blocking_modes(ours), 0u);  // forgotten by release()
  EXPECT_FALSE(ours.non_blocking());
  ASSERT_TRUE(readiness::restore_non_blocking(ours, modes));
  EXPECT_TRUE(ours.non_blocking());
  EXPECT_EQ(readiness::non_blocking_modes(ours), modes);
  // Nothing to read: would_block at once, not a wait in poll() (this test would hang).
  std::array<std::uint8_t, 8> buf{};
  EXPECT_EQ(ours.read_some(asio::buffer(buf), ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
  // And the asynchronous path reads as before.
  std::size_t got = 0;
  ours.async_read_some(asio::buffer(buf),
                       [&](boost::system::error_code, std::size_t n) { got = n; });
  ASSERT_EQ(::send(fds[1], "two!", 4, 0), 4);
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(got, 4u);
  ::close(fds[1]);
}

// The waiter of a Signal resumes with the read the waker started for it (the relay's server
// reader between transactions), or with nothing after a plain notify().
TEST(SignalTest, WaiterResumesWithTheReadStartedForIt) {
  asio::io_context io(1);
  Pair pair(io);
  readiness::mark_drained(pair.ours);  // as after a reply ending in ReadyForQuery
  Signal signal(io.get_executor());
  std::array<std::uint8_t, 16> landing{};
  std::vector<std::string> seen;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        for (int wakes = 0; wakes < 2; ++wakes) {
          auto [ec, n] = co_await signal.wait();
          const std::optional<ReadStart> started = signal.take_read();
          if (!started) {
            seen.push_back("notified");
            continue;
          }
          auto read = read_waited(pair.ours, landing, *started, ec, n);
          EXPECT_FALSE(read.error);
          seen.emplace_back(reinterpret_cast<const char*>(read.bytes.data()), read.bytes.size());
        }
      },
      asio::detached);
  io.poll();
  ASSERT_TRUE(signal.waiting());
  signal.notify();
  io.poll();
  ASSERT_TRUE(signal.waiting());
  OpMemory memory;
  const bool started = signal.notify_with_read(pair.ours, landing, memory);
  EXPECT_TRUE(started);
  EXPECT_FALSE(signal.waiting());
  EXPECT_TRUE(memory.in_use());  // the pending read's operation lives there
  io.poll();
  ASSERT_EQ(::send(pair.theirs, "reply", 5, 0), 5);
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(seen, (std::vector<std::string>{"notified", "reply"}));
  EXPECT_FALSE(memory.in_use());
}

// A connection's OpMemory holds one operation at a time; a second one, or one too big, goes
// to the heap, and each is given back where it came from.
TEST(OpMemoryTest, OneOperationInPlaceTheRestOnTheHeap) {
  OpMemory memory;
  void* first = memory.allocate(128);
  EXPECT_TRUE(memory.in_use());
  void* second = memory.allocate(128);  // while the first is pending
  void* big = memory.allocate(4096);    // too big for it
  EXPECT_NE(first, second);
  EXPECT_NE(first, big);
  memory.deallocate(second);
  memory.deallocate(big);
  EXPECT_TRUE(memory.in_use());
  memory.deallocate(first);
  EXPECT_FALSE(memory.in_use());
  EXPECT_EQ(memory.allocate(64), first);  // free again: the next operation reuses it
  memory.deallocate(first);
}

// Consecutive reads through wait_read(..., memory) each build their operation in the
// connection's memory, and a read cancelled when its socket closes gives it back too.
TEST(OpMemoryTest, ReadsBuildTheirOperationInTheConnectionsMemory) {
  asio::io_context io(1);
  Pair pair(io);
  OpMemory memory;
  std::array<std::uint8_t, 16> landing{};
  std::vector<std::string> seen;
  bool in_use_while_pending = false;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        for (;;) {
          auto [ec, n] = co_await wait_read(pair.ours, landing, memory);
          if (ec) {
            seen.push_back(ec == asio::error::operation_aborted ? "aborted" : ec.message());
            co_return;
          }
          seen.emplace_back(reinterpret_cast<const char*>(landing.data()), n);
        }
      },
      asio::detached);
  io.poll();
  in_use_while_pending = memory.in_use();
  ASSERT_EQ(::send(pair.theirs, "one", 3, 0), 3);
  io.run_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::send(pair.theirs, "two", 3, 0), 3);
  io.run_for(std::chrono::milliseconds(200));
  pair.ours.cancel();
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(in_use_while_pending);
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two", "aborted"}));
  EXPECT_FALSE(memory.in_use());
}

// A Signal destroyed while a coroutine waits on it destroys that coroutine, as Asio does with
// the handler of an operation that never completes: nothing of it leaks (the waiter lives in
// the Signal itself, not on the heap), and a waiter is stored afresh for every wait.
// A wake-up posted from another thread resumes the waiter in its own handler: notify_here()
// runs it at once, where notify() would queue it behind whatever else is ready.
TEST(SignalTest, NotifyHereResumesTheWaiterInsideTheCall) {
  asio::io_context io(1);
  Signal signal(io.get_executor());
  int woken = 0;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        for (;;) {
          (void)co_await signal.wait();
          ++woken;
        }
      },
      asio::detached);
  io.poll();
  ASSERT_TRUE(signal.waiting());
  int woken_inside = -1;
  std::thread other([&] {
    asio::post(io, [&] {
      signal.notify_here();
      woken_inside = woken;  // already resumed, and waiting again
    });
  });
  other.join();
  io.poll();
  EXPECT_EQ(woken_inside, 1);
  EXPECT_EQ(woken, 1);
  EXPECT_TRUE(signal.waiting());
}

TEST(SignalTest, DestroyingTheSignalDestroysItsWaiter) {
  asio::io_context io(1);
  struct Sentinel {
    int* destroyed;
    ~Sentinel() { ++*destroyed; }
  };
  int destroyed = 0;
  int woken = 0;
  auto signal = std::make_unique<Signal>(io.get_executor());
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        Sentinel sentinel{&destroyed};
        for (;;) {
          (void)co_await signal->wait();
          ++woken;
        }
      },
      asio::detached);
  io.poll();
  for (int i = 0; i < 3; ++i) {  // each wake stores a new waiter in the same place
    ASSERT_TRUE(signal->waiting());
    signal->notify();
    io.poll();
  }
  EXPECT_EQ(woken, 3);
  ASSERT_TRUE(signal->waiting());
  EXPECT_EQ(destroyed, 0);
  signal.reset();
  io.poll();  // Asio unwinds a dropped coroutine's frames through its executor
  EXPECT_EQ(destroyed, 1);
}

}  // namespace
}  // namespace reservoir::proxy

namespace reservoir::proxy {
namespace {

int int_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  EXPECT_EQ(::getsockopt(fd, level, name, &value, &length), 0);
  return value;
}

// A listener on 127.0.0.1 with `options`, a client connected to it, and the accepted socket.
struct Accepted {
  int listener = -1, client = -1, server = -1;
  explicit Accepted(const std::optional<TcpOptions>& before, const TcpOptions& options) {
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(listener, 4), 0);
    if (before) {
      EXPECT_TRUE(set_exact_tcp_options(listener, *before));
    }
    EXPECT_TRUE(set_exact_tcp_options(listener, options));
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), length), 0);
    server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(server, 0);
  }
  ~Accepted() {
    for (int fd : {server, client, listener}) ::close(fd);
  }
};

// What the accept loop relies on: a client accepted from a listener given the options by
// set_exact_tcp_options() has them all, with no setsockopt() of its own.
TEST(ListenerOptions, AcceptedConnectionsInheritThem) {
  const TcpOptions options{true, 77, 11, 4, 12345};
  Accepted a(std::nullopt, options);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(int_option(a.server, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_KEEPIDLE), 77);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_KEEPINTVL), 11);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_KEEPCNT), 4);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_USER_TIMEOUT), 12345);
}

// A reload to keepalive off and default values leaves nothing of the old ones on the
// listener: 0 means the kernel's default, read from its sysctl.
TEST(ListenerOptions, ZeroesGoBackToTheKernelsDefaults) {
  const TcpOptions before{true, 77, 11, 4, 12345};
  const TcpOptions after{false, 0, 0, 0, 0};
  Accepted a(before, after);
  EXPECT_EQ(int_option(a.server, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(int_option(a.server, SOL_SOCKET, SO_KEEPALIVE), 0);
  // What a fresh socket has: the kernel's defaults.
  const int fresh = ::socket(AF_INET, SOCK_STREAM, 0);
  for (int name : {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT}) {
    EXPECT_EQ(int_option(a.server, IPPROTO_TCP, name), int_option(fresh, IPPROTO_TCP, name))
        << "option " << name;
  }
  ::close(fresh);
}

}  // namespace
}  // namespace reservoir::proxy

namespace reservoir::proxy {
namespace {

// skip_rearm(fd) makes the next EPOLL_CTL_MOD of that fd on this thread a no-op (success,
// no system call), once; other fds and other operations go to the kernel as ever. Seen here
// on an fd that is not in the set, where a real MOD fails with ENOENT.
TEST(SkipRearm, SkipsOneModifyOfThatFdOnly) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLET;
  skip_rearm(fds[0]);
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_MOD, fds[1], &event), -1);  // another fd: made
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_MOD, fds[0], &event), 0);   // skipped
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_MOD, fds[0], &event), -1);  // once only
  EXPECT_EQ(errno, ENOENT);
  skip_rearm(fds[0]);
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &event), 0);  // ADD is always made
  skip_rearm(-1);                                                // cleared: the MOD is made
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_MOD, fds[0], &event), 0);
  // An edge raised after the skipped re-arm is still reported: what the accept loop relies on.
  skip_rearm(fds[0]);
  EXPECT_EQ(::epoll_ctl(ep, EPOLL_CTL_MOD, fds[0], &event), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  epoll_event got{};
  EXPECT_EQ(::epoll_wait(ep, &got, 1, 1000), 1);
  for (int fd : {fds[0], fds[1], ep}) ::close(fd);
}

}  // namespace
}  // namespace reservoir::proxy
