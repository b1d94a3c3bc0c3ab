#!/usr/bin/python3
"""Scenario: --verbose logs every command dbsnap runs against a PostgreSQL container, never the password.

A PostgreSQL container whose password is a distinctive string; TCP targets (so the password is
really used) with password_env and with password_from_container. backup, restore and doctor with
--verbose (before and after the command): stderr has one "dbsnap: run: ..." line per command, each
a docker command, among them docker exec -i into the container (pg_dump for the backup, psql for
the restore), shell-quoted so that it splits back into an argv; the backup's pg_dump, read from the
docker daemon's socket, is logged as "dbsnap: run via docker API unix://...: " and the docker exec
command it stands for; the password_env value travels as
`-e PGPASSWORD` with the variable shown as PGPASSWORD=***, password_from_container names the
container's variable; the password is in no line and nowhere in dbsnap's output. Without --verbose
nothing is logged; with --json the log stays on stderr and stdout is still one JSON document.
"""
import json
import os
import re
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, EXIT_OK  # noqa: E402
from postgres_fixture import PgContainer, pg_project  # noqa: E402

SECRET = "Vb-7Lq2-verbose-Pw"
# "dbsnap: run: CMD" for a process; "dbsnap: run via docker API unix:///...: CMD" for an exec
# through the daemon's socket.
RUN_LINE = re.compile(r"dbsnap: run(?: via docker API unix://[^ :]+)?: ")


def body(t):
    with PgContainer(t, "output_verbose", password=SECRET) as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('beefcafe');"
               "CREATE TABLE item (id int PRIMARY KEY, name text);"
               "INSERT INTO item SELECT g, md5(g::text) FROM generate_series(1, 2000) g;")
        tcp = {"host": "127.0.0.1", "port": 5432}
        proj = pg_project(t, {
            "env": pg.target(password_env="PG_VERBOSE_SECRET", **tcp),
            "container": pg.target(password_from_container="POSTGRES_PASSWORD", **tcp),
        })
        env = {"PG_VERBOSE_SECRET": SECRET}
        before = pg.state()

        def run_lines(r, what):
            lines = [l for l in r.errtext.splitlines() if RUN_LINE.match(l)]
            for line in lines:
                print("        " + (line if len(line) < 200 else line[:200] + "..."))
            t.check(len(lines) >= 1, "{}: commands are logged".format(what), r.describe())
            t.check(SECRET not in r.errtext and SECRET not in r.text, "{}: the password is nowhere in the output".format(
                what), r.describe())
            argvs = []
            for line in lines:
                try:
                    argvs.append(shlex.split(line[RUN_LINE.match(line).end():]))
                except ValueError as e:
                    t.check(False, "{}: a logged line splits as shell words".format(what), "{}\n{}".format(e, line))
            commands = []
            for argv in argvs:
                i = 0  # leading NAME=*** words are the child's environment
                while i < len(argv) and "=" in argv[i] and not argv[i].startswith("-"):
                    i += 1
                commands.append(argv[i:])
            t.check(all(c[:1] == ["docker"] for c in commands), "{}: every command is a docker command".format(what),
                    lines)
            t.check(any(c[:3] == ["docker", "exec", "-i"] and pg.name in c for c in commands),
                    "{}: a docker exec -i into {} is logged".format(what, pg.name), lines)
            return argvs

        for target in ("env", "container"):
            t.section("backup --verbose via {}".format(target))
            r = t.dbsnap(proj, "--verbose", "backup", target, "--json", env=env)
            t.require_rc(r, EXIT_OK, "--verbose backup {} --json".format(target))
            m = json.loads(r.out)  # stdout is still the one JSON document
            argvs = run_lines(r, "backup " + target)
            dumps = [a for a in argvs if "pg_dump" in a]
            t.check(any(l.startswith("dbsnap: run via docker API unix://") and "pg_dump" in l
                        for l in r.errtext.splitlines()),
                    "backup {}: pg_dump's stream is read from the docker daemon's socket".format(target), r.errtext)
            t.check(len(dumps) == 1, "backup {}: one pg_dump run is logged".format(target), argvs)
            if target == "env":
                t.check(all(a[0] == "PGPASSWORD=***" and any(a[i] == "-e" and a[i + 1] == "PGPASSWORD"
                                                             for i in range(len(a) - 1))
                            for a in dumps), "backup env: PGPASSWORD=*** in the environment, passed as -e PGPASSWORD",
                        dumps)
            else:
                t.check(all("DBSNAP_PASSWORD_FROM=POSTGRES_PASSWORD" in a for a in dumps),
                        "backup container: the container's variable is named, its value read inside", dumps)

            t.section("restore -v via {}".format(target))
            r = t.dbsnap(proj, "restore", m["id"], "--yes", "--no-safety-snapshot", "-v", env=env)
            t.check_rc(r, EXIT_OK, "restore {} -v".format(target))
            argvs = run_lines(r, "restore " + target)
            t.check(any("psql" in a for a in argvs), "restore {}: the psql session is logged".format(target), argvs)
            t.check_eq(pg.state(), before, "restore {}: the data round-trips".format(target))

        t.section("doctor --verbose, and nothing logged without --verbose")
        r = t.dbsnap(proj, "doctor", "env", "--verbose", env=env)
        t.check_rc(r, EXIT_OK, "doctor env --verbose")
        run_lines(r, "doctor env")
        r = t.dbsnap(proj, "backup", "env", env=env)
        t.check_rc(r, EXIT_OK, "backup env without --verbose")
        t.check("dbsnap: run:" not in r.errtext, "without --verbose nothing is logged", r.describe())


if __name__ == "__main__":
    Test("postgres_verbose").run(body)
