#include "proxy/asio_readiness.h"

#include <boost/version.hpp>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#define RESERVOIR_READINESS_SHIM 1
#endif

namespace reservoir::proxy::readiness {

#ifdef RESERVOIR_READINESS_SHIM
namespace {

using DescriptorState = asio::detail::epoll_reactor::descriptor_state;
using SpeculativeFlags = bool (DescriptorState::*)[asio::detail::epoll_reactor::max_ops];

// Explicit instantiation may name private members: the standard way to read one field of a
// library class without editing its header.
struct SpeculativeTag {
  friend SpeculativeFlags member(SpeculativeTag);
};
template <SpeculativeFlags M>
struct Expose {
  friend SpeculativeFlags member(SpeculativeTag) { return M; }
};
template struct Expose<&DescriptorState::try_speculative_>;

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
  return state != nullptr &&
         (state->*member(SpeculativeTag{}))[asio::detail::epoll_reactor::read_op];
}

void mark_drained(Socket& socket) {
  if (DescriptorState* state = state_of(socket))
    (state->*member(SpeculativeTag{}))[asio::detail::epoll_reactor::read_op] = false;
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
#else
bool supported() { return false; }
unsigned non_blocking_from_start() { return 0; }
void mark_sole_descriptor(Socket&) {}
bool will_speculate(Socket&) { return false; }
void mark_drained(Socket&) {}
unsigned non_blocking_modes(Socket&) { return 0; }
bool restore_non_blocking(Socket&, unsigned) { return false; }
#endif

}  // namespace reservoir::proxy::readiness
