// reservoir [-v] [--check] CONFIG: a PostgreSQL connection pooler.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "app/app.h"
#include "app/top.h"
#include "common/logging.h"
#include "config/describe.h"

using namespace reservoir;

namespace {

std::shared_ptr<const auth::CredentialStore> load_credentials(const config::Config& cfg) {
  if (cfg.settings.auth_file.empty()) return std::make_shared<auth::CredentialStore>();
  auto store = auth::CredentialStore::load(cfg.settings.auth_file);
  if (!store) {
    spdlog::critical("auth_file: {}", store.error().message);
    return nullptr;
  }
  return std::make_shared<auth::CredentialStore>(std::move(*store));
}

void write_pidfile(const std::string& path) {
  if (path.empty()) return;
  std::ofstream(path) << ::getpid() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Reservoir: a PostgreSQL connection pooler"};
  std::string config_path;
  bool check = false;
  bool version = false;
  int verbose_count = 0;
  cli.add_flag("-v,--verbose", verbose_count, "more log output (-vv for trace)");
  cli.add_flag("--check", check, "validate CONFIG, print the effective settings and exit");
  cli.add_flag("-V,--version", version, "print the version and exit");
  cli.add_option("CONFIG", config_path, "configuration file (pgbouncer.ini format)");
  app::TopOptions top;
  CLI::App* top_cmd = cli.add_subcommand(
      "top", "live view of pools, waiting clients and slow requests, from the HTTP API");
  top_cmd->add_option("--url", top.url, "Reservoir's HTTP endpoint (http_listen)")
      ->capture_default_str();
  top_cmd->add_flag("--once", top.once, "print one snapshot and exit");
  top_cmd->add_option("--interval", top.interval, "seconds between refreshes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  top_cmd->add_option("--rows", top.rows, "rows of waiting and running clients to show")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  if (top_cmd->parsed()) return app::run_top(top);
  if (version) {
    std::cout << "reservoir " << app::kVersion << "\n";
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "reservoir: CONFIG is required\n" << cli.help();
    return 2;
  }

  auto loaded = config::load_config(config_path, config::process_environment());
  if (!loaded) {
    std::cerr << "reservoir: invalid configuration: " << loaded.error().message << "\n";
    return 1;
  }
  std::shared_ptr<const config::Config> cfg = *loaded;
  const int verbosity = verbose_count + cfg->settings.verbose;
  setup_logging(verbosity, cfg->settings.log_format == config::LogFormat::Json);
  for (const auto& warning : cfg->warnings) spdlog::warn("{}", warning);

  auto credentials = load_credentials(*cfg);
  if (!credentials) return 1;
  if (check) {
    std::cout << config::format_effective_settings(*cfg);
    return 0;
  }

  app::App app(cfg, credentials);
  if (auto listening = app.listen(); !listening) {
    spdlog::critical("{}", listening.error().message);
    return 1;
  }
  write_pidfile(cfg->settings.pidfile);
  const int code = app.run();
  if (!cfg->settings.pidfile.empty()) std::remove(cfg->settings.pidfile.c_str());
  return code;
}
