#pragma once
// Turns plain passwords into SCRAM secrets once, not per login. PBKDF2 with 4096 iterations
// costs milliseconds of CPU; doing it on every login of a plain-password user would let a
// burst of connections stall a worker (the performance bug this cache exists for).
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/random.h"
#include "auth/secret.h"

namespace reservoir::auth {

// Thread-safe. Holds at most one entry per user: a changed password (config reload)
// replaces that user's entry, so the cache never grows past the number of users.
class ScramSecretCache {
 public:
  // `iterations` below 1 is treated as 1.
  explicit ScramSecretCache(int iterations = 4096, RandomSource random = system_random());

  // The SCRAM secret (random salt, `iterations`) for `user` with plain `password`. PBKDF2
  // runs at most once per distinct (user, password), even under concurrent calls; callers
  // for other users are not blocked while it runs.
  ScramSecret get(std::string_view user, std::string_view password);

  // The secret to verify `user` by SCRAM: a Scram secret's own; a non-empty Plain one's
  // derived via get(); nullopt for Md5 (SCRAM cannot use it) and for an empty password.
  std::optional<ScramSecret> for_secret(std::string_view user, const Secret& secret);

  // Number of cached users.
  std::size_t size() const;
  // Number of PBKDF2 derivations performed so far (for tests and metrics).
  std::size_t derivations() const;

 private:
  struct Entry {
    std::string password;
    std::once_flag derived;
    ScramSecret secret;
  };

  int iterations_;
  RandomSource random_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;  // by user, guarded by mu_
  std::size_t derivations_ = 0;                                         // guarded by mu_
};

}  // namespace reservoir::auth
