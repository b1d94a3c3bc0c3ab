#!/usr/bin/python3
"""SQLite inside a container: a consistent copy by the container's own sqlite3 (or python3)
backup API while a writer inserts, the revision read from that copy, a two-phase restore
(received into a temp file beside the database, applied with the backup API only after
dbsnap verified the stream), no temp files left in the container, and a clear error when
the container has neither sqlite3 nor python3."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, EXIT_ENGINE, EXIT_RUNTIME, EXIT_CORRUPT  # noqa: E402

HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(os.path.dirname(__file__), "..", "harness")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
BOX = "dbsnap-container-sqlite"


def sh(*args, input=None, check=True):
    p = subprocess.run([DOCKER, "exec", "-i", BOX, "sh", "-c"] + list(args), input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError("in container: {} -> {}".format(args[0], p.stderr.decode()))
    return p.stdout.decode()


def state():
    """Every row of t in id order plus the revision: what must come back after a restore."""
    return sh('sqlite3 /data/app.db "SELECT id, v, hex(b) FROM t ORDER BY id; SELECT * FROM alembic_version"')


def body(t):
    subprocess.run([os.path.join(HARNESS, "dbctl"), "rm", BOX], capture_output=True)
    p = subprocess.run([os.path.join(HARNESS, "dbctl"), "start-shell", BOX], capture_output=True, timeout=120)
    t.require(p.returncode == 0, "dbctl start-shell", p.stderr.decode())
    try:
        sh("""mkdir -p /data && sqlite3 /data/app.db "PRAGMA journal_mode=WAL;
              CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);
              CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
              INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6');
              WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
              INSERT INTO t (v, b) SELECT 'zoë ' || x, randomblob(64) FROM c;" """)
        proj = t.project(targets={})
        with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
            f.write('[targets.box]\nengine = "sqlite"\ncontainer = "{}"\nfile = "/data/app.db"\n'.format(BOX))

        t.section("backup while a writer inserts inside the container")
        writer = subprocess.Popen([DOCKER, "exec", "-i", BOX, "sh", "-c",
                                   'i=0; while [ $i -lt 400 ]; do sqlite3 /data/app.db '
                                   '".timeout 5000" "INSERT INTO t (v) VALUES (\'w$i\')" || exit 1; i=$((i+1)); done'])
        time.sleep(0.3)
        r = t.dbsnap(proj, "backup", "box", "--json")
        writer.wait(timeout=120)
        t.require_eq(r.rc, 0, "backup exit code", r.errtext)
        snap = r.json()
        t.check_eq(snap["revisions"], ["a1b2c3d4e5f6"], "revision read from the container's copy")
        t.check(snap["source"].startswith("file /data/app.db in container"), "source names the container", snap["source"])
        blob = t.path("copy.db")
        cat = t.dbsnap(proj, "cat", snap["id"])
        t.require_eq(cat.rc, 0, "cat")
        with open(blob, "wb") as out:
            out.write(cat.out)
        import sqlite3
        db = sqlite3.connect(blob)
        t.check_eq(db.execute("PRAGMA integrity_check").fetchone()[0], "ok", "the copy passes integrity_check")
        rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
        t.check(20000 <= rows <= 20400, "the copy holds a committed state", str(rows))
        db.close()
        t.check_eq(snap.get("tables"), {"t": rows, "alembic_version": 1},
                   "the container's copy counted each table's rows (as the snapshot holds them)")
        r = t.dbsnap(proj, "verify", "--restore", snap["id"])
        t.check_rc(r, 0, "verify --restore of a snapshot of a file in a container (tested on this host)")
        t.check("2 tables with {} rows".format(rows + 1) in r.text, "it compared both tables", r.describe())
        t.check_eq(sh("ls /tmp | wc -l").strip(), "0", "no temp files left in the container's /tmp")

        t.section("restore after data and revision changed")
        sh('sqlite3 /data/app.db "DELETE FROM t WHERE id > 100; UPDATE alembic_version SET version_num = \'ffff\'"')
        r = t.dbsnap(proj, "backup", "box", "--label", "reference", "--json")
        t.require_eq(r.rc, 0, "second backup")
        reference = r.json()
        before = state()
        sh('sqlite3 /data/app.db "DROP TABLE t; UPDATE alembic_version SET version_num = \'gggg\'"')
        r = t.dbsnap(proj, "restore", reference["id"], "--yes")
        t.check_eq(r.rc, 0, "restore exit code", r.errtext)
        t.check_eq(state(), before, "rows and revision equal the snapshot's")
        t.check_eq(sh("ls /data").split(), ["app.db"], "nothing but the database left in its folder")
        r = t.dbsnap(proj, "rollback", "box", "--to", "a1b2c3d4e5f6", "--dry-run", "--json")
        t.check_rc(r, 0, "rollback --dry-run --json (the plan counts the rows in the container)")
        if r.rc == 0:
            restore = {p["via"]: p for p in r.json()["paths"]}["restore"]
            t.check(restore["rows"] is not None and
                    {"table": "t", "now": 100, "snapshot": rows} in restore["rows"]["differ"],
                    "restoring the first snapshot would bring t from 100 rows back to {}".format(rows),
                    restore["rows"])

        t.section("a corrupted blob is refused before anything reaches the container")
        path = t.show_json(proj, snap["id"])["path"]
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
        current = state()
        r = t.dbsnap(proj, "restore", snap["id"], "--yes")
        t.check_error(r, EXIT_CORRUPT, "restore of a corrupted snapshot", contains=(snap["id"],))
        t.check_eq(state(), current, "database untouched after the refused restore")

        t.section("without sqlite3, python3 makes the copy and counts the rows")
        sh("mv /usr/bin/sqlite3 /usr/bin/sqlite3.off")
        r = t.dbsnap(proj, "backup", "box", "--json")
        sh("mv /usr/bin/sqlite3.off /usr/bin/sqlite3")
        t.require_eq(r.rc, 0, "backup with python3", r.errtext)
        by_python = r.json()
        t.check("python3" in by_python["versions"]["tool"], "python3's sqlite3 module made it", by_python["versions"])
        expected = {"t": int(sh('sqlite3 /data/app.db "SELECT count(*) FROM t"').strip()), "alembic_version": 1}
        t.check_eq(by_python.get("tables"), expected, "python3 counted each table's rows")

        t.section("errors: missing file, no sqlite3 or python3, stopped container")
        with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
            f.write('[targets.nofile]\nengine = "sqlite"\ncontainer = "{}"\nfile = "/data/nope.db"\n'.format(BOX))
        r = t.dbsnap(proj, "backup", "nofile")
        t.check_error(r, EXIT_ENGINE, "backup of a missing file", contains=("/data/nope.db", "does not exist"))
        sh("mv /usr/bin/sqlite3 /usr/bin/sqlite3.off && mv /usr/bin/python3 /usr/bin/python3.off && "
           "mv /usr/bin/python3.11 /usr/bin/python3.11.off")
        r = t.dbsnap(proj, "backup", "box")
        t.check_error(r, EXIT_ENGINE, "backup without sqlite3/python3", contains=("neither sqlite3 nor python3",))
        sh("mv /usr/bin/sqlite3.off /usr/bin/sqlite3 && mv /usr/bin/python3.off /usr/bin/python3 && "
           "mv /usr/bin/python3.11.off /usr/bin/python3.11")
        subprocess.run([DOCKER, "stop", "-t", "1", BOX], capture_output=True, timeout=60)
        r = t.dbsnap(proj, "backup", "box")
        t.check_error(r, EXIT_RUNTIME, "backup of a stopped container", contains=("not running", "docker start"))
        listed = t.list_json(proj, "box")
        t.check_eq(len(listed), 4, "only the good snapshots are listed (three backups, one pre-restore)")
    finally:
        subprocess.run([os.path.join(HARNESS, "dbctl"), "rm", BOX], capture_output=True)


Test("container_sqlite").run(body)
