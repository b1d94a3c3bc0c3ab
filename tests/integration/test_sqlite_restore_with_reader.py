#!/usr/bin/python3
"""Scenario: restore while other processes have the database open.

1. An idle reader (WAL mode, a connection held open in another process, idle
   between transactions): the restore succeeds, the reader then sees the
   restored data through its existing connection, and once everyone has
   closed there is no -wal/-shm/-journal or temp file beside the database.
2. A reader polling in a loop (one read transaction per checksum) while the
   database is restored back and forth: it only ever sees the old or the new
   checksum, never a mix. Run in WAL and in rollback-journal mode.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, beside, connect, integrity, table_checksum, wait_for  # noqa: E402

HELPERS = os.path.dirname(os.path.abspath(__file__))

# Holds one connection open; answers "checksum" with one read transaction's checksum.
IDLE_READER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from dbsnap_test import connect, table_checksum_conn
db = connect(sys.argv[1])
print("mode", db.execute("PRAGMA journal_mode").fetchone()[0], flush=True)
for line in sys.stdin:
    if line.strip() == "checksum":
        db.execute("BEGIN")
        ck = table_checksum_conn(db)
        db.execute("COMMIT")
        print("checksum", ck, flush=True)
    elif line.strip() == "quit":
        break
db.close()
print("closed", flush=True)
"""

# Checksums in a loop until the stop file appears; prints a JSON list of what it saw.
POLLING_READER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[3])
from dbsnap_test import connect, table_checksum_conn
db = connect(sys.argv[1])
seen = []
while not os.path.exists(sys.argv[2]):
    db.execute("BEGIN")
    ck = table_checksum_conn(db)
    db.execute("COMMIT")
    if not seen or seen[-1] != ck:
        seen.append(ck)
    open(sys.argv[2] + ".started", "w").close()
db.close()
print(json.dumps(seen))
"""


def make_db(path, mode, variant, rows, page_size=None):
    db = connect(path)
    if page_size:
        db.execute("PRAGMA page_size={}".format(page_size))
    db.execute("PRAGMA journal_mode=" + mode)
    db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    db.execute("BEGIN")
    db.execute("DELETE FROM alembic_version")
    db.execute("DELETE FROM item")
    db.execute("INSERT INTO alembic_version VALUES (?)", ("rev{}".format(variant),))
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
               "INSERT INTO item (v, b) SELECT ? || x, randomblob(1000) FROM c", (rows, "v{}-".format(variant)))
    db.execute("COMMIT")
    db.close()


def idle_reader(t):
    t.section("idle reader holding a WAL connection open")
    proj = t.project("idle", targets={"dev": "instance/app.db"})
    os.makedirs(os.path.join(proj, "instance"))
    db_file = os.path.join(proj, "instance", "app.db")
    make_db(db_file, "WAL", 1, 2000)
    ck_old = table_checksum(db_file)
    m_old = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    make_db(db_file, "WAL", 2, 2500)
    ck_new = table_checksum(db_file)
    t.require(ck_new != ck_old, "the two states differ")

    reader = t.spawn_python(IDLE_READER, db_file, HELPERS, stdin=subprocess.PIPE)
    reader.stdin.write("checksum\n")
    reader.stdin.flush()
    first = reader.stdout.readline().split()
    t.require_eq(first, ["mode", "wal"], "the reader's connection is in WAL mode")
    got = reader.stdout.readline().split()
    t.require_eq(got, ["checksum", ck_new], "the reader sees the current data before the restore")

    r = t.dbsnap(proj, "restore", m_old["id"], "--yes")
    t.check_rc(r, 0, "restore while a reader holds the database open")
    reader.stdin.write("checksum\n")
    reader.stdin.flush()
    got = reader.stdout.readline().split()
    t.check_eq(got, ["checksum", ck_old], "the reader's open connection then sees the restored data")
    t.check_eq(table_checksum(db_file), ck_old, "a new connection sees the restored data")
    reader.stdin.write("quit\n")
    reader.stdin.flush()
    out, err = reader.communicate(timeout=30)
    t.check_eq((reader.returncode, out.strip()), (0, "closed"), "the reader closed cleanly", err)
    t.check_eq(beside(db_file), [], "after everyone closed: nothing beside the database (no -wal/-shm/temp)")
    t.check_eq(integrity(db_file), "ok", "the restored database passes integrity_check")
    db = connect(db_file)
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    t.check_eq(mode, "wal", "the live database is still in WAL mode after the restore")
    t.check_eq(beside(db_file), [], "checking the journal mode left nothing beside the database")

    t.section("restore into a WAL database whose page size differs from the snapshot's")
    m_old_4k = m_old
    os.remove(db_file)
    make_db(db_file, "WAL", 3, 300, page_size=8192)
    db = connect(db_file)
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    t.require_eq(page, 8192, "the live database uses 8 KiB pages")
    r = t.dbsnap(proj, "restore", m_old_4k["id"], "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "restore a 4 KiB-page snapshot into an 8 KiB-page WAL database")
    t.check_eq(table_checksum(db_file), ck_old, "its data is the snapshot's")
    t.check_eq(integrity(db_file), "ok", "it passes integrity_check")
    t.check_eq(beside(db_file), [], "nothing is left beside the database")


def journal_mode(path):
    db = connect(path)
    try:
        return db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()


def crossing_modes(t):
    t.section("snapshots restored into a database in the other journal mode")
    proj = t.project("cross", targets={"wal": "w/app.db", "rollback": "r/app.db"})
    os.makedirs(os.path.join(proj, "w"))
    os.makedirs(os.path.join(proj, "r"))
    wal_db, rb_db = os.path.join(proj, "w", "app.db"), os.path.join(proj, "r", "app.db")
    make_db(wal_db, "WAL", 1, 500)
    make_db(rb_db, "DELETE", 2, 700)
    ck_wal, ck_rb = table_checksum(wal_db), table_checksum(rb_db)
    m_wal = t.dbsnap_ok(proj, "backup", "wal", "--json").json()
    m_rb = t.dbsnap_ok(proj, "backup", "rollback", "--json").json()
    t.check_rc(t.dbsnap(proj, "restore", m_rb["id"], "--to", "wal", "--yes"), 0,
               "restore a rollback-journal snapshot into the WAL database")
    t.check_rc(t.dbsnap(proj, "restore", m_wal["id"], "--to", "rollback", "--yes"), 0,
               "restore a WAL snapshot into the rollback-journal database")
    t.check_eq((table_checksum(wal_db), table_checksum(rb_db)), (ck_rb, ck_wal), "the data was swapped")
    t.check_eq((journal_mode(wal_db), journal_mode(rb_db)), ("wal", "delete"),
               "each database kept its own journal mode")
    t.check_eq((integrity(wal_db), integrity(rb_db)), ("ok", "ok"), "both pass integrity_check")
    t.check_eq((beside(wal_db), beside(rb_db)), ([], []), "nothing is left beside either database")


def polling_reader(t, mode):
    t.section("a reader polling while the database is restored back and forth ({} mode)".format(mode))
    proj = t.project("poll-" + mode.lower(), targets={"dev": "instance/app.db"})
    os.makedirs(os.path.join(proj, "instance"))
    db_file = os.path.join(proj, "instance", "app.db")
    make_db(db_file, mode, 1, 6000)
    ck_a = table_checksum(db_file)
    m_a = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    make_db(db_file, mode, 2, 6000)
    ck_b = table_checksum(db_file)
    m_b = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.require(ck_a != ck_b, "the two states differ")

    stop = t.path("stop-" + mode)
    reader = t.spawn_python(POLLING_READER, db_file, stop, HELPERS)
    t.require(wait_for(lambda: os.path.exists(stop + ".started"), 20), "the polling reader runs")
    expected = ck_b
    codes = []
    for i in range(6):
        m, expected = (m_a, ck_a) if i % 2 == 0 else (m_b, ck_b)
        r = t.dbsnap(proj, "restore", m["id"], "--yes", "--no-safety-snapshot")
        codes.append(r.rc)
        if r.rc != 0:
            print(r.describe())
        time.sleep(0.05)
    open(stop, "w").close()
    out, err = reader.communicate(timeout=60)
    t.check_eq(codes, [0] * 6, "six restores with a polling reader all exit 0")
    t.require_eq(reader.returncode, 0, "the polling reader ran without errors", err)
    seen = json.loads(out)
    names = {ck_a: "A", ck_b: "B"}
    t.check(all(ck in names for ck in seen), "the reader only ever saw state A or state B ({} changes seen)".format(
        len(seen) - 1), "sequence: {}".format([names.get(ck, "MIXED " + ck[:12]) for ck in seen]))
    t.check(len(seen) >= 2, "the reader saw the restores happen", "sequence: {}".format(
        [names.get(ck, ck[:12]) for ck in seen]))
    t.check_eq(table_checksum(db_file), expected, "the last restore's data is in place")
    t.check_eq(beside(db_file), [], "after everyone closed: nothing beside the database")


def body(t):
    idle_reader(t)
    crossing_modes(t)
    polling_reader(t, "WAL")
    polling_reader(t, "DELETE")


if __name__ == "__main__":
    Test("restore_with_reader").run(body)
