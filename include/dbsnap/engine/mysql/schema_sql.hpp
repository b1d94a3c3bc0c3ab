#pragma once

// SQL that reads a schema's objects (tables, views, triggers, routines,
// events, the version table's rows, row counts) and re-creates them: what
// the restore's swap and its undo are built from. The scripts print rows
// tagged with a letter, read back by read_listing and read_definitions.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/engine/mysql/text.hpp"
#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine::mysql {

// What a script prints (in an error) when the restore lock is taken.
inline constexpr std::string_view lock_busy_marker = "dbsnap-lock-busy";

// The target's Alembic version table (default alembic_version).
std::string version_table(const config::Target& target);

// SQL that takes the restore lock `lock` (waiting up to `wait` seconds) or
// stops the client's script with an error naming lock_busy_marker.
std::string lock_sql(const std::string& lock, int wait);

// How a multi-table RENAME TABLE waits for the tables' metadata locks.
//  - queue: in the lock queue, up to lock_wait_timeout (at most `seconds`).
//    RENAME takes its locks one after the other and waits holding the ones
//    it has, so a session that holds one table and then asks for another the
//    RENAME holds closes a deadlock cycle; MySQL resolves it by cancelling
//    the session with the lighter locks, which is the user's (error 1213,
//    its transaction rolled back). Oracle's MySQL has nothing better.
//  - retry: MariaDB 10.3 and later. The RENAME runs with lock_wait_timeout
//    = 0 in an anonymous block that tries again every 20 ms until `seconds`
//    (at most lock_wait_timeout) have passed: it never waits while holding
//    a table, so it is never in a deadlock with a user's session. The price
//    is that it does not queue: transactions overlapping on the tables for
//    all that time make it give up (error 1205, as `queue` would).
enum class RenameWait { queue, retry };

// The wait MySQL or MariaDB `version` (VERSION()'s text) supports best.
RenameWait rename_wait_for(std::string_view version);

// RENAME TABLE `renames` ("`a`.`t` TO `b`.`t`" each), waiting as `wait` says:
// `queue` up to the session's lock_wait_timeout, `retry` up to `seconds` or
// lock_wait_timeout if that is shorter, which it then leaves as it was.
std::string rename_tables_sql(const std::vector<std::string>& renames, RenameWait wait, int seconds);


// How to re-create a trigger, view, routine or event: SHOW CREATE's statement
// and the session settings it was created under.
struct Definition {
  std::string kind;  // TRIGGER, VIEW, PROCEDURE, FUNCTION, EVENT
  std::string name;
  std::string statement;
  std::string sql_mode;
  std::string time_zone;
  std::string collation;  // collation_connection
};

struct Trigger {
  std::string name;
  std::string table;
};

struct Routine {
  std::string type;  // PROCEDURE or FUNCTION
  std::string name;
  bool operator==(const Routine&) const = default;
};

struct Schema {
  std::string name;
  bool exists = false;
  std::string collation;
  std::vector<std::string> tables;  // base tables, sequences, system-versioned tables
  std::vector<std::string> views;
  std::map<std::string, std::vector<std::string>> view_columns;
  std::vector<Trigger> triggers;  // in creation order
  std::vector<Routine> routines;
  std::vector<std::string> events;
  std::map<std::string, Definition> definitions;  // by "KIND name"
  std::vector<std::string> revisions;             // when asked for
  std::uint64_t foreign_keys_in = 0;              // foreign keys of other schemas' tables into this one

  bool has_objects() const { return !views.empty() || !triggers.empty() || !routines.empty() || !events.empty(); }
  bool has_trigger(const std::string& n) const {
    return std::any_of(triggers.begin(), triggers.end(), [&](const Trigger& t) { return t.name == n; });
  }
  bool has_routine(const Routine& r) const { return std::find(routines.begin(), routines.end(), r) != routines.end(); }
  const Definition& definition(const std::string& kind, const std::string& n) const {
    auto it = definitions.find(kind + " " + n);
    if (it == definitions.end()) {
      fail(ErrorKind::engine, "cannot read the definition of {} {}.{} (the user may not see it: it needs the "
           "SHOW_ROUTINE/TRIGGER/SHOW VIEW/EVENT privilege); target unchanged", kind, name, n);
    }
    return it->second;
  }
};

// Lists a schema's objects: rows tagged with `tag` ('s' schema, 't' tables,
// 'c' view columns, 'g' triggers, 'r' routines, 'e' events, 'f' foreign
// keys into it).
std::string listing_sql(char tag, const std::string& schema);
// One "rows <table> <count>" row per table of `schema` in `tables`.
std::string count_rows_sql(const std::string& schema, const std::vector<std::string>& tables);
// The counts count_rows_sql() printed, by table.
store::TableRows read_counts(const Rows& rows);
// Rows of the version table, tagged 'v', when the table exists.
std::string revisions_sql(const std::string& schema, const std::string& table);
// Fills the schemas (by tag) from listing_sql's and revisions_sql's rows.
void read_listing(const Rows& rows, std::map<char, Schema*> schemas);
// SHOW CREATE for every trigger, view, routine and event of a schema, each
// after a marker row. Run with the schema as the current database, so that
// view definitions name its tables without the schema.
std::string definitions_sql(char tag, const Schema& s);
// Fills the schemas' definitions from definitions_sql's rows.
void read_definitions(const Rows& rows, std::map<char, Schema*> schemas);

// Whether create_sql makes a view with CREATE OR REPLACE (over a stand-in).
enum class ViewCreation { create, or_replace };
// The statements that re-create a definition in the current database, with
// the sql_mode, collation and time zone it was made under.
std::string create_sql(const Definition& d, ViewCreation view = ViewCreation::create);
// A view that stands in for `name` (same columns, no dependencies) until its
// real definition replaces it: views may select from views, in any order.
std::string stand_in_sql(const Schema& s, const std::string& name);
// Whether a DROP fails (`fail`) or passes (`ignore`, IF EXISTS) when the object is missing.
enum class Missing { fail, ignore };
std::string drop_routine_sql(const std::string& schema, const Routine& r, Missing missing = Missing::fail);

}  // namespace dbsnap::engine::mysql
