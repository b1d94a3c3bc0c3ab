#pragma once

#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine {

// PostgreSQL, usually in a container. Dumps run pg_dump (plain SQL) through
// the target's runtime; restores run psql in one transaction dbsnap controls.
class PostgresEngine final : public Engine {
 public:
  std::string_view name() const override { return "postgres"; }
  const std::vector<config::KeySpec>& keys() const override;
  std::string blob_extension() const override { return "sql"; }
  bool exists(const config::Target& target, const WorkContext& context) override;
  DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) override;
  std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<RestoreSession> begin_restore(const config::Target& target, const store::Manifest& snapshot,
                                                const WorkContext& context) override;
};

}  // namespace dbsnap::engine
