#include <gtest/gtest.h>

#include "config/config.h"
#include "config/describe.h"
#include "temp_dir.h"

namespace reservoir::config {
namespace {

using testing::TempDir;

// Modelled on PgBouncer's documented example pgbouncer.ini.
constexpr const char* kPgBouncerIni = R"(;; database name = connect string
;;
;; connect string params:
;;   dbname= host= port= user= password= auth_user=
;;   client_encoding= datestyle= timezone=
;;   pool_size= reserve_pool= max_db_connections=
;;   pool_mode= connect_query= application_name=
[databases]

;; foodb over Unix socket
foodb =

;; redirect bardb to bazdb on localhost
bardb = host=localhost dbname=bazdb

;; access to dest database will go with single user
forcedb = host=localhost port=300 user=baz password=foo client_encoding=UNICODE datestyle=ISO connect_query='SELECT 1'

;; use custom pool sizes
nondefaultdb = pool_size=50 reserve_pool=10

;; fallback connect string
* = host=testserver

[users]
user1 = pool_mode=transaction max_user_connections=10

[pgbouncer]
logfile = /var/log/pgbouncer/pgbouncer.log
pidfile = /var/run/pgbouncer/pgbouncer.pid
listen_addr = localhost
listen_port = 6432
unix_socket_dir = /tmp
unix_socket_mode = 0777
auth_type = md5
auth_file = /etc/pgbouncer/userlist.txt
admin_users = postgres, admin
stats_users = stats, postgres
pool_mode = session
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
server_check_query = select 1
server_check_delay = 30
max_client_conn = 100
default_pool_size = 20
reserve_pool_timeout = 5
server_lifetime = 3600
server_idle_timeout = 600
server_connect_timeout = 15
server_login_retry = 15
query_wait_timeout = 120
client_login_timeout = 60
pkt_buf = 4096
tcp_keepalive = 1
log_connections = 0
syslog = 0
)";

std::shared_ptr<const Config> load_ok(const std::string& text, const Environment& env = {}) {
  auto config = parse_config(text, "/etc/pgbouncer/pgbouncer.ini", env);
  EXPECT_TRUE(config.ok()) << config.error().message;
  return config.ok() ? *config : nullptr;
}

std::string load_error(const std::string& text, const Environment& env = {}) {
  auto config = parse_config(text, "r.ini", env);
  EXPECT_FALSE(config.ok());
  if (config.ok()) return "";
  EXPECT_EQ(config.error().sqlstate, "F0000");
  return config.error().message;
}

const std::string kAuth = "[reservoir]\nauth_type = trust\n";

const SettingSource& source(const Config& config, const std::string& key) {
  for (const auto& s : config.sources) {
    if (s.key == key) return s;
  }
  static const SettingSource none{};
  ADD_FAILURE() << "no source for " << key;
  return none;
}

TEST(LoadConfig, PgBouncerSampleFile) {
  auto config = load_ok(kPgBouncerIni);
  ASSERT_TRUE(config);
  const Settings& s = config->settings;
  EXPECT_EQ(s.listen_addr, "localhost");
  EXPECT_EQ(s.auth_type, AuthType::Md5);
  EXPECT_EQ(s.auth_file, "/etc/pgbouncer/userlist.txt");
  EXPECT_EQ(s.admin_users, (std::vector<std::string>{"postgres", "admin"}));
  EXPECT_EQ(s.ignore_startup_parameters, std::vector<std::string>{"extra_float_digits"});
  EXPECT_EQ(s.server_check_query, "select 1");
  EXPECT_EQ(s.unix_socket_mode, 0777);
  EXPECT_TRUE(s.tcp_keepalive);
  EXPECT_EQ(s.logfile, "/var/log/pgbouncer/pgbouncer.log");

  ASSERT_EQ(config->databases.size(), 5u);
  const DatabaseEntry& forcedb = config->databases[2];
  EXPECT_EQ(forcedb.name, "forcedb");
  EXPECT_EQ(forcedb.port, 300);
  EXPECT_EQ(forcedb.user, "baz");
  EXPECT_EQ(forcedb.password, "foo");
  EXPECT_EQ(forcedb.client_encoding, "UNICODE");
  EXPECT_EQ(forcedb.connect_query, "SELECT 1");
  EXPECT_EQ(forcedb.origin, "/etc/pgbouncer/pgbouncer.ini:17");
  EXPECT_EQ(config->databases[0].host, "");
  EXPECT_EQ(config->databases[1].dbname, "bazdb");
  EXPECT_EQ(config->databases[3].pool_size, 50);
  EXPECT_EQ(config->databases[3].reserve_pool_size, 10);

  ASSERT_EQ(config->users.size(), 1u);
  EXPECT_EQ(config->users[0].pool_mode, PoolMode::Transaction);
  EXPECT_EQ(config->users[0].max_user_connections, 10);

  EXPECT_EQ(config->warnings,
            (std::vector<std::string>{"/etc/pgbouncer/pgbouncer.ini:56: setting 'syslog' is not "
                                      "supported by Reservoir and is ignored"}));
  EXPECT_FALSE(config->settings.log_connections);    // PgBouncer's setting, read as PgBouncer does
  EXPECT_TRUE(config->settings.log_disconnections);  // not in the file: the default
  EXPECT_EQ(config->path, "/etc/pgbouncer/pgbouncer.ini");
}

TEST(LoadConfig, FromFileOnDisk) {
  TempDir dir;
  const std::string path = dir.write("pgbouncer.ini", kPgBouncerIni);
  auto config = load_config(path, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ((*config)->path, path);
  EXPECT_EQ(source(**config, "listen_port").origin, path + ":32");
  auto missing = load_config(dir.path("absent.ini"), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos);
}

TEST(LoadConfig, ReservoirAndPgBouncerSectionNamesAreAliases) {
  auto config = load_ok("[reservoir]\nauth_type = trust\n[PgBouncer]\nlisten_port = 7000\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->settings.listen_port, 7000);
  EXPECT_EQ(config->settings.auth_type, AuthType::Trust);
}

TEST(LoadConfig, UnknownSettingWarnsWithLocation) {
  auto config = load_ok(kAuth + "\nfrobnicate = 3\nLISTEN_PORT = 7001\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->warnings, std::vector<std::string>{
                                  "/etc/pgbouncer/pgbouncer.ini:4: unknown setting 'frobnicate'"});
  EXPECT_EQ(config->settings.listen_port, 7001);  // keys are case-insensitive, as in PgBouncer
}

TEST(LoadConfig, UnknownSectionWarnsOnce) {
  auto config = load_ok(kAuth + "[extras]\na = 1\nb = 2\n[peers]\n1 = host=x\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->warnings,
            (std::vector<std::string>{
                "/etc/pgbouncer/pgbouncer.ini:4: section [extras] is unknown and ignored",
                "/etc/pgbouncer/pgbouncer.ini:7: section [peers] is not supported by Reservoir and "
                "is ignored"}));
}

TEST(LoadConfig, InvalidValuesFailWithLocation) {
  EXPECT_EQ(load_error(kAuth + "default_pool_size = abc\n"),
            "r.ini:3: invalid value 'abc' for setting 'default_pool_size': not an integer");
  EXPECT_EQ(load_error(kAuth + "pool_mode = foo\n"),
            "r.ini:3: invalid value 'foo' for setting 'pool_mode': expected session, transaction "
            "or statement");
  EXPECT_EQ(
      load_error(kAuth + "\nlisten_port = 70000\n"),
      "r.ini:4: invalid value '70000' for setting 'listen_port': must be between 1 and 65535");
  EXPECT_EQ(load_error(kAuth + "default_pool_size = -1\n"),
            "r.ini:3: invalid value '-1' for setting 'default_pool_size': must be between 0 and "
            "2147483647");
  EXPECT_EQ(load_error(kAuth + "tcp_keepalive = maybe\n"),
            "r.ini:3: invalid value 'maybe' for setting 'tcp_keepalive': expected a boolean (0/1, "
            "true/false, on/off, yes/no)");
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = hba\n"),
            "r.ini:2: invalid value 'hba' for setting 'auth_type': auth_type 'hba' is not "
            "supported by Reservoir "
            "(use scram-sha-256, md5, plain or trust)");
}

TEST(LoadConfig, ValuesOfEveryKind) {
  auto config =
      load_ok(kAuth +
              "workers = 4\nquery_timeout = 1.5\nquery_wait_timeout = 500ms\nserver_lifetime = 1h\n"
              "server_reset_query_always = on\nlog_format = json\nunix_socket_mode = 0700\n"
              "max_packet_size = 1048576\nunix_socket_dir =\n");
  ASSERT_TRUE(config);
  const Settings& s = config->settings;
  EXPECT_EQ(s.workers, 4);
  EXPECT_DOUBLE_EQ(s.query_timeout.count(), 1.5);
  EXPECT_DOUBLE_EQ(s.query_wait_timeout.count(), 0.5);
  EXPECT_DOUBLE_EQ(s.server_lifetime.count(), 3600);
  EXPECT_TRUE(s.server_reset_query_always);
  EXPECT_EQ(s.log_format, LogFormat::Json);
  EXPECT_EQ(s.unix_socket_mode, 0700);
  EXPECT_EQ(s.max_packet_size, 1048576u);
  EXPECT_EQ(s.unix_socket_dir, "");
}

TEST(LoadConfig, DatabaseLinesWithQuotingAndUnknownParameters) {
  auto config =
      load_ok(kAuth +
              "[databases]\n"
              "app = host=/var/run/postgresql password='pa ss''word ;x' application_name='my app' "
              "auth_user=pgb pool_mode=transaction min_pool_size=2 max_db_connections=9 wibble=1 "
              "server_lifetime=5\n");
  ASSERT_TRUE(config);
  const DatabaseEntry& app = config->databases.at(0);
  EXPECT_EQ(app.host, "/var/run/postgresql");
  EXPECT_EQ(app.password, "pa ss'word ;x");
  EXPECT_EQ(app.application_name, "my app");
  EXPECT_EQ(app.auth_user, "pgb");
  EXPECT_EQ(app.pool_mode, PoolMode::Transaction);
  EXPECT_EQ(app.min_pool_size, 2);
  EXPECT_EQ(app.max_db_connections, 9);
  EXPECT_EQ(config->warnings,
            (std::vector<std::string>{"/etc/pgbouncer/pgbouncer.ini:4: database 'app': parameter "
                                      "'wibble' is unknown and ignored",
                                      "/etc/pgbouncer/pgbouncer.ini:4: database 'app': parameter "
                                      "'server_lifetime' is not supported by "
                                      "Reservoir and is ignored"}));
}

TEST(LoadConfig, InvalidDatabaseLinesFailWithLocation) {
  EXPECT_EQ(
      load_error(kAuth + "[databases]\nx = port=99999\n"),
      "r.ini:4: invalid value '99999' for 'port' in database 'x': must be between 1 and 65535");
  EXPECT_EQ(load_error(kAuth + "[databases]\nx = pool_mode=bogus\n"),
            "r.ini:4: invalid value 'bogus' for 'pool_mode' in database 'x': expected session, "
            "transaction or statement");
  EXPECT_EQ(load_error(kAuth + "[databases]\nx = password='unterminated\n"),
            "r.ini:4: cannot parse database 'x': unterminated quoted value");
  EXPECT_EQ(load_error(kAuth + "[users]\nbob = max_user_connections=-2\n"),
            "r.ini:4: invalid value '-2' for 'max_user_connections' in user 'bob': must be between "
            "0 and 2147483647");
}

TEST(LoadConfig, LongDatabaseLine) {
  const std::string query(300, 'q');
  auto config = load_ok(
      kAuth +
      "[databases]\nlongdb = host=primary.db.internal.example.com port=5432 dbname=analytics "
      "user=reporting password='" +
      std::string(120, 'p') + "' connect_query='" + query + "' pool_size=7\nshort = host=x\n");
  ASSERT_TRUE(config);
  ASSERT_EQ(config->databases.size(), 2u);
  EXPECT_EQ(config->databases[0].connect_query, query);
  EXPECT_EQ(config->databases[0].password, std::string(120, 'p'));
  EXPECT_EQ(config->databases[0].pool_size, 7);
  EXPECT_EQ(config->databases[1].origin, "/etc/pgbouncer/pgbouncer.ini:5");
}

TEST(LoadConfig, LaterDatabaseDefinitionWins) {
  auto config = load_ok(kAuth + "[databases]\na = host=one\nb = host=b\na = host=two\n");
  ASSERT_TRUE(config);
  ASSERT_EQ(config->databases.size(), 2u);
  EXPECT_EQ(config->databases[0].host, "two");
  EXPECT_EQ(config->warnings.size(), 1u);
}

TEST(LoadConfig, FindDatabaseFallsBackToStar) {
  auto config = load_ok(
      kAuth + "[databases]\nexact = host=a\n* = host=fallback\n[users]\nbob = pool_size=3\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->find_database("exact")->host, "a");
  EXPECT_EQ(config->find_database("other")->host, "fallback");
  EXPECT_EQ(config->find_database("*")->host, "fallback");
  EXPECT_EQ(config->find_user("bob")->pool_size, 3);
  EXPECT_EQ(config->find_user("alice"), nullptr);
  auto no_star = load_ok(kAuth + "[databases]\nexact = host=a\n");
  EXPECT_EQ(no_star->find_database("other"), nullptr);
}

TEST(LoadConfig, EnvironmentOverridesFileAndRecordsOrigin) {
  auto config = load_ok(kAuth + "default_pool_size = 10\nlisten_port = 7000\n",
                        {{"RESERVOIR_DEFAULT_POOL_SIZE", "25"},
                         {"RESERVOIR_POOL_MODE", "transaction"},
                         {"RESERVOIR_BIN", "/usr/bin/reservoir"},
                         {"RESERVOIR_NOPE", "1"},
                         {"RESERVOIR_SYSLOG", "1"},
                         {"PATH", "/bin"}});
  ASSERT_TRUE(config);
  EXPECT_EQ(config->settings.default_pool_size, 25);
  EXPECT_EQ(config->settings.pool_mode, PoolMode::Transaction);
  EXPECT_EQ(source(*config, "default_pool_size").origin, "env RESERVOIR_DEFAULT_POOL_SIZE");
  EXPECT_EQ(source(*config, "default_pool_size").value, "25");
  EXPECT_EQ(source(*config, "listen_port").origin, "/etc/pgbouncer/pgbouncer.ini:4");
  EXPECT_EQ(source(*config, "max_client_conn").origin, "default");
  EXPECT_EQ(
      config->warnings,
      (std::vector<std::string>{
          "env RESERVOIR_NOPE: unknown setting 'nope'",
          "env RESERVOIR_SYSLOG: setting 'syslog' is not supported by Reservoir and is ignored"}));
}

TEST(LoadConfig, InvalidEnvironmentValueFails) {
  EXPECT_EQ(
      load_error(kAuth, {{"RESERVOIR_LISTEN_PORT", "http"}}),
      "env RESERVOIR_LISTEN_PORT: invalid value 'http' for setting 'listen_port': not an integer");
}

TEST(LoadConfig, SourcesCoverEverySettingSortedByKey) {
  auto config = load_ok(kAuth);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->sources.size(), 59u);  // one per setting in settings_table.cc
  EXPECT_TRUE(std::is_sorted(config->sources.begin(), config->sources.end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));
  EXPECT_EQ(source(*config, "server_reset_query").value, "DISCARD ALL");
  EXPECT_EQ(source(*config, "unix_socket_mode").value, "0777");
  EXPECT_EQ(source(*config, "auth_type").value, "trust");
  EXPECT_EQ(source(*config, "reserve_pool_timeout").value, "5");
  EXPECT_EQ(source(*config, "max_prepared_statements").value, "200");
  EXPECT_EQ(source(*config, "transaction_mode_pinning").value, "1");
  EXPECT_EQ(source(*config, "tcp_defer_accept").value, "1");  // PgBouncer's default on Linux
  EXPECT_EQ(source(*config, "so_reuseport").value, "0");
  EXPECT_EQ(source(*config, "busy_poll").value, "auto");  // polls only while CPU is spare
}

TEST(LoadConfig, CrossSettingValidation) {
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = md5\n"),
            "auth_file must be set when auth_type is md5 (auth_type from r.ini:2)");
  EXPECT_EQ(load_error(""),
            "auth_file must be set when auth_type is scram-sha-256 (auth_type from default)");
  EXPECT_EQ(
      load_error(kAuth + "min_pool_size = 30\n"),
      "min_pool_size (30, from r.ini:3) must not exceed default_pool_size (20, from default)");
  EXPECT_EQ(load_error(kAuth + "[databases]\nsmall = pool_size=2 min_pool_size=3\n"),
            "r.ini:4: database 'small': min_pool_size (3) must not exceed its pool size (2)");
  EXPECT_EQ(load_error(kAuth + "busy_poll = 20ms\n"),
            "busy_poll (0.02 s, from r.ini:3) must be at most 10ms; auto (the default) polls 50us "
            "while CPU is spare");
  auto largest = parse_config(kAuth + "busy_poll = 10ms\n", "r.ini", {});
  ASSERT_TRUE(largest.ok());
  EXPECT_FALSE((*largest)->settings.busy_poll.automatic);
  EXPECT_DOUBLE_EQ((*largest)->settings.busy_poll.window.count(), 0.01);
  auto off = parse_config(kAuth + "busy_poll = 0\n", "r.ini", {});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE((*off)->settings.busy_poll.automatic);
  EXPECT_EQ((*off)->settings.busy_poll.window.count(), 0.0);
  auto automatic = parse_config(kAuth + "busy_poll = AUTO\n", "r.ini", {});
  ASSERT_TRUE(automatic.ok());
  EXPECT_TRUE((*automatic)->settings.busy_poll.automatic);
  EXPECT_DOUBLE_EQ((*automatic)->settings.busy_poll.window.count(), 50e-6);
}

TEST(LoadConfig, IncludedFilesReportTheirOwnLocations) {
  TempDir dir;
  const std::string main =
      dir.write("main.ini", "[pgbouncer]\nauth_type = trust\n%include conf.d/pools.ini\n");
  dir.write("conf.d/pools.ini", "default_pool_size = 30\nwhat_is_this = 1\n");
  auto config = load_config(main, {});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(source(**config, "default_pool_size").origin, dir.path("conf.d/pools.ini") + ":1");
  EXPECT_EQ((*config)->warnings, std::vector<std::string>{dir.path("conf.d/pools.ini") +
                                                          ":2: unknown setting 'what_is_this'"});

  dir.write("conf.d/pools.ini", "default_pool_size = lots\n");
  auto bad = load_config(main, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            dir.path("conf.d/pools.ini") +
                ":1: invalid value 'lots' for setting 'default_pool_size': not an integer");
}

TEST(Describe, EffectiveSettingsWithOrigins) {
  auto config = load_ok(kAuth +
                            "[databases]\napp = host=h password=secret application_name='a "
                            "b'\n[users]\nbob = pool_size=2\n",
                        {{"RESERVOIR_LISTEN_PORT", "7777"}});
  ASSERT_TRUE(config);
  const std::string text = format_effective_settings(*config);
  EXPECT_NE(text.find("listen_port = 7777  (env RESERVOIR_LISTEN_PORT)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("auth_type = trust  (/etc/pgbouncer/pgbouncer.ini:2)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("pool_mode = session  (default)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[databases]\napp = host=h port=5432 password=*** application_name='a b'  "
                      "(/etc/pgbouncer/pgbouncer.ini:4)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[users]\nbob = pool_size=2  (/etc/pgbouncer/pgbouncer.ini:6)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("secret"), std::string::npos);
}

TEST(ToString, Enums) {
  EXPECT_EQ(to_string(PoolMode::Statement), "statement");
  EXPECT_EQ(to_string(AuthType::ScramSha256), "scram-sha-256");
  EXPECT_EQ(to_string(LogFormat::Json), "json");
}

TEST(ProcessEnvironment, OnlyReservoirVariables) {
  ::setenv("RESERVOIR_CONFIG_TEST_VAR", "x=y", 1);
  const Environment env = process_environment();
  ::unsetenv("RESERVOIR_CONFIG_TEST_VAR");
  EXPECT_EQ(env.at("RESERVOIR_CONFIG_TEST_VAR"), "x=y");
  for (const auto& [name, value] : env) EXPECT_EQ(name.rfind("RESERVOIR_", 0), 0u) << name;
}

}  // namespace
}  // namespace reservoir::config
