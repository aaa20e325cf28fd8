#pragma once
// SessionRegistry: every connected client, keyed by the BackendKeyData Reservoir issued to
// it. Used for CancelRequests (find the client, then its server), for max_client_conn, and
// for shutdown (tell everyone). Thread-safe; a short lock per connect and disconnect.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

namespace reservoir::proxy {

class ClientSession;

struct BackendKey {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};

class SessionRegistry {
 public:
  // Registers a session and issues its key; nullopt when `max_clients` are already here.
  std::optional<BackendKey> add(const std::shared_ptr<ClientSession>& session, int max_clients);
  void remove(const BackendKey& key);
  // The session holding this exact key, or nullptr (unknown pid or wrong secret).
  std::shared_ptr<ClientSession> find(const BackendKey& key);
  std::vector<std::shared_ptr<ClientSession>> all();
  std::size_t size();

 private:
  struct Entry {
    std::int32_t secret;
    std::weak_ptr<ClientSession> session;
  };
  std::mutex mu_;
  std::unordered_map<std::int32_t, Entry> by_pid_;
  std::int32_t next_pid_ = 1;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace reservoir::proxy
