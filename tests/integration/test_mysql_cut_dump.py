"""A MariaDB dump cut short is never published.

mariadb-dump is killed inside the container in the middle of a large table (SIGKILL, then
SIGTERM): dbsnap exits 7 with one line, no snapshot is listed, no blob and no temp file stays
in the store. The docker exec client killed on the host mid-stream is caught the same way, and
dbsnap ends the dump it leaves running in the container. dbsnap itself interrupted mid-dump
(SIGTERM: exit 143, SIGINT: exit 130): nothing listed, no temp file, and no mariadb-dump left
in the container (killing the docker exec client alone does not stop it). dbsnap reads dumps from
the docker daemon's socket by default; the client-killed section uses a target that runs the docker
CLI (docker_api = false), which is the only transport with a client process to kill.
A complete backup of the same database afterwards works.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import data_of, EXIT_ENGINE, EXIT_INTERRUPTED, EXIT_TERMINATED, Test, wait_for  # noqa: E402
from mysql_fixture import MariaDB, blob_files, fill_big_table, mysql_project, store_files  # noqa: E402


def temp_bytes(proj):
    total = 0
    for f in store_files(proj):
        try:
            total += os.path.getsize(f) if ".dbsnap-tmp" in f else 0
        except OSError:  # published or removed meanwhile
            pass
    return total


def streaming(proj):
    """Dump bytes have reached the store's temp files: more than a chunk list's header (the list's
    temp file starts with one before the dump does), so the dump itself is flowing."""
    return temp_bytes(proj) > 65536


def body(t):
    db = MariaDB(t, "dbsnap-mysql-cut-dump")
    try:
        scenario(t, db)
    finally:
        db.remove()


def cut(t, db, proj, sig, what):
    t.section("mariadb-dump killed with {} mid-stream".format(what))
    before = store_files(proj)
    p = t.spawn_dbsnap(proj, "backup", "dev")
    # Once some of the dump has reached the store (so the process found is the dump itself, not a
    # short-lived version probe of the same name), stop it, then kill it.
    pids = wait_for(lambda: streaming(proj) and db.pids_of("mariadb-dump"), 60, 0.02)
    t.require(bool(pids), "mariadb-dump runs in the container and its output reaches the store")
    db.exec("kill", "-STOP", str(pids[0]))
    t.check(p.poll() is None, "dbsnap is still waiting for the stopped dump")
    db.exec("kill", "-CONT", str(pids[0]))
    db.exec("kill", "-" + sig, str(pids[0]))
    out, err = p.communicate(timeout=120)
    err = err.decode("utf-8", "replace")
    print("  stderr: " + err.strip())
    t.check_eq(p.returncode, EXIT_ENGINE, "dbsnap backup exits {}".format(EXIT_ENGINE), err)
    lines = err.strip().splitlines()
    t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: ") and "nothing was published" in lines[0],
            "one line saying nothing was published", err)
    t.check_eq(store_files(proj), before, "no new file in the store (no blob, no manifest, no temp file)")
    t.check_eq(t.list_json(proj), [], "no snapshot is listed")


def interrupt(t, db, proj, sig, code):
    name = signal.Signals(sig).name
    t.section("dbsnap gets {} mid-dump".format(name))
    before = store_files(proj)
    p = t.spawn_dbsnap(proj, "backup", "dev")
    t.require(bool(wait_for(lambda: streaming(proj) or p.poll() is not None, 60, 0.01)) and p.poll() is None,
              "{}: the dump is streaming into the store".format(name))
    t.require(bool(db.pids_of("mariadb-dump")), "{}: mariadb-dump runs in the container".format(name))
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    ended = time.monotonic()
    err = err.decode("utf-8", "replace")
    print("  stderr: " + err.strip())
    t.check_eq(p.returncode, code, "{}: dbsnap backup exits {}".format(name, code), err)
    lines = err.strip().splitlines()
    t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: ") and "interrupted" in lines[0],
            "{}: one line saying interrupted".format(name), err)
    # Without dbsnap ending it, the dump runs on for seconds after its docker exec client is gone.
    left = wait_for(lambda: not db.pids_of("mariadb-dump"), 1.0, 0.05)
    t.check(left, "{}: no mariadb-dump is left in the container ({:.1f} s after dbsnap exited)".format(
        name, time.monotonic() - ended), db.pids_of("mariadb-dump"))
    # An interrupted backup leaves the packs it committed (16 MiB each) for the next delete or prune
    # (FORMAT.md, "Publishing protocol"): every other file is as before.
    packs = os.path.join(proj, "snapshots", "data") + os.sep
    t.check_eq([f for f in store_files(proj) if not f.startswith(packs)], [f for f in before if not f.startswith(packs)],
               "{}: no new file in the store (no blob, chunk list, manifest or temp file)".format(name))
    t.check_eq(t.list_json(proj), [], "{}: no snapshot is listed".format(name))
    wait_for(lambda: not db.pids_of("mariadb-dump"), 60, 0.1)


def scenario(t, db):
    fill_big_table(db, "app", rows_log2=19, payload=200)  # ~100 MB of rows: a dump of a few seconds
    db.sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);"
           "INSERT INTO alembic_version VALUES ('c0ffee');", "app")
    keys = {"container": db.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"}
    proj = mysql_project(t, {"dev": keys, "dev_cli": dict(keys, docker_api=False)})

    t.list_json(proj)  # creates the store (catalog, lock file) before the first attempt
    cut(t, db, proj, "KILL", "SIGKILL")
    cut(t, db, proj, "TERM", "SIGTERM")
    interrupt(t, db, proj, signal.SIGTERM, EXIT_TERMINATED)
    interrupt(t, db, proj, signal.SIGINT, EXIT_INTERRUPTED)

    t.section("the docker exec client killed on the host mid-stream (docker_api = false)")
    before = store_files(proj)
    p = t.spawn_dbsnap(proj, "backup", "dev_cli")
    t.require(bool(wait_for(lambda: streaming(proj), 60, 0.02)), "the dump is streaming into the store")
    ps = subprocess.run(["pgrep", "-f", "-P", str(p.pid), "exec -i"], stdout=subprocess.PIPE)
    children = [int(x) for x in ps.stdout.split()]
    t.require(bool(children), "dbsnap's docker exec child found")
    os.kill(children[0], signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    err = err.decode("utf-8", "replace")
    print("  stderr: " + err.strip())
    t.check(p.returncode in (EXIT_ENGINE, 6), "dbsnap backup fails (exit 7 or 6)", err)
    t.check(len(err.strip().splitlines()) == 1 and err.startswith("dbsnap: error: "), "one error line", err)
    t.check_eq(store_files(proj), before, "nothing new in the store")
    # The client's death does not reach the dump inside the container; dbsnap ends it.
    t.check(wait_for(lambda: not db.pids_of("mariadb-dump"), 1.0, 0.05),
            "the dump the killed client left running in the container was ended", db.pids_of("mariadb-dump"))
    wait_for(lambda: not db.pids_of("mariadb-dump"), 60, 0.1)

    t.section("a complete backup afterwards")
    r = t.dbsnap_ok(proj, "backup", "dev", "--json")
    t.check_eq(r.json()["revisions"], ["c0ffee"], "the complete backup records the revision")
    t.check_eq(len(blob_files(proj)), 1, "exactly one blob in the store")
    raw = data_of(r.json())["raw_bytes"]
    t.check(raw > 100_000_000, "the dump holds the whole table", raw)


if __name__ == "__main__":
    Test("mysql_cut_dump").run(body)
