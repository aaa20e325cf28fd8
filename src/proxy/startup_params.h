#pragma once
// Which session settings a client asked for at startup, and the SET statements that give a
// server those values. Pure functions, but for share_settings() (one process-wide table).
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protocol/startup.h"

namespace reservoir::proxy {

using SettingList = std::vector<std::pair<std::string, std::string>>;

// A client's settings, shared: share_settings() gives every list with the same contents the
// same object while any of them is held. So clients asking for the same settings (the usual
// case: one application, one startup packet) hold one list between them, and "does this
// server already have this client's settings" is most often one pointer comparison. Lists
// are immutable; a client whose settings change takes another. Any thread.
using SharedSettings = std::shared_ptr<const SettingList>;
SharedSettings share_settings(SettingList list);
// share_settings({}), made once.
const SharedSettings& no_settings();
// Distinct lists held right now (for tests).
std::size_t shared_settings_count();

// The settings a client's startup packet asks for: every parameter except user, database,
// replication and those in `ignored`, plus `-c name=value` / `--name=value` items of
// `options`. Names are lower-cased (PostgreSQL's setting names are case-insensitive).
SettingList requested_settings(const protocol::StartupMessage& startup,
                               const std::vector<std::string>& ignored);

using SettingMap = std::map<std::string, std::string, std::less<>>;

// What to change on a server so that it has exactly a client's settings.
struct SettingChanges {
  SettingList set;                 // settings whose value differs or is unknown
  std::vector<std::string> reset;  // settings applied for an earlier client, unwanted now
  bool empty() const { return set.empty() && reset.empty(); }
};

// Compares the client's `wanted` settings with the server's: `applied` (lower-case names
// Reservoir set on it) first, then `reported` (ParameterStatus, any case).
SettingChanges settings_to_apply(const SettingList& wanted, const SettingMap& applied,
                                 const SettingMap& reported);

// One statement that makes the changes: set_config() for each value (which parses list
// settings such as search_path as the server's config file would) and RESET for the rest.
// Names that are not plain identifiers are skipped (they could not be settings anyway).
std::string change_statement(const SettingChanges& changes);

// Lower-cases ASCII.
std::string lower_ascii(std::string_view s);

}  // namespace reservoir::proxy
