"""MariaDB credentials never appear on any argv.

Two targets on a server with a distinctive root password: password_env (the password in
dbsnap's environment) and password_from_container (MYSQL_ROOT_PASSWORD in the container). While
each takes a backup and restores it, two samplers read every /proc/*/cmdline: one on the host,
one inside the container. Neither may find the password; both must have seen dbsnap's processes
(docker exec on the host; mariadb-dump and mariadb in the container), so they really sampled.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from mysql_fixture import MariaDB, docker, fill_big_table, mysql_project  # noqa: E402

PASSWORD = "Zq7-dbsnap-S3cret-pw"
SAMPLE_SCRIPT = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"


class Sampler:
    """Reads every process's argv, on the host and in the container, until stopped."""

    def __init__(self, container):
        self.container = container
        self.leaks, self.seen_host, self.seen_container = [], set(), set()
        self.rounds = [0, 0]
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.host), threading.Thread(target=self.inside)]
        for th in self.threads:
            th.start()

    def note(self, argv, seen):
        if PASSWORD in argv:
            self.leaks.append(argv)
        for word in ("exec -i", "mariadb-dump", "mariadb ", "--database="):
            if word in argv:
                seen.add(word)

    def host(self):
        while not self.stopping.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/{}/cmdline".format(pid), "rb") as fh:
                        argv = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue
                self.note(argv, self.seen_host)
            self.rounds[0] += 1

    def inside(self):
        while not self.stopping.is_set():
            p = docker("exec", self.container, "sh", "-c", SAMPLE_SCRIPT, timeout=60)
            for line in p.stdout.decode("utf-8", "replace").splitlines():
                self.note(line, self.seen_container)
            self.rounds[1] += 1

    def settle(self):
        """Waits until the container sampler has finished two more rounds (the one running, and one
        that started after now), so that what it saw until now is in seen_container."""
        start = self.rounds[1]
        deadline = time.monotonic() + 60
        while self.rounds[1] < start + 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join()


def body(t):
    db = MariaDB(t, "dbsnap-mysql-credentials", password=PASSWORD)
    try:
        scenario(t, db)
    finally:
        db.remove()


def scenario(t, db):
    fill_big_table(db, "app", rows_log2=17, payload=200)  # ~27 MB: backups and restores take a moment
    db.sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);"
           "INSERT INTO alembic_version VALUES ('feed01');", "app")
    proj = mysql_project(t, {
        "from_env": {"container": db.name, "database": "app", "password_env": "MYAPP_DB_PASSWORD"},
        "from_container": {"container": db.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"},
    })
    env = {"MYAPP_DB_PASSWORD": PASSWORD}
    before = db.fingerprint("app")

    for target in ("from_env", "from_container"):
        t.section("{}: backup and restore under the samplers".format(target))
        sampler = Sampler(db.name)
        time.sleep(0.3)
        # A backup or restore of this database takes about as long as one round of the container's
        # sampler (a docker exec): repeat the pair until that sampler has seen both of dbsnap's
        # processes in there, so that "no password seen" means something.
        for attempt in range(4):
            r = t.dbsnap(proj, "backup", target, "--json", env=env)
            t.check_rc(r, 0, "backup {} (#{})".format(target, attempt + 1))
            snap = r.json()["id"] if r.rc == 0 else None
            if snap:
                db.sql("UPDATE alembic_version SET version_num = 'feed02'; DELETE FROM big WHERE id % 2 = 0;", "app")
                r = t.dbsnap(proj, "restore", snap, "--yes", env=env)
                t.check_rc(r, 0, "restore {} (#{})".format(target, attempt + 1))
            sampler.settle()
            if {"mariadb-dump", "--database="} <= sampler.seen_container:
                break
        time.sleep(0.3)
        sampler.stop()
        print("  sampler rounds: host {}, container {}; seen on host {}, in container {}".format(
            sampler.rounds[0], sampler.rounds[1], sorted(sampler.seen_host), sorted(sampler.seen_container)))
        t.check_eq(sampler.leaks, [], "{}: the password is on no argv, host or container".format(target))
        t.check("exec -i" in sampler.seen_host, "{}: the host sampler saw dbsnap's docker exec".format(target))
        t.check("mariadb-dump" in sampler.seen_container and "--database=" in sampler.seen_container,
                "{}: the container sampler saw mariadb-dump and the restoring client".format(target),
                sorted(sampler.seen_container))
        after = db.fingerprint("app")
        t.check_eq(after, before, "{}: the restore brought the data back".format(target))

    t.section("a wrong password in the environment is refused")
    r = t.dbsnap(proj, "backup", "from_env", env={"MYAPP_DB_PASSWORD": "not-it"})
    t.check_error(r, 7, "backup with the wrong password", ["Access denied"])
    t.check(PASSWORD not in r.errtext and "not-it" not in r.errtext, "the message shows no password", r.errtext)


if __name__ == "__main__":
    Test("mysql_credentials").run(body)
