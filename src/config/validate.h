#pragma once
// Checks that span several settings, run after the file and the environment are applied.
#include "common/result.h"
#include "config/config.h"

namespace reservoir::config {

// Fails with the first problem, naming where the values involved came from.
Status validate(const Config& config);

}  // namespace reservoir::config
