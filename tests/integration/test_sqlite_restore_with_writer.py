#!/usr/bin/python3
"""Scenario: an application holds a write transaction on the SQLite file while dbsnap restores it.

The app (another process) takes the write lock, inserts a row, and commits it 3 s later, while a
`restore --yes` runs. Before this was fixed, the safety snapshot was taken first (without the
row), the restore waited silently for the lock and then overwrote the row: it was in neither the
restored database nor the safety snapshot. Now:
- WAL database: the restore says it waits for the other connection, then takes the safety
  snapshot while it holds the write lock (after the app's commit), so the row is in the
  pre-restore snapshot, and the database is the restored one;
- rollback-journal database: the safety snapshot is taken while a read lock keeps the app from
  committing; the app commits once it is released, the restore sees that the file changed after
  its safety snapshot and stops (exit 7, nothing restored): the row is still in the database.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_ENGINE, EXIT_OK, Test, connect, table_checksum  # noqa: E402

APP = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO item (v) VALUES ('committed by the app during the restore')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
print("committed", flush=True)
"""


def make_db(path, mode):
    db = connect(path)
    db.execute("PRAGMA journal_mode={}".format(mode))
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("INSERT INTO alembic_version VALUES ('a1')")
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("CREATE TABLE pad (b BLOB)")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20) "
               "INSERT INTO pad SELECT randomblob(1048576) FROM c")
    db.executemany("INSERT INTO item (v) VALUES (?)", [("row {}".format(i),) for i in range(100)])
    db.close()


def app_rows(path):
    db = connect(path)
    try:
        return db.execute("SELECT count(*) FROM item WHERE v LIKE 'committed by the app%'").fetchone()[0]
    finally:
        db.close()


def body(t):
    for mode in ("wal", "delete"):
        t.section("journal mode {}: the app holds a write transaction during the restore".format(mode))
        proj = t.project(name="proj-" + mode, targets={"dev": "app.db"})
        db_file = os.path.join(proj, "app.db")
        make_db(db_file, mode)
        snap = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
        ck_snap = table_checksum(db_file)
        db = connect(db_file)
        db.execute("DELETE FROM item WHERE id > 50")
        db.close()
        app = t.spawn_python(APP, db_file, 3)
        t.require(app.stdout.readline().strip() == "locked", "the app holds the write lock")
        r = t.dbsnap(proj, "restore", snap["id"], "--yes")
        app_out = app.stdout.read()
        app.wait(timeout=60)
        t.check("committed" in app_out, "the app committed its row", app_out + app.stderr.read())
        safety = [m for m in t.list_json(proj) if m["label"] == "pre-restore"]
        if mode == "wal":
            t.check_rc(r, EXIT_OK, "restore while the app holds the write lock")
            t.check("waiting up to" in r.errtext, "the restore says it waits for the other connection", r.describe())
            t.check_eq(table_checksum(db_file), ck_snap, "the database is the restored snapshot")
            t.require_eq(len(safety), 1, "a pre-restore snapshot was taken")
            kept = t.path("safety-{}.db".format(mode))
            with open(kept, "wb") as f:
                f.write(t.dbsnap_ok(proj, "cat", safety[0]["id"]).out)
            t.check_eq(app_rows(kept), 1, "the row the app committed during the restore is in the safety snapshot")
        else:
            t.check_rc(r, EXIT_ENGINE, "restore while the app holds the write lock (rollback journal)")
            t.check("committed to the database after its safety snapshot" in r.errtext and
                    "nothing was restored" in r.errtext, "it says why it stopped", r.describe())
            t.check_eq(app_rows(db_file), 1, "the row the app committed is in the database (nothing was restored)")
            t.check(len(safety) == 1, "the safety snapshot stays listed", safety)
        time.sleep(0.1)


if __name__ == "__main__":
    Test("restore_with_writer").run(body)
