#include "dbsnap/engine/per_target.hpp"

namespace dbsnap::engine {

bool same_target(const config::Target& a, const config::Target& b) {
  return a.name == b.name && a.engine == b.engine && a.config_dir == b.config_dir && a.values == b.values;
}

}  // namespace dbsnap::engine
