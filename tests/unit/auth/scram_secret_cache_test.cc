#include "auth/scram_secret_cache.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "auth/scram.h"
#include "test_random.h"

namespace reservoir::auth {
namespace {

Status login(const ScramSecret& secret, const std::string& password) {
  ScramServer server(secret);
  ScramClient client(password);
  auto server_first = server.handle_client_first(client.client_first_message());
  if (!server_first) return server_first.error();
  auto client_final = client.handle_server_first(*server_first);
  if (!client_final) return client_final.error();
  auto server_final = server.handle_client_final(*client_final);
  if (!server_final) return server_final.error();
  return client.handle_server_final(*server_final);
}

TEST(ScramSecretCache, DerivesOncePerPassword) {
  ScramSecretCache cache(4096, testing::counting_random());
  ScramSecret first = cache.get("alice", "pw");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(cache.get("alice", "pw"), first);
  EXPECT_EQ(cache.derivations(), 1u);
  EXPECT_EQ(first.iterations, 4096);
  EXPECT_EQ(first.salt.size(), kScramSaltBytes);
  EXPECT_EQ(first, scram_make_secret("pw", first.salt, 4096));
  EXPECT_TRUE(login(first, "pw").ok());
  EXPECT_FALSE(login(first, "pw2").ok());
}

TEST(ScramSecretCache, ChangedPasswordReplacesTheUsersEntry) {
  ScramSecretCache cache(64, testing::counting_random());
  ScramSecret old_secret = cache.get("alice", "old");
  ScramSecret new_secret = cache.get("alice", "new");
  EXPECT_NE(old_secret, new_secret);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.derivations(), 2u);
  EXPECT_TRUE(login(new_secret, "new").ok());
  cache.get("bob", "new");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.derivations(), 3u);
}

TEST(ScramSecretCache, ForSecretByKind) {
  ScramSecretCache cache(64, testing::counting_random());
  Secret scram = parse_secret(scram_make_secret("x", testing::counting_random(), 64).to_string());
  EXPECT_EQ(cache.for_secret("u", scram), scram.scram);
  EXPECT_EQ(cache.for_secret("u", parse_secret("md521f3163f8f86fa10bdefbfbd502a8f06")),
            std::nullopt);
  EXPECT_EQ(cache.for_secret("u", parse_secret("")), std::nullopt);
  auto plain = cache.for_secret("u", parse_secret("pw"));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, cache.get("u", "pw"));
  EXPECT_EQ(cache.derivations(), 1u);  // Scram and Md5 secrets derive nothing
}

TEST(ScramSecretCache, ConcurrentCallersDeriveOnce) {
  ScramSecretCache cache(4096);
  std::vector<ScramSecret> seen(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) seen[t] = cache.get(i % 2 ? "alice" : "bob", "pw");
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(cache.derivations(), 2u);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(seen[0], cache.get("alice", "pw"));
}

}  // namespace
}  // namespace reservoir::auth
