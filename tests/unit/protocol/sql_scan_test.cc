#include "protocol/sql_scan.h"

#include <gtest/gtest.h>

namespace reservoir::protocol {
namespace {

TEST(ScanSql, PlainStatementsHaveNoHints) {
  EXPECT_EQ(scan_sql("SELECT 1"), 0u);
  EXPECT_EQ(scan_sql("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), 0u);
  EXPECT_EQ(scan_sql("UPDATE t SET a = 1 WHERE b = 'listen'"), 0u);
  EXPECT_EQ(scan_sql("INSERT INTO resets VALUES (1)"), 0u);
  EXPECT_EQ(scan_sql("SELECT my_set_config(1), offset_config FROM t"), 0u);
  EXPECT_EQ(scan_sql("SELECT advisory FROM t"), 0u);
  EXPECT_EQ(scan_sql(""), 0u);
  EXPECT_EQ(scan_sql(";;  ;"), 0u);
}

TEST(ScanSql, FirstWordOfEachStatement) {
  EXPECT_EQ(scan_sql("set search_path = app"), kChangesSettings);
  EXPECT_EQ(scan_sql("select 1; RESET ALL"), kChangesSettings);
  EXPECT_EQ(scan_sql("  Listen ch"), kTouchesSession);
  EXPECT_EQ(scan_sql("UNLISTEN *"), kTouchesSession);
  EXPECT_EQ(scan_sql("create temp table t (a int)"), kTouchesSession);
  EXPECT_EQ(scan_sql("DECLARE c CURSOR WITH HOLD FOR SELECT 1"), kTouchesSession);
  EXPECT_EQ(scan_sql("close c"), kTouchesSession);
  EXPECT_EQ(scan_sql("(PREPARE p AS SELECT 1)"), kTouchesSession);
  EXPECT_EQ(scan_sql("DEALLOCATE ALL"), kTouchesSession | kDropsStatements);
  EXPECT_EQ(scan_sql("discard all"), kChangesSettings | kTouchesSession | kDropsStatements);
  EXPECT_EQ(scan_sql("DROP TABLE t"), kDrops);
  EXPECT_EQ(scan_sql("SELECT 1;\n\tset x = 1; listen c"), kChangesSettings | kTouchesSession);
}

TEST(ScanSql, WholeWordsOnly) {
  EXPECT_EQ(scan_sql("settings"), 0u);
  EXPECT_EQ(scan_sql("listener"), 0u);
  EXPECT_EQ(scan_sql("dropped"), 0u);
  EXPECT_EQ(scan_sql("SET\xc3\xa9 FROM t"), 0u);  // a non-ASCII byte continues the word
  EXPECT_EQ(scan_sql("createx"), 0u);
}

TEST(ScanSql, CallsFoundFromTheirUnderscore) {
  EXPECT_EQ(scan_sql("SELECT pg_catalog.set_config('a.b', 'c', false)"), kChangesSettings);
  EXPECT_EQ(scan_sql("set_config('a', 'b', true)"), kChangesSettings);
  EXPECT_EQ(scan_sql("SELECT SET_CONFIG('a.b', 'c', false)"), kChangesSettings);
  EXPECT_EQ(scan_sql("SELECT \xc3\xa9set_config(1)"), 0u);
  EXPECT_EQ(scan_sql("_config"), 0u);
  EXPECT_EQ(scan_sql("select pg_advisory_lock(1)"), kTouchesSession);
  EXPECT_EQ(scan_sql("SELECT PG_TRY_ADVISORY_LOCK_SHARED(1)"), kTouchesSession);
  EXPECT_EQ(scan_sql("SELECT \"pg_try_advisory_xact_lock\"(1)"), kTouchesSession);
  EXPECT_EQ(scan_sql("SELECT pg_advisory_unlock_all()"), kTouchesSession);
  // Cut short around the '_': nothing read past the end.
  for (const char* cut : {"t_", "pg_", "pg_a", "pg_ad", "pg_advisor", "set_", "set_confi"}) {
    EXPECT_EQ(scan_sql(cut), 0u) << cut;
  }
}

TEST(StatementText, QueryAndParseBodies) {
  using namespace std::string_view_literals;
  EXPECT_EQ(statement_text('Q', "SELECT 1\0"sv), "SELECT 1");
  // A Query's text runs to its last byte: a NUL inside stays in (PostgreSQL refuses it).
  EXPECT_EQ(statement_text('Q', "SELECT 1\0SET a = 1\0"sv), "SELECT 1\0SET a = 1"sv);
  EXPECT_EQ(statement_text('Q', "SELECT 1"sv), "SELECT 1");  // no NUL at all: the whole body
  // A Parse: after the statement name, up to the NUL before the parameter types.
  EXPECT_EQ(statement_text('P', "s1\0SELECT $1\0\0\x01\0\0\0\x17"sv), "SELECT $1");
  EXPECT_EQ(statement_text('P', "\0SELECT 2\0\0\0"sv), "SELECT 2");
  EXPECT_EQ(statement_text('P', "no-nul-after-the-name"sv), "");
}

}  // namespace
}  // namespace reservoir::protocol
