#include "auth/userlist.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace reservoir::auth {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view skip_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

// Reads one double-quoted field at the start of `line` ("" inside is a literal quote) and
// advances `line` past it. Returns the reason on failure.
Result<std::string> read_quoted(std::string_view& line) {
  if (line.empty() || line.front() != '"') return make_error("XX000", "expected '\"'");
  std::string out;
  std::size_t i = 1;
  for (;;) {
    if (i >= line.size()) return make_error("XX000", "unterminated quoted field");
    char c = line[i++];
    if (c != '"') {
      out.push_back(c);
    } else if (i < line.size() && line[i] == '"') {
      out.push_back('"');
      ++i;
    } else {
      break;
    }
  }
  line.remove_prefix(i);
  return out;
}

struct Entry {
  std::string user;
  std::string password;
};

// Parses `"user" "password" <ignored rest>`.
Result<Entry> parse_entry(std::string_view line) {
  auto user = read_quoted(line);
  if (!user) return user.error();
  if (user->empty()) return make_error("XX000", "empty user name");
  line = skip_space(line);
  if (line.empty()) return make_error("XX000", "missing password field");
  auto password = read_quoted(line);
  if (!password) return password.error();
  return Entry{std::move(*user), std::move(*password)};
}

Error at_line(std::string_view source, std::size_t line_no, const std::string& reason) {
  return make_error("XX000", std::string(source) + ":" + std::to_string(line_no) + ": " + reason);
}

}  // namespace

Result<CredentialStore> CredentialStore::parse(std::string_view text,
                                               std::string_view source_name) {
  CredentialStore store;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    line = skip_space(line);
    if (line.empty() || line.front() == ';' || line.front() == '#') continue;
    if (line.find('\0') != std::string_view::npos) {
      return at_line(source_name, line_no, "NUL byte in line");
    }
    auto entry = parse_entry(line);
    if (!entry) return at_line(source_name, line_no, entry.error().message);
    Secret secret = parse_secret(entry->password);
    if (secret.kind == Secret::Kind::Plain && entry->password.starts_with("SCRAM-SHA-256$")) {
      return at_line(source_name, line_no, ScramSecret::parse(entry->password).error().message);
    }
    store.add(std::move(entry->user), std::move(secret));
  }
  return store;
}

Result<CredentialStore> CredentialStore::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("XX000", path + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      return make_error("XX000",
                        path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
  }
  if (in.bad()) return make_error("XX000", path + ": read error");
  return parse(text, path);
}

const Secret* CredentialStore::find(std::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

void CredentialStore::add(std::string user, Secret secret) {
  users_.insert_or_assign(std::move(user), std::move(secret));
}

}  // namespace reservoir::auth
