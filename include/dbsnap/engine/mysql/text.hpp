#pragma once

// MySQL/MariaDB text: quoting, the client's batch output, version strings,
// the dump tool's flags and the names a restore uses. Pure functions,
// unit-tested in tests/unit/test_engine_mysql_text.cpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbsnap::engine::mysql {

// Rows of the client's --batch output, fields unescaped.
using Rows = std::vector<std::vector<std::string>>;

// `name` as a MySQL identifier: `a``b`.
std::string quote_identifier(std::string_view name);
// `text` as a single-quoted SQL string literal (backslashes and quotes escaped).
std::string quote_string(std::string_view text);

// One row of the client's --batch --skip-column-names output per element,
// fields split at tabs and unescaped (\t \n \\ \0).
std::vector<std::vector<std::string>> parse_batch(std::string_view output);

// True for version strings of Oracle's tools and servers ("mysqldump  Ver
// 8.0.36 for Linux ..."), false for MariaDB's ("... Distrib 10.11.8-MariaDB").
bool is_oracle(std::string_view version);

// Whether a client (its --version line) has --sandbox, which refuses the
// client commands that reach the shell or the file system (system, \!,
// source, tee, pager, edit): MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6,
// 11.1.5, 11.2.4, 11.4.2 and later in each series, and every series after.
bool client_has_sandbox(std::string_view version);

// The dump tool's flags (after the connection options): MySQL's mysqldump
// also gets --set-gtid-purged=OFF, which mariadb-dump rejects.
std::vector<std::string> dump_flags(std::string_view tool_version);

// The schema a restore of `database` loads into: the database's name (cut to
// fit MySQL's 64 characters) + "_dbsnap_shadow_" + a hash of the full name,
// so a leftover of a killed dbsnap is found again by the next restore.
std::string shadow_schema(std::string_view database);
// The schema the swap moves the database's own tables into until the
// restore has succeeded: <db>_dbsnap_old_<hash>, like the shadow's name.
std::string old_schema(std::string_view database);
// The GET_LOCK name that serialises restores into `database` (at most 64 characters).
std::string lock_name(std::string_view database);

// The client's error number: "ERROR 1045 (28000): ..." -> 1045; mariadb-dump's "Got error: 1045: ..." too.
std::optional<int> error_code(std::string_view stderr_text);

// `schema`.`name`, both quoted.
std::string qualified(std::string_view schema, std::string_view name);

}  // namespace dbsnap::engine::mysql
