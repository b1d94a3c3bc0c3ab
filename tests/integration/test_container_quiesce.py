#!/usr/bin/python3
"""App containers that write to the database are stopped (or paused) while restore, upgrade and
rollback replace its data, and started again afterwards whatever happened.

A real writer: a container (the harness image, --network none) whose main process commits a row
into a SQLite file every few milliseconds through a bind mount, and logs every committed id with
a random number per process. The target (that file, on the host) names it in `stop_containers`, then in
`pause_containers`. Checked:
- restore: the writer is stopped before the safety snapshot and started again after; every row
  it committed before it stopped is in the pre-restore safety snapshot (nothing discarded without
  a copy), and it writes again afterwards;
- a restore that fails (a damaged snapshot forced) and one ended by SIGTERM start it again too;
- upgrade and rollback --via downgrade stop and start it the same way;
- pause_containers pauses it (state "paused" while the restore runs) and unpauses it;
- a writer the user had stopped stays stopped; an app container that does not exist is a one-line
  runtime error (exit 6) and nothing changes.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CORRUPT, EXIT_ENGINE, EXIT_OK, EXIT_RUNTIME, EXIT_TERMINATED, Test, flip_byte,  # noqa: E402
                         table_checksum, wait_for)

HARNESS = os.environ.get("DBSNAP_HARNESS") or os.path.join(os.path.dirname(__file__), "..", "harness")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
WRITER = "dbsnap-quiesce-writer"

WRITER_PY = r"""
import os, sqlite3, time
db = sqlite3.connect("/data/app.db", timeout=60, isolation_level=None)
log = open("/data/writer.log", "a")
run = int.from_bytes(os.urandom(4), "big")  # the pid repeats in a restarted container: this does not
while True:
    try:
        cur = db.execute("INSERT INTO item (v) VALUES ('written by the app')")
        log.write("%d %d\n" % (run, cur.lastrowid))
        log.flush()
    except sqlite3.OperationalError:
        pass  # busy for longer than the timeout: try again
    time.sleep(0.005)
"""


def docker(*args, check=True):
    p = subprocess.run([DOCKER] + list(args), capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError("docker {}: {}".format(" ".join(args), p.stderr.decode()))
    return p.stdout.decode().strip()


def state():
    return docker("inspect", "--format", "{{.State.Status}}", WRITER, check=False)


def logged(proj):
    """[(run, id)] the writer committed, in order; `run` is a random number per writer process."""
    with open(os.path.join(proj, "writer.log")) as f:
        return [tuple(int(x) for x in line.split()) for line in f if len(line.split()) == 2]


def ids_in(path):
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT id FROM item")}
    finally:
        db.close()


def body(t):
    proj = t.project(targets={})
    db_file = os.path.join(proj, "app.db")
    db = sqlite3.connect(db_file, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("INSERT INTO alembic_version VALUES ('a1')")
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("CREATE TABLE pad (b BLOB)")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60) "
               "INSERT INTO pad SELECT randomblob(1048576) FROM c")  # a restore that takes a moment
    db.close()
    os.chmod(proj, 0o777)
    with open(os.path.join(proj, "writer.py"), "w") as f:
        f.write(WRITER_PY)
    with open(os.path.join(proj, "writer.sh"), "w") as f:
        f.write("#!/bin/sh\nexec python3 /data/writer.py\n")
    os.chmod(os.path.join(proj, "writer.sh"), 0o755)

    def config(key, name=WRITER):
        with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
            f.write('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n{} = ["{}"]\n'.format(key, name))

    config("stop_containers")
    snap = t.dbsnap_ok(proj, "backup", "dev", "--label", "before-the-app", "--json").json()

    subprocess.run([os.path.join(HARNESS, "dbctl"), "rm", WRITER], capture_output=True)
    p = subprocess.run([os.path.join(HARNESS, "dbctl"), "start-shell", WRITER, "--", "-v", proj + ":/data",
                        "--entrypoint", "/data/writer.sh"], capture_output=True, timeout=120)
    t.require(p.returncode == 0, "dbctl start-shell (the writer)", p.stderr.decode())
    try:
        t.require(wait_for(lambda: os.path.exists(os.path.join(proj, "writer.log")) and len(logged(proj)) > 50, 30),
                  "the writer commits rows")

        t.section("restore: the writer is stopped before the safety snapshot and started again")
        r = t.dbsnap(proj, "restore", snap["id"], "--yes")
        t.check_rc(r, EXIT_OK, "restore while the app writes")
        t.check("stopping app container '{}'".format(WRITER) in r.errtext, "it says it stops the writer", r.describe())
        t.check("started app container '{}' again".format(WRITER) in r.errtext, "it says it started it again",
                r.describe())
        before_pid = logged(proj)[0][0]
        safety = [m for m in t.list_json(proj) if m["label"] == "pre-restore"]
        t.require_eq(len(safety), 1, "a pre-restore snapshot was taken")
        kept = t.path("safety.db")
        with open(kept, "wb") as f:
            f.write(t.dbsnap_ok(proj, "cat", safety[0]["id"]).out)
        first_run = [i for pid, i in logged(proj) if pid == before_pid]
        missing = sorted(set(first_run) - ids_in(kept))
        t.check_eq(missing, [], "every row the app committed before it was stopped is in the safety snapshot "
                   "({} rows)".format(len(first_run)))
        t.check_eq(state(), "running", "the writer runs again")
        t.check(wait_for(lambda: any(pid != before_pid for pid, _ in logged(proj)), 30),
                "it commits rows again (a new process)")

        t.section("a failed restore and an interrupted one start it again")
        bad = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
        flip_byte(bad["path"])
        # With --yes --no-safety-snapshot there is no check ahead: the stream's checks fail mid-restore.
        r = t.dbsnap(proj, "restore", bad["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, EXIT_CORRUPT, "restore of a damaged snapshot, failing mid-stream")
        t.check("stopping app container" in r.errtext and "started app container" in r.errtext,
                "it stopped the writer and started it again", r.describe())
        t.check_eq(state(), "running", "after the failed restore the writer runs")
        proc = t.spawn_dbsnap(proj, "restore", snap["id"], "--yes")
        t.require(wait_for(lambda: state() == "exited", 60, 0.02), "the writer is stopped while the restore runs")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        t.check_eq(proc.returncode, EXIT_TERMINATED, "SIGTERM during the restore: exit 143", err.decode())
        t.check_eq(state(), "running", "after SIGTERM the writer runs again")

        t.section("upgrade and rollback --via downgrade stop it too")
        r = t.dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", "sh", "-c",
                     "{} inspect --format '{{{{.State.Status}}}}' {} > {}".format(DOCKER, WRITER, t.path("during")))
        t.check_rc(r, EXIT_OK, "upgrade")
        with open(t.path("during")) as f:
            t.check_eq(f.read().strip(), "exited", "the writer was stopped while the upgrade command ran")
        t.check_eq(state(), "running", "and runs again afterwards")

        t.section("pause_containers pauses it")
        config("pause_containers")
        proc = t.spawn_dbsnap(proj, "restore", snap["id"], "--yes")
        t.check(wait_for(lambda: state() == "paused", 60, 0.02), "the writer is paused while the restore runs")
        out, err = proc.communicate(timeout=120)
        # A writer frozen in the middle of a transaction keeps its lock: the restore then waits for
        # it and fails after 30 s, nothing changed (the documented reason to prefer stop_containers).
        t.check(proc.returncode == EXIT_OK or (proc.returncode == EXIT_ENGINE and b"stayed locked" in err),
                "restore with pause_containers: restored, or stopped by the frozen writer's lock",
                "exit {}: {}".format(proc.returncode, err.decode()))
        t.check_eq(state(), "running", "unpaused afterwards")

        t.section("a writer the user stopped stays stopped; an unknown one is an error")
        docker("stop", WRITER)
        config("stop_containers")
        r = t.dbsnap(proj, "restore", snap["id"], "--yes")
        t.check_rc(r, EXIT_OK, "restore with the writer already stopped")
        t.check_eq(state(), "exited", "it stays stopped")
        config("stop_containers", name="dbsnap-no-such-app")
        ck = table_checksum(db_file)
        n = len(t.list_json(proj))
        r = t.dbsnap(proj, "restore", snap["id"], "--yes")
        t.check_error(r, EXIT_RUNTIME, "restore naming an app container that does not exist",
                      contains=("dbsnap-no-such-app", "nothing was changed"))
        t.check_eq(table_checksum(db_file), ck, "nothing changed")
        t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")
    finally:
        subprocess.run([os.path.join(HARNESS, "dbctl"), "rm", WRITER], capture_output=True)


if __name__ == "__main__":
    Test("container_quiesce").run(body)
