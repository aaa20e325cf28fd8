#include "app/app.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <map>

#include "proxy/asio_readiness.h"
#include "proxy/busy_poll.h"
#include "proxy/net.h"

namespace reservoir::app {

namespace {

using proxy::nothrow;
using proxy::Task;

// How long the kernel holds a connection that has sent nothing before handing it over anyway
// (PgBouncer uses the same 45 s).
constexpr int kDeferAcceptSeconds = 45;

int resolve_workers(int configured) {
  if (configured > 0) return configured;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

}  // namespace

App::App(std::shared_ptr<const config::Config> config,
         std::shared_ptr<const auth::CredentialStore> credentials)
    : config_(config), credentials_(credentials), pools_(config, credentials) {
  const int workers = resolve_workers(config_->settings.workers);
  // With one worker, everything on its loop happens on its thread: sockets, timers, posts
  // (the maintenance tick, the sweeper, pool hand-offs and the admin console all run there;
  // the HTTP thread only reads snapshots under their own locks). Asio's locks can then all go,
  // the scheduler's too: about 160 instructions per transaction. Two things would post from
  // another thread and are kept off this loop: Asio's resolver (refused on such a loop; server
  // host names are looked up on a thread of their own that answers through an eventfd,
  // server_conn.cc) and signal sets on other loops (only this loop has one). Nothing may ever
  // post to a worker's loop from another thread while workers=1. With more workers a server
  // socket is handed from one loop to another (ServerConn::rebind) and clients are woken
  // across loops, so the locks stay.
  const int hint = workers == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE : 1;
  for (int i = 0; i < workers; ++i) {
    loops_.push_back(std::make_unique<asio::io_context>(hint));
    lots_.push_back(
        std::make_unique<proxy::ParkingLot>(*loops_.back(), &proxy::ClientSession::wake_parked));
  }
  pools_.set_workers(workers);
}

std::vector<observability::PoolReport> App::pools() {
  auto reports = pools_.reports();
  const auto cfg = services().config;
  const Duration leak = proxy::to_duration(cfg->settings.leak_warn_time);
  const TimePoint now = SteadyClock::now();
  std::map<std::pair<std::string, std::string>, observability::PoolGauges*> by_name;
  for (auto& r : reports) by_name[{r.database, r.user}] = &r.gauges;
  for (const auto& session : sessions_.all()) {
    const proxy::PoolState* ps = session->pool_state();
    if (ps == nullptr) continue;
    auto it = by_name.find({ps->database, ps->user});
    if (it == by_name.end()) continue;
    ++it->second->clients;
    if (leak > Duration::zero() && session->transaction_age(now) > leak)
      ++it->second->long_transactions;
  }
  return reports;
}

observability::ProcessReport App::process() {
  observability::ProcessReport p;
  p.version = kVersion;
  p.uptime_s = std::chrono::duration<double>(SteadyClock::now() - started_).count();
  p.clients = static_cast<int>(sessions_.size());
  p.workers = static_cast<int>(loops_.size());
  p.busy_polling = proxy::busy_poll_allowed();
  p.busy_poll_seconds = proxy::busy_poll_seconds();
  return p;
}

std::vector<http::ProbeTarget> App::databases() {
  std::vector<http::ProbeTarget> out;
  const auto cfg = services().config;
  for (const auto& db : cfg->databases) {
    if (db.name == "*") continue;
    out.push_back(http::ProbeTarget{db.name, db.host, db.port});
  }
  return out;
}

Status App::listen_tcp(const std::string& address, int port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address == "*" ? "0.0.0.0" : address, ec);
  if (ec) return make_error("F0000", "listen_addr: invalid address '" + address + "'");
  asio::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto acceptor = std::make_unique<Acceptor>(*loops_[0]);
  const asio::generic::stream_protocol::endpoint gep(ep);
  acceptor->open(gep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && config_->settings.so_reuseport) {
    // Other processes of this user may bind the port too, and the kernel spreads clients over
    // all of them (PgBouncer's setting: several poolers on one port, or a rolling restart).
    acceptor->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) acceptor->bind(gep, ec);
  if (!ec && config_->settings.tcp_defer_accept) {
    // Accept a client only once its first packet is there (PgBouncer's default too): the
    // accept and the read of the startup packet then take one wake-up instead of two.
    acceptor->set_option(
        asio::detail::socket_option::integer<IPPROTO_TCP, TCP_DEFER_ACCEPT>(kDeferAcceptSeconds),
        ec);
  }
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(
        "F0000", "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  }
  spdlog::info("listening on {}:{}", address, port);
  acceptors_.push_back(std::move(acceptor));
  return Ok{};
}

Status App::listen_unix(const std::string& path) {
  boost::system::error_code ec;
  ::unlink(path.c_str());  // a stale socket file from an earlier run
  auto acceptor = std::make_unique<Acceptor>(*loops_[0]);
  const asio::generic::stream_protocol::endpoint gep{asio::local::stream_protocol::endpoint(path)};
  acceptor->open(gep.protocol(), ec);
  if (!ec) acceptor->bind(gep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error("F0000", "cannot listen on unix socket " + path + ": " + ec.message());
  ::chmod(path.c_str(), static_cast<mode_t>(config_->settings.unix_socket_mode));
  unix_socket_path_ = path;
  spdlog::info("listening on unix socket {}", path);
  acceptors_.push_back(std::move(acceptor));
  return Ok{};
}

// Gives every other worker its own acceptor on a dup() of each listening socket.
Status App::share_listeners() {
  const std::size_t listeners = acceptors_.size();
  for (std::size_t w = 1; w < loops_.size(); ++w) {
    for (std::size_t i = 0; i < listeners; ++i) {
      auto& original = *acceptors_[i];
      const int fd = ::dup(original.native_handle());
      if (fd < 0) return make_error("F0000", "dup of a listening socket failed");
      auto copy = std::make_unique<Acceptor>(*loops_[w]);
      boost::system::error_code ec;
      copy->assign(original.local_endpoint().protocol(), fd, ec);
      if (ec) return make_error("F0000", "cannot share a listening socket: " + ec.message());
      acceptors_.push_back(std::move(copy));
    }
  }
  return Ok{};
}

// Every client and server is a file descriptor. Lift the soft limit to the hard one (the
// soft default of 1024 would refuse clients long before max_client_conn), and say so when
// even the hard limit cannot hold max_client_conn clients.
static void fit_fd_limit(const config::Settings& s) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) (void)getrlimit(RLIMIT_NOFILE, &lim);
  }
  const auto wanted = static_cast<rlim_t>(s.max_client_conn) + 100;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
    spdlog::warn(
        "max_client_conn={} needs about {} file descriptors (plus one per server), but the "
        "limit is {}: raise it (ulimit -n, systemd LimitNOFILE) or lower max_client_conn",
        s.max_client_conn, wanted, lim.rlim_cur);
  } else {
    spdlog::info("file descriptor limit {}", lim.rlim_cur);
  }
}

Status App::listen() {
  const auto& s = config_->settings;
  fit_fd_limit(s);
  for (const auto& address : split_list(s.listen_addr)) {
    if (auto st = listen_tcp(address, s.listen_port); !st) return st;
  }
  if (!s.unix_socket_dir.empty()) {
    const std::string path = s.unix_socket_dir + "/.s.PGSQL." + std::to_string(s.listen_port);
    if (auto st = listen_unix(path); !st) return st;
  }
  if (acceptors_.empty())
    return make_error("F0000", "nothing to listen on: set listen_addr or unix_socket_dir");
  auto http_endpoint = http::parse_listen(s.http_listen);
  if (!http_endpoint) return http_endpoint.error();
  if (*http_endpoint) {
    if (auto st = http_.listen(**http_endpoint); !st) return st;
  }
  return share_listeners();
}

// Each worker accepts on its own copy of every listening socket, so a client's socket is
// created, read and closed on one thread only; the kernel spreads clients over the workers.
// accept4() makes the socket non-blocking and close-on-exec at once (Asio's accept would take
// an ioctl for the first), and takes every connection waiting before the loop waits again.
constexpr unsigned kAcceptBatch = 32;

Task<void> App::accept_loop(Acceptor& acceptor) {
  boost::system::error_code ec;
  acceptor.non_blocking(true, ec);  // shared by every dup() of the listening socket
  const int listener = acceptor.native_handle();
  const bool tcp = acceptor.local_endpoint(ec).protocol().family() != AF_UNIX && !ec;
  // The TCP options clients get are set on the listener, which passes them on to each
  // connection the kernel makes from then on (set_exact_tcp_options): no setsockopt() per
  // client. A reload that changes them sets them again there, and on each connection already
  // queued then (made with the old ones) until the queue is found empty.
  std::optional<proxy::TcpOptions> on_listener;  // as configured
  proxy::TcpOptions exact;                       // the same with the kernel's defaults
  bool set_on_queued = false;
  bool listener_passes_them = false;
  for (unsigned accepted = 0;;) {
    // A burst of connections is taken a batch at a time, so that the sessions already
    // accepted (and everything else on this worker) run in between.
    if (++accepted % kAcceptBatch == 0) (void)co_await asio::post(acceptor.get_executor(), nothrow);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        set_on_queued = false;  // the queue is empty: what comes now has the listener's
        // No syscall runs between the failed accept4() and the start of this wait, so a
        // connection that arrives meanwhile raises the edge this wait sees: Asio's re-arm of
        // the listener's epoll entry for the wait is not needed (skip_rearm).
        proxy::skip_rearm(listener);
        std::tie(ec) = co_await acceptor.async_wait(Acceptor::wait_read, nothrow);
        proxy::skip_rearm(-1);
        if (stopping_ || ec == asio::error::operation_aborted) co_return;
        continue;
      }
      if (stopping_) co_return;
      spdlog::warn("accept failed: {}", std::system_category().message(err));
      // Out of file descriptors and similar: back off briefly instead of spinning.
      proxy::Timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      (void)co_await pause.async_wait(nothrow);
      continue;
    }
    if (stopping_) {
      ::close(fd);
      co_return;
    }
    const asio::generic::stream_protocol::endpoint peer(&address, length);
    const int family = address.ss_family;
    proxy::Socket socket(acceptor.get_executor());
    proxy::assign_released(socket, family, fd, proxy::readiness::non_blocking_from_start(), ec);
    if (ec) {
      spdlog::warn("cannot watch an accepted connection: {}", ec.message());
      continue;
    }
    auto services = session_services();
    if (tcp) {
      const auto wanted = proxy::TcpOptions::from(services->config->settings);
      if (wanted != on_listener) {
        exact = proxy::with_kernel_defaults(wanted);  // read once per change, not per client
        listener_passes_them = proxy::set_exact_tcp_options(listener, exact);
        if (!listener_passes_them) {
          spdlog::warn("cannot set TCP options on a listening socket ({}): set per client",
                       std::system_category().message(errno));
        }
        on_listener = wanted;
        set_on_queued = true;
      }
      if (set_on_queued || !listener_passes_them) {
        (void)proxy::set_exact_tcp_options(socket.native_handle(), exact);
      }
    }
    auto session = std::make_shared<proxy::ClientSession>(
        std::move(socket), family, proxy::peer_name(peer), std::move(services));
    asio::co_spawn(acceptor.get_executor(), session->run(), asio::detached);
  }
}

proxy::Services App::services() {
  std::lock_guard lock(config_mu_);
  return proxy::Services{config_, credentials_, &scram_cache_, &pools_, &sessions_, this};
}

std::shared_ptr<const proxy::Services> App::session_services() {
  std::lock_guard lock(config_mu_);
  if (!session_services_ || session_services_->config != config_ ||
      session_services_->credentials != credentials_) {
    session_services_ = std::make_shared<const proxy::Services>(
        proxy::Services{config_, credentials_, &scram_cache_, &pools_, &sessions_, this});
  }
  return session_services_;
}

// `busy_poll = auto`: samples the machine's CPU and lets the workers poll while it is spare
// (proxy/busy_poll.h).
App::BusyPollWatch::BusyPollWatch(const config::Config& config, std::size_t workers)
    : governor_(static_cast<int>(workers)) {
  if (!config.settings.busy_poll.automatic) return;
  if (proxy::cgroup_cpu_quota()) {
    spdlog::info("busy_poll = auto: workers will not poll, the cgroup has a CPU quota");
    return;
  }
  last_ = proxy::read_cpu_sample();
  if (!last_) {
    spdlog::info("busy_poll = auto: workers will not poll, /proc/stat cannot be read");
    return;
  }
  last_time_ = SteadyClock::now();
}

void App::BusyPollWatch::sample(TimePoint now) {
  if (!last_) return;
  auto next = proxy::read_cpu_sample();
  if (!next) return;
  const auto period = std::chrono::duration_cast<std::chrono::microseconds>(now - last_time_);
  if (const auto load = proxy::cpu_load(*last_, *next, period)) {
    const bool was = governor_.polling();
    if (governor_.update(*load) != was) {
      proxy::allow_busy_poll(governor_.polling());
      spdlog::debug(
          "busy_poll = auto: workers {} polling ({:.2f} idle cores, {:.2f} used by Reservoir, "
          "CPU stall {})",
          governor_.polling() ? "start" : "stop", load->idle_cores, load->own_cores,
          load->stall_fraction ? fmt::format("{:.2f}", *load->stall_fraction) : "n/a");
    }
  }
  last_ = next;
  last_time_ = now;
}

// Upkeep: clients waiting for a server ten times a second (query_wait_timeout,
// query_wait_notify); twice a second idle servers, min_pool_size and the reserve, and client
// timeouts.
Task<void> App::maintenance_loop() {
  proxy::Timer timer(*loops_[0]);
  BusyPollWatch busy_poll(*config_, loops_.size());
  for (unsigned tick = 1; !stopping_; ++tick) {
    timer.expires_after(std::chrono::milliseconds(100));
    (void)co_await timer.async_wait(nothrow);
    if (stopping_) break;
    busy_poll.sample(SteadyClock::now());
    pools_.expire_waiters(SteadyClock::now(), loops_[0]->get_executor());
    if (tick % 5 != 0) continue;
    for (auto& loop : loops_) {
      asio::post(*loop, [] { proxy::ClientSession::expire_logins(SteadyClock::now()); });
    }
    pools_.maintain(loops_[0]->get_executor());
    const TimePoint now = SteadyClock::now();
    const auto cfg = services().config;
    for (auto& session : sessions_.all()) session->check_timeouts(now, cfg->settings);
    watch_pools(now);
  }
}

// SIGHUP: read the file again; apply it if valid, otherwise keep the old settings.
void App::reload() {
  std::string path;
  {
    std::lock_guard lock(config_mu_);
    path = config_->path;
  }
  auto loaded = config::load_config(path, config::process_environment());
  if (!loaded) {
    spdlog::error("reload rejected, old settings stay in force: {}", loaded.error().message);
    return;
  }
  std::shared_ptr<const config::Config> next = *loaded;
  auto credentials = std::make_shared<auth::CredentialStore>();
  if (!next->settings.auth_file.empty()) {
    auto store = auth::CredentialStore::load(next->settings.auth_file);
    if (!store) {
      spdlog::error("reload rejected, old settings stay in force: auth_file: {}",
                    store.error().message);
      return;
    }
    *credentials = std::move(*store);
  }
  for (const auto& warning : next->warnings) spdlog::warn("{}", warning);
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
    credentials_ = credentials;
  }
  pools_.reload(next, credentials, loops_[0]->get_executor());
  spdlog::info("configuration reloaded from {}", path);
}

Task<void> App::signal_loop() {
  asio::signal_set signals(*loops_[0], SIGTERM, SIGINT, SIGHUP);
  for (;;) {
    auto [ec, signo] = co_await signals.async_wait(nothrow);
    if (ec) co_return;
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP received: reloading configuration");
      reload();
      continue;
    }
    spdlog::info("{} received: shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    co_await shut_down();
    co_return;
  }
}

// Stop accepting, tell every client (57P01), close servers, then stop the loops.
Task<void> App::shut_down() {
  stopping_ = true;
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  if (!unix_socket_path_.empty()) ::unlink(unix_socket_path_.c_str());
  const Error bye = make_error("57P01", "terminating connection due to administrator command");
  pools_.shut_down(bye);
  for (auto& session : sessions_.all()) session->shut_down();
  proxy::Timer timer(*loops_[0]);
  const TimePoint give_up = SteadyClock::now() + std::chrono::seconds(3);
  while (sessions_.size() > 0 && SteadyClock::now() < give_up) {
    timer.expires_after(std::chrono::milliseconds(20));
    (void)co_await timer.async_wait(nothrow);
  }
  pools_.shut_down(bye);  // servers released by sessions that just ended
  http_.stop();
  for (auto& loop : loops_) loop->stop();
}

int App::run() {
  std::signal(SIGPIPE, SIG_IGN);
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(acceptor->get_executor(), accept_loop(*acceptor), asio::detached);
  }
  asio::co_spawn(*loops_[0], maintenance_loop(), asio::detached);
  asio::co_spawn(*loops_[0], signal_loop(), asio::detached);
  // Only the workers poll before they sleep: the HTTP thread and the resolver never do.
  const auto busy_poll = std::chrono::duration_cast<std::chrono::nanoseconds>(
      proxy::to_duration(config_->settings.busy_poll.window));
  const bool auto_poll = config_->settings.busy_poll.automatic;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    guards.push_back(asio::make_work_guard(*loops_[i]));
    threads.emplace_back([loop = loops_[i].get(), lot = lots_[i].get(), i, busy_poll, auto_poll] {
      proxy::set_worker_index(static_cast<int>(i));
      proxy::set_busy_poll(busy_poll, auto_poll);
      proxy::ParkingLot::set_current(lot);
      loop->run();
    });
  }
  http_.start();
  spdlog::info("reservoir ready with {} worker{}", loops_.size(), loops_.size() == 1 ? "" : "s");
  proxy::ParkingLot::set_current(lots_[0].get());
  proxy::set_busy_poll(busy_poll, auto_poll);
  loops_[0]->run();
  proxy::ParkingLot::set_current(nullptr);
  for (auto& t : threads) t.join();
  spdlog::info("reservoir stopped");
  return 0;
}

}  // namespace reservoir::app
