#!/usr/bin/python3
"""MariaDB: a database and tables whose names hold quotes, backticks, semicolons, shell
metacharacters and non-ASCII back up and restore exactly (ordered table checksums, views,
triggers, the revision), an alembic_version row with shell metacharacters is recorded and found
literally, no shell runs any of it (no PWNED file in the container or on the host), no shadow or
side schema is left behind; a database name that does not exist is a one-line error for backup
(nothing changed), and a restore --to it creates it under that name. A snapshot altered (by
whoever can write the store) so that its dump runs client commands (`\\!`, `system`, `tee`) is
refused at restore (exit 7): nothing runs in the container, the database is unchanged.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_ENGINE, Test, forge_blob, use_blobs  # noqa: E402
from mysql_fixture import MariaDB, mysql_project, quote_id, quote_str, store_files  # noqa: E402

DATABASE = "app'; DROP DATABASE `x`; -- \"ñ表\" $(touch PWNED)"
MISSING = "no such `db`; \"ñ\" $(touch PWNED)"
TABLES = ["it's", "end$$ DELIMITER ; $$", 'say "hi"', "back`tick`", "semi;colon; DROP TABLE x;--", "naïve 表 ✓", "$(touch PWNED)"]
REVISION = "rev;rm -rf `touch PWNED` $(touch PWNED) '\""


def body(t):
    db = MariaDB(t, "fuzz-mysql-hostile-names")
    try:
        scenario(t, db)
    finally:
        db.remove()


def pwned_in_container(db):
    rc, out, _ = db.exec("sh", "-c", "find / -xdev -name PWNED 2>/dev/null")
    return out.split()


def pwned_on_host(t):
    return [os.path.join(d, f) for d, _, names in os.walk(t.tmp) for f in names if f == "PWNED"]


def scenario(t, db):
    q = quote_id(DATABASE)
    script = "CREATE DATABASE {} CHARACTER SET utf8mb4;\nUSE {};\n".format(q, q)
    script += ("CREATE TABLE alembic_version (version_num VARCHAR(64) NOT NULL PRIMARY KEY);\n"
               "INSERT INTO alembic_version VALUES ({});\n".format(quote_str(REVISION)))
    for name in TABLES:
        script += ("CREATE TABLE {0} (id INT PRIMARY KEY, {1} VARCHAR(100)) ENGINE=InnoDB;\n"
                   "INSERT INTO {0} VALUES (1, {2}), (2, {3}), (3, NULL);\n").format(
            quote_id(name), quote_id(name + " col"), quote_str(name), quote_str("row of " + name))
    script += "CREATE VIEW {} AS SELECT * FROM {};\n".format(quote_id("view `;' ñ"), quote_id(TABLES[0]))
    script += "CREATE TRIGGER {} BEFORE INSERT ON {} FOR EACH ROW SET NEW.id = NEW.id;\n".format(
        quote_id("trg \"; `x`"), quote_id(TABLES[1]))
    db.sql(script)
    t.require_eq(sorted(db.tables(DATABASE)), sorted(TABLES + ["alembic_version"]),
                 "the hostile database and tables exist in MariaDB")
    before = db.fingerprint(DATABASE)
    t.require_eq(before["revisions"], [REVISION], "alembic_version holds the revision with metacharacters")
    t.require(len(before["views"]) == 1 and len(before["objects"]) == 1, "the view and the trigger exist", before)

    good = {"container": db.name, "database": DATABASE, "password_from_container": "MYSQL_ROOT_PASSWORD"}
    proj = mysql_project(t, {"h": good, "missing": dict(good, database=MISSING)})

    t.section("backup of the hostile database")
    r = t.dbsnap(proj, "backup", "h", "--json")
    t.require_rc(r, 0, "backup h")
    snap = r.json()
    t.check_eq(snap["revisions"], [REVISION], "the snapshot records the revision literally")
    r = t.dbsnap(proj, "show", "@" + REVISION, "--json")
    t.check(r.rc == 0 and r.json()["id"] == snap["id"], "show @<revision with metacharacters> finds it",
            r.describe())
    r = t.dbsnap(proj, "list", "--json", "--revision", REVISION)
    t.check(r.rc == 0 and [m["id"] for m in r.json()] == [snap["id"]], "list --revision finds it", r.describe())

    t.section("change the database, then restore")
    db.sql("USE {};\nDROP TABLE {};\nDELETE FROM {};\nINSERT INTO {} VALUES (9, 'new');\n"
           "UPDATE alembic_version SET version_num = 'other';\nCREATE TABLE {} (x INT);\n".format(
               q, quote_id(TABLES[2]), quote_id(TABLES[3]), quote_id(TABLES[4]), quote_id("added ` later")))
    t.require(db.fingerprint(DATABASE) != before, "the database differs from the snapshot")
    r = t.dbsnap(proj, "restore", snap["id"], "--yes")
    t.check_rc(r, 0, "restore of the hostile database")
    after = db.fingerprint(DATABASE)
    t.check_eq(after, before, "tables (ordered checksums), view, trigger and revision are back exactly")
    t.check_eq(db.shadow_schemas(), [], "no shadow or side schema is left")
    t.check(DATABASE in db.schemas(), "the database still has its name")

    t.section("a database name that does not exist")
    files = store_files(proj)
    schemas = db.schemas()
    r = t.dbsnap(proj, "backup", "missing")
    t.check_error(r, EXIT_ENGINE, "backup of a database that does not exist", contains=("no such `db`",))
    r = t.dbsnap(proj, "doctor", "missing")
    t.check(r.rc != 0 and "no such `db`" in r.text + r.errtext, "doctor names the missing database", r.describe())
    t.check_eq(store_files(proj), files, "nothing was published or removed")
    t.check_eq(db.schemas(), schemas, "no schema was created or dropped")
    t.check_eq(db.fingerprint(DATABASE), before, "the hostile database is untouched")

    t.section("a restore into a database that does not exist creates it, under its hostile name")
    r = t.dbsnap(proj, "restore", snap["id"], "--to", "missing", "--yes")
    t.check_rc(r, 0, "restore --to <a missing database with a hostile name>")
    t.check_eq(db.fingerprint(MISSING), before, "the new database holds exactly the snapshot")
    t.check_eq(db.fingerprint(DATABASE), before, "the source database is untouched")
    t.check_eq(db.shadow_schemas(), [], "no shadow or side schema is left")

    t.section("a snapshot altered to run client commands: refused, nothing runs, nothing changes")
    use_blobs(proj)
    r = t.dbsnap(proj, "backup", "h", "--json")
    t.require_rc(r, 0, "backup h (blob layout, to alter it)")
    blob_snap = r.json()
    for line, who, says in (("\\! touch /tmp/PWNED", "dbsnap's gate", "client shell command"),
                            ("system touch /tmp/PWNED", "dbsnap's gate", "client shell command"),
                            ("tee /tmp/PWNED", "the client's --sandbox", "sandbox mode"),
                            ("USE mysql;", "dbsnap's gate", "switches database")):
        forge_blob(proj, blob_snap, lambda dump: line.encode() + b"\n" + dump)  # where the buffer is empty
        r = t.dbsnap(proj, "restore", blob_snap["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, EXIT_ENGINE, "restore of a dump with '{}' (refused by {})".format(line, who))
        t.check(says in r.errtext, "the error says why ({})".format(says), r.describe())
        t.check_eq(db.fingerprint(DATABASE), before, "the database is unchanged")
        t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")

    t.check_eq(pwned_in_container(db), [], "no shell ran the metacharacters in the container")
    t.check_eq(pwned_on_host(t), [], "no shell ran the metacharacters on the host")


if __name__ == "__main__":
    Test("mysql_hostile_names").run(body)
