#pragma once

#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine {

// MySQL and MariaDB, usually in a container. Dumps run the server's own dump
// tool (mariadb-dump or mysqldump) through the target's runtime.
class MysqlEngine final : public Engine {
 public:
  std::string_view name() const override { return "mysql"; }
  const std::vector<config::KeySpec>& keys() const override;
  std::string blob_extension() const override { return "sql"; }
  bool exists(const config::Target& target, const WorkContext& context) override;
  DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) override;
  std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<RestoreSession> begin_restore(const config::Target& target, const store::Manifest& snapshot,
                                                const WorkContext& context) override;
};

}  // namespace dbsnap::engine
