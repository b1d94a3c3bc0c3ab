"""MariaDB failures: one clear line each, the documented exit code, nothing published.

Wrong password, password variable unset, missing database, missing container, stopped
container, a container without a server, a container without the dump tool or the client,
a missing config key; and a restore with a wrong password leaves the database untouched.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, EXIT_ENGINE, EXIT_RUNTIME, Test  # noqa: E402
from mysql_fixture import DBCTL, MariaDB, docker, mysql_project, store_files  # noqa: E402

SHELL = "dbsnap-mysql-errors-shell"
STOPPED = "dbsnap-mysql-errors-stopped"


def body(t):
    db = MariaDB(t, "dbsnap-mysql-errors")
    try:
        scenario(t, db)
    finally:
        db.remove()
        subprocess.run([DBCTL, "rm", SHELL, STOPPED], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scenario(t, db):
    for name in (SHELL, STOPPED):
        subprocess.run([DBCTL, "rm", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p = subprocess.run([DBCTL, "start-shell", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t.require(p.returncode == 0, "dbctl start-shell " + name, p.stderr)
    docker("stop", "-t", "1", STOPPED, check=True)
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, 'one');"
           "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); INSERT INTO alembic_version "
           "VALUES ('r1');", "app")
    good = {"container": db.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"}
    proj = mysql_project(t, {
        "good": good,
        "wrongpw": {"container": db.name, "database": "app", "password_env": "MYAPP_DB_PASSWORD"},
        "unsetpw": {"container": db.name, "database": "app", "password_env": "MYAPP_UNSET_PASSWORD"},
        "nodb": dict(good, database="no_such_db"),
        "nocontainer": dict(good, container="dbsnap-mysql-errors-absent"),
        "stopped": dict(good, container=STOPPED),
        "noserver": {"container": SHELL, "database": "app", "password_env": "MYAPP_DB_PASSWORD"},
        "notools": {"container": SHELL, "database": "app"},
    })
    env = {"MYAPP_DB_PASSWORD": "wrong-password"}
    t.list_json(proj)
    files = store_files(proj)

    def failing_backup(target, code, contains, what):
        t.section(what)
        r = t.dbsnap(proj, "backup", target, env=env)
        print("  stderr: " + r.errtext.strip())
        t.check_error(r, code, "backup " + target, contains)
        t.check_eq(store_files(proj), files, "{}: nothing new in the store".format(target))

    failing_backup("wrongpw", EXIT_ENGINE, ["Access denied", "password"], "wrong password")
    failing_backup("unsetpw", EXIT_CONFIG, ["MYAPP_UNSET_PASSWORD"], "password variable not set")
    failing_backup("nodb", EXIT_ENGINE, ["no_such_db"], "missing database")
    failing_backup("nocontainer", EXIT_RUNTIME, ["dbsnap-mysql-errors-absent", "does not exist"], "missing container")
    failing_backup("stopped", EXIT_RUNTIME, [STOPPED, "not running"], "stopped container")
    failing_backup("noserver", EXIT_ENGINE, ["server running"], "a container without a running server")
    docker("exec", SHELL, "sh", "-c", "mv /usr/bin/mariadb-dump /usr/bin/mariadb-dump.off && rm -f /usr/bin/mysqldump",
           check=True)
    failing_backup("notools", EXIT_RUNTIME, ["mariadb-dump", "mysqldump", SHELL], "no dump tool in the container")
    t.check_eq(t.list_json(proj), [], "no snapshot was published by any failure")

    t.section("missing config key")
    with open(os.path.join(proj, "dbsnap.toml"), "a") as fh:
        fh.write('\n[targets.nokey]\nengine = "mysql"\ncontainer = "{}"\n'.format(db.name))
    r = t.dbsnap(proj, "backup", "good")
    t.check_error(r, EXIT_CONFIG, "a target without 'database'", ["database"])
    with open(os.path.join(proj, "dbsnap.toml")) as fh:
        text = fh.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(text[:text.index("[targets.nokey]")])

    t.section("restore failures leave the database untouched")
    snap = t.dbsnap_ok(proj, "backup", "good", "--json").json()["id"]
    db.sql("UPDATE t SET v = 'changed'; UPDATE alembic_version SET version_num = 'r2';", "app")
    before = db.fingerprint("app")
    r = t.dbsnap(proj, "restore", snap, "--to", "wrongpw", "--yes", env=env)
    print("  stderr: " + r.errtext.strip())
    t.check_error(r, EXIT_ENGINE, "restore with a wrong password", ["Access denied"])
    r = t.dbsnap(proj, "restore", snap, "--to", "wrongpw", "--yes", "--no-safety-snapshot", env=env)
    t.check_error(r, EXIT_ENGINE, "restore with a wrong password, no safety snapshot", ["Access denied"])
    docker("exec", SHELL, "sh", "-c", "mv /usr/bin/mariadb /usr/bin/mariadb.off && rm -f /usr/bin/mysql", check=True)
    r = t.dbsnap(proj, "restore", snap, "--to", "notools", "--yes", "--no-safety-snapshot")
    print("  stderr: " + r.errtext.strip())
    t.check_error(r, EXIT_RUNTIME, "restore where the client is missing", ["mariadb", "mysql", SHELL])
    r = t.dbsnap(proj, "restore", snap, "--to", "stopped", "--yes", "--no-safety-snapshot")
    t.check_error(r, EXIT_RUNTIME, "restore into a stopped container", ["not running"])
    t.check_eq(db.fingerprint("app"), before, "the database is untouched")
    t.check_eq(db.shadow_schemas(), [], "no shadow schema was left")
    t.check_eq([s["label"] for s in t.list_json(proj)], [""], "only the good backup is listed")


if __name__ == "__main__":
    Test("mysql_errors").run(body)
