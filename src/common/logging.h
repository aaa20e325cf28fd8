#pragma once
// Logging set-up. Every layer logs through spdlog's default logger.
#include <spdlog/spdlog.h>

namespace reservoir {

// verbosity: 0 = info, 1 = debug, 2+ = trace. `json` selects one JSON object per line.
void setup_logging(int verbosity, bool json = false);

}  // namespace reservoir
