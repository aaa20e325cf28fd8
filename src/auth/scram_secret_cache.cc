#include "auth/scram_secret_cache.h"

#include "auth/digest.h"
#include "auth/scram.h"

namespace reservoir::auth {

ScramSecretCache::ScramSecretCache(int iterations, RandomSource random)
    : iterations_(iterations < 1 ? 1 : iterations), random_(std::move(random)) {}

ScramSecret ScramSecretCache::get(std::string_view user, std::string_view password) {
  std::shared_ptr<Entry> entry;
  Bytes salt;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(user);
    if (it != entries_.end() &&
        equal_constant_time(as_bytes(it->second->password), as_bytes(password))) {
      entry = it->second;
    } else {
      entry = std::make_shared<Entry>();
      entry->password = std::string(password);
      entry->secret.salt.resize(kScramSaltBytes);
      random_(entry->secret.salt);  // under the lock, so `random_` need not be thread-safe
      entries_.insert_or_assign(std::string(user), entry);
    }
  }
  // PBKDF2 runs outside the map lock; concurrent callers for the same entry wait here.
  std::call_once(entry->derived, [&] {
    Bytes entry_salt = entry->secret.salt;
    entry->secret = scram_make_secret(entry->password, entry_salt, iterations_);
    std::lock_guard lock(mu_);
    ++derivations_;
  });
  return entry->secret;
}

std::optional<ScramSecret> ScramSecretCache::for_secret(std::string_view user,
                                                        const Secret& secret) {
  switch (secret.kind) {
    case Secret::Kind::Scram:
      return secret.scram;
    case Secret::Kind::Plain:
      if (secret.text.empty()) return std::nullopt;
      return get(user, secret.text);
    case Secret::Kind::Md5:
      return std::nullopt;
  }
  return std::nullopt;
}

std::size_t ScramSecretCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t ScramSecretCache::derivations() const {
  std::lock_guard lock(mu_);
  return derivations_;
}

}  // namespace reservoir::auth
