#include "dbsnap/engine/mysql/schema_sql.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

bool is_plain_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

std::string version_table(const config::Target& target) {
  return target.string("version_table", "alembic_version");
}

RenameWait rename_wait_for(std::string_view version) {
  if (version.find("MariaDB") == std::string_view::npos) return RenameWait::queue;
  const auto dot = version.find('.');
  if (dot == std::string_view::npos) return RenameWait::queue;
  const auto major = util::parse_uint(version.substr(0, dot));
  auto rest = version.substr(dot + 1);
  rest = rest.substr(0, rest.find_first_not_of("0123456789"));
  const auto minor = util::parse_uint(rest);
  if (!major || !minor) return RenameWait::queue;
  return *major > 10 || (*major == 10 && *minor >= 3) ? RenameWait::retry : RenameWait::queue;
}

std::string rename_tables_sql(const std::vector<std::string>& renames, RenameWait wait, int seconds) {
  const std::string rename = "RENAME TABLE " + util::join(renames, ", ");
  if (wait == RenameWait::queue) return rename + ";\n";
  // NOWAIT is not allowed in a stored program, lock_wait_timeout = 0 is.
  // The client's delimiter parser skips quoted names, so `$$` in a table
  // name cannot end the block.
  return fmt::format(
      "DELIMITER $$\n"
      "BEGIN NOT ATOMIC\n"
      "  DECLARE wait_before BIGINT UNSIGNED DEFAULT @@SESSION.lock_wait_timeout;\n"
      "  DECLARE deadline DATETIME(6) DEFAULT NOW(6) + INTERVAL LEAST(wait_before, {}) SECOND;\n"
      "  DECLARE done INT DEFAULT 0;\n"
      "  WHILE done = 0 DO\n"
      "    BEGIN\n"
      "      DECLARE EXIT HANDLER FOR 1205, 1213 BEGIN\n"
      "        SET SESSION lock_wait_timeout = wait_before;\n"
      "        IF NOW(6) > deadline THEN RESIGNAL; END IF;\n"
      "        DO SLEEP(0.02);\n"
      "      END;\n"
      "      SET SESSION lock_wait_timeout = 0;\n"
      "      {};\n"
      "      SET SESSION lock_wait_timeout = wait_before;\n"
      "      SET done = 1;\n"
      "    END;\n"
      "  END WHILE;\n"
      "END$$\n"
      "DELIMITER ;\n",
      seconds, rename);
}

std::string lock_sql(const std::string& lock, int wait) {
  return fmt::format(
      "SET @dbsnap_lock = GET_LOCK({}, {});\n"
      "SET @dbsnap_check = IF(@dbsnap_lock = 1, 'DO 1', '{}');\n"
      "PREPARE dbsnap_check FROM @dbsnap_check;\n"
      "DEALLOCATE PREPARE dbsnap_check;\n",
      quote_string(lock), wait, lock_busy_marker);
}

std::string listing_sql(char tag, const std::string& schema) {
  const std::string s = quote_string(schema);
  return fmt::format(
      "SELECT 's', '{0}', DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {1};\n"
      "SELECT 't', '{0}', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {1} "
      "ORDER BY TABLE_NAME;\n"
      "SELECT 'c', '{0}', TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {1} AND "
      "TABLE_NAME IN (SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {1}) "
      "ORDER BY TABLE_NAME, ORDINAL_POSITION;\n"
      "SELECT 'g', '{0}', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {1} "
      "ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER;\n"
      "SELECT 'r', '{0}', ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {1} "
      "ORDER BY ROUTINE_TYPE, ROUTINE_NAME;\n"
      "SELECT 'e', '{0}', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {1} ORDER BY EVENT_NAME;\n"
      "SELECT 'f', '{0}', COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
      "WHERE UNIQUE_CONSTRAINT_SCHEMA = {1} AND CONSTRAINT_SCHEMA <> {1};\n",
      tag, s);
}

// One "rows <table> <count>" row per table of `schema` in `tables`.
std::string count_rows_sql(const std::string& schema, const std::vector<std::string>& tables) {
  std::string sql;
  for (const auto& t : tables) {
    sql += fmt::format("SELECT 'rows', {}, COUNT(*) FROM {};\n", quote_string(t), qualified(schema, t));
  }
  return sql;
}

// The counts count_rows_sql() printed, by table.
store::TableRows read_counts(const Rows& rows) {
  store::TableRows counts;
  for (const auto& row : rows) {
    auto count = row.size() == 3 && row[0] == "rows" ? util::parse_uint(row[2]) : std::nullopt;
    if (count) counts[row[1]] = *count;
  }
  return counts;
}

// Rows of the version table, tagged 'v', when the table exists.
std::string revisions_sql(const std::string& schema, const std::string& table) {
  const std::string select = "SELECT 'v', version_num FROM " + qualified(schema, table);
  return fmt::format(
      "SET @dbsnap_q = IF(EXISTS(SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}), "
      "{}, 'DO 0');\n"
      "PREPARE dbsnap_q FROM @dbsnap_q;\nEXECUTE dbsnap_q;\nDEALLOCATE PREPARE dbsnap_q;\n",
      quote_string(schema), quote_string(table), quote_string(select));
}

void read_listing(const Rows& rows, std::map<char, Schema*> schemas) {
  for (const auto& row : rows) {
    if (row.size() < 3 || row[0].size() != 1 || row[1].size() != 1) continue;
    auto it = schemas.find(row[1][0]);
    if (it == schemas.end()) continue;
    Schema& s = *it->second;
    switch (row[0][0]) {
      case 's':
        s.exists = true;
        s.collation = row[2];
        break;
      case 't':
        if (row.size() < 4) break;
        if (row[3] == "VIEW") {
          s.views.push_back(row[2]);
        } else if (row[3] == "BASE TABLE" || row[3] == "SEQUENCE" || row[3] == "SYSTEM VERSIONED") {
          s.tables.push_back(row[2]);
        }
        break;
      case 'c':
        if (row.size() >= 4) s.view_columns[row[2]].push_back(row[3]);
        break;
      case 'g':
        if (row.size() >= 4) s.triggers.push_back({row[2], row[3]});
        break;
      case 'r':
        if (row.size() >= 4 && (row[2] == "PROCEDURE" || row[2] == "FUNCTION")) s.routines.push_back({row[2], row[3]});
        break;
      case 'e': s.events.push_back(row[2]); break;
      case 'f': s.foreign_keys_in = std::strtoull(row[2].c_str(), nullptr, 10); break;
      case 'v': s.revisions.push_back(row[2]); break;
      default: break;
    }
  }
}

// SHOW CREATE for every trigger, view, routine and event of a schema, each
// after a marker row. Run with the schema as the current database, so that
// view definitions name its tables without the schema.
std::string definitions_sql(char tag, const Schema& s) {
  std::string sql = "USE " + quote_identifier(s.name) + ";\n";
  auto add = [&](const std::string& kind, const std::string& name) {
    sql += fmt::format("SELECT 'dbsnap-def', '{}', {}, {};\nSHOW CREATE {} {};\n", tag, quote_string(kind),
                       quote_string(name), kind, qualified(s.name, name));
  };
  for (const auto& t : s.triggers) add("TRIGGER", t.name);
  for (const auto& v : s.views) add("VIEW", v);
  for (const auto& r : s.routines) add(r.type, r.name);
  for (const auto& e : s.events) add("EVENT", e);
  return sql;
}

void read_definitions(const Rows& rows, std::map<char, Schema*> schemas) {
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {
    const auto& marker = rows[i];
    if (marker.size() != 4 || marker[0] != "dbsnap-def" || marker[1].size() != 1) continue;
    auto it = schemas.find(marker[1][0]);
    if (it == schemas.end()) continue;
    const auto& row = rows[++i];
    Definition d{.kind = marker[2], .name = marker[3]};
    // SHOW CREATE's columns differ by kind.
    if (d.kind == "TRIGGER" && row.size() >= 5) {
      d.sql_mode = row[1], d.statement = row[2], d.collation = row[4];
    } else if (d.kind == "VIEW" && row.size() >= 4) {
      d.statement = row[1], d.collation = row[3];
    } else if ((d.kind == "PROCEDURE" || d.kind == "FUNCTION") && row.size() >= 5) {
      d.sql_mode = row[1], d.statement = row[2], d.collation = row[4];
    } else if (d.kind == "EVENT" && row.size() >= 6) {
      d.sql_mode = row[1], d.time_zone = row[2], d.statement = row[3], d.collation = row[5];
    }
    if (d.statement.empty() || d.statement == "NULL") continue;  // no right to see it: definition() reports it
    it->second->definitions.emplace(d.kind + " " + d.name, std::move(d));
  }
}

// The statements that re-create a definition in the current database, with
// the sql_mode, collation and time zone it was made under. Bodies hold ';',
// so they go between DELIMITER ;; lines, as in mysqldump's own output.
std::string create_sql(const Definition& d, ViewCreation view) {
  std::string sql;
  if (d.kind != "VIEW") sql += "SET SESSION sql_mode = " + quote_string(d.sql_mode) + ";\n";
  sql += "SET SESSION character_set_client = utf8mb4, character_set_results = utf8mb4";
  if (is_plain_name(d.collation)) sql += ", collation_connection = " + d.collation;
  sql += ";\n";
  if (!d.time_zone.empty()) sql += "SET SESSION time_zone = " + quote_string(d.time_zone) + ";\n";
  std::string statement = d.statement;
  if (view == ViewCreation::or_replace && statement.starts_with("CREATE ")) statement.insert(7, "OR REPLACE ");
  sql += "DELIMITER ;;\n" + statement + "\n;;\nDELIMITER ;\nSET SESSION sql_mode = '';\n";
  return sql;
}

// A view that stands in for `name` (same columns, no dependencies) until its
// real definition replaces it: views may select from views, in any order.
std::string stand_in_sql(const Schema& s, const std::string& name) {
  std::vector<std::string> columns;
  auto it = s.view_columns.find(name);
  if (it != s.view_columns.end()) {
    for (const auto& c : it->second) columns.push_back("NULL AS " + quote_identifier(c));
  }
  if (columns.empty()) columns.emplace_back("NULL AS `dbsnap_stand_in`");
  return fmt::format("CREATE VIEW {} AS SELECT {};\n", quote_identifier(name), util::join(columns, ", "));
}

std::string drop_routine_sql(const std::string& schema, const Routine& r, Missing missing) {
  return fmt::format("DROP {} {}{};\n", r.type, missing == Missing::ignore ? "IF EXISTS " : "",
                     qualified(schema, r.name));
}

}  // namespace dbsnap::engine::mysql
