// ParkingLot over real socket pairs and a real io_context: a parked socket wakes its guest
// once when it becomes readable or hangs up, never after it was taken back, and can be parked
// again (the spent one-shot entry re-armed).
#include "proxy/parking_lot.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <vector>

namespace reservoir::proxy {
namespace {

struct Woken {
  std::vector<void*> guests;
};
Woken* current_record = nullptr;
void record_wake(void* guest) { current_record->guests.push_back(guest); }

struct Pair {
  int parked = -1;  // the end the lot watches
  int peer = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    parked = fds[0];
    peer = fds[1];
  }
  ~Pair() {
    if (parked >= 0) ::close(parked);
    if (peer >= 0) ::close(peer);
  }
  void send_byte() const { ASSERT_EQ(::send(peer, "x", 1, MSG_NOSIGNAL), 1); }
  void drain() const {
    char buf[16];
    while (::recv(parked, buf, sizeof buf, 0) > 0) {
    }
  }
};

class ParkingLotTest : public ::testing::Test {
 protected:
  void SetUp() override { current_record = &woken; }
  void TearDown() override { current_record = nullptr; }
  // Runs the loop until `count` wakes were seen or `limit` passed.
  void run_until(std::size_t count, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (woken.guests.size() < count && std::chrono::steady_clock::now() < deadline) {
      io.run_for(std::chrono::milliseconds(10));
    }
  }
  boost::asio::io_context io{1};
  Woken woken;
  ParkingLot lot{io, &record_wake};
};

TEST_F(ParkingLotTest, ReadableSocketWakesItsGuestOnce) {
  ASSERT_TRUE(lot.usable());
  Pair p;
  int guest = 0;
  ASSERT_TRUE(lot.add(p.parked, &guest, false));
  EXPECT_EQ(lot.size(), 1u);
  run_until(1, std::chrono::milliseconds(50));
  EXPECT_TRUE(woken.guests.empty()) << "woken with nothing to read";
  p.send_byte();
  run_until(1, std::chrono::seconds(2));
  ASSERT_EQ(woken.guests.size(), 1u);
  EXPECT_EQ(woken.guests[0], &guest);
  EXPECT_EQ(lot.size(), 0u);
  p.send_byte();  // one-shot: more data does not wake it again until it parks again
  run_until(2, std::chrono::milliseconds(100));
  EXPECT_EQ(woken.guests.size(), 1u);
}

TEST_F(ParkingLotTest, HangUpWakesItsGuest) {
  Pair p;
  int guest = 0;
  ASSERT_TRUE(lot.add(p.parked, &guest, false));
  ::close(p.peer);
  p.peer = -1;
  run_until(1, std::chrono::seconds(2));
  ASSERT_EQ(woken.guests.size(), 1u);
  EXPECT_EQ(woken.guests[0], &guest);
}

TEST_F(ParkingLotTest, SocketTakenBackIsNotWoken) {
  Pair p;
  int guest = 0;
  ASSERT_TRUE(lot.add(p.parked, &guest, false));
  lot.remove(p.parked);
  EXPECT_EQ(lot.size(), 0u);
  p.send_byte();
  run_until(1, std::chrono::milliseconds(100));
  EXPECT_TRUE(woken.guests.empty());
  // Taken back, it parks again as a new entry.
  p.drain();
  ASSERT_TRUE(lot.add(p.parked, &guest, false));
  p.send_byte();
  run_until(1, std::chrono::seconds(2));
  EXPECT_EQ(woken.guests.size(), 1u);
}

TEST_F(ParkingLotTest, WokenSocketParksAgainByRearmingItsEntry) {
  Pair p;
  int guest = 0;
  for (int round = 1; round <= 3; ++round) {
    // The first stay adds the entry; later ones re-arm the spent one (known = true).
    ASSERT_TRUE(lot.add(p.parked, &guest, round > 1));
    run_until(static_cast<std::size_t>(round), std::chrono::milliseconds(30));
    EXPECT_EQ(woken.guests.size(), static_cast<std::size_t>(round - 1)) << "round " << round;
    p.send_byte();
    run_until(static_cast<std::size_t>(round), std::chrono::seconds(2));
    ASSERT_EQ(woken.guests.size(), static_cast<std::size_t>(round)) << "round " << round;
    p.drain();  // the relay reads what woke it before the client parks again
  }
  // "known" for an fd the lot does not have falls back to adding it.
  Pair q;
  ASSERT_TRUE(lot.add(q.parked, &guest, true));
  q.send_byte();
  run_until(4, std::chrono::seconds(2));
  EXPECT_EQ(woken.guests.size(), 4u);
}

TEST_F(ParkingLotTest, ManyParkedSocketsWakeExactlyThoseWithData) {
  constexpr int kParked = 300;  // more than one epoll_wait batch wakes at once
  std::vector<Pair> pairs(kParked);
  std::vector<int> guests(kParked);
  for (int i = 0; i < kParked; ++i) ASSERT_TRUE(lot.add(pairs[i].parked, &guests[i], false));
  std::set<void*> expected;
  for (int i = 0; i < kParked; i += 2) {
    pairs[i].send_byte();
    expected.insert(&guests[i]);
  }
  run_until(expected.size(), std::chrono::seconds(3));
  run_until(expected.size() + 1, std::chrono::milliseconds(50));  // and no more
  EXPECT_EQ(std::set<void*>(woken.guests.begin(), woken.guests.end()), expected);
  EXPECT_EQ(woken.guests.size(), expected.size());
  EXPECT_EQ(lot.size(), static_cast<std::size_t>(kParked) - expected.size());
}

}  // namespace
}  // namespace reservoir::proxy
