#pragma once

// A target's own migration commands (config keys upgrade_command and
// downgrade_command): argv arrays in which the element text "{revision}" is
// replaced by the revision to move to. `upgrade TARGET` without `-- CMD` and
// `rollback --via downgrade` without `--command` run them, under the guard of
// core/guard, in the folder of the dbsnap.toml that names them. The revision
// lands inside argv elements: no shell ever sees it.

#include <optional>
#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"

namespace dbsnap::alembic {

enum class Migration { upgrade, downgrade };

// The placeholder replaced by the revision.
inline constexpr std::string_view revision_placeholder = "{revision}";

// The config keys: declared for every engine (engine/registry.cpp).
const std::vector<config::KeySpec>& migration_command_keys();

// The configured command's key: "upgrade_command" or "downgrade_command".
std::string migration_command_key(Migration direction);

// Whether `target` configures a command for `direction`.
bool has_migration_command(const config::Target& target, Migration direction);

// Whether the configured command names the revision (has the placeholder in
// some element); false when none is configured.
bool migration_command_takes_revision(const config::Target& target, Migration direction);

// The configured command with every placeholder replaced by `revision`;
// std::nullopt when `target` configures none. Throws a `config` DbsnapError
// when the array is empty or a downgrade command has no placeholder (it could
// not know where to go), and a `usage` one when `revision` is empty, starts
// with '-' (it would read as an option) or holds a control character.
std::optional<std::vector<std::string>> migration_command(const config::Target& target, Migration direction,
                                                          const std::string& revision);

}  // namespace dbsnap::alembic
