#include "config/ini_reader.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace reservoir::config {
namespace {

using testing::TempDir;

std::vector<IniEntry> read_ok(const std::string& text, const std::string& name = "test.ini") {
  auto entries = read_ini(text, name);
  EXPECT_TRUE(entries.ok()) << entries.error().message;
  return entries.ok() ? *entries : std::vector<IniEntry>{};
}

std::string read_error(const std::string& text, const std::string& name = "test.ini") {
  auto entries = read_ini(text, name);
  EXPECT_FALSE(entries.ok());
  return entries.ok() ? "" : entries.error().message;
}

TEST(IniReader, EntriesCarrySectionKeyValueAndLine) {
  auto entries = read_ok(
      "; comment\n# another\n\n[pgbouncer]\nlisten_port = 6432\n[databases]\nfoo = host=x\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].section, "pgbouncer");
  EXPECT_EQ(entries[0].key, "listen_port");
  EXPECT_EQ(entries[0].value, "6432");
  EXPECT_EQ(entries[0].where.to_string(), "test.ini:5");
  EXPECT_EQ(entries[1].section, "databases");
  EXPECT_EQ(entries[1].value, "host=x");
  EXPECT_EQ(entries[1].where.line, 7);
}

TEST(IniReader, InlineCommentNeedsSpaceBeforeSemicolonAndRespectsQuotes) {
  auto entries = read_ok(
      "[s]\na = b ; comment\nc = d;e\nf = password='x ;y' ; real comment\ng = h # not a comment\n");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].value, "b");
  EXPECT_EQ(entries[1].value, "d;e");
  EXPECT_EQ(entries[2].value, "password='x ;y'");
  EXPECT_EQ(entries[3].value, "h # not a comment");
}

TEST(IniReader, IndentedLinesAreNotContinuations) {
  // inih would append "  b = 2" to key a; PgBouncer reads it as its own key.
  auto entries = read_ok("[s]\na = 1\n  b = 2\n\tc = 3\n");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].key, "b");
  EXPECT_EQ(entries[1].value, "2");
  EXPECT_EQ(entries[2].key, "c");
}

TEST(IniReader, CrLfAndByteOrderMark) {
  auto entries = read_ok("\xEF\xBB\xBF[s]\r\na = 1\r\n");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].value, "1");
  EXPECT_EQ(entries[0].where.line, 2);
}

TEST(IniReader, LinesLongerThanInihBufferAreKeptWhole) {
  std::string value = "host=db.example.com port=5432 dbname=app application_name='";
  value += std::string(400, 'x') + "'";
  auto entries = read_ok("[databases]\napp = " + value + " ; trailing comment\nnext = host=y\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].key, "app");
  EXPECT_EQ(entries[0].value, value);
  EXPECT_EQ(entries[1].key, "next");
  EXPECT_EQ(entries[1].where.line, 3);
}

TEST(IniReader, LongCommentLinesAreSkipped) {
  auto entries = read_ok("[s]\n; " + std::string(500, 'c') + "\na = 1\n");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].where.line, 3);
}

TEST(IniReader, OverlongSectionHeaderIsAnErrorWithLocation) {
  EXPECT_EQ(read_error("a = 1\n[" + std::string(300, 's') + "]\n"),
            "test.ini:2: line is too long (302 characters)");
}

TEST(IniReader, NulByteIsAnErrorNotATruncation) {
  EXPECT_EQ(read_error(std::string("[s]\na = x\0y\n", 13)), "test.ini:2: line contains a NUL byte");
}

TEST(IniReader, SyntaxErrorNamesFileAndLine) {
  EXPECT_EQ(read_error("[s]\na = 1\nthis line has no equals sign\n"),
            "test.ini:3: syntax error: expected '[section]' or 'key = value'");
  EXPECT_EQ(read_error("[s]\n[broken\n"),
            "test.ini:2: syntax error: expected '[section]' or 'key = value'");
}

TEST(IniReader, IncludeIsRelativeToTheIncludingFileAndNests) {
  TempDir dir;
  const std::string main =
      dir.write("main.ini", "[pgbouncer]\na = 1\n%include conf.d/more.ini\nz = 26\n");
  dir.write("conf.d/more.ini", "b = 2\n%include deeper/last.ini\nc = 3\n");
  dir.write("conf.d/deeper/last.ini", "\n[databases]\nd = host=x\n");
  auto text = read_whole_file(main);
  ASSERT_TRUE(text.ok());
  auto entries = read_ok(*text, main);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[1].key, "b");
  EXPECT_EQ(entries[1].where.to_string(), dir.path("conf.d/more.ini") + ":1");
  EXPECT_EQ(entries[2].key, "d");
  EXPECT_EQ(entries[2].section, "databases");
  EXPECT_EQ(entries[2].where.to_string(), dir.path("conf.d/deeper/last.ini") + ":3");
  EXPECT_EQ(entries[3].key, "c");
  EXPECT_EQ(entries[3].where.to_string(), dir.path("conf.d/more.ini") + ":3");
  // The section set in an included file carries on after it, as in PgBouncer.
  EXPECT_EQ(entries[4].key, "z");
  EXPECT_EQ(entries[4].section, "databases");
  EXPECT_EQ(entries[4].where.to_string(), main + ":4");
}

TEST(IniReader, MissingIncludeReportsTheDirective) {
  TempDir dir;
  const std::string main = dir.path("main.ini");
  const std::string message = read_error("[pgbouncer]\n\n%include nope.ini\n", main);
  EXPECT_EQ(message.rfind(main + ":3: cannot include 'nope.ini': ", 0), 0u) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST(IniReader, IncludeCycleIsAnError) {
  TempDir dir;
  const std::string a = dir.write("a.ini", "%include b.ini\n");
  dir.write("b.ini", "x = 1\n%include ./a.ini\n");
  const std::string message = read_error(*read_whole_file(a), a);
  EXPECT_EQ(message.rfind(dir.path("b.ini") + ":2: %include cycle: ", 0), 0u) << message;
}

TEST(IniReader, SelfIncludeIsACycle) {
  TempDir dir;
  const std::string a = dir.write("a.ini", "%include a.ini\n");
  EXPECT_NE(read_error(*read_whole_file(a), a).find("%include cycle"), std::string::npos);
}

TEST(IniReader, IncludeDepthIsLimited) {
  TempDir dir;
  for (int i = 0; i < 12; ++i)
    dir.write(std::to_string(i) + ".ini", "%include " + std::to_string(i + 1) + ".ini\n");
  dir.write("12.ini", "x = 1\n");
  const std::string message = read_error(*read_whole_file(dir.path("0.ini")), dir.path("0.ini"));
  EXPECT_NE(message.find("nested more than 10 files deep"), std::string::npos) << message;
  EXPECT_EQ(message.rfind(dir.path("10.ini") + ":1:", 0), 0u) << message;
}

TEST(IniReader, TenNestedIncludesAreFine) {
  TempDir dir;
  for (int i = 0; i < 10; ++i)
    dir.write(std::to_string(i) + ".ini", "%include " + std::to_string(i + 1) + ".ini\n");
  dir.write("10.ini", "[s]\nx = 1\n");
  auto entries = read_ok(*read_whole_file(dir.path("0.ini")), dir.path("0.ini"));
  ASSERT_EQ(entries.size(), 1u);
}

TEST(IniReader, IncludeWithoutFileNameIsAnError) {
  EXPECT_EQ(read_error("[s]\n%include   \n"), "test.ini:2: %include needs a file name");
}

TEST(IniReader, UnreadableFile) {
  auto text = read_whole_file("/nonexistent/reservoir.ini");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message,
            "/nonexistent/reservoir.ini: cannot read: No such file or directory");
  EXPECT_EQ(text.error().sqlstate, "F0000");
}

}  // namespace
}  // namespace reservoir::config
