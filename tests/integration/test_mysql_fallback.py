"""When a MariaDB swap cannot be done safely, the restore says so and restores directly.

1. A user with rights on its own database only (the usual MYSQL_USER of a compose file) may not
   create the shadow schema: the restore warns, and loads the verified dump straight into the
   database once the whole stream was checked; the result equals the snapshot.
2. A table of another schema has a foreign key into the database: a swap would leave it
   pointing at the old table, so the restore warns and restores directly; the foreign key
   still works afterwards.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from mysql_fixture import MariaDB, mysql_project  # noqa: E402

APP_PW = "app-user-pw"
SETUP = """
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('base01');
CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB;
CREATE TABLE child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES parent(id)) ENGINE=InnoDB;
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(40));
INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO child VALUES (10, 1), (20, 2);
CREATE TRIGGER trg AFTER INSERT ON child FOR EACH ROW INSERT INTO log (msg) VALUES (NEW.id);
CREATE VIEW v AS SELECT p.name FROM parent p JOIN child c ON c.pid = p.id;
"""
CHANGE = """
UPDATE alembic_version SET version_num = 'next02';
DELETE FROM child WHERE id = 20;
UPDATE parent SET name = 'changed';
CREATE TABLE added (id INT);
"""


def body(t):
    db = MariaDB(t, "dbsnap-mysql-fallback")
    try:
        scenario(t, db)
    finally:
        db.remove()


def scenario(t, db):
    db.sql("CREATE USER 'app'@'%' IDENTIFIED BY '{0}'; CREATE USER 'app'@'localhost' IDENTIFIED BY '{0}';"
           "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'%'; GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'localhost';"
           .format(APP_PW))
    db.sql(SETUP, "app", user="app", password=APP_PW)
    proj = mysql_project(t, {
        "as_app": {"container": db.name, "database": "app", "user": "app", "password_env": "MYAPP_DB_PASSWORD"},
        "as_root": {"container": db.name, "database": "app", "password_from_container": "MYSQL_ROOT_PASSWORD"},
    })
    env = {"MYAPP_DB_PASSWORD": APP_PW}
    snapshot_state = db.fingerprint("app")
    snap = t.dbsnap_ok(proj, "backup", "as_app", "--json", env=env).json()["id"]

    def check_restored(what):
        now = db.fingerprint("app")
        for key in ("tables", "views", "objects", "data", "revisions"):
            t.check_eq(now[key], snapshot_state[key], "{}: {} as in the snapshot".format(what, key))
        t.check_eq(db.shadow_schemas(), [], "{}: no shadow schema".format(what))

    t.section("a user who may not create schemas: direct restore, with a warning")
    db.sql(CHANGE, "app")
    r = t.dbsnap(proj, "restore", snap, "--to", "as_app", "--yes", env=env)
    print("  stderr: " + r.errtext.strip())
    t.check_rc(r, 0, "restore as user app")
    t.check("warning" in r.errtext and "shadow schema" in r.errtext and "not all-or-nothing" in r.errtext,
            "the restore says it is not all-or-nothing, and why", r.errtext)
    check_restored("direct restore as app")
    t.check(os.listdir(os.path.join(proj, "snapshots", ".scratch")) == [], "the spooled dump was removed")

    t.section("a foreign key from another schema: direct restore, with a warning")
    db.sql("CREATE DATABASE other; CREATE TABLE other.ref (id INT PRIMARY KEY, pid INT, "
           "FOREIGN KEY (pid) REFERENCES app.parent(id)) ENGINE=InnoDB; INSERT INTO other.ref VALUES (1, 3);")
    db.sql(CHANGE, "app")
    r = t.dbsnap(proj, "restore", snap, "--to", "as_root", "--yes")
    print("  stderr: " + r.errtext.strip())
    t.check_rc(r, 0, "restore with a foreign key from another schema")
    t.check("foreign keys" in r.errtext and "not all-or-nothing" in r.errtext, "the restore warns why", r.errtext)
    check_restored("direct restore with a foreign key in")
    try:
        db.sql("INSERT INTO other.ref VALUES (2, 999)")
        enforced = False
    except Exception:
        enforced = True
    t.check(enforced, "the other schema's foreign key still checks against app.parent")
    db.sql("INSERT INTO other.ref VALUES (3, 2)")
    t.check_eq(db.value("SELECT COUNT(*) FROM other.ref"), "2", "and accepts rows of the restored parent table")

    t.section("a test restore never swaps: a foreign key from another schema does not stop it")
    before = db.fingerprint("app")
    r = t.dbsnap(proj, "verify", "--restore", snap, "--to", "as_root", env=env)
    t.check_rc(r, 0, "verify --restore with a foreign key from another schema")
    t.check("scratch schema" in r.text and "as counted at backup time" in r.text, "it names the scratch schema",
            r.describe())
    t.check_eq(db.fingerprint("app"), before, "the database is as it was")
    t.check_eq(db.shadow_schemas(), [], "no scratch schema is left")

    t.section("a test restore as a user who may not create schemas: one line, nothing changed")
    # The snapshot's target is as_app: its user tests it, and may not create the scratch schema.
    db.sql("DROP DATABASE other")
    before = db.fingerprint("app")
    r = t.dbsnap(proj, "verify", "--restore", snap, env=env)
    t.check_rc(r, 7, "verify --restore as user app")
    t.check(len(r.errtext.strip().splitlines()) == 1 and "scratch schema" in r.errtext and "'app'" in r.errtext,
            "one line says the user may not create the scratch schema", r.errtext)
    t.check_eq(db.fingerprint("app"), before, "the database is as it was")
    t.check_eq(db.shadow_schemas(), [], "no scratch schema is left")
    db.sql("CREATE DATABASE other; CREATE TABLE other.ref (id INT PRIMARY KEY, pid INT, "
           "FOREIGN KEY (pid) REFERENCES app.parent(id)) ENGINE=InnoDB;")

    t.section("without such a foreign key, the swap is used again")
    db.sql("DROP DATABASE other")
    db.sql(CHANGE, "app")
    r = t.dbsnap(proj, "restore", snap, "--to", "as_root", "--yes")
    t.check_rc(r, 0, "restore as root")
    t.check("warning" not in r.errtext, "no warning", r.errtext)
    check_restored("swap restore")


if __name__ == "__main__":
    Test("mysql_fallback").run(body)
