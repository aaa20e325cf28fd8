// The admin console: a client that logs into the virtual database "reservoir" (or
// "pgbouncer") as a member of admin_users (every command) or stats_users (SHOW only) talks
// to Reservoir itself with simple-protocol queries. Parsing and the result sets are pure
// (src/admin); this file is the conversation.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "admin/command.h"
#include "admin/result_set.h"
#include "protocol/messages/authentication.h"
#include "protocol/messages/backend_key_data.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/ready_for_query.h"
#include "proxy/admin_backend.h"
#include "proxy/client_session.h"

namespace reservoir::proxy {

namespace {

bool listed(const std::vector<std::string>& users, const std::string& user) {
  return std::find(users.begin(), users.end(), user) != users.end();
}

void ready(Bytes& out) { protocol::ReadyForQuery{'I'}.encode(out); }

}  // namespace

Task<std::string> ClientSession::serve_admin() {
  const bool admin = listed(settings_.admin_users, user_);
  const bool stats = admin || listed(settings_.stats_users, user_);
  if (!stats || services_->admin == nullptr) {
    const Error refused = make_error(
        "28000", fmt::format("not allowed: user \"{}\" is not in admin_users or stats_users, "
                             "so it cannot use the admin console \"{}\"",
                             user_, database_));
    co_await send_fatal(refused);
    co_return refused.message;
  }
  auto authenticated = co_await authenticate();
  if (!authenticated) co_return authenticated.error().message;
  Bytes out = std::move(authenticated->reply);
  protocol::Authentication::ok().encode(out);
  const std::pair<const char*, std::string> params[] = {
      {"server_version", "15.0 (Reservoir)"},
      {"server_encoding", "UTF8"},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"integer_datetimes", "on"},
      {"standard_conforming_strings", "on"},
      {"application_name", application_name_},
  };
  for (const auto& [name, value] : params) protocol::ParameterStatus{name, value}.encode(out);
  protocol::BackendKeyData{key_.pid, key_.secret}.encode(out);
  ready(out);
  if (!co_await write_all(client_, out)) co_return "client went away during login";
  if (settings_.log_connections) {
    spdlog::info("client {} {}@{} logged in to the admin console ({})", peer_, user_, database_,
                 admin ? "admin_users" : "stats_users");
  }
  set_phase(Phase::Idle);

  bool skip_until_sync = false;
  for (;;) {
    auto frame = co_await read_frame(client_, rp().reader);
    if (!frame) co_return frame.error().message;
    if (shutting_down_) co_return "shutdown";
    out.clear();
    const char type = frame->type;
    if (type == 'X') co_return "client closed the connection";
    if (type == 'S') {  // Sync ends a rejected extended-protocol batch
      skip_until_sync = false;
      ready(out);
    } else if (type != 'Q') {
      if (!skip_until_sync) {
        append_error(out, "ERROR", "0A000",
                     "the admin console accepts only simple-protocol queries");
        skip_until_sync = true;
      }
    } else {
      const std::string_view body = as_chars(frame->body);
      const std::string sql(body.substr(0, body.find('\0')));
      co_await run_admin_query(sql, admin, out);
      ready(out);
    }
    if (!out.empty() && !co_await write_all(client_, out)) co_return "client connection lost";
  }
}

Task<void> ClientSession::run_admin_query(const std::string& sql, bool admin, Bytes& out) {
  if (sql.find_first_not_of(" \t\r\n;") == std::string::npos) {
    out.insert(out.end(), {'I', 0, 0, 0, 4});  // EmptyQueryResponse
    co_return;
  }
  auto command = admin::parse_command(sql);
  if (!command) {
    append_error(out, "ERROR", command.error().sqlstate, command.error().message);
    co_return;
  }
  if (!command->read_only() && !admin) {
    append_error(out, "ERROR", "42501",
                 fmt::format("permission denied: user \"{}\" is in stats_users, which may only "
                             "run SHOW; {} needs admin_users",
                             user_, admin::command_tag(*command)));
    co_return;
  }
  if (command->verb == admin::Verb::Show) {
    admin::encode_result(admin::show(command->what, services_->admin->admin_snapshot()), "SHOW",
                         out);
    co_return;
  }
  spdlog::info("admin console {}@{}: {}", user_, peer_, sql);
  auto done = co_await services_->admin->admin_run(*command, client_.get_executor());
  if (!done) {
    append_error(out, "ERROR", done.error().sqlstate, done.error().message);
    co_return;
  }
  admin::encode_command_complete(admin::command_tag(*command), out);
}

}  // namespace reservoir::proxy
