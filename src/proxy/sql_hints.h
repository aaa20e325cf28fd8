#pragma once
// Cheap looks at client SQL that the relay needs without parsing it.
#include <string_view>

namespace reservoir::proxy {

// True if `sql` may change session settings: a statement starting with SET, RESET or
// DISCARD, or a call of set_config(). Errs on the side of true (quotes and comments are
// not parsed); `UPDATE t SET ...` is not a match.
bool may_change_settings(std::string_view sql);

// True if `sql` may drop the server's prepared statements: a statement starting with
// DISCARD or DEALLOCATE. Errs on the side of true, like may_change_settings.
bool may_drop_statements(std::string_view sql);

}  // namespace reservoir::proxy
