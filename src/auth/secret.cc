#include "auth/secret.h"

#include <charconv>
#include <limits>

#include "auth/base64.h"
#include "auth/digest.h"

namespace reservoir::auth {
namespace {

constexpr std::string_view kScramPrefix = "SCRAM-SHA-256$";

Error malformed(std::string reason) {
  return make_error("XX000", "invalid SCRAM secret: " + reason);
}

// Splits `text` at the first `sep`; false if absent.
bool split_once(std::string_view text, char sep, std::string_view& left, std::string_view& right) {
  auto pos = text.find(sep);
  if (pos == std::string_view::npos) return false;
  left = text.substr(0, pos);
  right = text.substr(pos + 1);
  return true;
}

Result<Bytes> decode_key(std::string_view b64, const char* name) {
  auto key = base64_decode(b64);
  if (!key) return malformed(std::string(name) + " is not valid base64");
  if (key->size() != kSha256Bytes) return malformed(std::string(name) + " is not 32 bytes");
  return key;
}

}  // namespace

Result<ScramSecret> ScramSecret::parse(std::string_view text) {
  if (!text.starts_with(kScramPrefix)) return malformed("missing SCRAM-SHA-256$ prefix");
  text.remove_prefix(kScramPrefix.size());
  std::string_view iter_salt, keys, iter, salt_b64, stored_b64, server_b64;
  if (!split_once(text, '$', iter_salt, keys) || !split_once(iter_salt, ':', iter, salt_b64) ||
      !split_once(keys, ':', stored_b64, server_b64)) {
    return malformed("expected <iterations>:<salt>$<StoredKey>:<ServerKey>");
  }
  ScramSecret s;
  auto [end, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), s.iterations);
  if (iter.empty() || ec != std::errc() || end != iter.data() + iter.size() || s.iterations < 1) {
    return malformed("iteration count must be a positive integer");
  }
  auto salt = base64_decode(salt_b64);
  if (!salt || salt->empty()) return malformed("salt is not valid non-empty base64");
  s.salt = std::move(*salt);
  auto stored = decode_key(stored_b64, "StoredKey");
  if (!stored) return stored.error();
  auto server = decode_key(server_b64, "ServerKey");
  if (!server) return server.error();
  s.stored_key = std::move(*stored);
  s.server_key = std::move(*server);
  return s;
}

std::string ScramSecret::to_string() const {
  return std::string(kScramPrefix) + std::to_string(iterations) + ":" + base64_encode(salt) + "$" +
         base64_encode(stored_key) + ":" + base64_encode(server_key);
}

bool is_md5_hash(std::string_view text) {
  if (text.size() != 35 || !text.starts_with("md5")) return false;
  for (char c : text.substr(3)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Secret parse_secret(std::string_view text) {
  Secret s;
  s.text = std::string(text);
  if (is_md5_hash(text)) {
    s.kind = Secret::Kind::Md5;
    s.md5 = s.text;
  } else if (auto scram = ScramSecret::parse(text)) {
    s.kind = Secret::Kind::Scram;
    s.scram = std::move(*scram);
  }
  return s;
}

}  // namespace reservoir::auth
