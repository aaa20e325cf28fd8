// SessionRegistry: keys, lookups by exact key, max_client_conn, unique pids.
#include "proxy/sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace reservoir::proxy {
namespace {

// The registry only stores and returns session pointers, never uses them, so a stand-in
// owner with a distinct address per "session" is enough here.
struct Fake {
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  std::shared_ptr<ClientSession> session{owner, reinterpret_cast<ClientSession*>(owner.get())};
};

TEST(SessionRegistry, KeysFindTheirSessionOnlyWithTheRightSecret) {
  SessionRegistry reg;
  Fake a, b;
  auto ka = reg.add(a.session, 0);
  auto kb = reg.add(b.session, 0);
  ASSERT_TRUE(ka && kb);
  EXPECT_NE(ka->pid, kb->pid);
  EXPECT_GT(ka->pid, 0);
  EXPECT_EQ(reg.find(*ka), a.session);
  EXPECT_EQ(reg.find(*kb), b.session);
  EXPECT_EQ(reg.find(BackendKey{ka->pid, ka->secret + 1}), nullptr);
  EXPECT_EQ(reg.find(BackendKey{9999, ka->secret}), nullptr);
  EXPECT_EQ(reg.find(BackendKey{0, 0}), nullptr);
  EXPECT_EQ(reg.find(BackendKey{-3, 0}), nullptr);
  EXPECT_EQ(reg.size(), 2u);
  EXPECT_EQ(reg.all().size(), 2u);
}

TEST(SessionRegistry, MaxClientsRefusesTheOneTooMany) {
  SessionRegistry reg;
  Fake a, b, c;
  ASSERT_TRUE(reg.add(a.session, 2));
  auto kb = reg.add(b.session, 2);
  ASSERT_TRUE(kb);
  EXPECT_FALSE(reg.add(c.session, 2));
  reg.remove(*kb);
  EXPECT_TRUE(reg.add(c.session, 2));
}

TEST(SessionRegistry, RemovedKeysStopMatchingAndLivePidsStayUnique) {
  SessionRegistry reg;
  std::vector<Fake> fakes(5);
  std::vector<BackendKey> keys;
  for (auto& f : fakes) keys.push_back(*reg.add(f.session, 0));
  reg.remove(keys[3]);
  reg.remove(keys[1]);
  EXPECT_EQ(reg.size(), 3u);
  EXPECT_EQ(reg.find(keys[3]), nullptr);
  EXPECT_EQ(reg.find(keys[1]), nullptr);
  EXPECT_EQ(reg.find(keys[2]), fakes[2].session);
  std::vector<Fake> more(4);
  std::set<std::int32_t> live = {keys[0].pid, keys[2].pid, keys[4].pid};
  for (auto& f : more) {
    auto k = reg.add(f.session, 0);
    ASSERT_TRUE(k);
    EXPECT_TRUE(live.insert(k->pid).second) << "pid " << k->pid << " given twice";
    EXPECT_EQ(reg.find(*k), f.session);
  }
  std::set<ClientSession*> all;
  for (const auto& s : reg.all()) all.insert(s.get());
  EXPECT_EQ(all.size(), 7u);
}

TEST(SessionRegistry, ADestroyedSessionIsNotListed) {
  SessionRegistry reg;
  auto gone = std::make_unique<Fake>();
  Fake kept;
  ASSERT_TRUE(reg.add(gone->session, 0));
  ASSERT_TRUE(reg.add(kept.session, 0));
  gone.reset();
  const auto all = reg.all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], kept.session);
}

}  // namespace
}  // namespace reservoir::proxy
