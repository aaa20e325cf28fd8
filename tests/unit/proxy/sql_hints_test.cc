#include "proxy/sql_hints.h"

#include <gtest/gtest.h>

namespace reservoir::proxy {
namespace {

TEST(MayChangeSettingsTest, StatementsThatChangeSettings) {
  EXPECT_TRUE(may_change_settings("SET search_path = app"));
  EXPECT_TRUE(may_change_settings("  set application_name to 'x'"));
  EXPECT_TRUE(may_change_settings("RESET ALL"));
  EXPECT_TRUE(may_change_settings("select 1; SET work_mem = '8MB'"));
  EXPECT_TRUE(may_change_settings("SELECT pg_catalog.set_config('a.b', 'c', false)"));
  EXPECT_TRUE(may_change_settings("DISCARD ALL"));
  EXPECT_TRUE(may_change_settings("\n\tSeT TimeZone='UTC'"));
}

TEST(MayChangeSettingsTest, OrdinaryStatementsDoNot) {
  EXPECT_FALSE(may_change_settings("UPDATE pgbench_accounts SET abalance = abalance + 1"));
  EXPECT_FALSE(may_change_settings("SELECT * FROM t ORDER BY id OFFSET 10"));
  EXPECT_FALSE(may_change_settings("SELECT settings FROM dataset"));
  EXPECT_FALSE(may_change_settings("INSERT INTO resets VALUES (1)"));
  EXPECT_FALSE(may_change_settings(""));
}

}  // namespace
}  // namespace reservoir::proxy

namespace reservoir::proxy {
namespace {

TEST(MayChangeSettingsTest, EdgeCases) {
  EXPECT_TRUE(may_change_settings("SELECT SET_CONFIG('a.b', 'c', false)"));
  EXPECT_TRUE(may_change_settings("select 1;reset role"));
  EXPECT_TRUE(may_change_settings("(SET x = 1)"));
  EXPECT_FALSE(may_change_settings("SELECT offset_config FROM t"));
  EXPECT_FALSE(may_change_settings("SELECT my_set_config(1)"));
  EXPECT_FALSE(may_change_settings("SELECT 1;"));
  EXPECT_FALSE(may_change_settings("settings"));
}

}  // namespace
}  // namespace reservoir::proxy

namespace reservoir::proxy {
namespace {

// The scan is ASCII-only and locale-free: mixed case, a name right at the start, and
// identifiers with non-ASCII bytes.
TEST(MayChangeSettingsTest, CaseAndBytes) {
  EXPECT_TRUE(may_change_settings("set_config('a.b', 'c', false)"));
  EXPECT_TRUE(may_change_settings("SELECT Set_Config('a.b', 'c', true)"));
  EXPECT_TRUE(may_change_settings("select 1; DiScArD plans"));
  EXPECT_FALSE(may_change_settings("SELECT \xc3\xa9set_config(1)"));
  EXPECT_FALSE(may_change_settings("SET\xc3\xa9 FROM t"));
  EXPECT_FALSE(may_change_settings("_config"));
  EXPECT_FALSE(may_change_settings("SELECT pgbench_accounts.abalance FROM pgbench_accounts"));
}

TEST(MayDropStatements, DiscardAndDeallocateAtAStatementStart) {
  EXPECT_TRUE(may_drop_statements("DISCARD ALL"));
  EXPECT_TRUE(may_drop_statements("  deallocate all"));
  EXPECT_TRUE(may_drop_statements("SELECT 1; DEALLOCATE PREPARE s"));
  EXPECT_FALSE(may_drop_statements("SELECT 'discard'"));
  EXPECT_FALSE(may_drop_statements("SELECT * FROM discarded"));
  EXPECT_FALSE(may_drop_statements(""));
}

}  // namespace
}  // namespace reservoir::proxy
