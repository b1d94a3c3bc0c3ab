"""MariaDB test restore (verify --restore): the dump loads into a scratch schema on the same server,
never into the database, and is compared with the revision and the row count of every table that
the backup counted as the dump streamed by.

The round trip's database (quoted names, binary and non-ASCII rows, a trigger whose body holds an
INSERT, views, routines, an event) plus a table of 2^15 rows. The manifest's counts equal COUNT(*)
on the live database; a test restore matches them and leaves the database and the server as they
were; a manifest whose count was altered fails (exit 5) naming the table; a test restore killed with
-9 mid-load leaves its scratch schema, which the next one removes.
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from mysql_fixture import MariaDB, fill_big_table, mysql_project, quote_id  # noqa: E402
from test_mysql_round_trip import DB, SETUP  # noqa: E402


def body(t):
    db = MariaDB(t, "dbsnap-mysql-verify-restore")
    try:
        scenario(t, db)
    finally:
        db.remove()


def live_counts(db):
    counts = {}
    for table in db.tables(DB):
        counts[table] = int(db.value("SELECT COUNT(*) FROM {}".format(quote_id(table)), DB))
    return counts


def scenario(t, db):
    db.sql(SETUP)
    fill_big_table(db, DB, rows_log2=15, payload=100)
    proj = mysql_project(t, {
        "dev": {"container": db.name, "database": DB, "password_from_container": "MYSQL_ROOT_PASSWORD"},
    })

    t.section("a backup records each table's rows")
    m = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    counts = live_counts(db)
    t.require(counts["big"] == 2 ** 15 and counts["parent"] == 3, "the fixture's tables", counts)
    t.check_eq(m.get("tables"), counts, "the manifest's row counts are COUNT(*) of every table")
    snap = m["id"]
    before = db.fingerprint(DB)
    schemas = db.schemas()

    t.section("a test restore matches them, and changes nothing")
    r = t.dbsnap(proj, "verify", "--restore", snap)
    t.check_rc(r, 0, "verify --restore")
    t.check("scratch schema" in r.text and "revision aaa111" in r.text and
            "{} tables with {} rows as counted at backup time".format(len(counts), sum(counts.values())) in r.text,
            "it says where it loaded the dump and what matched", r.describe())
    t.check_eq(db.fingerprint(DB), before, "the database is as it was")
    t.check_eq(db.schemas(), schemas, "no scratch schema is left")
    show = t.show_json(proj, snap)
    t.check(show.get("restore_tested_at", "") != "" and show["status"] == "verified",
            "the manifest records the test restore", show)
    listed = t.dbsnap_ok(proj, "list", "dev").text
    t.check("[tested]" in listed, "list marks the snapshot tested", listed)

    t.section("a count that differs fails, naming the table")
    manifest = show["manifest_path"]
    with open(manifest) as fh:
        doc = json.load(fh)
    doc["tables"]["parent"] = 4
    with open(manifest, "w") as fh:
        json.dump(doc, fh)
    t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")
    r = t.dbsnap(proj, "verify", "--restore", snap)
    t.check_error(r, 5, "a manifest that counted another number of rows",
                  contains=("failed their test restore",))
    t.check("table 'parent' holds 3 rows in the restored copy, the backup counted 4" in r.text, "the table is named",
            r.describe())
    t.check_eq(db.fingerprint(DB), before, "the database is as it was")
    t.check_eq(db.schemas(), schemas, "no scratch schema is left")
    doc["tables"]["parent"] = 3
    with open(manifest, "w") as fh:
        json.dump(doc, fh)
    t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")

    t.section("a test restore killed mid-load: the next one removes its scratch schema")
    p = t.spawn_dbsnap(proj, "verify", "--restore", snap)
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline and p.poll() is None:
        if any("_dbsnap_" in s for s in db.schemas()):
            seen = True
            break
        time.sleep(0.05)
    t.require(seen, "the scratch schema appeared while the test restore ran")
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(1)
    left = [s for s in db.schemas() if "_dbsnap_" in s]
    print("  left after kill -9: {}".format(left))
    t.check_eq(db.fingerprint(DB), before, "the database is as it was")
    r = t.dbsnap(proj, "verify", "--restore", snap)
    t.check_rc(r, 0, "the next test restore")
    t.check_eq(db.schemas(), schemas, "no scratch schema is left")


if __name__ == "__main__":
    Test("mysql_verify_restore").run(body)
