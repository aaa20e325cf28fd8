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

// Whether Asio has put `socket`'s fd in non-blocking mode for its own use. release() leaves
// the fd as it is but forgets that; after assign() of the same fd, restore_non_blocking()
// tells Asio again, sparing the ioctl(FIONBIO) its next operation would make. (A parked
// client leaves Asio and comes back this way.)
bool is_non_blocking(Socket& socket);
void restore_non_blocking(Socket& socket);

}  // namespace reservoir::proxy::readiness
