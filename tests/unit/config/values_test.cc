#include "config/values.h"

#include <gtest/gtest.h>

#include "config/conn_params.h"

namespace reservoir::config {
namespace {

TEST(Values, Integers) {
  EXPECT_EQ(*parse_integer("42", 0, 100), 42);
  EXPECT_EQ(parse_integer("abc", 0, 100).error().message, "not an integer");
  EXPECT_EQ(parse_integer("12x", 0, 100).error().message, "not an integer");
  EXPECT_EQ(parse_integer("", 0, 100).error().message, "not an integer");
  EXPECT_EQ(parse_integer("101", 0, 100).error().message, "must be between 0 and 100");
  EXPECT_EQ(parse_integer("-1", 0, 100).error().message, "must be between 0 and 100");
  EXPECT_FALSE(parse_integer("99999999999999999999999", 0, 100).ok());
}

TEST(Values, Booleans) {
  for (const char* yes : {"1", "true", "ON", "yes"}) EXPECT_TRUE(*parse_bool(yes)) << yes;
  for (const char* no : {"0", "false", "off", "No"}) EXPECT_FALSE(*parse_bool(no)) << no;
  EXPECT_FALSE(parse_bool("maybe").ok());
}

TEST(Values, Durations) {
  EXPECT_DOUBLE_EQ(parse_duration("15")->count(), 15.0);
  EXPECT_DOUBLE_EQ(parse_duration("0.5")->count(), 0.5);
  EXPECT_DOUBLE_EQ(parse_duration("5s")->count(), 5.0);
  EXPECT_DOUBLE_EQ(parse_duration("100ms")->count(), 0.1);
  EXPECT_DOUBLE_EQ(parse_duration("50us")->count(), 50e-6);
  EXPECT_DOUBLE_EQ(parse_duration("2 min")->count(), 120.0);
  EXPECT_DOUBLE_EQ(parse_duration("1h")->count(), 3600.0);
  EXPECT_EQ(parse_duration("-1").error().message, "must not be negative");
  EXPECT_EQ(parse_duration("5d").error().message, "unknown unit 'd' (use s, ms, us, min or h)");
  EXPECT_FALSE(parse_duration("soon").ok());
  EXPECT_FALSE(parse_duration("inf").ok());
  EXPECT_FALSE(parse_duration("nan").ok());
}

TEST(Values, BusyPoll) {
  EXPECT_TRUE(parse_busy_poll("auto")->automatic);
  EXPECT_TRUE(parse_busy_poll("Auto")->automatic);
  const auto fixed = parse_busy_poll("50us");
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(fixed->automatic);
  EXPECT_DOUBLE_EQ(fixed->window.count(), 50e-6);
  EXPECT_EQ(format_busy_poll(*fixed), "5e-05");
  EXPECT_EQ(format_busy_poll(*parse_busy_poll("auto")), "auto");
  EXPECT_EQ(format_busy_poll(*parse_busy_poll("0")), "0");
  EXPECT_EQ(parse_busy_poll("-1").error().message, "must not be negative");
  EXPECT_FALSE(parse_busy_poll("automatic").ok());
}

TEST(Values, Enums) {
  EXPECT_EQ(*parse_pool_mode("transaction"), PoolMode::Transaction);
  EXPECT_FALSE(parse_pool_mode("foo").ok());
  EXPECT_EQ(*parse_auth_type("scram-sha-256"), AuthType::ScramSha256);
  EXPECT_EQ(*parse_auth_type("md5"), AuthType::Md5);
  EXPECT_NE(parse_auth_type("hba").error().message.find("not supported"), std::string::npos);
  EXPECT_NE(parse_auth_type("pam").error().message.find("not supported"), std::string::npos);
  EXPECT_EQ(*parse_log_format("json"), LogFormat::Json);
  EXPECT_FALSE(parse_log_format("xml").ok());
}

TEST(Values, OctalModeAndLists) {
  EXPECT_EQ(*parse_octal_mode("0777"), 0777);
  EXPECT_EQ(*parse_octal_mode("700"), 0700);
  EXPECT_FALSE(parse_octal_mode("0789").ok());
  EXPECT_EQ(format_octal_mode(0750), "0750");
  EXPECT_EQ(parse_list(" alice, bob ,,carol "),
            (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_TRUE(parse_list("").empty());
  EXPECT_EQ(format_list({"a", "b"}), "a, b");
  EXPECT_EQ(format_seconds(Seconds(0.25)), "0.25");
  EXPECT_EQ(format_seconds(Seconds(3600)), "3600");
}

TEST(ConnParams, BareAndQuotedValues) {
  auto params = parse_conn_params(
      R"(host=db1 port = 5433 password='it''s a \'secret\' \\ ;x' user=a\ b dbname='')");
  ASSERT_TRUE(params.ok()) << params.error().message;
  ASSERT_EQ(params->size(), 5u);
  EXPECT_EQ((*params)[0].key, "host");
  EXPECT_EQ((*params)[0].value, "db1");
  EXPECT_EQ((*params)[1].value, "5433");
  EXPECT_EQ((*params)[2].value, R"(it's a 'secret' \ ;x)");
  EXPECT_EQ((*params)[3].value, "a b");
  EXPECT_EQ((*params)[4].key, "dbname");
  EXPECT_EQ((*params)[4].value, "");
}

TEST(ConnParams, Errors) {
  EXPECT_EQ(parse_conn_params("host").error().message, "expected '=' after 'host'");
  EXPECT_EQ(parse_conn_params("=x").error().message, "expected a parameter name before '='");
  EXPECT_EQ(parse_conn_params("password='open").error().message, "unterminated quoted value");
  EXPECT_TRUE(parse_conn_params("   ")->empty());
}

}  // namespace
}  // namespace reservoir::config
