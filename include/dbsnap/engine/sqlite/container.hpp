#pragma once

// SQLite databases inside a container (`file` is the path inside it): the
// container's own sqlite3, or python3's sqlite3 module, makes the consistent
// copy, reads the revision, counts rows and restores, with the same backup
// API, through constant scripts whose arguments are the path and the table.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/engine/engine.hpp"
#include "dbsnap/runtime/runtime.hpp"

namespace dbsnap::engine::sqlite {

// True when the target names a container or a compose service.
bool in_container(const config::Target& target);
// The target's `file`, which must be an absolute path inside the container.
std::string container_file(const config::Target& target);

// Whether the database file exists in the container.
bool container_exists(runtime::Runtime& rt, const config::Target& target);
// Streams a consistent copy of the database into `out`, with its revision,
// row counts and the tool that made it.
DumpInfo container_dump(runtime::Runtime& rt, const config::Target& target, pipeline::Sink& out);
// The live database's revision set, sorted.
std::vector<std::string> container_revisions(runtime::Runtime& rt, const config::Target& target);
// The live database's rows per table, in one read transaction.
store::TableRows container_rows(runtime::Runtime& rt, const config::Target& target);
// The database file's size in bytes; throws when `stat` fails.
std::uint64_t container_size(runtime::Runtime& rt, const config::Target& target);
// A restore: the snapshot is received into a temp file beside the database
// and copied in by commit() with the backup API.
std::unique_ptr<RestoreSession> start_container_restore(const config::Target& target,
                                                        std::shared_ptr<runtime::Runtime> rt);

// The container script's "dbsnap-rows:<name in hex>:<count>" lines (none for
// a database without tables); nullopt when one is malformed.
std::optional<store::TableRows> parse_rows(const std::vector<std::string>& lines);

}  // namespace dbsnap::engine::sqlite
