#pragma once
// Reads a pgbouncer.ini-style file into a flat list of entries, each with its file:line.
// libinih splits sections and keys; the reader fed to it adds what inih lacks:
//  - `%include path` (relative to the including file, nested up to kMaxIncludeDepth, cycles
//    rejected), reported as the directive's file:line when it fails;
//  - the file:line of every entry (inih only counts the lines it was handed);
//  - lines longer than inih's fixed 200-byte buffer, which inih would otherwise cut in pieces;
//  - PgBouncer's line rules: no indented continuation lines (inih's "multiline").
#include <string>
#include <vector>

#include "common/result.h"

namespace reservoir::config {

inline constexpr int kMaxIncludeDepth = 10;
inline constexpr const char* kConfigFileError = "F0000";  // SQLSTATE config_file_error

struct Location {
  std::string file;
  int line = 0;
  std::string to_string() const { return file + ":" + std::to_string(line); }
};

struct IniEntry {
  std::string section;  // as written, e.g. "databases"
  std::string key;      // as written, surrounding whitespace removed
  // The text after the first '=' (or ':'), trimmed, with an inline comment removed: a ';'
  // preceded by whitespace and outside single quotes, as inih does for short lines.
  std::string value;
  Location where;
};

// Parses `text`, the contents of the file called `name`. Errors read "file:line: reason".
Result<std::vector<IniEntry>> read_ini(const std::string& text, const std::string& name);

// The whole contents of a file, or "path: cannot read: reason".
Result<std::string> read_whole_file(const std::string& path);

}  // namespace reservoir::config
