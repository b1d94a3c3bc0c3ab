#!/usr/bin/python3
"""Scenario: dbsnap killed -9 in the middle of a guarded move, and what the next run says.

A real Alembic history item -> tag; the target's migration commands go through slow.py, which
writes its pid to `started`, sleeps, and only then runs alembic (writing `finished`). Checked:
- `rollback --to 1 --via restore-downgrade` killed -9 while the downgrade command runs: the
  command gets SIGTERM and stops (it never finishes); the database is the restored snapshot
  (the move's documented in-between state: restored, not yet migrated); `list` and `backup` warn
  that the downgrade did not finish and name the pre-rollback snapshot; restoring it puts the
  database back exactly as before the move, and the warning is gone.
- `upgrade` killed -9 the same way: `list` names its pre-upgrade snapshot; the next guarded
  upgrade warns once, completes, and the warning is gone.
- a move that finishes normally leaves no warning behind; one whose record cannot be written
  does not start (exit 1, nothing changed, the command never runs).
"""
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, PYTHON, db_state, revisions_of, write, wait_for  # noqa: E402

REV1, REV2 = "1a1a1a1a0001", "2b2b2b2b0002"

SLOW_PY = r'''
import os, subprocess, sys, time
with open("started", "w") as f:
    f.write(str(os.getpid()))
time.sleep(float(os.environ.get("SLOW", "0")))
with open("finished", "w") as f:
    f.write("")
sys.exit(subprocess.call([sys.executable, "-m", "alembic", sys.argv[1], sys.argv[2]]))
'''


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    with open(os.path.join(proj, "slow.py"), "w") as f:
        f.write(SLOW_PY)
    t.migration_commands(proj, upgrade=[PYTHON, "slow.py", "upgrade", "{revision}"],
                         downgrade=[PYTHON, "slow.py", "downgrade", "{revision}"])
    t.table_revision(proj, "item", REV1)
    t.table_revision(proj, "tag", REV2)
    started, finished = os.path.join(proj, "started"), os.path.join(proj, "finished")

    def state():
        return db_state(db_file)

    def kill_mid_command(*args):
        """Spawns dbsnap ARGS with a slow migration command, kills dbsnap -9 once the command
        runs; returns the command's pid."""
        for f in (started, finished):
            if os.path.exists(f):
                os.remove(f)
        p = t.spawn_dbsnap(proj, *args, env={"SLOW": "60"})
        t.require(wait_for(lambda: os.path.exists(started) and open(started).read().strip(), 60),
                  "the migration command started", " ".join(args))
        pid = int(open(started).read())
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        t.check_eq(p.returncode, -signal.SIGKILL, "dbsnap was killed -9")
        return pid

    def warnings(r):
        return [ln for ln in r.errtext.splitlines() if "did not finish" in ln]

    t.section("a snapshot at 2, later rows")
    t.alembic(proj, "upgrade", REV2)
    write(db_file, ("INSERT INTO item (v) VALUES (?)", [("two-{}".format(i),) for i in range(20)]))
    t.dbsnap_ok(proj, "backup", "dev")
    at_s2 = state()
    write(db_file, "INSERT INTO item (v) VALUES ('late')")
    late = state()

    t.section("a finished move leaves no warning")
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV1, "--yes")
    t.require_rc(r, 0, "rollback --to 1 (the live downgrade, SLOW=0)")
    t.require_eq(revisions_of(db_file), [REV1], "the database is at 1")
    r = t.dbsnap_ok(proj, "list")
    t.check_eq(warnings(r), [], "list says nothing about an unfinished move", r.describe())
    t.dbsnap_ok(proj, "upgrade", "dev")
    t.require_eq(state(), late, "upgraded again: back to the state with the late row")

    t.section("rollback --via restore-downgrade killed -9 while the downgrade runs")
    pid = kill_mid_command("rollback", "dev", "--to", REV1, "--via", "restore-downgrade", "--yes")
    t.check(wait_for(lambda: not alive(pid), 15), "the downgrade command got SIGTERM and stopped",
            "pid {} still runs".format(pid))
    t.check(not os.path.exists(finished), "it never went on to migrate")
    t.check_eq(state(), at_s2, "the database is the restored snapshot at 2 (restored, not yet downgraded)")
    pre = [m for m in t.list_json(proj) if m["label"] == "pre-rollback"]
    t.require(len(pre) >= 1, "a pre-rollback snapshot was taken", pre)
    safety = pre[0]["id"]
    r = t.dbsnap_ok(proj, "list")
    w = warnings(r)
    t.check(len(w) == 1 and "downgrade of 'dev' to {}".format(REV1) in w[0] and
            "dbsnap restore {} --yes".format(safety) in w[0],
            "list warns once: the downgrade did not finish, and names the pre-rollback snapshot", r.describe())
    r = t.dbsnap_ok(proj, "backup", "dev")
    t.check(len(warnings(r)) == 1 and safety in warnings(r)[0], "backup warns the same way", r.describe())
    r = t.dbsnap(proj, "restore", safety, "--yes", "--no-safety-snapshot")
    t.require_rc(r, 0, "restore the named snapshot")
    t.check_eq(state(), late, "the database is exactly as before the move (revision 2, late row)")
    r = t.dbsnap_ok(proj, "list")
    t.check_eq(warnings(r), [], "the warning is gone", r.describe())

    t.section("upgrade killed -9 while the upgrade command runs")
    t.alembic(proj, "downgrade", REV1)
    at_1 = state()
    pid = kill_mid_command("upgrade", "dev")
    t.check(wait_for(lambda: not alive(pid), 15), "the upgrade command got SIGTERM and stopped",
            "pid {} still runs".format(pid))
    t.check_eq(state(), at_1, "the database is as before (the command was stopped before migrating)")
    pre = [m for m in t.list_json(proj) if m["label"] == "pre-upgrade"]
    r = t.dbsnap_ok(proj, "list", "dev")
    w = warnings(r)
    t.check(len(w) == 1 and "upgrade of 'dev'" in w[0] and pre and pre[0]["id"] in w[0],
            "list dev names the pre-upgrade snapshot", r.describe())
    r = t.dbsnap(proj, "upgrade", "dev")
    t.check_rc(r, 0, "the next upgrade runs")
    t.check_eq(len(warnings(r)), 1, "and warns once before it starts", r.describe())
    t.check_eq(revisions_of(db_file), [REV2], "the database is at 2")
    r = t.dbsnap_ok(proj, "list")
    t.check_eq(warnings(r), [], "the warning is gone", r.describe())

    t.section("a move that cannot be recorded does not start")
    record = os.path.join(proj, "snapshots", ".locks", "dev", "move")
    os.makedirs(os.path.join(record, "in-the-way"))  # the record cannot be renamed onto a folder
    before = state()
    os.remove(started)
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV1, "--yes")
    t.check_last_error(r, 1, "rollback when the move record cannot be written", contains=["cannot record", "nothing was changed"])
    t.check_eq(state(), before, "the database is unchanged")
    t.check(not os.path.exists(started), "the downgrade command never ran")
    shutil.rmtree(record)


if __name__ == "__main__":
    Test("travel_killed").run(body)
