#!/usr/bin/python3
"""Scenario: a MariaDB restore's swap never makes the server cancel a user's session for a deadlock.

The swap is one multi-table RENAME TABLE. Waiting in the lock queue, a RENAME takes the tables'
metadata locks one by one and waits holding the ones it has; a session that holds one of the tables
in a transaction and then reads one the RENAME already holds closes a cycle, and MariaDB cancels the
session with the lighter locks: the user's (error 1213, its transaction rolled back).

Schedule: session B holds table b and session C holds table c, each in an open transaction; the
restore reaches its swap and has to wait; C reads table a, then B commits. C must get its rows, the
restore must still be waiting while C holds c, and once C commits the restore must succeed.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import ClientSession, Test  # noqa: E402
from mysql_fixture import DOCKER, MariaDB, mysql_project  # noqa: E402


def session(db):
    """An interactive client session in the container; --force keeps it going after an error."""
    return ClientSession([DOCKER] + db.client_argv("app", ["--unbuffered", "--force"]), "SELECT '@@done';",
                         env=db.env())


def swap_waiting(db):
    """Whether a session runs the swap's RENAME or sleeps between its attempts."""
    rows = db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                  "WHERE INFO LIKE 'RENAME TABLE%' OR INFO LIKE 'DO SLEEP(0.02)%';")
    return rows[0][0] != "0"


def body(t):
    db = MariaDB(t, "dbsnap-mysql-commit-lock-order")
    try:
        scenario(t, db)
    finally:
        db.remove()


def scenario(t, db):
    db.sql("""
        CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('x1x1x1x1');
        CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
        CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
        CREATE TABLE c (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
        INSERT INTO a SELECT seq, 'x' FROM seq_1_to_10;
        INSERT INTO b SELECT seq, 'x' FROM seq_1_to_20;
        INSERT INTO c SELECT seq, 'x' FROM seq_1_to_30;
    """, "app")
    proj = mysql_project(t, {"dev": {"container": db.name, "database": "app",
                                     "password_from_container": "MYSQL_ROOT_PASSWORD"}})
    snap = t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]
    db.sql("UPDATE alembic_version SET version_num = 'y2y2y2y2'; UPDATE a SET v = 'y'; DELETE FROM c;", "app")

    t.section("B holds b, C holds c; the restore reaches its swap and waits")
    b, c = session(db), session(db)
    try:
        t.require_eq(b.run("BEGIN; SELECT COUNT(*) FROM b;"), ["20"], "session B holds table b")
        t.require_eq(c.run("BEGIN; SELECT COUNT(*) FROM c;"), ["0"], "session C holds table c")
        p = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
        deadline = time.monotonic() + 300
        waiting = False
        while time.monotonic() < deadline and p.poll() is None and not waiting:
            waiting = swap_waiting(db)
            time.sleep(0.05)
        t.require(waiting, "the restore's swap waits", "it ended with {}".format(p.poll()))
        time.sleep(0.5)

        t.section("C reads a, then B commits")
        c.send("SELECT COUNT(*) FROM a;")
        time.sleep(0.2)
        t.require_eq(b.run("COMMIT;"), [], "session B commits")
        t.check_eq(c.answer(), ["10"], "session C read table a and was not cancelled for a deadlock")
        time.sleep(0.5)
        t.check(p.poll() is None, "the restore still waits (C holds a and c)")
        t.require_eq(c.run("COMMIT;"), [], "session C commits")
        out, err = p.communicate(timeout=300)
        t.require_eq(p.returncode, 0, "the restore succeeded once the sessions ended", err.decode(errors="replace"))
    finally:
        b.close()
        c.close()
    t.check_eq(db.revisions("app"), ["x1x1x1x1"], "the revision is X")
    t.check_eq(db.sql("SELECT v, COUNT(*) FROM a GROUP BY v;", "app"), [["x", "10"]], "table a is X's")
    t.check_eq(db.sql("SELECT COUNT(*) FROM c;", "app"), [["30"]], "table c is X's")


if __name__ == "__main__":
    Test("mysql_commit_lock_order").run(body)
