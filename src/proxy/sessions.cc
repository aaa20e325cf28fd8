#include "proxy/sessions.h"

namespace reservoir::proxy {

std::optional<BackendKey> SessionRegistry::add(const std::shared_ptr<ClientSession>& session,
                                               int max_clients) {
  std::lock_guard lock(mu_);
  if (max_clients > 0 && by_pid_.size() >= static_cast<std::size_t>(max_clients)) {
    return std::nullopt;
  }
  // Pids are small positive numbers, unique among connected clients; the secret is random.
  while (by_pid_.count(next_pid_) != 0) next_pid_ = next_pid_ % 0x7fffffff + 1;
  BackendKey key{next_pid_, static_cast<std::int32_t>(rng_())};
  next_pid_ = next_pid_ % 0x7fffffff + 1;
  by_pid_.emplace(key.pid, Entry{key.secret, session});
  return key;
}

void SessionRegistry::remove(const BackendKey& key) {
  std::lock_guard lock(mu_);
  by_pid_.erase(key.pid);
}

std::shared_ptr<ClientSession> SessionRegistry::find(const BackendKey& key) {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(key.pid);
  if (it == by_pid_.end() || it->second.secret != key.secret) return nullptr;
  return it->second.session.lock();
}

std::vector<std::shared_ptr<ClientSession>> SessionRegistry::all() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<ClientSession>> out;
  for (auto& [pid, e] : by_pid_) {
    if (auto s = e.session.lock()) out.push_back(std::move(s));
  }
  return out;
}

std::size_t SessionRegistry::size() {
  std::lock_guard lock(mu_);
  return by_pid_.size();
}

}  // namespace reservoir::proxy
