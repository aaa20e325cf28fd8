#pragma once
// PgBouncer's auth_file (userlist.txt):
//
//   ; comment            # comment too
//   "alice" "plain password"
//   "bob"   "md5d1a5bb2ea4c93e4e7e0c0b6d43c7d52f"
//   "carol" "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"
//   "dan ""the man""" "pass"      <- "" inside quotes is one literal quote
//
// Each entry line holds at least two double-quoted fields; as in PgBouncer, anything after the
// second field is ignored. Blank lines and lines starting with ';' or '#' (after leading
// whitespace) are ignored; any other line is an error. A later line for the same user
// replaces an earlier one (PgBouncer does the same).
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "auth/secret.h"
#include "common/result.h"

namespace reservoir::auth {

// An immutable-after-load map from user name to Secret. Not internally synchronized: build
// it once, then share it read-only (e.g. as shared_ptr<const CredentialStore>).
class CredentialStore {
 public:
  // Longest auth_file load() accepts; a bigger file is almost surely a mistake.
  static constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;

  // Parses auth_file text. Errors read "<source_name>:<line>: <reason>" (sqlstate XX000),
  // e.g. "userlist.txt:3: unterminated quoted field". A malformed SCRAM secret is an error
  // (PostgreSQL would silently treat it as a plain password, which is never what is meant).
  static Result<CredentialStore> parse(std::string_view text, std::string_view source_name);
  // Reads and parses the file at `path`; errors name the path.
  static Result<CredentialStore> load(const std::string& path);

  // The secret for `user` (exact, case-sensitive match), or nullptr. The pointer is valid
  // until the store is modified or destroyed.
  const Secret* find(std::string_view user) const;
  // Adds or replaces the entry for `user`.
  void add(std::string user, Secret secret);
  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, Secret, std::less<>> users_;
};

}  // namespace reservoir::auth
