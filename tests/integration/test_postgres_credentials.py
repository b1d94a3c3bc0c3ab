#!/usr/bin/python3
"""Scenario: PostgreSQL passwords never appear on a command line.

A container whose postgres password is a distinctive string (POSTGRES_PASSWORD in its env); TCP
targets (host 127.0.0.1, scram-sha-256, so the password is really used) with password_env and with
password_from_container, and a socket target with trust auth and no password. A backup and a
restore through each password target run while two samplers read /proc/*/cmdline over and over,
one on the host (this scenario's processes and its container's: ctest runs others beside it) and one inside the container: the password is in none of them, although the
samplers did see dbsnap's docker exec, pg_dump and psql. TCP sessions really were used (the server
saw them over 127.0.0.1).
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from postgres_fixture import DOCKER, PgContainer, Sampler, ContainerSampler, pg_project, fill_big_table  # noqa: E402

SECRET = "Pw-9f3kQz-7sEcReT"


def body(t):
    with PgContainer(t, "credentials", password=SECRET) as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('feedface');")
        fill_big_table(pg, "big", 40)
        tcp = {"host": "127.0.0.1", "port": 5432}
        proj = pg_project(t, {
            "env": pg.target(password_env="PG_TEST_SECRET", **tcp),
            "container": pg.target(password_from_container="POSTGRES_PASSWORD", **tcp),
            "socket": pg.target(),
        })
        env = {"PG_TEST_SECRET": SECRET}
        before = pg.state()
        pg.sql("ALTER SYSTEM SET log_connections = on; SELECT pg_reload_conf();")

        for target in ("env", "container"):
            t.section("backup and restore with password via {}".format(target))
            with Sampler(pg.name) as host, ContainerSampler(pg.name) as inside:
                time.sleep(0.5)
                r = t.dbsnap(proj, "backup", target, "--json", env=env)
                t.require_rc(r, 0, "backup {}".format(target))
                m = r.json()
                r = t.dbsnap(proj, "restore", m["id"], "--yes", "--no-safety-snapshot", env=env)
                t.require_rc(r, 0, "restore {}".format(target))
                time.sleep(0.3)
            t.check_eq(m["revisions"], ["feedface"], "{}: the revision is recorded".format(target))
            t.check_eq(pg.state(), before, "{}: the restore round-trips".format(target))
            t.check(host.rounds > 20 and inside.rounds > 5,
                    "{}: the samplers ran ({} host rounds, {} container rounds)".format(
                        target, host.rounds, inside.rounds))
            for name, sampler in (("host", host), ("container", inside)):
                seen = "\n".join(sampler.seen)
                t.check("pg_dump" in seen and "psql" in seen,
                        "{}: the {} sampler saw pg_dump and psql running".format(target, name))
                leaks = [c for c in sampler.seen if SECRET in c]
                t.check_eq(leaks, [], "{}: the password is on no command line seen on the {}".format(target, name))
            t.check(any("docker" in c and "exec" in c and pg.name in c for c in host.seen),
                    "{}: the host sampler saw dbsnap's docker exec".format(target))
            t.check_eq([c for c in host.seen | inside.seen if "PGPASSWORD=" in c], [],
                       "{}: no PGPASSWORD=... on any command line".format(target))

        t.section("control: the samplers do catch a password on a command line")
        with Sampler(pg.name) as host, ContainerSampler(pg.name) as inside:
            time.sleep(0.5)
            subprocess.run(["sh", "-c", ": {}; sleep 0.5".format(SECRET)])
            pg.exec("sh", "-c", ": {}; sleep 1".format(SECRET))
            time.sleep(0.3)
        t.check(any(SECRET in c for c in host.seen), "the host sampler caught it")
        t.check(any(SECRET in c for c in inside.seen), "the container sampler caught it")

        t.section("the password targets really used TCP")
        log = subprocess.run([DOCKER, "logs", pg.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors="replace").stdout
        t.check("method=scram-sha-256" in log, "the server authenticated sessions with scram-sha-256 (TCP)")
        t.check("application_name=dbsnap-restore" in log and "application_name=dbsnap" in log,
                "dbsnap's dump and restore sessions connected", log[-3000:])

        t.section("socket with trust auth, no password configured")
        r = t.dbsnap(proj, "backup", "socket", "--json")
        t.check_rc(r, 0, "backup over the socket")
        if r.rc == 0:
            r = t.dbsnap(proj, "restore", r.json()["id"], "--yes", "--no-safety-snapshot")
            t.check_rc(r, 0, "restore over the socket")
        t.check_eq(pg.state(), before, "socket: the restore round-trips")


if __name__ == "__main__":
    Test("postgres_credentials").run(body)
