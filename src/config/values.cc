#include "config/values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "config/ini_reader.h"

namespace reservoir::config {
namespace {

Error reason(std::string text) { return make_error(kConfigFileError, std::move(text)); }

}  // namespace

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<long long> parse_integer(std::string_view text, long long min, long long max) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
      end != text.data() + text.size()) {
    return reason("not an integer");
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return reason("must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

Result<bool> parse_bool(std::string_view text) {
  const std::string word = lowercase(text);
  if (word == "1" || word == "true" || word == "on" || word == "yes") return true;
  if (word == "0" || word == "false" || word == "off" || word == "no") return false;
  return reason("expected a boolean (0/1, true/false, on/off, yes/no)");
}

Result<Seconds> parse_duration(std::string_view text) {
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || ec != std::errc() || !std::isfinite(number)) {
    return reason("expected a number of seconds, optionally with a unit (s, ms, us, min, h)");
  }
  if (number < 0) return reason("must not be negative");
  const std::string unit = trim(std::string_view(end, text.data() + text.size() - end));
  if (unit.empty() || unit == "s") return Seconds(number);
  if (unit == "ms") return Seconds(number / 1000.0);
  if (unit == "us") return Seconds(number / 1e6);
  if (unit == "min") return Seconds(number * 60.0);
  if (unit == "h") return Seconds(number * 3600.0);
  return reason("unknown unit '" + unit + "' (use s, ms, us, min or h)");
}

Result<BusyPoll> parse_busy_poll(std::string_view text) {
  if (lowercase(text) == "auto") return BusyPoll{};
  auto window = parse_duration(text);
  if (!window) return window.error();
  return BusyPoll{.automatic = false, .window = *window};
}

Result<int> parse_octal_mode(std::string_view text) {
  int mode = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || mode < 0 ||
      mode > 07777) {
    return reason("expected an octal file mode such as 0777");
  }
  return mode;
}

Result<PoolMode> parse_pool_mode(std::string_view text) {
  const std::string word = lowercase(text);
  if (word == "session") return PoolMode::Session;
  if (word == "transaction") return PoolMode::Transaction;
  if (word == "statement") return PoolMode::Statement;
  return reason("expected session, transaction or statement");
}

Result<AuthType> parse_auth_type(std::string_view text) {
  const std::string word = lowercase(text);
  if (word == "scram-sha-256") return AuthType::ScramSha256;
  if (word == "md5") return AuthType::Md5;
  if (word == "plain") return AuthType::Plain;
  if (word == "trust") return AuthType::Trust;
  if (word == "hba" || word == "cert" || word == "any" || word == "pam" || word == "ldap") {
    return reason("auth_type '" + word +
                  "' is not supported by Reservoir (use scram-sha-256, md5, plain or trust)");
  }
  return reason("expected scram-sha-256, md5, plain or trust");
}

Result<LogFormat> parse_log_format(std::string_view text) {
  const std::string word = lowercase(text);
  if (word == "text") return LogFormat::Text;
  if (word == "json") return LogFormat::Json;
  return reason("expected text or json");
}

std::vector<std::string> parse_list(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string item = trim(text.substr(0, comma));
    if (!item.empty()) items.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::string format_seconds(Seconds value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", value.count());
  return buffer;
}

std::string format_busy_poll(const BusyPoll& value) {
  return value.automatic ? "auto" : format_seconds(value.window);
}

std::string format_octal_mode(int mode) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0%o", static_cast<unsigned>(mode));
  return buffer;
}

std::string format_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace reservoir::config
