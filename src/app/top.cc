#include "app/top.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <thread>

namespace reservoir::app {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;

struct Url {
  std::string host;
  std::string port;
  std::string base;  // path prefix, without a trailing '/'
};

Result<Url> parse_url(const std::string& text) {
  std::string rest = text;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.rfind("https://", 0) == 0) return make_error("22023", "https is not supported: " + text);
  const auto slash = rest.find('/');
  Url u;
  std::string hostport = rest.substr(0, slash);
  u.base = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    u.host = hostport;
    u.port = "80";
  } else {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  }
  if (u.host.empty()) return make_error("22023", "no host in URL " + text);
  return u;
}

// GET with a 3-second limit on the whole exchange.
Result<std::string> http_get(const Url& url, const std::string& path) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  asio::ip::tcp::resolver resolver(io);
  bhttp::response<bhttp::string_body> res;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, url.base + path, 11};
  req.set(bhttp::field::host, url.host);
  req.set(bhttp::field::user_agent, "reservoir-top");
  boost::system::error_code failure;
  stream.expires_after(std::chrono::seconds(3));
  resolver.async_resolve(url.host, url.port, [&](auto ec, auto results) {
    if (ec) return void(failure = ec);
    stream.async_connect(results, [&](auto ec2, auto) {
      if (ec2) return void(failure = ec2);
      bhttp::async_write(stream, req, [&](auto ec3, auto) {
        if (ec3) return void(failure = ec3);
        bhttp::async_read(stream, buffer, res, [&](auto ec4, auto) { failure = ec4; });
      });
    });
  });
  io.run();
  if (failure) {
    return make_error("08006", fmt::format("cannot read http://{}:{}{}{}: {}", url.host, url.port,
                                           url.base, path, failure.message()));
  }
  if (res.result_int() != 200) {
    return make_error("08006",
                      fmt::format("{}{} answered HTTP {}", url.base, path, res.result_int()));
  }
  return res.body();
}

double num(const json::value& v, const char* key) {
  const auto* o = v.if_object();
  if (!o) return 0;
  const auto it = o->find(key);
  if (it == o->end()) return 0;
  if (it->value().is_int64()) return static_cast<double>(it->value().as_int64());
  if (it->value().is_uint64()) return static_cast<double>(it->value().as_uint64());
  if (it->value().is_double()) return it->value().as_double();
  return 0;
}

std::string str(const json::value& v, const char* key) {
  const auto* o = v.if_object();
  if (!o) return "";
  const auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return "";
  return std::string(it->value().as_string());
}

bool flag(const json::value& v, const char* key) {
  const auto* o = v.if_object();
  if (!o) return false;
  const auto it = o->find(key);
  return it != o->end() && it->value().is_bool() && it->value().as_bool();
}

std::string clip(std::string s, std::size_t width) {
  if (s.size() > width) s = s.substr(0, width - 1) + "~";
  return s;
}

Result<json::value> parse(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return make_error("08P01", std::string("bad JSON from ") + what);
  return v;
}

void client_table(std::string& out, const std::vector<const json::value*>& rows,
                  const char* time_header) {
  fmt::format_to(std::back_inserter(out), "{:<8} {:<14} {:<14} {:<22} {:<16} {:>9} {:>9}\n", "ID",
                 "USER", "DATABASE", "ADDRESS", "APPLICATION", time_header, "IN TX");
  for (const auto* c : rows) {
    fmt::format_to(
        std::back_inserter(out), "{:<8} {:<14} {:<14} {:<22} {:<16} {:>8.3f}s {:>8.3f}s\n",
        static_cast<long long>(num(*c, "id")), clip(str(*c, "user"), 14),
        clip(str(*c, "database"), 14), clip(str(*c, "addr"), 22),
        clip(str(*c, "application_name"), 16), num(*c, "state_s"), num(*c, "transaction_s"));
  }
}

}  // namespace

Result<std::string> render_top(const std::string& pools_json, const std::string& clients_json,
                               const std::string& previous_pools_json, double interval_s,
                               const TopOptions& options, const std::string& now_text) {
  auto pools_doc = parse(pools_json, "/api/pools");
  if (!pools_doc) return pools_doc.error();
  auto clients_doc = parse(clients_json, "/api/clients");
  if (!clients_doc) return clients_doc.error();
  std::map<std::string, double> previous_xacts;
  if (!previous_pools_json.empty()) {
    if (auto prev = parse(previous_pools_json, "/api/pools"); prev) {
      for (const auto& p : prev->as_object().at("pools").as_array()) {
        previous_xacts[str(p, "database") + "/" + str(p, "user")] = num(p, "transactions");
      }
    }
  }
  const auto& process = pools_doc->as_object().at("process");
  std::string out;
  auto it = std::back_inserter(out);
  const auto& pools = pools_doc->as_object().at("pools").as_array();
  fmt::format_to(it, "reservoir top - {} - {} - up {:.0f} s, {} clients, {} pools\n\n", options.url,
                 now_text, num(process, "uptime_s"),
                 static_cast<long long>(num(process, "clients")), pools.size());
  fmt::format_to(
      it, "{:<24} {:<11} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>8} {:>8} {:>8} {:>9} {:>8}\n",
      "POOL", "MODE", "SIZE", "ACTIVE", "IDLE", "WAIT", "PEAK", "RESV", "MAXWAIT", "WAIT P95",
      "WAIT P99", "XACT/S", "TIMEOUTS");
  for (const auto& p : pools) {
    const std::string name = str(p, "database") + "/" + str(p, "user");
    std::string rate = "-";
    if (auto prev = previous_xacts.find(name); prev != previous_xacts.end() && interval_s > 0) {
      rate = fmt::format("{:.1f}", (num(p, "transactions") - prev->second) / interval_s);
    }
    fmt::format_to(
        it,
        "{:<24} {:<11} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>7.3f}s {:>7.3f}s {:>7.3f}s "
        "{:>9} {:>8}{}\n",
        clip(name, 24), str(p, "mode"), static_cast<long long>(num(p, "size")),
        static_cast<long long>(num(p, "active")), static_cast<long long>(num(p, "idle")),
        static_cast<long long>(num(p, "waiting")), static_cast<long long>(num(p, "peak_in_use")),
        static_cast<long long>(num(p, "reserve_in_use")), num(p, "longest_wait_s"),
        num(p, "wait_p95_s"), num(p, "wait_p99_s"), rate,
        static_cast<long long>(num(p, "timeouts")), flag(p, "paused") ? "  (paused)" : "");
  }
  std::vector<const json::value*> waiting, running;
  for (const auto& c : clients_doc->as_object().at("clients").as_array()) {
    const std::string state = str(c, "state");
    if (state == "waiting") waiting.push_back(&c);
    if (state == "running") running.push_back(&c);
  }
  auto longest_first = [](const json::value* a, const json::value* b) {
    return num(*a, "state_s") > num(*b, "state_s");
  };
  std::sort(waiting.begin(), waiting.end(), longest_first);
  std::sort(running.begin(), running.end(), longest_first);
  const auto limit = static_cast<std::size_t>(std::max(options.rows, 1));
  if (waiting.size() > limit) waiting.resize(limit);
  if (running.size() > limit) running.resize(limit);
  fmt::format_to(it, "\nWAITING CLIENTS ({}, longest first)\n", waiting.size());
  client_table(out, waiting, "WAITING");
  fmt::format_to(it, "\nSLOWEST RUNNING REQUESTS ({})\n", running.size());
  client_table(out, running, "RUNNING");
  return out;
}

int run_top(const TopOptions& options) {
  auto url = parse_url(options.url);
  if (!url) {
    std::cerr << "reservoir top: " << url.error().message << "\n";
    return 2;
  }
  std::string previous;
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    auto pools = http_get(*url, "/api/pools");
    auto clients = pools ? http_get(*url, "/api/clients") : Result<std::string>(pools.error());
    const auto now = std::chrono::steady_clock::now();
    const double interval = std::chrono::duration<double>(now - last).count();
    last = now;
    const std::time_t t = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
    Result<std::string> screen =
        clients ? render_top(*pools, *clients, previous, interval, options, when)
                : Result<std::string>(clients.error());
    if (!screen) {
      if (options.once) {
        std::cerr << "reservoir top: " << screen.error().message << "\n";
        return 1;
      }
      std::cout << "\x1b[H\x1b[2J"
                << "reservoir top: " << screen.error().message << " (retrying)\n"
                << std::flush;
    } else {
      if (!options.once) std::cout << "\x1b[H\x1b[2J";
      std::cout << *screen << std::flush;
      previous = *pools;
    }
    if (options.once) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.interval));
  }
}

}  // namespace reservoir::app
