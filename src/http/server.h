#pragma once
// The HTTP endpoint (Boost.Beast): /health, /ready, /api/pools, /metrics and the dashboard at /.
// It runs on its own event loop and thread, so a slow scrape never delays a relay, and only
// reads: pools and metrics come from a Source (implemented by the App) as plain snapshots.
#include <boost/asio.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "observability/report.h"

namespace reservoir::http {

namespace asio = boost::asio;

// A database to probe for /ready.
struct ProbeTarget {
  std::string database;  // the name in [databases]
  std::string host;      // empty or starting with '/': unix socket directory
  int port = 5432;
};

// What the endpoint reads; every call may come from the HTTP thread.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::vector<observability::PoolReport> pools() = 0;
  virtual observability::ProcessReport process() = 0;
  virtual std::vector<ProbeTarget> databases() = 0;
  virtual std::vector<observability::ClientReport> clients() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Parses "host:port" (IPv6 as "[::1]:port"). An empty text means "disabled" (nullopt).
Result<std::optional<asio::ip::tcp::endpoint>> parse_listen(const std::string& text);

class Server {
 public:
  explicit Server(Source& source);
  ~Server();

  // Binds `endpoint`; the error says which address and why.
  Status listen(const asio::ip::tcp::endpoint& endpoint);
  // Starts the HTTP thread. stop() ends it and joins.
  void start();
  void stop();

  // Routes one request; public for tests of the routes without a socket.
  asio::awaitable<Response> handle(std::string method, std::string target);

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);
  asio::awaitable<Response> ready();

  Source& source_;
  asio::io_context loop_{1};
  asio::ip::tcp::acceptor acceptor_{loop_};
  std::thread thread_;
};

// Probes a PostgreSQL server: connects and sends SSLRequest, which a running postmaster
// answers with one byte. Returns empty when it answered, else why not.
asio::awaitable<std::string> probe_postgres(asio::any_io_executor ex, const ProbeTarget& target,
                                            std::chrono::milliseconds timeout);

// The dashboard page (self-contained HTML, compiled in).
std::string_view dashboard_html();

}  // namespace reservoir::http
