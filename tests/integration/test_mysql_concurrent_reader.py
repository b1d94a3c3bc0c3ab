"""A reader during a MariaDB restore sees the old database or the new one, never a mix.

A client inside the container reads two tables, a view on one of them and the revision in
one statement, as fast as it can, for the whole restore (load, swap, cleanup). Every answer
must be all-old or all-new; the reader never gets an error (no table is ever missing); it
sees the switch exactly once. A second restore started during a first one is refused.
"""

import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_BUSY, Test  # noqa: E402
from mysql_fixture import DOCKER, MariaDB, fill_big_table, mysql_project  # noqa: E402

QUERY = ("SELECT (SELECT GROUP_CONCAT(DISTINCT v) FROM acct_a), (SELECT GROUP_CONCAT(DISTINCT v) FROM acct_b), "
         "(SELECT GROUP_CONCAT(DISTINCT v) FROM v_a), (SELECT version_num FROM alembic_version);")
OLD = ["live", "live", "live", "live02"]
NEW = ["snap", "snap", "snap", "snap01"]


def body(t):
    db = MariaDB(t, "dbsnap-mysql-concurrent-reader")
    try:
        scenario(t, db)
    finally:
        db.remove()


def scenario(t, db):
    fill_big_table(db, "app", rows_log2=17, payload=200)  # the load takes a moment
    db.sql("""
        CREATE TABLE acct_a (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
        CREATE TABLE acct_b (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB;
        INSERT INTO acct_a SELECT seq, 'snap' FROM seq_1_to_100;
        INSERT INTO acct_b SELECT seq, 'snap' FROM seq_1_to_100;
        CREATE VIEW v_a AS SELECT v FROM acct_a;
        CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('snap01');
    """, "app")
    proj = mysql_project(t, {"dev": {"container": db.name, "database": "app",
                                     "password_from_container": "MYSQL_ROOT_PASSWORD"}})
    snap = t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]
    db.sql("UPDATE acct_a SET v = 'live'; UPDATE acct_b SET v = 'live'; "
           "UPDATE alembic_version SET version_num = 'live02';", "app")

    t.section("restore with a reader polling all the time")
    script = 'while :; do echo "$0"; done | exec mariadb -uroot --batch --skip-column-names --force app'
    reader = subprocess.Popen([DOCKER, "exec", "-i", "-e", "MYSQL_PWD", db.name, "sh", "-c", script, QUERY],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=db.env())
    t.children.append(reader)
    lines = []
    first = reader.stdout.readline()
    t.require(first.strip() != b"", "the reader answers")
    lines.append(first)
    collector = threading.Thread(target=lambda: lines.extend(iter(reader.stdout.readline, b"")))
    collector.start()
    time.sleep(0.5)
    r = t.dbsnap(proj, "restore", snap, "--yes")
    t.check_rc(r, 0, "restore under a polling reader")
    time.sleep(0.5)
    # Stop the reader: its client is the last process in the pipeline inside the container.
    db.exec("sh", "-c", "pkill -f 'while :; do echo' || true; "
                        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = mariadb ] && "
                        "tr '\\0' ' ' < $p/cmdline | grep -q -- '--force app' && kill ${p#/proc/}; done; true")
    try:
        reader.wait(timeout=30)
    except subprocess.TimeoutExpired:
        reader.kill()
    collector.join(timeout=30)
    err = reader.stderr.read().decode("utf-8", "replace")

    answers = [l.decode("utf-8", "replace").rstrip("\n").split("\t") for l in lines if l.strip()]
    old = sum(1 for a in answers if a == OLD)
    new = sum(1 for a in answers if a == NEW)
    mixed = [a for a in answers if a not in (OLD, NEW)]
    print("  {} answers: {} old, {} new, {} other".format(len(answers), old, new, len(mixed)))
    t.check(len(answers) > 100, "the reader answered many times during the restore", len(answers))
    t.check_eq(mixed[:5], [], "no answer mixes old and new")
    t.check(old > 0 and new > 0, "the reader saw the old and then the new database")
    switches = sum(1 for a, b in zip(answers, answers[1:]) if a != b)
    t.check_eq(switches, 1, "the reader saw the switch exactly once")
    errors = [l for l in err.splitlines() if l.startswith("ERROR")]
    t.check_eq(errors[:5], [], "the reader never got an error (no table or view was ever missing)")
    t.check_eq(db.revisions("app"), ["snap01"], "the snapshot's revision is in place")
    t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")

    t.section("a second restore while one runs is refused")
    # A copy of the store: a dbsnap using it does not see the first store's target lock, so the
    # engine's own restore lock (GET_LOCK in the server) is what refuses it.
    other_store = t.path("other-store")
    shutil.copytree(os.path.join(proj, "snapshots"), other_store, ignore=shutil.ignore_patterns(".locks"))
    first = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
    t.require(db.wait_for_query("INSERT INTO `big`") is not None, "the first restore is loading")
    r = t.dbsnap(proj, "--lock-timeout", "0", "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_error(r, EXIT_BUSY, "the second restore from the same store", ["is locked by pid"])
    r = t.dbsnap(proj, "--store", other_store, "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_error(r, 7, "the second restore from another store", ["another dbsnap restore"])
    _, err = first.communicate(timeout=300)
    t.check_eq(first.returncode, 0, "the first restore completes", err)
    t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")

    t.section("a restore that starts between two steps of another is refused")
    # The steps of a restore (prepare, load, inspect, swap) run in sessions of their own. A docker
    # CLI wrapper holds the first restore's step after the load (its next client session) until
    # the second restore has run: the second must not take the shadow schema for a leftover.
    wrapper = t.path("slow-docker")
    with open(wrapper, "w") as fh:
        fh.write('#!/bin/sh\nd=$(dirname "$0")\n'
                 'case " $* " in\n'
                 '  *" --database="*dbsnap_shadow*) touch "$d/loading" ;;\n'
                 '  *" --batch "*)\n'
                 '    if [ -e "$d/loading" ] && [ ! -e "$d/paused" ]; then\n'
                 '      touch "$d/paused"; i=0\n'
                 '      while [ ! -e "$d/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n'
                 '    fi ;;\n'
                 'esac\n'
                 'exec "{}" "$@"\n'.format(shutil.which(DOCKER) or DOCKER))
    os.chmod(wrapper, 0o755)
    slow = mysql_project(t, {"dev": {"container": db.name, "database": "app", "docker_cli": wrapper,
                                     "password_from_container": "MYSQL_ROOT_PASSWORD"}}, name="proj-slow")
    db.sql("UPDATE alembic_version SET version_num = 'live03';", "app")
    first = t.spawn_dbsnap(slow, "--store", os.path.join(proj, "snapshots"), "restore", snap, "--yes",
                           "--no-safety-snapshot")
    deadline = time.monotonic() + 120
    while not os.path.exists(t.path("paused")) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    t.require(os.path.exists(t.path("paused")), "the first restore has loaded and waits before its next step")
    r = t.dbsnap(proj, "--store", other_store, "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_error(r, 7, "a restore between two steps of another", ["another dbsnap restore"])
    with open(t.path("go"), "w"):
        pass
    _, err = first.communicate(timeout=300)
    t.check_eq(first.returncode, 0, "the first restore completes", err)
    t.check_eq(db.revisions("app"), ["snap01"], "the snapshot's revision is in place")
    t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")


if __name__ == "__main__":
    Test("mysql_concurrent_reader").run(body)
