#include "pool/prepared.h"

#include <fmt/format.h>

namespace reservoir::pool {

namespace {

// FNV-1a, 64 bits: stable across runs and platforms, which std::hash does not promise.
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

// A final mix (from splitmix64) so that near-identical texts differ in every digit.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

constexpr std::string_view kPrefix = "rsv_";
constexpr std::size_t kHexDigits = 16;

}  // namespace

std::string server_statement_name(std::string_view query,
                                  const std::vector<std::uint32_t>& param_types) {
  std::uint64_t h = fnv1a(kFnvOffset, query.data(), query.size());
  // The query cannot contain NUL, so this separator keeps ("a", [1]) apart from ("a\1", []).
  const unsigned char separator = 0;
  h = fnv1a(h, &separator, 1);
  for (std::uint32_t oid : param_types) {
    const unsigned char b[4] = {
        static_cast<unsigned char>(oid >> 24), static_cast<unsigned char>(oid >> 16),
        static_cast<unsigned char>(oid >> 8), static_cast<unsigned char>(oid)};
    h = fnv1a(h, b, sizeof b);
  }
  return fmt::format("{}{:016x}", kPrefix, mix(h));
}

bool is_server_statement_name(std::string_view name) {
  if (name.size() != kPrefix.size() + kHexDigits || !name.starts_with(kPrefix)) return false;
  for (char c : name.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

const Statement* ClientStatements::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

bool ClientStatements::add(std::string name, std::shared_ptr<const Statement> statement) {
  return by_name_.emplace(std::move(name), std::move(statement)).second;
}

void ClientStatements::remove(std::string_view name) {
  const auto it = by_name_.find(name);
  if (it != by_name_.end()) by_name_.erase(it);
}

bool ServerStatements::use(std::string_view name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return false;
  lru_.splice(lru_.end(), lru_, it->second);
  it->second->used_in = transaction_;
  return true;
}

std::vector<std::string> ServerStatements::insert(const std::string& name) {
  std::vector<std::string> evicted;
  if (!index_.contains(name)) {
    auto victim = lru_.begin();
    while (index_.size() >= capacity_ && victim != lru_.end()) {
      if (victim->used_in == transaction_) {
        ++victim;
        continue;
      }
      index_.erase(victim->name);
      evicted.push_back(std::move(victim->name));
      victim = lru_.erase(victim);
    }
    index_.emplace(name, lru_.insert(lru_.end(), Slot{name}));
  }
  use(name);
  return evicted;
}

void ServerStatements::erase(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void ServerStatements::clear() {
  lru_.clear();
  index_.clear();
}

}  // namespace reservoir::pool
