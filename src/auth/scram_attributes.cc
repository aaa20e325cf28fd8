#include "auth/scram_attributes.h"

namespace reservoir::auth {

Error scram_malformed(std::string_view detail) {
  return make_error("08P01", "malformed SCRAM message (" + std::string(detail) + ")");
}

Result<std::string_view> ScramAttributeReader::next(char& name) {
  if (rest_.size() < 2 || rest_[1] != '=') return scram_malformed("attribute expected");
  char c = rest_[0];
  if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
    return scram_malformed("invalid attribute name");
  }
  name = c;
  auto comma = rest_.find(',', 2);
  std::string_view value =
      rest_.substr(2, comma == std::string_view::npos ? rest_.npos : comma - 2);
  if (comma == std::string_view::npos) {
    rest_ = {};
  } else {
    rest_.remove_prefix(comma + 1);
    // A trailing ',' leaves an empty remainder that is not a valid end of message.
    if (rest_.empty()) return scram_malformed("trailing ','");
  }
  return value;
}

Result<std::string_view> ScramAttributeReader::expect(char name) {
  char got = 0;
  auto value = next(got);
  if (!value) return scram_malformed(std::string("attribute \"") + name + "\" expected");
  if (got != name) return scram_malformed(std::string("attribute \"") + name + "\" expected");
  return value;
}

Result<std::string_view> check_scram_message(std::string_view message, std::size_t max_bytes) {
  if (message.size() > max_bytes) return scram_malformed("message too long");
  if (message.find('\0') != std::string_view::npos) return scram_malformed("NUL byte");
  return message;
}

bool is_valid_scram_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

}  // namespace reservoir::auth
