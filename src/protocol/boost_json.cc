// Boost.JSON is used header-only: its implementation is compiled here, in this one file, for
// every target (sql_classify parses libpg_query's JSON; `reservoir top` reads the HTTP API).
#include <boost/json/src.hpp>
