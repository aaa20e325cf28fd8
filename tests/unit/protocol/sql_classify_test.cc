#include "protocol/sql_classify.h"

#include <gtest/gtest.h>

namespace reservoir::protocol {
namespace {

using K = SqlEffect::Kind;
using Effects = std::vector<SqlEffect>;

TEST(MayTouchSession, OrdinaryStatementsAreNotParsed) {
  EXPECT_FALSE(may_touch_session("SELECT 1", true));
  EXPECT_FALSE(may_touch_session("INSERT INTO t VALUES (1)", true));
  EXPECT_FALSE(may_touch_session("UPDATE t SET a = 1 WHERE b = 'listen'", true));
  EXPECT_FALSE(may_touch_session("DROP TABLE t", false));
  EXPECT_TRUE(may_touch_session("DROP TABLE t", true));
  EXPECT_TRUE(may_touch_session("  listen x", false));
  EXPECT_TRUE(may_touch_session("SELECT 1; CREATE TEMP TABLE t (a int)", false));
  EXPECT_TRUE(may_touch_session("select pg_advisory_lock(1)", false));
  EXPECT_TRUE(may_touch_session("DEALLOCATE ALL", false));
}

TEST(ClassifySql, ListenAndUnlisten) {
  EXPECT_EQ(classify_sql("LISTEN Foo"), (Effects{{K::Listen, "foo"}}));
  EXPECT_EQ(classify_sql("UNLISTEN foo; UNLISTEN *"),
            (Effects{{K::Unlisten, "foo"}, {K::UnlistenAll, ""}}));
}

TEST(ClassifySql, AdvisoryLocksInsideQueries) {
  EXPECT_EQ(classify_sql("SELECT pg_advisory_lock(1), pg_advisory_xact_lock(2)"),
            (Effects{{K::AdvisoryLock, ""}}));  // the xact lock ends with the transaction
  EXPECT_EQ(classify_sql("SELECT x FROM t WHERE pg_try_advisory_lock(t.id)"),
            (Effects{{K::AdvisoryLock, ""}}));
  EXPECT_EQ(classify_sql("SELECT pg_catalog.pg_advisory_unlock(1)"),
            (Effects{{K::AdvisoryUnlock, ""}}));
  EXPECT_EQ(classify_sql("select pg_advisory_unlock_all()"), (Effects{{K::AdvisoryUnlockAll, ""}}));
  EXPECT_EQ(classify_sql("SELECT 'pg_advisory_lock(1)'"), Effects{});
}

TEST(ClassifySql, TemporaryObjects) {
  EXPECT_EQ(classify_sql("CREATE TEMP TABLE t (a int)"), (Effects{{K::CreateTemp, "t"}}));
  EXPECT_EQ(classify_sql("create temporary table t2 as select 1"),
            (Effects{{K::CreateTemp, "t2"}}));
  EXPECT_EQ(classify_sql("CREATE TEMP VIEW v AS SELECT 1"), (Effects{{K::CreateTemp, "v"}}));
  EXPECT_EQ(classify_sql("CREATE TABLE t (a int)"), Effects{});
  EXPECT_EQ(classify_sql("DROP TABLE IF EXISTS t, s.u"), (Effects{{K::Drop, "t"}, {K::Drop, "u"}}));
  EXPECT_EQ(classify_sql("DISCARD TEMP"), (Effects{{K::DiscardTemp, ""}}));
}

TEST(ClassifySql, CursorsPreparedStatementsDiscard) {
  EXPECT_EQ(classify_sql("DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
            (Effects{{K::DeclareHold, "c"}}));
  EXPECT_EQ(classify_sql("DECLARE c CURSOR FOR SELECT 1"), Effects{});
  EXPECT_EQ(classify_sql("CLOSE c; CLOSE ALL"),
            (Effects{{K::CloseCursor, "c"}, {K::CloseAllCursors, ""}}));
  EXPECT_EQ(classify_sql("PREPARE p(int) AS SELECT $1"), (Effects{{K::Prepare, "p"}}));
  EXPECT_EQ(classify_sql("DEALLOCATE p; DEALLOCATE PREPARE ALL"),
            (Effects{{K::Deallocate, "p"}, {K::DeallocateAll, ""}}));
  EXPECT_EQ(classify_sql("DISCARD ALL"), (Effects{{K::DiscardAll, ""}}));
  EXPECT_EQ(classify_sql("SELEC garbage ("), Effects{});
}

TEST(SessionPins, PinnedUntilUndone) {
  SessionPins pins;
  EXPECT_FALSE(pins.pinned());
  pins.apply({K::Listen, "a"});
  pins.apply({K::Listen, "b"});
  pins.apply({K::Unlisten, "a"});
  EXPECT_TRUE(pins.pinned());
  pins.apply({K::UnlistenAll, ""});
  EXPECT_FALSE(pins.pinned());

  pins.apply({K::AdvisoryLock, ""});
  pins.apply({K::AdvisoryLock, ""});
  pins.apply({K::AdvisoryUnlock, ""});
  EXPECT_TRUE(pins.pinned());
  pins.apply({K::AdvisoryUnlockAll, ""});
  EXPECT_FALSE(pins.pinned());

  pins.apply({K::CreateTemp, "t"});
  EXPECT_TRUE(pins.has_temp_objects());
  pins.apply({K::Drop, "other"});
  EXPECT_TRUE(pins.pinned());
  pins.apply({K::Drop, "t"});
  EXPECT_FALSE(pins.pinned());

  pins.apply({K::DeclareHold, "c"});
  pins.apply({K::Prepare, "p"});
  EXPECT_EQ(pins.describe(), "1 WITH HOLD cursor(s), 1 SQL prepared statement(s)");
  pins.apply({K::CloseAllCursors, ""});
  pins.apply({K::DeallocateAll, ""});
  EXPECT_FALSE(pins.pinned());

  pins.apply({K::Listen, "x"});
  pins.apply({K::CreateTemp, "t"});
  pins.apply({K::DiscardAll, ""});
  EXPECT_FALSE(pins.pinned());
  EXPECT_EQ(pins.describe(), "");
}

TEST(NeedsPinning, OnlyWhatOutlivesTheTransaction) {
  EXPECT_TRUE(needs_pinning({K::Listen, "x"}));
  EXPECT_TRUE(needs_pinning({K::Prepare, "p"}));
  EXPECT_FALSE(needs_pinning({K::UnlistenAll, ""}));
  EXPECT_FALSE(needs_pinning({K::DiscardAll, ""}));
}

}  // namespace
}  // namespace reservoir::protocol
