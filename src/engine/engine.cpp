#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine {

void Engine::remove_leftovers(const config::Target&) noexcept {}

bool Engine::locks_before_commit(const config::Target&) const { return false; }

std::vector<Check> Engine::diagnose(const config::Target& target, const WorkContext& context) {
  try {
    if (exists(target, context)) return {{Check::Level::ok, "database", "exists", ""}};
    return {{Check::Level::fail, "database", "does not exist", "create it, or fix the target in dbsnap.toml"}};
  } catch (const DbsnapError& e) {
    return {{Check::Level::fail, "database", e.what(), "fix the target in dbsnap.toml"}};
  }
}

std::optional<std::uint64_t> Engine::size_bytes(const config::Target&, const WorkContext&) { return std::nullopt; }

std::string Engine::data_directory(const config::Target&, const WorkContext&) { return {}; }

}  // namespace dbsnap::engine
