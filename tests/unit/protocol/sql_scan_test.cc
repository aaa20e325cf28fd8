#include "protocol/sql_scan.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

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

// Marks at every position of a 16-byte block and of the overlapping last block: the same
// hints as the marks found one byte at a time would give.
TEST(ScanSql, MarksAtEveryOffsetOfLongTexts) {
  for (std::size_t pad = 0; pad < 40; ++pad) {
    const std::string lead(pad, 'x');
    EXPECT_EQ(scan_sql("SELECT " + lead + "; SET a = 1"), kChangesSettings) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + " pg_advisory_lock(1)"), kTouchesSession) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + " set_config('a', 'b', false)"), kChangesSettings) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + ";listen c;"), kTouchesSession) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + "_"), 0u) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + ";"), 0u) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + ";drop"), kDrops) << pad;
    EXPECT_EQ(scan_sql("SELECT " + lead + " my_settings FROM t_x"), 0u) << pad;
  }
}

// Random texts from statement pieces: the one-pass scan against a plain reading of the rules
// in sql_scan.h, statement by statement and word by word.
unsigned reference_hints(const std::string& sql) {
  auto ident = [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c >= 0x80;  // "C" locale: ASCII only
  };
  auto lower = [](std::string w) {
    for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return w;
  };
  unsigned hints = 0;
  std::size_t start = 0;
  for (;;) {  // the first word of each statement
    std::size_t i = start;
    while (i < sql.size() && std::string_view(" \t\n\r(").find(sql[i]) != std::string::npos) ++i;
    std::size_t j = i;
    while (j < sql.size() && ident(static_cast<unsigned char>(sql[j]))) ++j;
    const std::string word = lower(sql.substr(i, j - i));
    if (word == "set" || word == "reset") hints |= kChangesSettings;
    if (word == "listen" || word == "unlisten" || word == "prepare" || word == "create" ||
        word == "close" || word == "declare") {
      hints |= kTouchesSession;
    }
    if (word == "discard") hints |= kChangesSettings | kTouchesSession | kDropsStatements;
    if (word == "deallocate") hints |= kTouchesSession | kDropsStatements;
    if (word == "drop") hints |= kDrops;
    const std::size_t semi = sql.find(';', start);
    if (semi == std::string::npos) break;
    start = semi + 1;
  }
  for (std::size_t i = 0; i < sql.size();) {  // every word: set_config, *_advisory*
    std::size_t j = i;
    while (j < sql.size() && ident(static_cast<unsigned char>(sql[j]))) ++j;
    const std::string word = lower(sql.substr(i, j - i));
    if (word == "set_config") hints |= kChangesSettings;
    if (word.find("_advisory") != std::string::npos) hints |= kTouchesSession;
    i = j == i ? i + 1 : j;
  }
  return hints;
}

TEST(ScanSql, AgreesWithAPlainReadingOfItsRules) {
  const std::vector<std::string> pieces = {"SELECT ",
                                           "set ",
                                           "SET",
                                           "reset ",
                                           "listen ",
                                           "Unlisten ",
                                           "PREPARE ",
                                           "create ",
                                           "close ",
                                           "discard ",
                                           "DEALLOCATE ",
                                           "declare ",
                                           "drop ",
                                           "x",
                                           "_",
                                           ";",
                                           " ",
                                           "(",
                                           "\n",
                                           "set_config(",
                                           "pg_advisory_lock(",
                                           "pg_try_advisory_xact_lock",
                                           "abc_def",
                                           "1",
                                           "'",
                                           "\xc3\xa9",
                                           "settings",
                                           "droplet",
                                           "\"",
                                           "SET_CONFIG",
                                           "_ADVISORY"};
  std::mt19937 rng(4242);
  for (int round = 0; round < 20000; ++round) {
    std::string sql;
    const int count = static_cast<int>(rng() % 24);
    for (int k = 0; k < count; ++k) sql += pieces[rng() % pieces.size()];
    EXPECT_EQ(scan_sql(sql), reference_hints(sql)) << sql;
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
