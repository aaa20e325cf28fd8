#include "proxy/parking_lot.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace reservoir::proxy {

namespace {

thread_local ParkingLot* this_thread_lot = nullptr;

// Events taken from the lot per epoll_wait.
constexpr int kBatch = 64;

}  // namespace

ParkingLot* ParkingLot::current() { return this_thread_lot; }
void ParkingLot::set_current(ParkingLot* lot) { this_thread_lot = lot; }

ParkingLot::ParkingLot(boost::asio::io_context& loop, WakeFn wake)
    : wake_(wake), epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)), watch_(loop) {
  if (epoll_fd_ < 0) {
    spdlog::warn("parking lot: epoll_create1 failed ({}); idle clients park on Asio",
                 std::strerror(errno));
    return;
  }
  // The stream_descriptor only watches the epoll fd; it must not close it (the destructor
  // does, after Asio has let go of it).
  boost::system::error_code ec;
  watch_.assign(epoll_fd_, ec);
  if (ec) {
    spdlog::warn("parking lot: cannot watch its epoll fd ({}); idle clients park on Asio",
                 ec.message());
    ::close(epoll_fd_);
    epoll_fd_ = -1;
    return;
  }
  arm();
}

ParkingLot::~ParkingLot() {
  if (epoll_fd_ < 0) return;
  boost::system::error_code ec;
  watch_.cancel(ec);
  watch_.close(ec);  // closes epoll_fd_ as well
}

bool ParkingLot::add(int fd, void* guest, bool known) {
  if (epoll_fd_ < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = guest;
  if (!known || ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  }
  ++parked_;
  return true;
}

void ParkingLot::remove(int fd) {
  if (epoll_fd_ < 0) return;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) == 0) --parked_;
}

// Asio tells us when the lot's epoll fd is readable (some parked socket is ready); the
// handler re-arms before it returns to the event loop, so no readiness edge can be missed.
void ParkingLot::arm() {
  watch_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                    [this](boost::system::error_code ec) {
                      if (ec) return;  // cancelled: the lot is being destroyed
                      drain();
                      arm();
                    });
}

void ParkingLot::drain() {
  std::array<epoll_event, kBatch> events;
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), kBatch, 0);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      --parked_;  // EPOLLONESHOT: the entry is disarmed until the guest parks again
      wake_(events[static_cast<std::size_t>(i)].data.ptr);
    }
    if (n < kBatch) return;  // a full batch means there may be more
  }
}

}  // namespace reservoir::proxy
