#include "dbsnap/engine/postgres.hpp"

#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine {

// Work in progress: every operation reports that the engine is not ready yet.

const std::vector<config::KeySpec>& PostgresEngine::keys() const {
  static const std::vector<config::KeySpec> keys = [] {
    std::vector<config::KeySpec> k = {
        {"database", config::KeyType::string, true, "the database name"},
        {"user", config::KeyType::string, false, "the database user"},
    };
    k.insert(k.end(), runtime::credential_keys().begin(), runtime::credential_keys().end());
    return k;
  }();
  return keys;
}

bool PostgresEngine::exists(const config::Target&, const WorkContext&) { fail(ErrorKind::engine, "engine 'postgres' is not ready yet"); }
DumpInfo PostgresEngine::dump(const config::Target&, pipeline::Sink&, const WorkContext&) { fail(ErrorKind::engine, "engine 'postgres' is not ready yet"); }
std::vector<std::string> PostgresEngine::read_revisions(const config::Target&, const WorkContext&) { fail(ErrorKind::engine, "engine 'postgres' is not ready yet"); }
std::unique_ptr<RestoreSession> PostgresEngine::begin_restore(const config::Target&, const store::Manifest&, const WorkContext&) { fail(ErrorKind::engine, "engine 'postgres' is not ready yet"); }

}  // namespace dbsnap::engine
