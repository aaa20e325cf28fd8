#include "proxy/startup_params.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace reservoir::proxy {
namespace {

protocol::StartupMessage startup(protocol::StartupParams params) {
  protocol::StartupMessage m;
  m.params = std::move(params);
  return m;
}

TEST(RequestedSettingsTest, TakesEverythingButIdentityAndIgnored) {
  auto s = requested_settings(startup({{"user", "u"},
                                       {"database", "d"},
                                       {"application_name", "app"},
                                       {"DateStyle", "ISO"},
                                       {"extra_float_digits", "3"}}),
                              {"extra_float_digits"});
  EXPECT_EQ(s, (SettingList{{"application_name", "app"}, {"datestyle", "ISO"}}));
}

TEST(RequestedSettingsTest, ParsesOptions) {
  auto s = requested_settings(
      startup(
          {{"user", "u"}, {"options", "-c search_path=a,b --statement-timeout=5s -cwork_mem=8MB"}}),
      {});
  EXPECT_EQ(
      s, (SettingList{{"search_path", "a,b"}, {"statement_timeout", "5s"}, {"work_mem", "8MB"}}));
}

TEST(SettingsToApplyTest, SetsDifferencesAndResetsWhatAnEarlierClientLeft) {
  SettingMap applied{{"work_mem", "8MB"}, {"search_path", "x"}};
  SettingMap reported{{"application_name", "old"}, {"TimeZone", "UTC"}};
  auto c = settings_to_apply(
      {{"application_name", "new"}, {"timezone", "UTC"}, {"work_mem", "8MB"}}, applied, reported);
  EXPECT_EQ(c.set, (SettingList{{"application_name", "new"}}));
  EXPECT_EQ(c.reset, (std::vector<std::string>{"search_path"}));
}

TEST(ChangeStatementTest, QuotesValuesAndSkipsOddNames) {
  SettingChanges c;
  c.set = {{"application_name", "it's"}, {"bad name;drop", "x"}};
  c.reset = {"search_path"};
  EXPECT_EQ(change_statement(c),
            "SELECT pg_catalog.set_config('application_name', 'it''s', false);RESET search_path;");
}

TEST(ShareSettingsTest, EqualListsShareOneObjectWhileHeld) {
  const std::size_t before = shared_settings_count();
  SharedSettings a = share_settings({{"application_name", "pgbench"}});
  SharedSettings b = share_settings({{"application_name", "pgbench"}});
  SharedSettings c = share_settings({{"application_name", "psql"}});
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(*c, (SettingList{{"application_name", "psql"}}));
  EXPECT_EQ(shared_settings_count(), before + 2);
  a.reset();
  EXPECT_EQ(shared_settings_count(), before + 2);  // b still holds it
  b.reset();
  c.reset();
  EXPECT_EQ(shared_settings_count(), before);  // nothing kept for lists nobody holds
  SharedSettings again = share_settings({{"application_name", "pgbench"}});
  EXPECT_EQ(*again, (SettingList{{"application_name", "pgbench"}}));
  EXPECT_EQ(no_settings().get(), share_settings({}).get());
}

TEST(ShareSettingsTest, ManyThreadsTakingAndDroppingTheSameListAgree) {
  const std::size_t before = shared_settings_count();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 2000; ++i) {
        SharedSettings s = share_settings({{"search_path", "a"}});
        SharedSettings again = share_settings({{"search_path", "a"}});
        ASSERT_EQ(s.get(), again.get());
        ASSERT_EQ(*s, (SettingList{{"search_path", "a"}}));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(shared_settings_count(), before);
}

}  // namespace
}  // namespace reservoir::proxy
