#include "config/diff.h"

#include <gtest/gtest.h>

namespace reservoir::config {
namespace {

std::shared_ptr<const Config> load(const std::string& text) {
  auto config = parse_config("[pgbouncer]\nauth_type = trust\n" + text, "r.ini", {});
  EXPECT_TRUE(config.ok()) << config.error().message;
  return *config;
}

using Names = std::vector<std::string>;

TEST(ConfigDiff, IdenticalConfigsAreEmpty) {
  auto a = load("[databases]\nx = host=a\n");
  EXPECT_TRUE(diff(*a, *a).empty());
}

TEST(ConfigDiff, DatabasesAndSettings) {
  auto old = load(
      "default_pool_size = 10\n[databases]\nsame = host=a\nmoved = host=a\nresized = host=a "
      "pool_size=5\n"
      "gone = host=a\n[users]\nbob = pool_size=1\n");
  auto next = load(
      "default_pool_size = 12\nlisten_port = 7000\n[databases]\nsame = host=a\nmoved = host=b\n"
      "resized = host=a pool_size=8\nnew = host=a\n[users]\nbob = pool_size=2\n");
  const ConfigDiff d = diff(*old, *next);
  EXPECT_EQ(d.databases_added, Names{"new"});
  EXPECT_EQ(d.databases_removed, Names{"gone"});
  EXPECT_EQ(d.databases_reconnect, Names{"moved"});
  EXPECT_EQ(d.databases_resized, Names{"resized"});
  EXPECT_EQ(d.users_changed, Names{"bob"});
  EXPECT_EQ(d.settings_changed, (Names{"default_pool_size", "listen_port"}));
  EXPECT_FALSE(d.empty());
}

TEST(ConfigDiff, PasswordChangeMeansReconnect) {
  auto old = load("[databases]\nx = host=a password=one pool_size=3\n");
  auto next = load("[databases]\nx = host=a password=two pool_size=4\n");
  const ConfigDiff d = diff(*old, *next);
  EXPECT_EQ(d.databases_reconnect, Names{"x"});
  EXPECT_TRUE(d.databases_resized.empty());  // a reconnect already rebuilds the pool
}

TEST(ConfigDiff, OriginChangeAloneIsNoChange) {
  auto old = load("[databases]\nx = host=a\n");
  auto next = load("\n\n[databases]\nx = host=a\n");
  EXPECT_TRUE(diff(*old, *next).empty());
}

}  // namespace
}  // namespace reservoir::config
