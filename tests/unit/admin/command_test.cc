#include "admin/command.h"

#include <gtest/gtest.h>

namespace reservoir::admin {
namespace {

TEST(AdminCommand, ShowSubjectsAnyCaseWithSemicolon) {
  auto c = parse_command("show pools;");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->verb, Verb::Show);
  EXPECT_EQ(c->what, ShowWhat::Pools);
  EXPECT_TRUE(c->read_only());
  EXPECT_EQ(parse_command("SHOW stats_totals")->what, ShowWhat::StatsTotals);
  EXPECT_EQ(parse_command("  SHOW\tSTATS_AVERAGES  ")->what, ShowWhat::StatsAverages);
  EXPECT_EQ(parse_command("SHOW VERSION")->what, ShowWhat::Version);
  EXPECT_EQ(parse_command("SHOW LISTS")->what, ShowWhat::Lists);
}

TEST(AdminCommand, UnknownShowIsNotSupported) {
  auto c = parse_command("SHOW FDS");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().sqlstate, "0A000");
  EXPECT_NE(c.error().message.find("SHOW FDS"), std::string::npos);
}

TEST(AdminCommand, UnknownVerbIsNotSupported) {
  auto c = parse_command("SELECT 1");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().sqlstate, "0A000");
  EXPECT_NE(c.error().message.find("SELECT"), std::string::npos);
}

TEST(AdminCommand, EmptyIsASyntaxError) {
  EXPECT_EQ(parse_command("").error().sqlstate, "42601");
  EXPECT_EQ(parse_command(" ; ").error().sqlstate, "42601");
  EXPECT_EQ(parse_command("SHOW").error().sqlstate, "42601");
}

TEST(AdminCommand, DatabaseArguments) {
  auto p = parse_command("PAUSE");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->verb, Verb::Pause);
  EXPECT_TRUE(p->target.empty());
  EXPECT_FALSE(p->read_only());
  EXPECT_EQ(parse_command("pause app")->target, "app");
  EXPECT_EQ(parse_command("RESUME \"My Db\"")->target, "My Db");
  EXPECT_EQ(parse_command("RECONNECT app")->verb, Verb::Reconnect);
  EXPECT_EQ(parse_command("DISABLE app")->verb, Verb::Disable);
  EXPECT_EQ(parse_command("ENABLE app")->verb, Verb::Enable);
  EXPECT_EQ(parse_command("KILL app")->verb, Verb::Kill);
  EXPECT_EQ(parse_command("KILL").error().sqlstate, "42601");
  EXPECT_EQ(parse_command("DISABLE").error().sqlstate, "42601");
  EXPECT_EQ(parse_command("PAUSE a b").error().sqlstate, "42601");
}

TEST(AdminCommand, KillClientNeedsANumber) {
  auto c = parse_command("KILL_CLIENT 42");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, Verb::KillClient);
  EXPECT_EQ(c->target, "42");
  EXPECT_EQ(parse_command("KILL_CLIENT x1").error().sqlstate, "42601");
}

TEST(AdminCommand, Shutdown) {
  EXPECT_FALSE(parse_command("SHUTDOWN")->wait_for_clients);
  EXPECT_TRUE(parse_command("shutdown wait_for_clients")->wait_for_clients);
  EXPECT_EQ(parse_command("SHUTDOWN NOW").error().sqlstate, "42601");
}

TEST(AdminCommand, SetKeyValue) {
  auto c = parse_command("SET Default_Pool_Size = 7");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, Verb::Set);
  EXPECT_EQ(c->target, "default_pool_size");
  EXPECT_EQ(c->value, "7");
  EXPECT_EQ(parse_command("SET server_reset_query = 'DISCARD ALL'")->value, "DISCARD ALL");
  EXPECT_EQ(parse_command("SET stats_users TO 'a, b'")->value, "a, b");
  EXPECT_EQ(parse_command("SET x").error().sqlstate, "42601");
  EXPECT_EQ(parse_command("SET server_reset_query = 'unterminated").error().sqlstate, "42601");
}

TEST(AdminCommand, Tags) {
  EXPECT_EQ(command_tag(*parse_command("SHOW POOLS")), "SHOW");
  EXPECT_EQ(command_tag(*parse_command("RELOAD")), "RELOAD");
  EXPECT_EQ(command_tag(*parse_command("KILL_CLIENT 3")), "KILL_CLIENT");
}

TEST(AdminCommand, GarbageNeverCrashes) {
  const std::string alphabet = "SHOWPAUSE \"';=,\t\n\0xyz_1";
  std::uint32_t seed = 7;
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int n = 0; n < 12; ++n) {
      seed = seed * 1103515245 + 12345;
      s += alphabet[(seed >> 16) % alphabet.size()];
    }
    (void)parse_command(s);
  }
}

}  // namespace
}  // namespace reservoir::admin
