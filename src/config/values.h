#pragma once
// Parsers for setting values. An error's message is only the reason ("not an integer"); the
// caller prefixes "file:line: invalid value 'v' for setting 'x': ".
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace reservoir::config {

std::string trim(std::string_view text);
std::string lowercase(std::string_view text);

// A decimal integer in [min, max].
Result<long long> parse_integer(std::string_view text, long long min, long long max);
// 0/1, true/false, on/off, yes/no (any case).
Result<bool> parse_bool(std::string_view text);
// Non-negative seconds, fractions allowed, optionally with a unit: s, ms, us, min, h.
Result<Seconds> parse_duration(std::string_view text);
// `auto`, or a duration (parse_duration).
Result<BusyPoll> parse_busy_poll(std::string_view text);
// Octal file mode such as 0777 or 777.
Result<int> parse_octal_mode(std::string_view text);
Result<PoolMode> parse_pool_mode(std::string_view text);
Result<AuthType> parse_auth_type(std::string_view text);
Result<LogFormat> parse_log_format(std::string_view text);
// Comma-separated items, each trimmed; empty items are dropped.
std::vector<std::string> parse_list(std::string_view text);

std::string format_seconds(Seconds value);            // "5", "0.25"
std::string format_busy_poll(const BusyPoll& value);  // "auto", "0.00005"
std::string format_octal_mode(int mode);              // "0777"
std::string format_list(const std::vector<std::string>& items);

}  // namespace reservoir::config
