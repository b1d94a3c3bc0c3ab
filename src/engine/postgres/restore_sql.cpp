#include "dbsnap/engine/postgres/restore_sql.hpp"

#include "dbsnap/engine/postgres/text.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

namespace {

std::string array_literal(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const auto& v : values) quoted.push_back(quote_literal(v));
  return fmt::format("ARRAY[{}]::text[]", util::join(quoted, ", "));
}

}  // namespace

std::string restore_prologue(int lock_timeout_seconds) {
  const std::string body = R"(
DECLARE
  r record;
  old oid[] := '{}';
BEGIN
  FOR r IN SELECT evtname FROM pg_catalog.pg_event_trigger LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_catalog.pg_publication LOOP
    EXECUTE pg_catalog.format('DROP PUBLICATION IF EXISTS %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT c.castsource::pg_catalog.regtype::text AS s, c.casttarget::pg_catalog.regtype::text AS t
           FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 LOOP
    EXECUTE pg_catalog.format('DROP CAST IF EXISTS (%s AS %s) CASCADE', r.s, r.t);
  END LOOP;
  FOR r IN SELECT fdwname FROM pg_catalog.pg_foreign_data_wrapper LOOP
    EXECUTE pg_catalog.format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;
  FOR r IN SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
           WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY n.oid LOOP
    EXECUTE pg_catalog.format('ALTER SCHEMA %I RENAME TO %I', r.nspname, 'dbsnap_old_' || r.oid::text);
    old := old || r.oid;
  END LOOP;
  PERFORM pg_catalog.set_config('dbsnap.old_schemas', old::text, true);
  IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
    CREATE SCHEMA public AUTHORIZATION pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    CREATE SCHEMA public;
    GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC;
  END IF;
  COMMENT ON SCHEMA public IS 'standard public schema';
END
)";
  return fmt::format(
      "BEGIN;\n"
      "SET client_min_messages = warning;\n"
      "SET lock_timeout = '{}s';\n"
      "DO {};\n",
      lock_timeout_seconds, dollar_quote(body));
}

std::string drop_old_schemas_body() {
  return R"(
DECLARE
  r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_catalog.pg_namespace n
           WHERE n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]) LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
END
)";
}

std::string restore_epilogue(std::string_view schema, std::string_view table,
                             const std::vector<std::string>& revisions, int lock_timeout_seconds,
                             int server_version_num) {
  const std::string qualified = quote_identifier(schema) + "." + quote_identifier(table);
  const std::string check = fmt::format(R"(
DECLARE
  found text[];
  wanted text[] := {wanted};
BEGIN
  IF pg_catalog.to_regclass({qualified}) IS NULL THEN
    found := '{{}}';
  ELSE
    EXECUTE {select} INTO found;
    found := coalesce(found, '{{}}');
  END IF;
  IF NOT (found @> wanted AND found <@ wanted) THEN
    RAISE EXCEPTION 'dbsnap: the restored % holds revision %, the snapshot recorded %', {qualified}, found, wanted;
  END IF;
END
)",
                                        fmt::arg("wanted", array_literal(revisions)),
                                        fmt::arg("qualified", quote_literal(qualified)),
                                        fmt::arg("select", quote_literal("SELECT pg_catalog.array_agg(DISTINCT "
                                                                         "version_num::text) FROM " +
                                                                         qualified)));
  const std::string old_relations = R"(
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]) AND c.relkind IN ('r', 'p', 'm'))";
  // Every lock at once without waiting. When another session holds one,
  // wait in the lock queue for that one table alone, holding none of the
  // others, then take the rest without waiting; give all of it back on a
  // failure and start over, until the deadline. The restore never waits
  // while it holds a lock a user's session could be waiting for, so it is
  // never part of a deadlock cycle: otherwise PostgreSQL could cancel the
  // user's session instead of it (tests/integration/
  // test_postgres_commit_lock_order.py). The queue wait is twice
  // deadlock_timeout, so that PostgreSQL cancels an autovacuum in the way;
  // new sessions queue behind the restore's request meanwhile.
  const std::string lock = fmt::format(R"(
DECLARE
  relations text;
  blocked text;
  holders text;
  queue_wait text;
  deadline timestamptz := pg_catalog.clock_timestamp() + interval '{seconds} seconds';
BEGIN
  SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', '){old_relations};
  IF relations IS NULL THEN
    RETURN;
  END IF;
  queue_wait := GREATEST(2000, 2000 * EXTRACT(epoch FROM
                  pg_catalog.current_setting('deadlock_timeout')::interval))::bigint::text || 'ms';
  LOOP
    BEGIN
      EXECUTE 'LOCK TABLE ' || relations || ' IN ACCESS EXCLUSIVE MODE NOWAIT';
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO blocked
      FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid() AND c.relkind IN ('r', 'p', 'm')
        AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
        AND n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[])
      LIMIT 1;
    IF blocked IS NOT NULL THEN
      BEGIN
        PERFORM pg_catalog.set_config('lock_timeout', queue_wait, true);
        EXECUTE 'LOCK TABLE ONLY ' || blocked || ' IN ACCESS EXCLUSIVE MODE';
        EXECUTE 'LOCK TABLE ' || relations || ' IN ACCESS EXCLUSIVE MODE NOWAIT';
        RETURN;
      EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        NULL;
      END;
    END IF;
    IF pg_catalog.clock_timestamp() > deadline THEN
      SELECT pg_catalog.string_agg(DISTINCT l.pid::text, ', ') INTO holders
        FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid()
          AND n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]);
      RAISE EXCEPTION 'dbsnap: other sessions (pid %) kept the tables locked for {seconds} s; end them or raise lock_timeout',
        coalesce(holders, '?');
    END IF;
    PERFORM pg_catalog.pg_sleep(0.05);
  END LOOP;
END
)",
                                       fmt::arg("seconds", lock_timeout_seconds),
                                       fmt::arg("old_relations", " INTO relations" + old_relations));
  const std::string drop = drop_old_schemas_body();
  const char* xid = server_version_num >= 130000 ? "pg_catalog.pg_current_xact_id()" : "pg_catalog.txid_current()";
  return fmt::format(
      "\n"
      "SET client_min_messages = warning;\n"
      "SET lock_timeout = 0;\n"
      "DO {check};\n"
      "DO {lock};\n"
      "SET lock_timeout = '{seconds}s';\n"
      "DO {drop};\n"
      "SELECT 'dbsnap-xid:' || {xid};\n",
      fmt::arg("check", dollar_quote(check)), fmt::arg("lock", dollar_quote(lock)),
      fmt::arg("seconds", lock_timeout_seconds), fmt::arg("drop", dollar_quote(drop)), fmt::arg("xid", xid));
}

std::string count_rows_sql() {
  return "SELECT pg_catalog.format('SELECT %L || count(*) FROM ONLY %I.%I;', 'dbsnap-rows:' || "
         "pg_catalog.encode(pg_catalog.convert_to(n.nspname || '.' || c.relname, 'UTF8'), 'hex') || ':', "
         "n.nspname, c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \\gexec\n";
}

store::TableRows parse_count_rows(std::string_view output) {
  store::TableRows rows;
  for (const auto& line : tagged(output, "dbsnap-rows:")) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon % 2 != 0) continue;
    const auto count = util::parse_uint(std::string_view(line).substr(colon + 1));
    std::string table;
    for (std::size_t i = 0; i < colon && count; i += 2) {
      const int high = util::hex_value(line[i]);
      const int low = util::hex_value(line[i + 1]);
      if (high < 0 || low < 0) break;
      table += static_cast<char>(high * 16 + low);
    }
    if (count && table.size() * 2 == colon) rows[table] = *count;
  }
  return rows;
}

}  // namespace dbsnap::engine::postgres
