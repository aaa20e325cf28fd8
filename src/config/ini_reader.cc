#include "config/ini_reader.h"

#include <ini.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "config/values.h"

namespace reservoir::config {
namespace {

namespace fs = std::filesystem;

Error config_error(const std::string& message) { return make_error(kConfigFileError, message); }

// Where inline comments start: a ';' after whitespace, outside single quotes (quotes matter
// in [databases] values, where a password may well contain " ;").
std::string_view strip_inline_comment(std::string_view value) {
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && quoted) {
      ++i;
    } else if (c == '\'') {
      quoted = !quoted;
    } else if (c == ';' && !quoted && i > 0 && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
      return value.substr(0, i);
    }
  }
  return value;
}

// The identity used to detect include cycles: the same file reached by two spellings.
std::string identity_of(const fs::path& path) {
  std::error_code ec;
  auto canonical = fs::weakly_canonical(path, ec);
  return ec ? fs::absolute(path, ec).lexically_normal().string() : canonical.string();
}

struct OpenFile {
  std::string name;      // as shown in messages
  std::string identity;  // for cycle detection
  std::string text;
  std::size_t offset = 0;
  int line = 0;
};

// Feeds inih one line at a time from a stack of open files and collects the entries.
class IncludingReader {
 public:
  IncludingReader(const std::string& text, const std::string& name) : main_name_(name) {
    files_.push_back(OpenFile{name, identity_of(name), text});
  }

  Result<std::vector<IniEntry>> run() {
    const int status =
        ini_parse_stream(&IncludingReader::next_line, this, &IncludingReader::on_entry, this);
    if (status > 0 && (!error_ || status <= error_call_)) {
      return config_error(location_of_call(status).to_string() +
                          ": syntax error: expected '[section]' or 'key = value'");
    }
    if (error_) return *error_;
    if (status < 0)
      return config_error(main_name_ + ": inih failed (status " + std::to_string(status) + ")");
    return std::move(entries_);
  }

 private:
  // inih's reader callback: fgets semantics, `size` is inih's buffer (200 bytes in Debian).
  static char* next_line(char* buffer, int size, void* self) {
    return static_cast<IncludingReader*>(self)->next_line(buffer, static_cast<std::size_t>(size));
  }

  static int on_entry(void* self, const char* section, const char* name, const char* value) {
    static_cast<IncludingReader*>(self)->on_entry(section, name);
    return 1;
  }

  char* next_line(char* buffer, std::size_t size) {
    while (!files_.empty() && files_.back().offset >= files_.back().text.size()) files_.pop_back();
    if (files_.empty() || error_) return nullptr;
    take_line(files_.back());
    if (raw_.find('\0') != std::string::npos) {
      fail(here().to_string() + ": line contains a NUL byte");
      return nullptr;
    }
    if (is_include_directive()) {
      if (!open_include()) return nullptr;
      return copy_out(buffer, size, "");
    }
    return hand_to_inih(buffer, size);
  }

  void take_line(OpenFile& file) {
    const auto end = file.text.find('\n', file.offset);
    std::string_view line(file.text);
    line =
        line.substr(file.offset, end == std::string::npos ? std::string::npos : end - file.offset);
    file.offset = end == std::string::npos ? file.text.size() : end + 1;
    if (file.line == 0 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // UTF-8 BOM
    ++file.line;
    // Leading whitespace is dropped: PgBouncer has no continuation lines, while inih would
    // append an indented line to the previous key.
    raw_ = trim(line);
    calls_.push_back(Location{file.name, file.line});
  }

  char* copy_out(char* buffer, std::size_t size, const std::string& text) {
    std::snprintf(buffer, size, "%s\n", text.c_str());
    return buffer;
  }

  // A line that fits goes to inih as is. A longer one would be cut by inih into several
  // "lines", so inih gets a stand-in "key =" and on_entry() takes the value from raw_.
  char* hand_to_inih(char* buffer, std::size_t size) {
    if (raw_.size() + 2 <= size) return copy_out(buffer, size, raw_);
    if (raw_[0] == ';' || raw_[0] == '#') return copy_out(buffer, size, "");
    const auto separator = raw_.find_first_of("=:");
    if (raw_[0] != '[' && separator != std::string::npos && separator + 3 <= size) {
      return copy_out(buffer, size, raw_.substr(0, separator) + "=");
    }
    fail(here().to_string() + ": line is too long (" + std::to_string(raw_.size()) +
         " characters)");
    return nullptr;
  }

  void on_entry(const char* section, const char* name) {
    const auto separator = raw_.find_first_of("=:");
    const std::string_view after =
        separator == std::string::npos ? "" : std::string_view(raw_).substr(separator + 1);
    entries_.push_back(IniEntry{section, name, trim(strip_inline_comment(after)), here()});
  }

  bool is_include_directive() const {
    return raw_.starts_with("%include") && (raw_.size() == 8 || raw_[8] == ' ' || raw_[8] == '\t');
  }

  bool open_include() {
    std::string target = trim(std::string_view(raw_).substr(8));
    if (target.size() >= 2 && (target.front() == '\'' || target.front() == '"') &&
        target.back() == target.front()) {
      target = target.substr(1, target.size() - 2);
    }
    const std::string where = here().to_string();
    if (target.empty()) return fail(where + ": %include needs a file name");
    fs::path path(target);
    if (path.is_relative()) path = fs::path(files_.back().name).parent_path() / path;
    if (static_cast<int>(files_.size()) > kMaxIncludeDepth) {
      return fail(where + ": %include nested more than " + std::to_string(kMaxIncludeDepth) +
                  " files deep");
    }
    const std::string identity = identity_of(path);
    for (const auto& open : files_) {
      if (open.identity == identity)
        return fail(where + ": %include cycle: " + chain_to(path.string()));
    }
    auto text = read_whole_file(path.string());
    if (!text) return fail(where + ": cannot include '" + target + "': " + text.error().message);
    files_.push_back(OpenFile{path.string(), identity, std::move(*text)});
    return true;
  }

  std::string chain_to(const std::string& last) const {
    std::string chain;
    for (const auto& open : files_) chain += open.name + " -> ";
    return chain + last;
  }

  bool fail(std::string message) {
    error_ = config_error(std::move(message));
    error_call_ = static_cast<int>(calls_.size());
    return false;
  }

  Location here() const { return calls_.back(); }
  Location location_of_call(int call) const {
    if (call >= 1 && static_cast<std::size_t>(call) <= calls_.size()) return calls_[call - 1];
    return calls_.empty() ? Location{main_name_, 0} : calls_.back();
  }

  std::string main_name_;
  std::vector<OpenFile> files_;
  std::vector<Location> calls_;  // inih's line number N is calls_[N - 1]
  std::string raw_;              // the whole line last handed to inih
  std::vector<IniEntry> entries_;
  std::optional<Error> error_;
  int error_call_ = 0;
};

}  // namespace

Result<std::vector<IniEntry>> read_ini(const std::string& text, const std::string& name) {
  return IncludingReader(text, name).run();
}

Result<std::string> read_whole_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return config_error(path + ": cannot read: is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return config_error(path + ": cannot read: " + std::strerror(errno));
  return contents.str();
}

}  // namespace reservoir::config
