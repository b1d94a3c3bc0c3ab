#!/usr/bin/python3
"""dbsnap init against real servers: a MariaDB container started the way compose starts one
(com.docker.compose.* labels, MYSQL_DATABASE in its environment), a PostgreSQL container
(POSTGRES_DB), and a Flask-style folder with a SQLite database that has an alembic_version table
and a migrations/versions folder. init shows the proposal; without --yes and a terminal it writes
nothing (exit 8); with --yes it writes dbsnap.toml, which names the compose service and project,
takes the credentials from the containers' environment by name (no password value is in the file)
and points every target at the migrations folder; a backup of each proposed target then works.
It never replaces an existing dbsnap.toml (exit 8), and --print writes nothing."""

import os
import sqlite3
import subprocess
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Test  # noqa: E402
from mysql_fixture import DBCTL, DOCKER  # noqa: E402

MARIA = "dbsnap-container-init-maria"
PG = "dbsnap-container-init-pg"
MARIA_PW = "init-root-pw-7f3a"
PG_PW = "init-pg-pw-91c2"


def start(t, kind, name, password, *docker_args):
    subprocess.run([DBCTL, "rm", name], capture_output=True)
    p = subprocess.run([DBCTL, "start-" + kind, name, "--password", password, "--"] + list(docker_args),
                       capture_output=True, text=True, timeout=300)
    t.require(p.returncode == 0, "dbctl start-{} {}".format(kind, name), p.stdout + p.stderr)


def sh(name, *argv, input=None):
    return subprocess.run([DOCKER, "exec", "-i", name] + list(argv), input=input, capture_output=True, text=True,
                          timeout=120)


def body(t):
    try:
        scenario(t)
    finally:
        for name in (MARIA, PG):
            subprocess.run([DBCTL, "rm", name], capture_output=True)


def scenario(t):
    start(t, "mariadb", MARIA, MARIA_PW, "-e", "MYSQL_DATABASE=shop",
          "--label", "com.docker.compose.project=initdemo", "--label", "com.docker.compose.service=db")
    r = sh(MARIA, "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb -uroot', input=(
        "CREATE DATABASE shop; CREATE TABLE shop.alembic_version (version_num VARCHAR(32) PRIMARY KEY); "
        "INSERT INTO shop.alembic_version VALUES ('5hop00000001'); CREATE TABLE shop.orders (id INT PRIMARY KEY);"))
    t.require(r.returncode == 0, "the shop database", r.stderr)
    start(t, "postgres", PG, PG_PW, "-e", "POSTGRES_DB=app")
    r = sh(PG, "psql", "-U", "postgres", "-d", "app", "-v", "ON_ERROR_STOP=1", input=(
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); "
        "INSERT INTO alembic_version VALUES ('a9900000001');"))
    t.require(r.returncode == 0, "the app database", r.stderr)

    proj = t.path("proj")
    os.makedirs(os.path.join(proj, "instance"))
    os.makedirs(os.path.join(proj, "migrations", "versions"))
    open(os.path.join(proj, "migrations", "env.py"), "w").close()
    open(os.path.join(proj, "migrations", "versions", "0001_init.py"), "w").close()
    with sqlite3.connect(os.path.join(proj, "instance", "app.db")) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('5q1170000001')")
    config = os.path.join(proj, "dbsnap.toml")

    t.section("without --yes and a terminal: the proposal, nothing written")
    r = t.dbsnap(proj, "init", config=False)
    t.check_rc(r, EXIT_REFUSED, "init without --yes")
    t.check("[targets.db]" in r.text and "[targets.{}]".format(PG) in r.text and "[targets.app]" in r.text,
            "the proposal is shown", r.describe())
    t.check(not os.path.exists(config), "no dbsnap.toml was written")

    t.section("init --yes writes it")
    r = t.dbsnap(proj, "init", "--yes", config=False)
    t.require_rc(r, EXIT_OK, "init --yes")
    with open(config, "rb") as fh:
        raw = fh.read()
    doc = tomllib.loads(raw.decode())
    targets = doc.get("targets", {})
    t.check_eq({k: v for k, v in targets.get("db", {}).items()},
               {"engine": "mysql", "compose_service": "db", "compose_project": "initdemo", "database": "shop",
                "user": "root", "password_from_container": "MYSQL_ROOT_PASSWORD", "migrations": "migrations/versions"},
               "the MariaDB target: by compose service and project, its database, root's password by name")
    t.check_eq(targets.get(PG), {"engine": "postgres", "container": PG, "database": "app", "user": "postgres",
                                 "password_from_container": "POSTGRES_PASSWORD", "migrations": "migrations/versions"},
               "the PostgreSQL target")
    t.check_eq(targets.get("app"), {"engine": "sqlite", "file": "instance/app.db", "migrations": "migrations/versions"},
               "the SQLite target")
    t.check(MARIA_PW.encode() not in raw and PG_PW.encode() not in raw, "no password is in the file")
    t.check(b"# " in raw and b"dbsnap init" in raw, "the file is commented")

    t.section("the proposed targets back up")
    for target, revision in (("db", "5hop00000001"), (PG, "a9900000001"), ("app", "5q1170000001")):
        r = t.dbsnap(proj, "backup", target, "--json")
        t.check_rc(r, EXIT_OK, "backup " + target)
        if r.rc == 0:
            t.check_eq(r.json()["revisions"], [revision], "{}: the revision is recorded".format(target))

    t.section("an existing dbsnap.toml is never replaced")
    r = t.dbsnap(proj, "init", "--yes", config=False)
    t.check_error(r, EXIT_REFUSED, "init over an existing dbsnap.toml", contains=("exists",))
    with open(config, "rb") as fh:
        t.check(fh.read() == raw, "the file is unchanged")
    r = t.dbsnap(proj, "init", "--print", config=False)
    t.check_rc(r, EXIT_OK, "init --print")
    t.check("[targets.db]" in r.text, "--print shows the proposal", r.describe())
    with open(config, "rb") as fh:
        t.check(fh.read() == raw, "and writes nothing")
    r = t.dbsnap(proj, "init", os.path.join(proj, "no-such-folder"), "--print", config=False)
    t.check_error(r, EXIT_USAGE, "init of a folder that does not exist", contains=("no-such-folder",))
    r = t.dbsnap(proj, "init", "--runtime", "lxc", "--print", config=False)
    t.check_error(r, EXIT_USAGE, "init --runtime lxc")


if __name__ == "__main__":
    Test("container_init").run(body)
