// The relay's system calls without glibc's wrappers (common/raw_syscall.h), and the process-wide
// recv() and epoll_wait() built on them (proxy/net.cc): they must keep the wrappers' results
// and errno, and they must be the ones Asio's reads and waits call.
#include "common/raw_syscall.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "proxy/net.h"

namespace reservoir::proxy {
namespace {

struct SocketPair {
  int a = -1, b = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    ::close(a);
    ::close(b);
  }
};

TEST(RawSyscall, SendAndReceiveKeepTheWrappersResults) {
  SocketPair p;
  const char hello[] = "hello";
  EXPECT_EQ(raw_syscall6(SYS_sendto, p.a, reinterpret_cast<long>(hello), 5, MSG_DONTWAIT, 0, 0), 5);
  std::array<char, 16> got{};
  EXPECT_EQ(::recv(p.b, got.data(), got.size(), 0), 5);
  EXPECT_EQ(std::string(got.data(), 5), "hello");
  // Nothing more: -1 with EAGAIN, as glibc's recv() says it.
  errno = 0;
  EXPECT_EQ(::recv(p.b, got.data(), got.size(), 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  // MSG_PEEK leaves the bytes where they are.
  ASSERT_EQ(::send(p.a, "ab", 2, 0), 2);
  EXPECT_EQ(::recv(p.b, got.data(), got.size(), MSG_PEEK), 2);
  EXPECT_EQ(::recv(p.b, got.data(), got.size(), 0), 2);
  // A closed peer reads as 0, a bad descriptor as -1 with EBADF.
  ::shutdown(p.a, SHUT_WR);
  EXPECT_EQ(::recv(p.b, got.data(), got.size(), 0), 0);
  errno = 0;
  EXPECT_EQ(::recv(-1, got.data(), got.size(), 0), -1);
  EXPECT_EQ(errno, EBADF);
  errno = 0;
  EXPECT_EQ(raw_syscall6(SYS_sendto, -1, reinterpret_cast<long>(hello), 5, 0, 0, 0), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(RawSyscall, EpollWaitReportsReadinessAndTimesOut) {
  SocketPair p;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 77;
  ASSERT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, p.b, &ev), 0);
  std::array<epoll_event, 4> events{};
  EXPECT_EQ(::epoll_wait(ep, events.data(), 4, 0), 0);   // nothing ready
  EXPECT_EQ(::epoll_wait(ep, events.data(), 4, 20), 0);  // waits, then times out
  ASSERT_EQ(::send(p.a, "x", 1, 0), 1);
  ASSERT_EQ(::epoll_wait(ep, events.data(), 4, 1000), 1);
  EXPECT_EQ(events[0].data.u64, 77u);
  EXPECT_TRUE(events[0].events & EPOLLIN);
  errno = 0;
  EXPECT_EQ(::epoll_wait(-1, events.data(), 4, 0), -1);
  EXPECT_EQ(errno, EBADF);
  ::close(ep);
}

// The process's recv and epoll_wait are Reservoir's, not the next definition (glibc's): a
// build that lost them (a link order change, say) fails here rather than getting slower.
TEST(RawSyscall, RecvAndEpollWaitAreReservoirs) {
  for (const char* name : {"recv", "epoll_wait"}) {
    void* first = ::dlsym(RTLD_DEFAULT, name);
    void* next = ::dlsym(RTLD_NEXT, name);
    ASSERT_NE(first, nullptr) << name;
    ASSERT_NE(next, nullptr) << name;
    EXPECT_NE(first, next) << name << " resolves to glibc's";
    Dl_info info{};
    ASSERT_NE(::dladdr(first, &info), 0) << name;
    EXPECT_EQ(std::strstr(info.dli_fname, "libc.so"), nullptr) << name << " in " << info.dli_fname;
  }
  (void)&write_all;  // keeps net.cc, where they are defined, in this test's link
}

}  // namespace
}  // namespace reservoir::proxy
