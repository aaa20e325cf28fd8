#pragma once
// Type bytes of typed messages. Several bytes mean different messages depending on the
// direction ('E' is Execute from a client but ErrorResponse from a server), so the names
// always say the message, and message_name() needs the direction.
#include <string_view>

namespace reservoir::protocol {

enum class Direction { kFrontend, kBackend };

namespace msg {

// Frontend: client -> server.
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kFlush = 'H';
inline constexpr char kParse = 'P';
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
inline constexpr char kCopyFail = 'f';
// PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse all share 'p'.
inline constexpr char kPasswordMessage = 'p';

// Backend: server -> client.
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kDataRow = 'D';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kAuthentication = 'R';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kRowDescription = 'T';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kNoData = 'n';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kParameterDescription = 't';
inline constexpr char kNegotiateProtocolVersion = 'v';

// Both directions.
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';

}  // namespace msg

// Human-readable name of a type byte for logs ("Query", "ErrorResponse"); "Unknown" if the
// byte is not a message of that direction.
std::string_view message_name(char type, Direction direction);

}  // namespace reservoir::protocol
