#pragma once
// `reservoir top`: a live terminal view of the pools, the waiting clients and the slowest
// running requests, read from the HTTP API (/api/pools, /api/clients) once per interval.
#include <string>

#include "common/result.h"

namespace reservoir::app {

struct TopOptions {
  std::string url = "http://127.0.0.1:6490";
  bool once = false;      // print one snapshot (no screen clearing) and exit
  double interval = 1.0;  // seconds between redraws
  int rows = 10;          // at most this many waiting clients and running requests
};

// Runs until interrupted (or once). Returns the exit code; errors are printed to stderr.
int run_top(const TopOptions& options);

// One screen from the two API documents (exposed for tests). `previous_pools` (may be empty)
// gives rates; `now_text` is the time shown in the header.
Result<std::string> render_top(const std::string& pools_json, const std::string& clients_json,
                               const std::string& previous_pools_json, double interval_s,
                               const TopOptions& options, const std::string& now_text);

}  // namespace reservoir::app
