#pragma once
// Which session settings a client asked for at startup, and the SET statements that give a
// server those values. Pure functions.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "protocol/startup.h"

namespace reservoir::proxy {

using SettingList = std::vector<std::pair<std::string, std::string>>;

// The settings a client's startup packet asks for: every parameter except user, database,
// replication and those in `ignored`, plus `-c name=value` / `--name=value` items of
// `options`. Names are lower-cased (PostgreSQL's setting names are case-insensitive).
SettingList requested_settings(const protocol::StartupMessage& startup,
                               const std::vector<std::string>& ignored);

// The requested settings whose value differs from what the server has now (`current`,
// keyed by the server's own spelling, compared case-insensitively).
SettingList settings_to_apply(const SettingList& requested,
                              const std::map<std::string, std::string, std::less<>>& current);

// One statement: `SET name = 'value'; ...` with values quoted as SQL literals. Names that
// are not plain identifiers are skipped (they could not be settings anyway).
std::string set_statement(const SettingList& settings);

}  // namespace reservoir::proxy
