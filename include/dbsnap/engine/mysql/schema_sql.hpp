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
