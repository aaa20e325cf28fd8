#include "pool/prepared.h"

#include <gtest/gtest.h>

namespace reservoir::pool {
namespace {

using Names = std::vector<std::string>;

std::shared_ptr<const Statement> statement(std::string query,
                                           std::vector<std::uint32_t> types = {}) {
  auto s = std::make_shared<Statement>();
  s->server_name = server_statement_name(query, types);
  s->query = std::move(query);
  s->param_types = std::move(types);
  return s;
}

TEST(ServerStatementName, DependsOnlyOnQueryAndTypes) {
  const std::string a = server_statement_name("SELECT $1", {23});
  EXPECT_EQ(a, server_statement_name("SELECT $1", {23}));
  EXPECT_NE(a, server_statement_name("SELECT $1", {25}));
  EXPECT_NE(a, server_statement_name("SELECT $1", {}));
  EXPECT_NE(a, server_statement_name("SELECT $1 ", {23}));
  // The separator keeps the text and the types apart.
  EXPECT_NE(server_statement_name(std::string("a\x01", 2), {}),
            server_statement_name("a", {0x01000000}));
}

TEST(ServerStatementName, HasTheRsvForm) {
  const std::string name = server_statement_name("SELECT 1", {});
  EXPECT_EQ(name.size(), 20u);
  EXPECT_TRUE(name.starts_with("rsv_"));
  EXPECT_TRUE(is_server_statement_name(name));
  EXPECT_FALSE(is_server_statement_name("rsv_noop"));
  EXPECT_FALSE(is_server_statement_name("__asyncpg_stmt_1__"));
  EXPECT_FALSE(is_server_statement_name("rsv_0123456789abcdeG"));
}

TEST(ClientStatements, NamesAreTheClientsOwn) {
  ClientStatements client;
  auto s = statement("SELECT 1");
  EXPECT_TRUE(client.add("a", s));
  EXPECT_TRUE(client.add("b", s));                       // two names, one statement
  EXPECT_FALSE(client.add("a", statement("SELECT 2")));  // 42P05 in PostgreSQL
  ASSERT_NE(client.find("a"), nullptr);
  EXPECT_EQ(client.find("a")->query, "SELECT 1");
  EXPECT_EQ(client.find("a"), client.find("b"));
  client.remove("a");
  client.remove("never there");
  EXPECT_EQ(client.find("a"), nullptr);
  EXPECT_NE(client.find("b"), nullptr);
  EXPECT_EQ(client.size(), 1u);
}

TEST(ClientStatements, ClientsPreparingTheSameTextShareAServerName) {
  ClientStatements alice, bob;
  ASSERT_TRUE(alice.add("__asyncpg_stmt_1__", statement("SELECT $1::int", {23})));
  ASSERT_TRUE(bob.add("P0_1", statement("SELECT $1::int", {23})));
  EXPECT_EQ(alice.find("__asyncpg_stmt_1__")->server_name, bob.find("P0_1")->server_name);

  ServerStatements server;
  EXPECT_TRUE(server.insert(alice.find("__asyncpg_stmt_1__")->server_name).empty());
  EXPECT_TRUE(server.contains(bob.find("P0_1")->server_name));
  EXPECT_EQ(server.size(), 1u);
}

TEST(ServerStatements, EvictsTheLeastRecentlyUsed) {
  ServerStatements server(3);
  for (const char* n : {"a", "b", "c"}) EXPECT_TRUE(server.insert(n).empty());
  server.end_transaction();
  server.use("a");  // b is now the least recently used
  server.end_transaction();
  EXPECT_EQ(server.insert("d"), Names{"b"});
  EXPECT_FALSE(server.contains("b"));
  EXPECT_EQ(server.names(), (Names{"c", "a", "d"}));
  EXPECT_EQ(server.size(), 3u);
}

TEST(ServerStatements, NeverEvictsAStatementInUse) {
  ServerStatements server(2);
  EXPECT_TRUE(server.insert("a").empty());
  EXPECT_TRUE(server.insert("b").empty());
  // Same transaction: a and b are both in use, so the set grows for now.
  EXPECT_TRUE(server.insert("c").empty());
  EXPECT_EQ(server.size(), 3u);
  server.end_transaction();
  server.use("a");  // in use in the next transaction
  EXPECT_EQ(server.insert("d"), (Names{"b", "c"}));
  EXPECT_TRUE(server.contains("a"));
  EXPECT_TRUE(server.contains("d"));
  EXPECT_EQ(server.size(), 2u);
}

// Server names are longer than std::string's in-place buffer; looking them up by
// string_view must find them, and "in use" must last exactly one transaction.
TEST(ServerStatements, LongNamesAreFoundByViewAndInUseForOneTransaction) {
  ServerStatements server(1);
  const std::string name = "rsv_0123456789abcdef0123456789abcdef";
  const std::string other = "rsv_fedcba9876543210fedcba9876543210";
  EXPECT_TRUE(server.insert(name).empty());
  EXPECT_TRUE(server.contains(std::string_view(name)));
  EXPECT_FALSE(server.contains(std::string_view(name).substr(0, 20)));
  EXPECT_TRUE(server.in_use(std::string_view(name)));
  server.end_transaction();
  EXPECT_FALSE(server.in_use(name));
  server.end_transaction();
  server.use(name);
  EXPECT_TRUE(server.in_use(name));
  // In use: a second statement cannot evict it, so the set grows for now.
  EXPECT_TRUE(server.insert(other).empty());
  EXPECT_EQ(server.size(), 2u);
  server.end_transaction();
  // Neither is in use any more: both go, least recently used first, to make room.
  const std::string third = "rsv_third_statement_name_long_enough";
  EXPECT_EQ(server.insert(third), (Names{name, other}));
  EXPECT_EQ(server.names(), (Names{third}));
  EXPECT_FALSE(server.in_use(name));
  server.erase(third);
  EXPECT_FALSE(server.in_use(third));
  EXPECT_FALSE(server.contains(third));
}

TEST(ServerStatements, InsertingAKnownNameOnlyUsesIt) {
  ServerStatements server(2);
  EXPECT_TRUE(server.insert("a").empty());
  EXPECT_TRUE(server.insert("b").empty());
  server.end_transaction();
  EXPECT_TRUE(server.insert("a").empty());
  EXPECT_TRUE(server.in_use("a"));
  EXPECT_EQ(server.names(), (Names{"b", "a"}));
}

TEST(ServerStatements, EraseAndClear) {
  ServerStatements server(4);
  (void)server.insert("a");
  (void)server.insert("b");
  server.erase("a");
  server.erase("never there");
  EXPECT_FALSE(server.contains("a"));
  EXPECT_FALSE(server.in_use("a"));
  EXPECT_EQ(server.names(), Names{"b"});
  server.clear();
  EXPECT_EQ(server.size(), 0u);
  EXPECT_FALSE(server.in_use("b"));
  EXPECT_TRUE(server.insert("c").empty());
}

TEST(ServerStatements, CapacityOneStillWorks) {
  ServerStatements server(1);
  EXPECT_TRUE(server.insert("a").empty());
  server.end_transaction();
  EXPECT_EQ(server.insert("b"), Names{"a"});
  server.end_transaction();
  EXPECT_EQ(server.insert("c"), Names{"b"});
  EXPECT_EQ(server.names(), Names{"c"});
}

}  // namespace
}  // namespace reservoir::pool
