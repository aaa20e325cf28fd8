#pragma once
// What a reload changes, so the app can act on only that: close server connections of
// databases whose connection parameters changed, resize pools whose sizing changed.
#include <string>
#include <vector>

#include "config/config.h"

namespace reservoir::config {

struct ConfigDiff {
  std::vector<std::string> databases_added;
  std::vector<std::string> databases_removed;
  // Anything used to open a server connection changed (host, port, dbname, user, password,
  // or a startup parameter / connect_query): existing server connections are stale.
  std::vector<std::string> databases_reconnect;
  // Only pool sizing or pool_mode changed: existing server connections stay valid.
  std::vector<std::string> databases_resized;
  std::vector<std::string> users_changed;     // added, removed or changed [users] entries
  std::vector<std::string> settings_changed;  // main-section keys whose value changed

  bool empty() const;
};

// Names are listed in the order of `next` (removed ones in the order of `old`).
ConfigDiff diff(const Config& old, const Config& next);

}  // namespace reservoir::config
