#pragma once

// The SQL a restore and a test restore send around the dump (inside the
// restore's one transaction), and the row counts a test restore and a
// rollback plan read. Unit-tested in tests/unit/test_engine_postgres.cpp.

#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine::postgres {

// SQL sent before the dump, inside the restore's transaction: user schemas
// renamed aside (their oids kept in the transaction-local setting
// dbsnap.old_schemas), database-wide objects that a dump re-creates dropped,
// and an empty public schema as initdb makes it.
std::string restore_prologue(int lock_timeout_seconds);
// The body of a DO block that drops the schemas restore_prologue() renamed
// aside (restore_epilogue() runs it; a test restore, before its COMMIT).
std::string drop_old_schemas_body();
// SQL sent at commit(), before COMMIT: the restored revision must equal
// `revisions` (RAISE otherwise); ACCESS EXCLUSIVE locks on the renamed
// schemas' tables (tried without waiting, then queued for twice
// deadlock_timeout so that an autovacuum in the way is cancelled, retried
// until `lock_timeout_seconds`); the renamed schemas dropped; the transaction
// id printed as "dbsnap-xid:N". dbsnap sends COMMIT only once it has read
// that line, so dying before then still means a rollback.
std::string restore_epilogue(std::string_view schema, std::string_view table,
                             const std::vector<std::string>& revisions, int lock_timeout_seconds,
                             int server_version_num);

// psql input that prints "dbsnap-rows:<schema.table in hex>:<rows>" for every
// ordinary table outside the system schemas (\gexec runs one count per table).
std::string count_rows_sql();
// The rows count_rows_sql() printed, by "schema.table".
store::TableRows parse_count_rows(std::string_view output);

}  // namespace dbsnap::engine::postgres
