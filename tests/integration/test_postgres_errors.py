#!/usr/bin/python3
"""Scenario: PostgreSQL failures are one clear line, a non-zero documented exit code, and nothing
published or changed.

Wrong password over TCP (password_env), password_env naming an unset variable, a missing database
(backup and restore), a wrong user, a missing pg_dump in the container, a missing container and a
stopped container: each backup fails with one 'dbsnap: error: ...' line that says what to fix, and
the store stays empty; a restore into a missing database or a stopped container changes nothing.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, temp_files, EXIT_CONFIG, EXIT_ENGINE, EXIT_RUNTIME  # noqa: E402
from postgres_fixture import PgContainer, DBCTL, DOCKER, pg_project, published, store_dir  # noqa: E402


def body(t):
    with PgContainer(t, "errors") as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('e1e1e1e1');"
               "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
        tcp = {"host": "127.0.0.1", "port": 5432}
        proj = pg_project(t, {
            "good": pg.target(),
            "wrongpw": pg.target(password_env="PG_TEST_PASSWORD", **tcp),
            "unsetpw": pg.target(password_env="PG_TEST_UNSET", **tcp),
            "nodb": pg.target("no_such_db"),
            "nouser": pg.target(user="nobody_here"),
            "nocontainer": pg.target(container="dbsnap-pg-errors-does-not-exist"),
        })
        store = store_dir(proj)
        wrong = {"PG_TEST_PASSWORD": "not-the-password"}

        def nothing_published(what):
            t.check_eq(published(proj), [], "{}: nothing published".format(what))
            t.check_eq(temp_files(store), [], "{}: no temp files".format(what))

        t.section("wrong password over TCP")
        r = t.dbsnap(proj, "backup", "wrongpw", env=wrong)
        t.check_error(r, EXIT_ENGINE, "backup with a wrong password",
                      ["password authentication failed", "password_env"])
        nothing_published("wrong password")
        r = t.dbsnap(proj, "restore", "latest", "--target", "wrongpw", "--yes", env=wrong)
        t.check(r.rc != 0, "restore with nothing to restore fails", r.describe())

        t.section("password_env names an unset variable")
        r = t.dbsnap(proj, "backup", "unsetpw")
        t.check_error(r, EXIT_CONFIG, "backup with an unset password variable", ["PG_TEST_UNSET"])
        nothing_published("unset variable")

        t.section("missing database")
        r = t.dbsnap(proj, "backup", "nodb")
        t.check_error(r, EXIT_ENGINE, "backup of a missing database", ["no_such_db", "does not exist"])
        nothing_published("missing database")

        t.section("missing role")
        r = t.dbsnap(proj, "backup", "nouser")
        t.check_error(r, EXIT_ENGINE, "backup as a missing user", ["nobody_here", "'user'"])
        nothing_published("missing role")

        t.section("missing container")
        r = t.dbsnap(proj, "backup", "nocontainer")
        t.check_error(r, EXIT_RUNTIME, "backup from a missing container", ["does not exist"])
        nothing_published("missing container")

        t.section("restore into a missing database changes nothing")
        m = t.dbsnap_ok(proj, "backup", "good", "--json").json()
        before = pg.state()
        r = t.dbsnap(proj, "restore", m["id"], "--to", "nodb", "--yes")
        t.check_error(r, EXIT_ENGINE, "restore into a missing database", ["no_such_db", "does not exist", "createdb"])
        t.check_eq(pg.rows("SELECT count(*) FROM pg_database WHERE datname = 'no_such_db';", "postgres"), ["0"],
                   "no database was created")
        t.check_eq(pg.state(), before, "the good database is unchanged")
        t.check_eq(len(published(proj)), 2, "only the good snapshot exists")

        t.section("pg_dump missing in the container")
        mv = subprocess.run([DOCKER, "exec", pg.name, "mv", "/usr/bin/pg_dump", "/usr/bin/pg_dump.off"])
        t.require_eq(mv.returncode, 0, "pg_dump moved away")
        r = t.dbsnap(proj, "backup", "good")
        t.check_error(r, EXIT_RUNTIME, "backup without pg_dump", ["pg_dump", "not installed"])
        t.check_eq(len(published(proj)), 2, "no new snapshot")
        t.check_eq(temp_files(store), [], "no temp files")
        subprocess.run([DOCKER, "exec", pg.name, "mv", "/usr/bin/pg_dump.off", "/usr/bin/pg_dump"])

        t.section("stopped container")
        stop = subprocess.run([DOCKER, "stop", "-t", "5", pg.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t.require_eq(stop.returncode, 0, "docker stop")
        r = t.dbsnap(proj, "backup", "good")
        t.check_error(r, EXIT_RUNTIME, "backup from a stopped container", ["not running", "docker start"])
        t.check_eq(len(published(proj)), 2, "no new snapshot")
        r = t.dbsnap(proj, "restore", m["id"], "--yes")
        t.check_error(r, EXIT_RUNTIME, "restore into a stopped container", ["not running"])
        start = subprocess.run([DOCKER, "start", pg.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t.require_eq(start.returncode, 0, "docker start")
        subprocess.run([DBCTL, "wait", pg.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t.check_eq(pg.state(), before, "after the restart the database is unchanged")
        t.check_eq(len(published(proj)), 2, "the store holds only the good snapshot")


if __name__ == "__main__":
    Test("postgres_errors").run(body)
