// The swap at the heart of a MySQL/MariaDB restore, and its undo.
//
// The shadow schema's tables and the database's trade places in ONE
// multi-table RENAME TABLE, which MySQL and MariaDB run atomically: the
// database's tables move into a side schema (<db>_dbsnap_old_<hash>), the
// shadow's into the database. On MariaDB the RENAME never waits while it
// holds a table (rename_tables_sql, RenameWait::retry), so a user's
// session is never cancelled for a deadlock with it. Triggers, which cannot cross schemas, are
// dropped just before and re-created after; views, routines and events are
// replaced after. When any statement fails, undo() reads what is where now
// and puts back only what changed, by name; the old tables are dropped only
// once everything succeeded.

#include <algorithm>

#include "dbsnap/engine/mysql/restore.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::pair<Schema, Schema> MysqlRestore::inspect(Definitions definitions) {
  Schema live{.name = client_.database()};
  Schema shadow{.name = shadow_};
  std::string sql = lock_sql(lock_, lock_wait_seconds);
  sql += listing_sql('o', live.name) + listing_sql('n', shadow.name);
  sql += revisions_sql(shadow_, version_table(target()));
  sql += "SELECT 'server', VERSION();\n";
  auto rows = query(sql, "inspecting the restored schema");
  for (auto& row : rows) {
    if (row.size() == 2 && row[0] == "v") row = {"v", "n", row[1]};
    if (row.size() == 2 && row[0] == "server") rename_wait_ = rename_wait_for(row[1]);
  }
  read_listing(rows, {{'o', &live}, {'n', &shadow}});
  if (definitions == Definitions::read && (live.has_objects() || shadow.has_objects())) {
    std::string defs;
    if (shadow.exists) defs += definitions_sql('n', shadow);
    if (live.exists) defs += definitions_sql('o', live);
    read_definitions(query(defs, "reading trigger, view, routine and event definitions"),
                     {{'o', &live}, {'n', &shadow}});
  }
  return {std::move(live), std::move(shadow)};
}

void MysqlRestore::commit_swap() {
  // 1. The loader must have read and run the whole dump.
  wait_for_load();

  // 2. What is where, and the restored revision.
  auto [live, shadow] = inspect(Definitions::read);
  if (!shadow.exists) {
    fail(ErrorKind::engine, "target '{}': the shadow schema '{}' disappeared during the restore (another "
         "restore?); target unchanged", target().name, shadow_);
  }
  std::sort(shadow.revisions.begin(), shadow.revisions.end());
  shadow.revisions.erase(std::unique(shadow.revisions.begin(), shadow.revisions.end()), shadow.revisions.end());
  if (shadow.revisions != revisions_) {
    fail(ErrorKind::engine, "target '{}': the restored data holds revision {}, the snapshot recorded {}; "
         "target unchanged", target().name, util::revision_text(shadow.revisions), util::revision_text(revisions_));
  }
  if (live.foreign_keys_in > 0) {
    fail(ErrorKind::engine, "target '{}': tables of other schemas now have foreign keys into database '{}', "
         "so its tables cannot be swapped; target unchanged", target().name, live.name);
  }

  // 3. The swap.
  auto r = client_.run_sql(swap_sql(live, shadow));
  if (r.out.find(cleaned_marker) != std::string::npos) return;
  if (r.out.find(swapped_marker) != std::string::npos) {
    fmt::print(stderr, "dbsnap: warning: target '{}' is restored, but cleaning up failed ({}); the next "
               "restore removes what is left\n", target().name, util::last_nonempty_line(r.err));
    return;
  }
  const std::string why = r.err.find(lock_busy_marker) != std::string::npos
                              ? std::string("another dbsnap restore holds the lock")
                              : client_.explain(r.err, r.status);
  undo(live, shadow, why);
}

std::string MysqlRestore::swap_sql(const Schema& live, const Schema& shadow) const {
  const std::string& db = live.name;
  std::string sql = lock_sql(lock_, lock_wait_seconds);
  sql += fmt::format("SET SESSION lock_wait_timeout = LEAST(@@SESSION.lock_wait_timeout, {});\n",
                     swap_lock_wait_seconds);
  sql += "SET SESSION foreign_key_checks = 0;\n";
  if (!live.exists) sql += fmt::format("CREATE DATABASE {} COLLATE {};\n", quote_identifier(db), shadow.collation);
  for (const auto& t : shadow.triggers) sql += "DROP TRIGGER " + qualified(shadow.name, t.name) + ";\n";
  for (const auto& v : live.views) {
    if (contains(shadow.tables, v)) sql += "DROP VIEW " + qualified(db, v) + ";\n";
  }
  // Triggers cannot cross schemas: the live ones go now (they are replaced
  // anyway; undo() re-creates them from their saved definitions).
  for (const auto& t : live.triggers) sql += "DROP TRIGGER " + qualified(db, t.name) + ";\n";
  if (!live.tables.empty()) sql += "CREATE DATABASE " + quote_identifier(old_) + ";\n";
  std::vector<std::string> renames;
  for (const auto& t : live.tables) renames.push_back(qualified(db, t) + " TO " + qualified(old_, t));
  for (const auto& t : shadow.tables) renames.push_back(qualified(shadow.name, t) + " TO " + qualified(db, t));
  if (!renames.empty()) sql += rename_tables_sql(renames, rename_wait_, swap_lock_wait_seconds);
  // From here on the database holds the restored tables.
  sql += "USE " + quote_identifier(db) + ";\n";
  for (const auto& v : shadow.views) {
    if (!contains(live.views, v)) sql += stand_in_sql(shadow, v);
  }
  for (const auto& v : shadow.views) sql += create_sql(shadow.definition("VIEW", v), ViewCreation::or_replace);
  for (const auto& v : live.views) {
    if (!contains(shadow.views, v) && !contains(shadow.tables, v)) sql += "DROP VIEW " + qualified(db, v) + ";\n";
  }
  for (const auto& t : shadow.triggers) sql += create_sql(shadow.definition("TRIGGER", t.name));
  for (const auto& r : live.routines) sql += drop_routine_sql(db, r);
  for (const auto& r : shadow.routines) sql += create_sql(shadow.definition(r.type, r.name));
  for (const auto& e : live.events) sql += "DROP EVENT " + qualified(db, e) + ";\n";
  for (const auto& e : shadow.events) sql += create_sql(shadow.definition("EVENT", e));
  sql += fmt::format("SELECT '{}';\n", swapped_marker);
  // Done: the old tables and the shadow schema go.
  sql += "SET SESSION foreign_key_checks = 0;\n";
  if (!live.tables.empty()) sql += "DROP DATABASE " + quote_identifier(old_) + ";\n";
  sql += "DROP DATABASE " + quote_identifier(shadow.name) + ";\n";
  sql += fmt::format("SELECT '{}';\n", cleaned_marker);
  return sql;
}

void MysqlRestore::undo(const Schema& before, const Schema& restored, const std::string& why) {
  const std::string& db = before.name;
  try {
    auto [now, shadow_now] = inspect(Definitions::read);
    // The RENAME is atomic: it happened when the old schema holds tables.
    const auto parked = query(lock_sql(lock_, lock_wait_seconds) +
                                  "SELECT 'parked', COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                  quote_string(old_) + ";\n",
                              "looking for the parked tables");
    bool renamed = false;
    for (const auto& row : parked) renamed = renamed || (row.size() == 2 && row[0] == "parked" && row[1] != "0");
    auto same = [&](const std::string& kind, const std::string& name) {
      auto a = before.definitions.find(kind + " " + name);
      auto b = now.definitions.find(kind + " " + name);
      return a != before.definitions.end() && b != now.definitions.end() &&
             a->second.statement == b->second.statement;
    };
    std::string sql = lock_sql(lock_, lock_wait_seconds);
    sql += fmt::format("SET SESSION lock_wait_timeout = LEAST(@@SESSION.lock_wait_timeout, {});\n",
                       swap_lock_wait_seconds);
    sql += "SET SESSION foreign_key_checks = 0;\n";
    if (!before.exists) {
      // The database was created by this restore: it goes again.
      sql += "DROP DATABASE IF EXISTS " + quote_identifier(db) + ";\n";
    } else {
      // 1. Drop what is not as it was (and every trigger on a restored table: it cannot move back).
      std::vector<std::string> kept_triggers, kept_views, kept_events;
      std::vector<Routine> kept_routines;
      for (const auto& t : now.triggers) {
        const bool on_restored = renamed;
        if (!on_restored && before.has_trigger(t.name) && same("TRIGGER", t.name)) {
          kept_triggers.push_back(t.name);
        } else {
          sql += "DROP TRIGGER " + qualified(db, t.name) + ";\n";
        }
      }
      for (const auto& v : now.views) {
        if (contains(before.views, v) && same("VIEW", v)) {
          kept_views.push_back(v);
        } else {
          sql += "DROP VIEW " + qualified(db, v) + ";\n";
        }
      }
      for (const auto& r : now.routines) {
        if (before.has_routine(r) && same(r.type, r.name)) {
          kept_routines.push_back(r);
        } else {
          sql += drop_routine_sql(db, r);
        }
      }
      for (const auto& e : now.events) {
        if (contains(before.events, e) && same("EVENT", e)) {
          kept_events.push_back(e);
        } else {
          sql += "DROP EVENT " + qualified(db, e) + ";\n";
        }
      }
      // 2. Tables back where they were, in one RENAME again.
      if (renamed) {
        std::vector<std::string> renames;
        for (const auto& t : restored.tables) {
          if (contains(now.tables, t)) renames.push_back(qualified(db, t) + " TO " + qualified(restored.name, t));
        }
        for (const auto& t : before.tables) renames.push_back(qualified(old_, t) + " TO " + qualified(db, t));
        if (!renames.empty()) sql += rename_tables_sql(renames, rename_wait_, swap_lock_wait_seconds);
      }
      // Empty now either way (the swap may have failed right after creating it).
      sql += "DROP DATABASE IF EXISTS " + quote_identifier(old_) + ";\n";
      // 3. Re-create what is missing.
      sql += "USE " + quote_identifier(db) + ";\n";
      for (const auto& v : before.views) {
        if (!contains(kept_views, v)) sql += stand_in_sql(before, v);
      }
      for (const auto& v : before.views) {
        if (!contains(kept_views, v)) sql += create_sql(before.definition("VIEW", v), ViewCreation::or_replace);
      }
      for (const auto& t : before.triggers) {
        if (!contains(kept_triggers, t.name)) sql += create_sql(before.definition("TRIGGER", t.name));
      }
      for (const auto& r : before.routines) {
        if (std::find(kept_routines.begin(), kept_routines.end(), r) == kept_routines.end()) {
          sql += create_sql(before.definition(r.type, r.name));
        }
      }
      for (const auto& e : before.events) {
        if (!contains(kept_events, e)) sql += create_sql(before.definition("EVENT", e));
      }
    }
    sql += fmt::format("SELECT '{}';\n", undone_marker);
    auto r = client_.run_sql(sql);
    if (!r.status.ok() || r.out.find(undone_marker) == std::string::npos) {
      throw DbsnapError(ErrorKind::engine, client_.explain(r.err, r.status));
    }
  } catch (const DbsnapError& e) {
    keep_shadow_ = true;
    fail(ErrorKind::engine, "target '{}': swapping the restored tables in failed ({}) and putting database '{}' "
         "back failed too ({}); it may be inconsistent: restore the pre-restore safety snapshot (dbsnap list "
         "--target {}); the restored tables are in schema '{}', the old ones in '{}'", target().name, why,
         db, e.what(), target().name, shadow_, old_);
  }
  fail(ErrorKind::engine, "target '{}': swapping the restored tables in failed: {}; database '{}' was put back "
       "as it was", target().name, why, db);
}

}  // namespace dbsnap::engine::mysql
