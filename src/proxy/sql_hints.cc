#include "proxy/sql_hints.h"

#include "protocol/sql_scan.h"

namespace reservoir::proxy {

bool may_change_settings(std::string_view sql) {
  return (protocol::scan_sql(sql) & protocol::kChangesSettings) != 0;
}

bool may_drop_statements(std::string_view sql) {
  return (protocol::scan_sql(sql) & protocol::kDropsStatements) != 0;
}

}  // namespace reservoir::proxy
