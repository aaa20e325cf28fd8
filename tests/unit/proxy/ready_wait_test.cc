// readiness::ReadyWait: a coroutine waits for a socket to be readable without an Asio
// operation, and the loop's epoll_wait resumes it. Real sockets and a real io_context.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proxy/asio_readiness.h"
#include "proxy/net.h"
#include "socket_pair.h"

namespace reservoir::proxy {
namespace {

using testing::byte_at;
using testing::Pair;

std::string text(const ReadResult& r) {
  return std::string(reinterpret_cast<const char*>(r.bytes.data()), r.bytes.size());
}

// The relay's read loop: read what is there, otherwise wait on `ready` and read again.
Task<ReadResult> read_with(readiness::ReadyWait& ready, Socket& socket) {
  ReadStart start = read_now(socket);
  while (!start.result) {
    auto [e, unused] = co_await ready.wait(socket);
    start = e ? ReadStart{ReadResult{e, {}}} : read_now(socket);
  }
  co_return *start.result;
}

// Starts read_with() in a coroutine that keeps its result in `got`, and runs the loop until
// the coroutine waits.
void start_read(asio::io_context& io, readiness::ReadyWait& ready, Socket& socket,
                std::optional<ReadResult>& got) {
  asio::co_spawn(
      io, [&]() -> Task<void> { got = co_await read_with(ready, socket); }, asio::detached);
  io.poll();
}

// A loop, a socket pair, and a reader already waiting on the socket's ReadyWait.
struct WaitingReader {
  asio::io_context io{1};
  Pair pair{io};
  readiness::ReadyWait ready;
  std::optional<ReadResult> got;
  WaitingReader() {
    start_read(io, ready, pair.ours, got);
    EXPECT_TRUE(ready.waiting());
  }
};

class ReadyWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!readiness::supported()) {
      GTEST_SKIP() << "the readiness shim is inactive with this Boost (not 1.81's epoll reactor)";
    }
  }
};

// Requests that arrive one by one each wake the waiter, which reads each whole; with no Asio
// operation pending on the socket.
TEST_F(ReadyWaitTest, WaiterResumesForEachArrivalAndReadsIt) {
  asio::io_context io(1);
  Pair pair(io);
  readiness::ReadyWait ready;
  ASSERT_TRUE(readiness::ReadyWait::usable(pair.ours));
  std::vector<std::string> seen;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        for (;;) {
          ReadResult r = co_await read_with(ready, pair.ours);
          if (r.error) {
            seen.push_back("error: " + r.error.message());
            co_return;
          }
          seen.push_back(text(r));
          if (r.short_read) readiness::mark_drained(pair.ours);  // as the relay does
        }
      },
      asio::detached);
  io.poll();
  ASSERT_TRUE(ready.waiting());
  for (std::string msg : {"one", "two", "three"}) {
    ASSERT_EQ(::send(pair.theirs, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    for (int i = 0; i < 100 && seen.size() < 4 && !(seen.size() && seen.back() == msg); ++i) {
      io.run_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), msg);
    EXPECT_TRUE(ready.waiting());  // and waits again, drained
  }
  ::close(pair.theirs);  // end of stream: woken, and the read says so
  pair.theirs = -1;
  for (int i = 0; i < 100 && seen.size() < 4; ++i) io.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3], "error: " + boost::system::error_code(asio::error::eof).message());
  EXPECT_FALSE(ready.waiting());
}

// cancel() resumes the waiter with operation_aborted, from the loop's queue.
TEST_F(ReadyWaitTest, CancelResumesTheWaiterWithOperationAborted) {
  WaitingReader w;
  auto& [io, pair, ready, got] = w;
  ready.cancel();
  EXPECT_FALSE(got.has_value());  // not inside cancel()
  io.poll();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, asio::error::operation_aborted);
  ready.cancel();  // nobody waits: nothing happens
  io.poll();
}

// Destroyed with a waiter (a server closed under its reader): the waiter resumes with
// operation_aborted, as an Asio operation's handler does when its socket goes.
TEST_F(ReadyWaitTest, DestroyingItResumesItsWaiterWithOperationAborted) {
  asio::io_context io(1);
  Pair pair(io);
  auto ready = std::make_unique<readiness::ReadyWait>(/*moves_between_loops=*/true);
  std::optional<ReadResult> got;
  start_read(io, *ready, pair.ours, got);
  ASSERT_TRUE(ready->waiting());
  ready.reset();
  io.poll();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, asio::error::operation_aborted);
  // Its slot (a server's: kept in a pool) is reused by the next one, on the same socket.
  readiness::ReadyWait again(/*moves_between_loops=*/true);
  got.reset();
  io.restart();  // it ran out of work when the first coroutine ended
  start_read(io, again, pair.ours, got);
  ASSERT_EQ(::send(pair.theirs, "x", 1, 0), 1);
  for (int i = 0; i < 100 && !got; ++i) io.run_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text(*got), "x");
}

// An Asio write waiting for room on the same socket (the relay writing a big result to a
// slow client while it waits for the client's next request) still completes: its events are
// handed on to Asio. And the read waiter still wakes for data.
TEST_F(ReadyWaitTest, AsioOperationsOnTheSameSocketStillComplete) {
  WaitingReader w;
  auto& [io, pair, ready, got] = w;
  std::vector<std::uint8_t> big(4 << 20, 'b');
  std::optional<std::size_t> written;
  asio::async_write(pair.ours, asio::buffer(big), [&](boost::system::error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    written = n;
  });
  io.poll();
  EXPECT_FALSE(written.has_value());  // the socket's buffer is full: Asio waits for room
  std::vector<std::uint8_t> sink(256 << 10);
  std::size_t drained = 0;
  for (int i = 0; i < 2000 && !written; ++i) {
    const ssize_t n = ::recv(pair.theirs, sink.data(), sink.size(), MSG_DONTWAIT);
    if (n > 0) drained += static_cast<std::size_t>(n);
    io.run_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(*written, big.size());
  EXPECT_FALSE(got.has_value());  // room to write is not data to read
  EXPECT_TRUE(ready.waiting());
  ASSERT_EQ(::send(pair.theirs, "req", 3, 0), 3);
  for (int i = 0; i < 100 && !got; ++i) io.run_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text(*got), "req");
  while (drained < big.size()) {
    const ssize_t n = ::recv(pair.theirs, sink.data(), sink.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(drained, big.size());
}

// A Signal's waiter handed to a ReadyWait (the server reader between transactions) resumes
// when the socket may be read, and reads for itself.
TEST_F(ReadyWaitTest, SignalHandsItsWaiterToTheSocketsReadiness) {
  asio::io_context io(1);
  Pair pair(io);
  readiness::mark_drained(pair.ours);  // as after a reply ending in ReadyForQuery
  Signal signal(io.get_executor());
  readiness::ReadyWait ready;
  std::vector<std::string> seen;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        auto [ec, n] = co_await signal.wait();
        EXPECT_FALSE(ec);
        EXPECT_FALSE(signal.take_read().has_value());  // nothing was read for it
        ReadResult r = co_await read_with(ready, pair.ours);
        seen.push_back(text(r));
      },
      asio::detached);
  io.poll();
  ASSERT_TRUE(signal.waiting());
  EXPECT_TRUE(signal.hand_to(ready, pair.ours));
  EXPECT_FALSE(signal.waiting());
  EXPECT_TRUE(ready.waiting());
  io.poll();
  EXPECT_TRUE(seen.empty());
  ASSERT_EQ(::send(pair.theirs, "reply", 5, 0), 5);
  for (int i = 0; i < 100 && seen.empty(); ++i) io.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(seen, (std::vector<std::string>{"reply"}));
}

// Where data may already be there, hand_to() notifies instead: the waiter reads at once.
TEST_F(ReadyWaitTest, HandToNotifiesWhenDataMayBeThere) {
  asio::io_context io(1);
  Pair pair(io);
  Signal signal(io.get_executor());
  readiness::ReadyWait ready;
  bool woken = false;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        (void)co_await signal.wait();
        woken = true;
      },
      asio::detached);
  io.poll();
  ASSERT_TRUE(readiness::will_speculate(pair.ours));  // never found empty yet
  EXPECT_FALSE(signal.hand_to(ready, pair.ours));
  EXPECT_FALSE(ready.waiting());
  io.poll();
  EXPECT_TRUE(woken);
}

// A socket that moves to another loop (a server lent to a client of another worker) is
// waited on there: the slot is bound again at the first wait.
TEST_F(ReadyWaitTest, ASocketMovedToAnotherLoopIsWaitedOnThere) {
  asio::io_context first(1);
  asio::io_context second(1);
  Pair pair(first);
  readiness::ReadyWait ready(/*moves_between_loops=*/true);
  std::optional<ReadResult> got;
  auto read_once = [&](asio::io_context& io) {
    got.reset();
    start_read(io, ready, pair.ours, got);
    EXPECT_TRUE(ready.waiting());
    EXPECT_EQ(::send(pair.theirs, "hi", 2, 0), 2);
    for (int i = 0; i < 100 && !got; ++i) io.run_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(text(*got), "hi");
    readiness::mark_drained(pair.ours);
  };
  read_once(first);
  const unsigned modes = readiness::non_blocking_modes(pair.ours);
  boost::system::error_code ec;
  const int fd = pair.ours.release(ec);
  Socket moved(second.get_executor());
  assign_released(moved, AF_UNIX, fd, modes, ec);
  ASSERT_FALSE(ec);
  pair.ours = std::move(moved);
  readiness::mark_drained(pair.ours);
  read_once(second);
}

// Many sockets at once, as a worker has: a peer thread sends each one its bytes in random
// bursts and reads what each writes back (an Asio write of 256 KiB per socket, running while
// the socket's reader waits on its ReadyWait); the loop cancels random waiters now and then.
// Every reader gets every byte, in order, and every write completes: no wake-up is lost to
// another socket's, to a cancel, or to Asio's handling of the same socket.
TEST_F(ReadyWaitTest, ManySocketsEveryByteArrivesAndAsioWritesComplete) {
  constexpr int kSockets = 40;
  constexpr std::size_t kPerSocket = 64 * 1024;
  constexpr std::size_t kWriteBack = 256 * 1024;
  asio::io_context io(1);
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::unique_ptr<readiness::ReadyWait>> readies;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<Pair>(io));
    readies.push_back(std::make_unique<readiness::ReadyWait>());
  }
  std::vector<std::size_t> received(kSockets, 0);
  std::vector<int> bad(kSockets, 0);
  std::vector<std::size_t> written(kSockets, 0);
  std::vector<std::uint8_t> back(kWriteBack, 'w');
  int done = 0;
  for (int i = 0; i < kSockets; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> Task<void> {
          Socket& socket = pairs[i]->ours;
          while (received[i] < kPerSocket) {
            ReadStart start = read_now(socket);
            while (!start.result) {
              auto [e, unused] = co_await readies[i]->wait(socket);
              // Cancelled by the test: wait again, as the relay would after a park refused.
              if (e == asio::error::operation_aborted) continue;
              start = e ? ReadStart{ReadResult{e, {}}} : read_now(socket);
            }
            const ReadResult& r = *start.result;
            if (r.error) co_return;
            for (std::size_t k = 0; k < r.bytes.size(); ++k) {
              if (r.bytes[k] != byte_at(received[i] + k)) ++bad[i];
            }
            received[i] += r.bytes.size();
          }
          ++done;
        },
        asio::detached);
    asio::async_write(pairs[i]->ours, asio::buffer(back),
                      [&, i](boost::system::error_code ec, std::size_t n) {
                        if (!ec) written[i] = n;
                      });
  }
  std::atomic<bool> stop{false};
  std::vector<std::size_t> read_back(kSockets, 0);
  std::thread peer([&] {
    std::mt19937 rng(12345);
    std::vector<std::size_t> sent(kSockets, 0);
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> sink(64 * 1024);
    std::size_t left = kSockets * kPerSocket;
    while (!stop && (left > 0 || std::any_of(read_back.begin(), read_back.end(),
                                             [&](std::size_t n) { return n < kWriteBack; }))) {
      const int i = static_cast<int>(rng() % kSockets);
      if (sent[i] < kPerSocket) {
        const std::size_t n = std::min<std::size_t>(kPerSocket - sent[i], 1 + rng() % 3000);
        out.resize(n);
        for (std::size_t k = 0; k < n; ++k) out[k] = byte_at(sent[i] + k);
        const ssize_t got = ::send(pairs[i]->theirs, out.data(), n, MSG_DONTWAIT);
        if (got > 0) {
          sent[i] += static_cast<std::size_t>(got);
          left -= static_cast<std::size_t>(got);
        }
      }
      if (rng() % 3 == 0) {
        const ssize_t got = ::recv(pairs[i]->theirs, sink.data(), sink.size(), MSG_DONTWAIT);
        if (got > 0) read_back[i] += static_cast<std::size_t>(got);
      }
      if (rng() % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::mt19937 rng(777);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((done < kSockets || std::any_of(written.begin(), written.end(),
                                         [&](std::size_t n) { return n < kWriteBack; })) &&
         std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(2));
    if (rng() % 4 == 0) readies[rng() % kSockets]->cancel();
  }
  stop = true;
  peer.join();
  EXPECT_EQ(done, kSockets);
  for (int i = 0; i < kSockets; ++i) {
    EXPECT_EQ(received[i], kPerSocket) << "socket " << i;
    EXPECT_EQ(bad[i], 0) << "socket " << i;
    EXPECT_EQ(written[i], kWriteBack) << "socket " << i;
  }
}

// A loop's reactor is watched from the first wait on one of its sockets until the loop is
// destroyed; then its epoll fd, which the next loop may get, is not taken for the old one's
// (whose interrupter and timer, taken for descriptor states, would be read out of bounds).
TEST_F(ReadyWaitTest, ADestroyedLoopsReactorIsForgotten) {
  int epoll_fd = -1;
  {
    asio::io_context io(1);
    Pair pair(io);
    readiness::ReadyWait ready;
    epoll_fd = readiness::reactor_epoll_fd(pair.ours);
    ASSERT_GE(epoll_fd, 0);
    std::optional<ReadResult> got;
    start_read(io, ready, pair.ours, got);
    ASSERT_TRUE(ready.waiting());
    EXPECT_TRUE(readiness::watches_reactor(epoll_fd));
    ready.cancel();
    io.poll();
  }
  EXPECT_FALSE(readiness::watches_reactor(epoll_fd));
  asio::io_context next(1);
  Pair pair(next);
  EXPECT_FALSE(readiness::watches_reactor(readiness::reactor_epoll_fd(pair.ours)));
  // Its own events pass through untouched until one of its sockets is waited on.
  std::optional<std::size_t> got;
  std::array<char, 8> buf{};
  pair.ours.async_read_some(asio::buffer(buf),
                            [&](boost::system::error_code, std::size_t n) { got = n; });
  ASSERT_EQ(::send(pair.theirs, "abc", 3, 0), 3);
  for (int i = 0; i < 100 && !got; ++i) next.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(got, std::optional<std::size_t>(3));
}

// serve_with(): an arrival is offered to the serve function first. While it takes the
// arrivals (true), the waiter stays waiting; when it leaves one (false), the waiter resumes
// inside the same wake-up; a cancel() inside it resumes the waiter once, with
// operation_aborted.
struct Taker {
  readiness::ReadyWait* ready = nullptr;
  Socket* socket = nullptr;
  std::vector<std::string> served;
  bool take = true;
  bool cancel = false;
  static bool serve(void* self) {
    auto& s = *static_cast<Taker*>(self);
    if (!s.take) {
      if (s.cancel) s.ready->cancel();
      return false;
    }
    ReadStart start = read_now(*s.socket);
    if (!start.result) return true;
    s.served.push_back(text(*start.result));
    if (start.result->short_read) readiness::mark_drained(*s.socket);
    return true;
  }
};

TEST_F(ReadyWaitTest, ServeTakesArrivalsUntilItLeavesOneToTheWaiter) {
  WaitingReader r;
  Taker server;
  server.ready = &r.ready;
  server.socket = &r.pair.ours;
  r.ready.serve_with(&Taker::serve, &server);
  auto run_until = [&](auto done) {
    for (int i = 0; i < 100 && !done(); ++i) r.io.run_for(std::chrono::milliseconds(10));
  };
  for (std::string msg : {"one", "two"}) {
    ASSERT_EQ(::send(r.pair.theirs, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    run_until([&] { return !server.served.empty() && server.served.back() == msg; });
    ASSERT_FALSE(server.served.empty());
    EXPECT_EQ(server.served.back(), msg);
    EXPECT_TRUE(r.ready.waiting());  // the waiter saw nothing of it
    EXPECT_FALSE(r.got);
  }
  server.take = false;  // the next one is the waiter's
  ASSERT_EQ(::send(r.pair.theirs, "three", 5, 0), 5);
  run_until([&] { return r.got.has_value(); });
  ASSERT_TRUE(r.got);
  EXPECT_FALSE(r.got->error);
  EXPECT_EQ(text(*r.got), "three");
  EXPECT_EQ(server.served.size(), 2u);
  EXPECT_FALSE(r.ready.waiting());
}

TEST_F(ReadyWaitTest, ACancelInsideServeResumesTheWaiterOnce) {
  WaitingReader r;
  Taker server;
  server.ready = &r.ready;
  server.socket = &r.pair.ours;
  server.take = false;
  server.cancel = true;
  r.ready.serve_with(&Taker::serve, &server);
  ASSERT_EQ(::send(r.pair.theirs, "x", 1, 0), 1);
  for (int i = 0; i < 100 && !r.got; ++i) r.io.run_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(r.got);
  EXPECT_EQ(r.got->error, asio::error::operation_aborted);
  EXPECT_FALSE(r.ready.waiting());
  r.io.run_for(std::chrono::milliseconds(20));  // no second resumption (it would crash)
}

}  // namespace
}  // namespace reservoir::proxy
