#include "auth/userlist.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace reservoir::auth {
namespace {

// PostgreSQL 15: SET password_encryption='scram-sha-256';
// CREATE ROLE alice PASSWORD 'correct horse battery staple'; SELECT rolpassword ...
constexpr const char* kAliceScram =
    "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$4yGw4JAU9JyZ3W2kSSC1LZRqYug1CWpccKUaeym62so=:"
    "DiiGt1YmcpHaV8y87dsAOa9GzR9Y4UdZ71YoG1r3/80=";

TEST(ParseSecret, ClassifiesLikePostgres) {
  EXPECT_EQ(parse_secret("hunter2").kind, Secret::Kind::Plain);
  EXPECT_EQ(parse_secret("").kind, Secret::Kind::Plain);
  Secret md5 = parse_secret("md521f3163f8f86fa10bdefbfbd502a8f06");
  EXPECT_EQ(md5.kind, Secret::Kind::Md5);
  EXPECT_EQ(md5.md5, "md521f3163f8f86fa10bdefbfbd502a8f06");
  // Uppercase hex or a wrong length is not an md5 hash for PostgreSQL: plain text.
  EXPECT_EQ(parse_secret("md521F3163F8F86FA10BDEFBFBD502A8F06").kind, Secret::Kind::Plain);
  EXPECT_EQ(parse_secret("md521f3163f8f86fa10bdefbfbd502a8f0").kind, Secret::Kind::Plain);
  Secret scram = parse_secret(kAliceScram);
  ASSERT_EQ(scram.kind, Secret::Kind::Scram);
  ASSERT_TRUE(scram.scram.has_value());
  EXPECT_EQ(scram.scram->iterations, 4096);
  EXPECT_EQ(scram.scram->salt.size(), 16u);
  EXPECT_EQ(scram.text, kAliceScram);
  EXPECT_EQ(parse_secret("SCRAM-SHA-256$4096:abc").kind, Secret::Kind::Plain);
}

TEST(ScramSecretParse, RoundTripsToString) {
  auto s = ScramSecret::parse(kAliceScram);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->to_string(), kAliceScram);
}

TEST(ScramSecretParse, RejectsMalformed) {
  const std::string key = "4yGw4JAU9JyZ3W2kSSC1LZRqYug1CWpccKUaeym62so=";
  for (const std::string& bad : std::vector<std::string>{
           std::string("SCRAM-SHA-1$4096:UXY1hB0MnHEr+K/OxLKbyw==$") + key + ":" + key,
           "SCRAM-SHA-256$0:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":" + key,
           "SCRAM-SHA-256$-1:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":" + key,
           "SCRAM-SHA-256$99999999999:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":" + key,
           "SCRAM-SHA-256$40x6:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":" + key,
           "SCRAM-SHA-256$:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":" + key,
           "SCRAM-SHA-256$4096:$" + key + ":" + key,
           "SCRAM-SHA-256$4096:not*base64$" + key + ":" + key,
           "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$" + key,
           "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$" + key + ":Zm9v",
           "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==" + key + ":" + key,
           "SCRAM-SHA-256$",
       }) {
    EXPECT_FALSE(ScramSecret::parse(bad).ok()) << bad;
  }
}

TEST(CredentialStore, ParsesEntriesCommentsAndEscapes) {
  std::string text =
      "; PgBouncer comment\n"
      "# hash comment\n"
      "\n"
      "   \t\n"
      "\"alice\" \"" +
      std::string(kAliceScram) +
      "\"\n"
      "\"bob\"\t\"md521f3163f8f86fa10bdefbfbd502a8f06\"\r\n"
      "  \"dan \"\"the man\"\"\" \"pa\"\"ss\" trailing fields are ignored\n"
      "\"eve\" \"\"\n"
      "\"sp ace\" \"with space; and # chars\"";  // no final newline
  auto store = CredentialStore::parse(text, "userlist.txt");
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->size(), 5u);
  ASSERT_NE(store->find("alice"), nullptr);
  EXPECT_EQ(store->find("alice")->kind, Secret::Kind::Scram);
  EXPECT_EQ(store->find("bob")->kind, Secret::Kind::Md5);
  ASSERT_NE(store->find("dan \"the man\""), nullptr);
  EXPECT_EQ(store->find("dan \"the man\"")->text, "pa\"ss");
  EXPECT_EQ(store->find("eve")->text, "");
  EXPECT_EQ(store->find("sp ace")->text, "with space; and # chars");
  EXPECT_EQ(store->find("Alice"), nullptr);
  EXPECT_EQ(store->find("nobody"), nullptr);
}

TEST(CredentialStore, LaterEntryReplacesEarlier) {
  auto store = CredentialStore::parse("\"a\" \"one\"\n\"a\" \"two\"\n", "f");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->size(), 1u);
  EXPECT_EQ(store->find("a")->text, "two");
}

TEST(CredentialStore, ErrorsNameFileAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"\"a\" \"x\"\nalice secret\n", "users.txt:2: "},
      {"\n\n\"alice\" \"unterminated\n", "users.txt:3: unterminated quoted field"},
      {"\"alice\"\n", "users.txt:1: missing password field"},
      {"\"alice\" secret\n", "users.txt:1: expected"},
      {"\"\" \"x\"\n", "users.txt:1: empty user name"},
      {"\"unterminated\n\"b\" \"c\"\n", "users.txt:1: unterminated quoted field"},
      {"\"a\" \"SCRAM-SHA-256$4096:abc\"\n", "users.txt:1: invalid SCRAM secret"},
  };
  for (auto [text, prefix] : cases) {
    auto store = CredentialStore::parse(text, "users.txt");
    ASSERT_FALSE(store.ok()) << text;
    EXPECT_TRUE(store.error().message.starts_with(prefix)) << store.error().message;
  }
  auto nul = CredentialStore::parse(std::string_view("\"a\" \"b\0c\"\n", 10), "users.txt");
  EXPECT_FALSE(nul.ok());
}

TEST(CredentialStore, NeverCrashesOnArbitraryBytes) {
  std::uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    int len = int(x % 64);
    for (int i = 0; i < len; ++i) {
      x = x * 1103515245 + 12345;
      const char alphabet[] = "\"\" \t\n;#ab\r\0\xff";
      text.push_back(alphabet[(x >> 16) % (sizeof alphabet - 1)]);
    }
    (void)CredentialStore::parse(text, "fuzz");
  }
}

TEST(CredentialStore, AddAndFind) {
  CredentialStore store;
  store.add("x", parse_secret("pw"));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.find("x")->text, "pw");
  store.add("x", parse_secret("pw2"));
  EXPECT_EQ(store.find("x")->text, "pw2");
}

TEST(CredentialStore, LoadsFileAndReportsMissingFile) {
  std::string path = ::testing::TempDir() + "reservoir_userlist_test.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "\"alice\" \"" << kAliceScram << "\"\n\"bob\" \"oops\n";
  }
  auto bad = CredentialStore::load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, path + ":2: unterminated quoted field");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "\"alice\" \"" << kAliceScram << "\"\n";
  }
  auto good = CredentialStore::load(path);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->size(), 1u);
  std::remove(path.c_str());
  auto missing = CredentialStore::load(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().message.starts_with(path + ": cannot open"))
      << missing.error().message;
}

}  // namespace
}  // namespace reservoir::auth
