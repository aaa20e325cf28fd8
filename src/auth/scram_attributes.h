#pragma once
// Internal to auth/: reading SCRAM messages, which are comma-separated `<letter>=<value>`
// attributes (RFC 5802 section 5). Values never contain ',' (saslname escapes it as =2C).
#include <string>
#include <string_view>

#include "common/result.h"

namespace reservoir::auth {

// Walks the attributes of one SCRAM message. Every error is 08P01 and names the problem.
class ScramAttributeReader {
 public:
  explicit ScramAttributeReader(std::string_view message) : rest_(message) {}

  // Reads the next attribute, which must be named `name`, and returns its value.
  Result<std::string_view> expect(char name);
  // Reads the next attribute whatever its name; `name` receives the letter.
  Result<std::string_view> next(char& name);
  bool at_end() const { return rest_.empty(); }
  // What is left unread (after the separating ',').
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// The shared message checks: size limit, no NUL bytes (PostgreSQL reads these as C strings).
Result<std::string_view> check_scram_message(std::string_view message, std::size_t max_bytes);

// A nonce must be non-empty printable ASCII (0x21..0x7e) without ',' (RFC 5802 `printable`).
bool is_valid_scram_nonce(std::string_view nonce);

// Error helper: 08P01 "malformed SCRAM message (<detail>)".
Error scram_malformed(std::string_view detail);

}  // namespace reservoir::auth
