#pragma once
// A system call made straight from the calling code, without glibc's wrappers: neither the
// cancellation-point bracket of recv(), send() and epoll_wait() (Reservoir never cancels a
// thread) nor the out-of-line syscall() function with its register shuffle. Returns what the
// kernel returned, or -1 with errno set, as the wrappers do. Used by the relay's sends and
// receives, a few per transaction, where those wrappers cost about a fifth of the
// instructions of the call.
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace reservoir {

inline long raw_syscall6(long number, long a1, long a2, long a3, long a4, long a5, long a6) {
#if defined(__x86_64__) && defined(__linux__)
  long result;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  if (result < 0 && result > -4096) {
    errno = static_cast<int>(-result);
    return -1;
  }
  return result;
#else
  return ::syscall(number, a1, a2, a3, a4, a5, a6);
#endif
}

}  // namespace reservoir
