#include <map>

#include "dbsnap/alembic/commands.hpp"
#include "dbsnap/config/hooks.hpp"
#include "dbsnap/config/retention.hpp"
#include "dbsnap/config/schedule.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/engine/mysql/engine.hpp"
#include "dbsnap/engine/postgres/engine.hpp"
#include "dbsnap/engine/sqlite/engine.hpp"
#include "dbsnap/runtime/quiesce.hpp"
#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine {

namespace {

// The engine registry: one line per engine.
const std::map<std::string, std::unique_ptr<Engine>, std::less<>>& registry() {
  static const auto engines = [] {
    std::map<std::string, std::unique_ptr<Engine>, std::less<>> map;
    map.emplace("sqlite", std::make_unique<sqlite::SqliteEngine>());
    map.emplace("mysql", std::make_unique<mysql::MysqlEngine>());
    map.emplace("postgres", std::make_unique<postgres::PostgresEngine>());
    return map;
  }();
  return engines;
}

// Keys every engine accepts: Alembic's (the version table, the migrations folder, the
// migration commands) and the runtime's.
const std::vector<config::KeySpec>& shared_keys() {
  static const std::vector<config::KeySpec> keys = [] {
    std::vector<config::KeySpec> k = {
        {"version_table", config::KeyType::string, false, "Alembic's version table (default alembic_version)"},
        {"migrations", config::KeyType::path, false, "the Alembic versions folder (default migrations/versions)"},
        {"level", config::KeyType::integer, false, "zstd level of this target's snapshots, 1-19 (default 1)"},
    };
    k.insert(k.end(), runtime::runtime_keys().begin(), runtime::runtime_keys().end());
    k.insert(k.end(), runtime::quiesce_keys().begin(), runtime::quiesce_keys().end());
    k.insert(k.end(), alembic::migration_command_keys().begin(), alembic::migration_command_keys().end());
    k.insert(k.end(), config::retention_keys().begin(), config::retention_keys().end());
    k.insert(k.end(), config::hook_keys().begin(), config::hook_keys().end());
    k.insert(k.end(), config::schedule_keys().begin(), config::schedule_keys().end());
    k.insert(k.end(), config::copy_keys().begin(), config::copy_keys().end());
    return k;
  }();
  return keys;
}

}  // namespace

Engine* find_engine(std::string_view name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second.get();
}

Engine& engine_for(const config::Target& target) {
  if (Engine* engine = find_engine(target.engine)) return *engine;
  fail(ErrorKind::config, "target '{}': unknown engine '{}'", target.name, target.engine);
}

std::vector<std::string> engine_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

config::KeySchema key_schema() {
  return [](const std::string& name) -> const std::vector<config::KeySpec>* {
    static std::map<std::string, std::vector<config::KeySpec>, std::less<>> merged;
    Engine* engine = find_engine(name);
    if (!engine) return nullptr;
    auto [it, inserted] = merged.try_emplace(name);
    if (inserted) {
      it->second = shared_keys();
      it->second.insert(it->second.end(), engine->keys().begin(), engine->keys().end());
    }
    return &it->second;
  };
}

}  // namespace dbsnap::engine
