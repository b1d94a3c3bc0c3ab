#!/usr/bin/python3
"""dbsnap doctor against real servers: every check with what it found, WARN with a fix for a
database whose data directory is not on a volume (the seed story's `docker compose down`), and
FAIL lines (exit 1) for a wrong password, a missing database and a stopped container."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, EXIT_OK, EXIT_FAILURE  # noqa: E402
from mysql_fixture import MariaDB, mysql_project, DBCTL, DOCKER  # noqa: E402

PG = "dbsnap-container-doctor-pg"


def line_of(r, name):
    """The doctor line for check `name` ("ok    name  detail"), or ''."""
    pattern = re.compile(r"^(ok|WARN|FAIL)\s+" + re.escape(name) + r"(\s|$)")
    for line in r.text.splitlines():
        if pattern.match(line):
            return line
    return ""


def expect(t, r, name, level, *needles):
    line = line_of(r, name)
    t.check(line.startswith(level), "doctor {}: {} line".format(name, level), r.describe())
    for n in needles:
        t.check(n in r.text, "doctor output mentions {!r}".format(n), r.describe())


def body(t):
    layer = MariaDB(t, "dbsnap-container-doctor-layer")
    vol = MariaDB(t, "dbsnap-container-doctor-vol", volume=True)
    subprocess.run([DBCTL, "rm", PG], capture_output=True)
    try:
        for db in (layer, vol):
            db.sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); "
                   "INSERT INTO alembic_version VALUES ('2eb89b1334ef')", "app")
        p = subprocess.run([DBCTL, "start-postgres", PG, "--volume"], capture_output=True, timeout=300)
        t.require(p.returncode == 0, "dbctl start-postgres --volume", p.stderr.decode())
        proj = mysql_project(t, {
            "layer": {"container": layer.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"},
            "vol": {"container": vol.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"},
            "wrongpw": {"container": vol.name, "database": "app", "password_env": "DOCTOR_WRONG_PW"},
            "nodb": {"container": vol.name, "database": "nope", "password_from_container": "MYSQL_ROOT_PASSWORD"},
        })
        with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
            f.write('[targets.pg]\nengine = "postgres"\ncontainer = "{}"\ndatabase = "app"\nuser = "postgres"\n'.format(PG))

        t.section("MariaDB whose data lives in the container's own layer")
        r = t.dbsnap(proj, "doctor", "layer")
        t.check_eq(r.rc, EXIT_OK, "doctor exits 0 (warnings only)", r.describe())
        expect(t, r, "runtime", "ok", layer.name)
        expect(t, r, "dump tool", "ok", "mariadb-dump")
        expect(t, r, "login", "ok")
        expect(t, r, "database", "ok")
        expect(t, r, "revision", "ok", "2eb89b1334ef")
        expect(t, r, "space", "ok", "free in")
        expect(t, r, "volume", "WARN", "DATA IS NOT ON A VOLUME", "docker compose down", "fix: mount a named volume at")

        t.section("MariaDB on a volume")
        r = t.dbsnap(proj, "doctor", "vol")
        t.check_eq(r.rc, EXIT_OK, "doctor exits 0", r.describe())
        expect(t, r, "volume", "ok", "is on a volume")

        t.section("failures: wrong password, missing database, stopped container")
        r = t.dbsnap(proj, "doctor", "wrongpw", env={"DOCTOR_WRONG_PW": "not-the-password"})
        t.check_eq(r.rc, EXIT_FAILURE, "doctor with a wrong password exits 1", r.describe())
        expect(t, r, "login", "FAIL")
        t.check("dbsnap: error: doctor: " in r.errtext, "a one-line summary on stderr", r.describe())
        t.check("not-the-password" not in r.text + r.errtext, "the password is not printed")
        r = t.dbsnap(proj, "doctor", "nodb")
        t.check_eq(r.rc, EXIT_FAILURE, "doctor with a missing database exits 1", r.describe())
        expect(t, r, "database", "FAIL", "'nope'")
        subprocess.run([DOCKER, "stop", "-t", "2", layer.name], capture_output=True, timeout=120)
        r = t.dbsnap(proj, "doctor", "layer")
        t.check_eq(r.rc, EXIT_FAILURE, "doctor of a stopped container exits 1", r.describe())
        expect(t, r, "runtime", "FAIL", "not running", "docker start")

        t.section("PostgreSQL on a volume, not versioned by Alembic")
        r = t.dbsnap(proj, "doctor", "pg")
        t.check_eq(r.rc, EXIT_OK, "doctor pg exits 0", r.describe())
        expect(t, r, "pg_dump", "ok", "pg_dump (PostgreSQL) 15")
        expect(t, r, "login", "ok")
        expect(t, r, "revision", "WARN", "not versioned by Alembic")
        expect(t, r, "volume", "ok", "is on a volume")
    finally:
        layer.remove()
        vol.remove()
        subprocess.run([DBCTL, "rm", PG], capture_output=True)


Test("container_doctor").run(body)
