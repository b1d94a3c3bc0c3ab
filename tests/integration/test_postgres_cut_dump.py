#!/usr/bin/python3
"""Scenario: a PostgreSQL dump cut short publishes nothing.

A database with a ~150 MB table. pg_dump is SIGKILLed inside the container while dbsnap is
writing the blob: dbsnap exits 7 with one line saying pg_dump failed and nothing was published;
no blob, manifest or temp file is left. SIGTERM to pg_dump mid-way: the same. dbsnap itself
SIGTERM'ed mid-backup: exit 143, one line, nothing published, no temp file, and no pg_dump left
in the container (dbsnap ends it: its docker exec client's end does not). dbsnap SIGKILLed
mid-backup: nothing listed, the next run cleans the temp files, and pg_dump in the container does
not linger. A normal backup afterwards works and records the revision.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import data_of, Test, temp_files, wait_for, EXIT_ENGINE, EXIT_TERMINATED  # noqa: E402
from postgres_fixture import PgContainer, DOCKER, pg_project, published, store_dir, fill_big_table  # noqa: E402


def blob_temp_size(store):
    """The largest temp file being written outside .scratch: a blob, or a pack of chunks."""
    scratch = os.path.join(store, ".scratch") + os.sep
    sizes = []
    for f in temp_files(store):
        try:
            sizes += [] if f.startswith(scratch) else [os.path.getsize(f)]
        except OSError:
            pass
    return max(sizes) if sizes else -1


def backup_then(t, pg, proj, action, what):
    """Starts a backup, waits until its blob holds some MB, runs action(proc); returns (rc, stderr)."""
    p = t.spawn_dbsnap(proj, "backup", "pg")
    deadline = time.monotonic() + 120
    while p.poll() is None and blob_temp_size(store_dir(proj)) < (2 << 20) and time.monotonic() < deadline:
        time.sleep(0.005)
    running = p.poll() is None
    if running:
        action(p)
    out, err = p.communicate(timeout=300)
    t.require(running, "{}: the backup was still running when the fault hit".format(what),
              "it exited {} first: {}".format(p.returncode, err.decode(errors="replace")))
    return p.returncode, err.decode(errors="replace")


def kill_pg_dump(pg, sig):
    def action(_):
        r = subprocess.run([DOCKER, "exec", pg.name, "pkill", "-" + sig, "-x", "pg_dump"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("pkill pg_dump failed: {}".format(r.stderr))
    return action


def body(t):
    with PgContainer(t, "cut_dump") as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('c0ffee01');")
        fill_big_table(pg, "big", 150)
        proj = pg_project(t, {"pg": pg.target()})
        store = store_dir(proj)

        for sig in ("KILL", "TERM"):
            t.section("SIG{} to pg_dump inside the container mid-dump".format(sig))
            rc, err = backup_then(t, pg, proj, kill_pg_dump(pg, sig), "SIG" + sig)
            t.check_eq(rc, EXIT_ENGINE, "the backup exits 7 (engine)", err)
            lines = err.strip().splitlines()
            t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: "), "one error line", err)
            t.check("pg_dump" in err and "nothing was published" in err, "it says pg_dump failed, nothing published",
                    err)
            t.check_eq(published(proj), [], "no blob or manifest was published")
            t.check_eq(temp_files(store), [], "no temp file is left")
            t.check_eq(t.list_json(proj), [], "list shows nothing")

        t.section("SIGTERM to dbsnap mid-dump")
        rc, err = backup_then(t, pg, proj, lambda p: p.send_signal(signal.SIGTERM), "SIGTERM dbsnap")
        ended = time.monotonic()
        t.check_eq(rc, EXIT_TERMINATED, "the backup exits 143", err)
        lines = err.strip().splitlines()
        t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: ") and "interrupted" in lines[0],
                "one error line saying interrupted", err)
        t.check(wait_for(lambda: not pg.processes("pg_dump"), 1.0, 0.05),
                "no pg_dump is left in the container ({:.1f} s after dbsnap exited)".format(time.monotonic() - ended),
                pg.processes("pg_dump"))
        t.check_eq(published(proj), [], "no blob or manifest was published")
        t.check_eq(temp_files(store), [], "no temp file is left")
        t.check_eq(t.list_json(proj), [], "list shows nothing")
        wait_for(lambda: not pg.processes("pg_dump"), 60, 0.2)

        t.section("SIGKILL to dbsnap mid-dump")
        rc, err = backup_then(t, pg, proj, lambda p: p.send_signal(signal.SIGKILL), "SIGKILL dbsnap")
        t.check_eq(rc, -signal.SIGKILL, "dbsnap died of SIGKILL")
        t.check_eq(t.list_json(proj), [], "list shows nothing (and cleans up)")
        t.check_eq(temp_files(store), [], "after that run, no temp file is left")
        deadline = time.monotonic() + 30
        while pg.processes("pg_dump") and time.monotonic() < deadline:
            time.sleep(0.2)
        t.check_eq(pg.processes("pg_dump"), [], "no pg_dump lingers in the container")

        t.section("a normal backup afterwards")
        r = t.dbsnap(proj, "backup", "pg", "--json")
        t.require_rc(r, 0, "backup")
        m = r.json()
        t.check_eq(m["revisions"], ["c0ffee01"], "the revision is recorded")
        t.check(data_of(m)["raw_bytes"] > 100 * 1000 * 1000, "the whole dump is in it ({} bytes)".format(
            data_of(m)["raw_bytes"]))
        t.check_eq(len(published(proj)), 2, "exactly one snapshot published")


if __name__ == "__main__":
    Test("postgres_cut_dump").run(body)
