#pragma once
// The session-mode relay: bytes flow both ways unchanged, in chunks, while two
// MessageScanners watch message boundaries so that Reservoir knows when the client said
// Terminate and whether the server is idle and clean when the session ends.
#include "proxy/net.h"
#include "proxy/server_conn.h"

namespace reservoir::proxy {

enum class RelayEnd {
  ClientTerminated,  // the client sent Terminate
  ClientGone,        // the client's socket closed or failed
  ServerGone,        // the server's socket closed or failed
  ClientProtocolError,
  ServerProtocolError,
  Shutdown,          // Reservoir is shutting down
};

struct RelayOutcome {
  RelayEnd end;
  Error error;                // for the protocol-error ends
  bool server_idle = false;   // every request answered, stream at a ReadyForQuery boundary
  char server_status = 'I';   // status of the last ReadyForQuery (I, T or E)
  bool client_at_boundary = true;  // safe to write a message of our own to the client
};

// Relays until one side ends or `shutdown_signal` is cancelled.
Task<RelayOutcome> relay_session(Socket& client, ServerConn& server,
                                 asio::steady_timer& shutdown_signal,
                                 std::uint32_t max_packet_size);

// Runs `sql` on an idle server and reads up to its ReadyForQuery. Error if the server
// reported one, failed, or is not idle afterwards.
Task<Status> run_on_server(ServerConn& server, const std::string& sql);

}  // namespace reservoir::proxy
