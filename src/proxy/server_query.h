#pragma once
// Statements Reservoir itself runs on an idle server (reset, rollback, settings), outside
// any client's stream.
#include <string>
#include <vector>

#include "proxy/net.h"
#include "proxy/server_conn.h"

namespace reservoir::proxy {

using Rows = std::vector<std::vector<std::string>>;

// Runs `sql` (simple protocol) on an idle server and reads up to its ReadyForQuery, keeping
// the server's ParameterStatus values current. Returns the rows of the last result (NULLs
// as empty strings). Error if the server reported one, failed, or is not idle afterwards.
Task<Result<Rows>> query_server(ServerConn& server, const std::string& sql);

// How long query_server() waits for the answer before it gives up (08006) and the caller closes
// the server: server_connect_timeout, set by PoolRegistry whenever it takes a config. A server
// that went silent (a dead host, a cut network path) would otherwise keep its pool slot until TCP
// notices, minutes or hours later.
void set_server_answer_limit(Duration limit);

// query_server() for statements whose rows do not matter.
Task<Status> run_on_server(ServerConn& server, const std::string& sql);

}  // namespace reservoir::proxy
