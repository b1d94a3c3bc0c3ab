#!/usr/bin/python3
"""Scenario: a PostgreSQL restore waiting for its commit-time locks never makes PostgreSQL cancel
a user's session for a deadlock.

At commit the restore takes ACCESS EXCLUSIVE locks on the old tables. Sessions that read several
tables in one transaction take their locks in their own order. If the restore waited for one
table while it held another, a reader that holds the first and asks for the second closes a cycle;
whichever session's deadlock_timeout fires first is cancelled, and that can be the user's reader.

The schedule below makes the reader the one PostgreSQL would cancel under such a restore:
  - session B holds table b, session C holds table c (each in an open transaction);
  - the restore reaches its commit and has to wait;
  - after deadlock_timeout has passed (the restore's own deadlock check ran and found no cycle),
    session C reads table a, then B commits.
A restore that had taken a before waiting leaves C waiting for it while it waits for c: C's deadlock
check fires first, and C gets "deadlock detected". The restore must instead wait holding none of the
tables, so C's read succeeds at once; once C commits, the restore takes every lock and succeeds.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import ClientSession, Test  # noqa: E402
from postgres_fixture import DOCKER, PgContainer, pg_project  # noqa: E402


def session(pg, name):
    """An interactive psql session in the container, application_name `name`."""
    return ClientSession([DOCKER, "exec", "-i", pg.name] + pg.psql_argv("app", name), "\\echo @@done")


def waiting_restore(pg):
    """The relations the restore's session waits to lock (none if it is not waiting)."""
    return pg.rows("SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                   "JOIN pg_stat_activity a ON a.pid = l.pid "
                   "WHERE a.application_name = 'dbsnap-restore' AND NOT l.granted;", "app")


def body(t):
    with PgContainer(t, "commit_lock_order") as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('x1x1x1x1');"
               "CREATE TABLE a (id int PRIMARY KEY, v text);"
               "CREATE TABLE b (id int PRIMARY KEY, v text);"
               "CREATE TABLE c (id int PRIMARY KEY, v text);"
               "INSERT INTO a SELECT g, 'x' FROM generate_series(1, 10) g;"
               "INSERT INTO b SELECT g, 'x' FROM generate_series(1, 20) g;"
               "INSERT INTO c SELECT g, 'x' FROM generate_series(1, 30) g;")
        proj = pg_project(t, {"pg": pg.target(lock_timeout=120)})
        s_x = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        pg.sql("UPDATE alembic_version SET version_num = 'y2y2y2y2'; UPDATE a SET v = 'y'; DELETE FROM c;")
        deadlock_timeout = float(pg.rows("SELECT extract(epoch FROM current_setting('deadlock_timeout')::interval);",
                                         "app")[0])

        t.section("B holds b, C holds c; the restore reaches its commit and waits")
        b = session(pg, "session-b")
        c = session(pg, "session-c")
        try:
            t.require_eq(b.run("BEGIN; SELECT count(*) FROM b;"), ["20"], "session B holds a lock on b")
            t.require_eq(c.run("BEGIN; SELECT count(*) FROM c;"), ["0"], "session C holds a lock on c")
            p = t.spawn_dbsnap(proj, "restore", s_x["id"], "--yes", "--no-safety-snapshot")
            deadline = time.monotonic() + 300
            waited = []
            while time.monotonic() < deadline and p.poll() is None and not waited:
                waited = waiting_restore(pg)
                time.sleep(0.05)
            t.require(waited, "the restore waits for a lock at commit", "it ended with {}".format(p.poll()))
            # Past deadlock_timeout: the restore's own deadlock check for this wait has run.
            time.sleep(deadlock_timeout + 0.3)

            t.section("C reads a, then B commits")
            c.send("SELECT count(*) FROM a;")
            time.sleep(0.2)
            t.require_eq(b.run("COMMIT;"), [], "session B commits")
            answer = c.answer()
            t.check_eq(answer, ["10"], "session C read table a and was not cancelled for a deadlock")
            t.check(p.poll() is None, "the restore still waits (C holds a and c)")
            t.require_eq(c.run("COMMIT;"), [], "session C commits")
            out, err = p.communicate(timeout=300)
            t.require_eq(p.returncode, 0, "the restore succeeded once the sessions ended", err.decode(errors="replace"))
        finally:
            b.close()
            c.close()
        t.check_eq(pg.revisions(), ["x1x1x1x1"], "the revision is X")
        t.check_eq(pg.rows("SELECT v, count(*) FROM a GROUP BY v;"), ["x|10"], "table a is X's")
        t.check_eq(pg.rows("SELECT count(*) FROM c;"), ["30"], "table c is X's")


if __name__ == "__main__":
    Test("postgres_commit_lock_order").run(body)
