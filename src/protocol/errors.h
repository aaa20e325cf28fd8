#pragma once
// SQLSTATEs the protocol layer reports, and constructors for its errors.
#include <string>

#include "common/result.h"

namespace reservoir::protocol {

namespace sqlstate {
inline constexpr const char* kProtocolViolation = "08P01";
inline constexpr const char* kProgramLimitExceeded = "54000";
inline constexpr const char* kInvalidAuthorizationSpecification = "28000";
inline constexpr const char* kFeatureNotSupported = "0A000";
}  // namespace sqlstate

// A malformed message: 08P01 protocol_violation.
inline Error protocol_violation(std::string message) {
  return Error{std::move(message), sqlstate::kProtocolViolation};
}

// A message longer than a configured or protocol maximum: 54000 program_limit_exceeded.
inline Error message_too_long(std::string message) {
  return Error{std::move(message), sqlstate::kProgramLimitExceeded};
}

}  // namespace reservoir::protocol
