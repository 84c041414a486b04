#include "core/model_spec.h"

namespace modelwatch::core {

std::vector<WindowSpec> DefaultWindows() {
  return {
      {"5m", absl::Minutes(5), absl::Seconds(15)},
      {"1h", absl::Hours(1), absl::Minutes(2)},
      {"24h", absl::Hours(24), absl::Hours(1)},
  };
}

}  // namespace modelwatch::core
