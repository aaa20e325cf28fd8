#include "protocol/message_types.h"

namespace reservoir::protocol {
namespace {

std::string_view frontend_name(char type) {
  switch (type) {
    case msg::kBind:
      return "Bind";
    case msg::kClose:
      return "Close";
    case msg::kDescribe:
      return "Describe";
    case msg::kExecute:
      return "Execute";
    case msg::kFunctionCall:
      return "FunctionCall";
    case msg::kFlush:
      return "Flush";
    case msg::kParse:
      return "Parse";
    case msg::kQuery:
      return "Query";
    case msg::kSync:
      return "Sync";
    case msg::kTerminate:
      return "Terminate";
    case msg::kCopyFail:
      return "CopyFail";
    case msg::kPasswordMessage:
      return "PasswordMessage";
    case msg::kCopyData:
      return "CopyData";
    case msg::kCopyDone:
      return "CopyDone";
    default:
      return "Unknown";
  }
}

std::string_view backend_name(char type) {
  switch (type) {
    case msg::kParseComplete:
      return "ParseComplete";
    case msg::kBindComplete:
      return "BindComplete";
    case msg::kCloseComplete:
      return "CloseComplete";
    case msg::kNotificationResponse:
      return "NotificationResponse";
    case msg::kCommandComplete:
      return "CommandComplete";
    case msg::kDataRow:
      return "DataRow";
    case msg::kErrorResponse:
      return "ErrorResponse";
    case msg::kCopyInResponse:
      return "CopyInResponse";
    case msg::kCopyOutResponse:
      return "CopyOutResponse";
    case msg::kEmptyQueryResponse:
      return "EmptyQueryResponse";
    case msg::kBackendKeyData:
      return "BackendKeyData";
    case msg::kNoticeResponse:
      return "NoticeResponse";
    case msg::kAuthentication:
      return "Authentication";
    case msg::kParameterStatus:
      return "ParameterStatus";
    case msg::kRowDescription:
      return "RowDescription";
    case msg::kFunctionCallResponse:
      return "FunctionCallResponse";
    case msg::kCopyBothResponse:
      return "CopyBothResponse";
    case msg::kReadyForQuery:
      return "ReadyForQuery";
    case msg::kNoData:
      return "NoData";
    case msg::kPortalSuspended:
      return "PortalSuspended";
    case msg::kParameterDescription:
      return "ParameterDescription";
    case msg::kNegotiateProtocolVersion:
      return "NegotiateProtocolVersion";
    case msg::kCopyData:
      return "CopyData";
    case msg::kCopyDone:
      return "CopyDone";
    default:
      return "Unknown";
  }
}

}  // namespace

std::string_view message_name(char type, Direction direction) {
  return direction == Direction::kFrontend ? frontend_name(type) : backend_name(type);
}

}  // namespace reservoir::protocol
