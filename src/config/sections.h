#pragma once
// The [databases] and [users] lines: `name = key=value ...` into DatabaseEntry / UserEntry.
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "config/ini_reader.h"

namespace reservoir::config {

// Parses one [databases] line. Unknown parameters add a warning "file:line: ..." to
// `warnings`; invalid values fail with "file:line: invalid value 'v' for 'k' in database 'n': why".
Result<DatabaseEntry> parse_database_line(const IniEntry& line, std::vector<std::string>& warnings);

// Same for one [users] line.
Result<UserEntry> parse_user_line(const IniEntry& line, std::vector<std::string>& warnings);

}  // namespace reservoir::config
