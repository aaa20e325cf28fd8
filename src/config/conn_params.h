#pragma once
// libpq-style "key=value key2='value 2'" lists, as used by [databases] and [users] lines.
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace reservoir::config {

struct ConnParam {
  std::string key;
  std::string value;
};

// Splits `text` into key=value pairs in order. Spaces may surround '='. A value is either
// bare (ends at whitespace; a backslash escapes the next character) or single-quoted, where
// '' and \' stand for a quote and \\ for a backslash. The error message is the reason only.
Result<std::vector<ConnParam>> parse_conn_params(std::string_view text);

}  // namespace reservoir::config
