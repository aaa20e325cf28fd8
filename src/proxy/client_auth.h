#pragma once
// Authenticating a client against auth_file with the configured auth_type, speaking the
// server's side of PostgreSQL's authentication exchange.
#include <string>

#include "auth/scram_secret_cache.h"
#include "auth/userlist.h"
#include "config/config.h"
#include "proxy/net.h"

namespace reservoir::proxy {

struct ClientAuthOutcome {
  // The SCRAM ClientKey proven by the client when its secret was a SCRAM secret; lets
  // Reservoir log into PostgreSQL as that user without knowing the password.
  Bytes scram_client_key;
  // The exchange's last message (SCRAM's AuthenticationSASLFinal), not sent yet: the caller
  // sends it with AuthenticationOk and the welcome in one write.
  Bytes reply;
};

// Runs the exchange for `user` (AuthenticationOk is not sent, nor `reply`: the caller sends
// them).
// Errors carry PostgreSQL's wording: 28P01 `password authentication failed for user "x"`,
// 08P01 for a malformed reply. `reader` holds bytes the client already sent.
Task<Result<ClientAuthOutcome>> authenticate_client(Socket& client, protocol::FrameReader& reader,
                                                    const config::Settings& settings,
                                                    const auth::CredentialStore& credentials,
                                                    auth::ScramSecretCache& scram_cache,
                                                    const std::string& user);

}  // namespace reservoir::proxy
