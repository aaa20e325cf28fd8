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
#include "proxy/net.h"

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

}  // namespace reservoir::proxy::readiness
