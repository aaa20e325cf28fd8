#pragma once
// ParkingLot: where one worker keeps the sockets of its parked clients.
//
// A parked client (idle, holding no server; ClientSession::park) has nothing to do until it
// sends something or goes away. Waiting for that with an Asio operation costs the client
// Asio's per-socket reactor state (168 B) and the pending operation (about 200 B), a third
// of what an idle client costs. The lot instead takes the socket out of Asio altogether and
// watches it in an epoll set of its own, one per worker, which Asio watches as a single
// descriptor. A parked client then costs the kernel's epoll entry and its ClientSession.
//
// Each parked socket is watched once (EPOLLONESHOT): when it becomes readable or hangs up,
// the lot calls its wake function with the guest pointer given to add(), on the worker's
// thread, and the guest gives the socket back to Asio. The spent entry stays in the lot's set,
// disarmed, so that parking the same socket again is one epoll_ctl (MOD) rather than two; the
// kernel drops it when the socket is closed. Parking costs two epoll_ctl calls (Asio's DEL,
// the lot's MOD or ADD) and waking one (Asio's ADD), paid only by clients idle for
// ClientSession::kParkAfter, never on a transaction's path.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace reservoir::proxy {

class ParkingLot {
 public:
  using WakeFn = void (*)(void* guest);

  ParkingLot(boost::asio::io_context& loop, WakeFn wake);
  ~ParkingLot();
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;

  // False if the lot could not be made (no epoll fd): callers park the old way.
  bool usable() const { return epoll_fd_ >= 0; }

  // Watches `fd` until it is readable or hung up, then calls wake(guest) once. `known`: the
  // fd is still in the lot's set from an earlier stay (only re-armed then).
  bool add(int fd, void* guest, bool known);
  // Takes back `fd` before its wake (the entry is removed from the set).
  void remove(int fd);

  // Sockets parked here now (armed, not yet woken).
  std::size_t size() const { return parked_; }

  // The lot of the calling worker thread; nullptr where none was set (tests, other threads).
  static ParkingLot* current();
  static void set_current(ParkingLot* lot);

 private:
  void arm();
  void drain();

  WakeFn wake_;
  int epoll_fd_ = -1;
  std::size_t parked_ = 0;
  boost::asio::posix::stream_descriptor watch_;
};

}  // namespace reservoir::proxy
