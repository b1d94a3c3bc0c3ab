#!/usr/bin/python3
"""Scenario: backups taken while another process keeps inserting.

A writer process commits batches of BATCH rows, each transaction also setting
alembic_version to 'r<count>' so that the recorded revision tells which commit
a dump saw; it logs every committed count. Once in WAL mode, once in
rollback-journal (DELETE) mode, several backups run while it writes. Each
snapshot, written out with `dbsnap cat`, must pass PRAGMA integrity_check,
hold a row count the writer actually committed, and carry the revision that
was committed together with that count.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, integrity, wait_for  # noqa: E402

BATCH = 7
INITIAL_ROWS = 4000  # ~8 MB: a backup takes long enough to overlap many commits
BACKUPS = 5

WRITER = r"""
import os, sqlite3, sys, time
db_file, log_file, stop_file, mode = sys.argv[1:5]
db = sqlite3.connect(db_file, timeout=30, isolation_level=None)
db.execute("PRAGMA journal_mode=" + mode)
db.execute("PRAGMA synchronous=OFF")
count = db.execute("SELECT count(*) FROM t").fetchone()[0]
log = open(log_file, "w", buffering=1)
log.write("%d\n" % count)
batches = 0
while not os.path.exists(stop_file):
    db.execute("BEGIN IMMEDIATE")
    for _ in range(BATCH_SIZE):
        db.execute("INSERT INTO t (payload) VALUES (randomblob(2000))")
    count += BATCH_SIZE
    db.execute("UPDATE alembic_version SET version_num = ?", ("r%d" % count,))
    db.execute("COMMIT")
    log.write("%d\n" % count)
    batches += 1
    time.sleep(0.002)
log.write("done %d\n" % batches)
log.close()
db.close()
""".replace("BATCH_SIZE", str(BATCH))


def scenario(t, mode):
    t.section("journal mode {}".format(mode))
    proj = t.project("proj-" + mode.lower(), targets={"dev": "app.db"})
    db_file = os.path.join(proj, "app.db")
    db = connect(db_file)
    db.execute("PRAGMA journal_mode=" + mode)
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    db.execute("BEGIN")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
               "INSERT INTO t (payload) SELECT randomblob(2000) FROM c", (INITIAL_ROWS,))
    db.execute("INSERT INTO alembic_version VALUES (?)", ("r{}".format(INITIAL_ROWS),))
    db.execute("COMMIT")
    actual_mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    t.require_eq(actual_mode.upper(), mode, "the database is in {} mode".format(mode))

    log_file, stop_file = t.path(mode + ".log"), t.path(mode + ".stop")
    writer = t.spawn_python(WRITER, db_file, log_file, stop_file, mode)

    def committed_so_far():
        try:
            with open(log_file) as f:
                return [int(x) for x in f.read().split() if x.isdigit()]
        except FileNotFoundError:
            return []

    t.require(wait_for(lambda: len(committed_so_far()) > 20, 20), "the writer is committing")
    snapshots = []
    for i in range(BACKUPS):
        before = committed_so_far()[-1]
        r = t.dbsnap(proj, "backup", "dev", "--json")
        after = committed_so_far()[-1]
        t.check_rc(r, 0, "backup #{} while the writer inserts".format(i + 1))
        if r.rc == 0:
            snapshots.append((r.json(), before, after))
    open(stop_file, "w").close()
    try:
        _, err = writer.communicate(timeout=60)
    except Exception:
        writer.kill()
        _, err = writer.communicate()
    t.require_eq(writer.returncode, 0, "the writer ran without errors", err)
    with open(log_file) as f:
        lines = f.read().split("\n")
    done = [ln for ln in lines if ln.startswith("done ")]
    committed = set(int(x) for x in lines if x.isdigit())
    t.require(done and int(done[0].split()[1]) > 0, "the writer finished and logged its commits", lines[-3:])
    progressed = [(b, a) for _, b, a in snapshots if a > b]
    t.check(len(progressed) >= 1, "the writer committed during at least one backup ({} of {})".format(
        len(progressed), len(snapshots)), "counts before/after each backup: {}".format(
        [(b, a) for _, b, a in snapshots]))

    for n, (m, before, after) in enumerate(snapshots, 1):
        out = t.path("{}-{}.db".format(mode, n))
        with open(out, "wb") as f:
            r = t.spawn_dbsnap(proj, "cat", m["id"], stdout=f)
            _, err = r.communicate(timeout=120)
        t.check_eq(r.returncode, 0, "cat of snapshot #{} exits 0".format(n), err)
        t.check_eq(integrity(out), "ok", "snapshot #{}: PRAGMA integrity_check".format(n))
        db = connect(out)
        rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
        maxid = db.execute("SELECT max(id) FROM t").fetchone()[0]
        revs = sorted(r[0] for r in db.execute("SELECT version_num FROM alembic_version"))
        db.close()
        t.check(rows in committed, "snapshot #{}: its {} rows are a count the writer committed".format(n, rows),
                "committed counts near it: {}".format(sorted(c for c in committed if abs(c - rows) < 30)))
        t.check(before <= rows, "snapshot #{}: holds at least the {} rows committed before the backup started".format(
            n, before), "it holds {}".format(rows))
        t.check_eq(maxid, rows, "snapshot #{}: ids 1..count without holes".format(n))
        t.check_eq(revs, ["r{}".format(rows)], "snapshot #{}: alembic_version committed with that count".format(n))
        t.check_eq(m["revisions"], revs, "snapshot #{}: the manifest's revision is the dump's own".format(n))
    t.check_eq(integrity(db_file), "ok", "the live database is intact after the backups")


def body(t):
    scenario(t, "WAL")
    scenario(t, "DELETE")


if __name__ == "__main__":
    Test("concurrent_writer").run(body)
