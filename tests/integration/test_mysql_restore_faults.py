"""MariaDB restores are all-or-nothing: faults early, in the middle and at the swap.

After each fault every table's ordered checksum, the views, triggers, routines, events and the
revision are exactly as before, and the error is one line:
  early   a corrupt and a truncated blob (refused, nothing touched: exit 5)
  middle  a server error mid-stream (a row bigger than max_allowed_packet), the client inside
          the container killed, dbsnap interrupted (SIGTERM: exit 143, SIGINT: exit 130) and killed
          (SIGKILL) mid-load
  swap    the RENAME blocked by a transaction until lock_wait_timeout, and a failure after the
          RENAME (a view held by a transaction cannot be replaced): both undone
The next restore removes the shadow schema the SIGKILL left, and succeeds.
"""

import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CORRUPT, EXIT_ENGINE, EXIT_INTERRUPTED, EXIT_TERMINATED, Test, use_blobs, wait_for  # noqa: E402
from mysql_fixture import MariaDB, fill_big_table, mysql_project  # noqa: E402

SETUP = """
CREATE TABLE a_small (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO a_small SELECT seq, CONCAT('row ', seq) FROM seq_1_to_1000;
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('good01');
CREATE TABLE b_blob (id INT PRIMARY KEY, data LONGBLOB);
INSERT INTO b_blob VALUES (1, RANDOM_BYTES(1024));
CREATE TABLE c_after (id INT PRIMARY KEY, note VARCHAR(40));
INSERT INTO c_after VALUES (1, 'after'), (2, 'after too');
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(40));
CREATE TRIGGER trg_c AFTER INSERT ON c_after FOR EACH ROW INSERT INTO log (msg) VALUES (NEW.note);
CREATE VIEW v_small AS SELECT id, v FROM a_small WHERE id <= 10;
CREATE VIEW v_const AS SELECT 1 AS one;
CREATE FUNCTION f_double(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE PROCEDURE p_count(OUT n INT) SELECT COUNT(*) INTO n FROM a_small;
"""

# What the database looks like before each fault: different data, objects and revision.
CHANGE = """
UPDATE alembic_version SET version_num = 'bad02';
UPDATE a_small SET v = 'changed' WHERE id <= 500;
DELETE FROM big WHERE id % 3 = 0;
INSERT INTO c_after VALUES (3, 'new');
DROP PROCEDURE p_count;
CREATE PROCEDURE p_other() SELECT 1;
CREATE OR REPLACE VIEW v_small AS SELECT id FROM a_small WHERE id <= 5;
"""


def body(t):
    db = MariaDB(t, "dbsnap-mysql-restore-faults")
    try:
        scenario(t, db)
    finally:
        db.remove()


def loader_pids(db):
    """PIDs of the restoring client inside the container (its argv names the shadow schema)."""
    rc, out, _ = db.exec("sh", "-c", "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = mariadb ] && "
                                     "tr '\\0' ' ' < $p/cmdline | grep -q -- '--database=app_dbsnap_shadow' "
                                     "&& echo ${p#/proc/}; done")
    return [int(x) for x in out.split()]


def scenario(t, db):
    fill_big_table(db, "app", rows_log2=18, payload=200)  # ~55 MB: the load takes a few seconds
    db.sql(SETUP, "app")
    db.sql("UPDATE b_blob SET data = REPEAT(RANDOM_BYTES(1024), 3072) WHERE id = 1", "app")  # a 3 MiB row
    proj = mysql_project(t, {"dev": {"container": db.name, "database": "app",
                                     "password_from_container": "MYSQL_ROOT_PASSWORD"}})
    use_blobs(proj)  # the damaged-blob cases below; chunks: postgres_atomic_restore, repo_chunked_snapshots
    snapshot_state = db.fingerprint("app")
    m = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    snap, blob = m["id"], m["path"]
    db.sql(CHANGE, "app")
    before = db.fingerprint("app")
    t.require(before != snapshot_state and before["revisions"] == ["bad02"], "the database differs from the snapshot")

    def untouched(what):
        now = db.fingerprint("app")
        for key in ("tables", "views", "objects", "data", "revisions"):
            t.check_eq(now[key], before[key], "{}: {} unchanged".format(what, key))

    def restore(*extra):
        r = t.dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot", *extra)
        print("  stderr: " + r.errtext.strip())
        return r

    # ---- early -------------------------------------------------------------
    t.section("a corrupt blob is refused and nothing is touched")
    shutil.copy(blob, blob + ".good")
    with open(blob, "r+b") as fh:
        fh.seek(os.path.getsize(blob) // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0x55]))
    t.check_error(restore(), EXIT_CORRUPT, "restore of a corrupt blob")
    untouched("corrupt blob")
    t.check_eq(db.shadow_schemas(), [], "corrupt blob: no shadow schema is left")

    t.section("a truncated blob is refused before anything is touched")
    shutil.copy(blob + ".good", blob)
    with open(blob, "r+b") as fh:
        fh.truncate(os.path.getsize(blob) * 2 // 3)
    t.check_error(restore(), EXIT_CORRUPT, "restore of a truncated blob")
    untouched("truncated blob")
    shutil.move(blob + ".good", blob)

    # ---- middle ------------------------------------------------------------
    t.section("a server error mid-stream (a row bigger than max_allowed_packet)")
    db.sql("SET GLOBAL max_allowed_packet = 1048576")
    r = restore()
    db.sql("SET GLOBAL max_allowed_packet = 16777216")
    t.check_error(r, EXIT_ENGINE, "restore failing mid-stream", ["unchanged"])
    untouched("server error mid-stream")
    t.check_eq(db.shadow_schemas(), [], "server error: the shadow schema was dropped")

    t.section("the restoring client killed inside the container mid-load")
    p = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
    t.require(db.wait_for_query("INSERT INTO `big`") is not None, "the load of table big is running")
    pids = loader_pids(db)
    t.require(bool(pids), "the restoring client found in the container")
    db.exec("kill", "-9", str(pids[0]))
    _, err = p.communicate(timeout=300)
    err = err.decode("utf-8", "replace")
    print("  stderr: " + err.strip())
    t.check_eq(p.returncode, EXIT_ENGINE, "dbsnap exits 7", err)
    t.check(len(err.strip().splitlines()) == 1 and "unchanged" in err, "one line saying the target is unchanged", err)
    untouched("client killed")
    t.check(wait_for(lambda: db.shadow_schemas() == [], 30, 0.2), "client killed: the shadow schema was dropped",
            db.shadow_schemas())

    for sig, code in ((signal.SIGTERM, EXIT_TERMINATED), (signal.SIGINT, EXIT_INTERRUPTED)):
        name = signal.Signals(sig).name
        t.section("dbsnap interrupted ({}) mid-load".format(name))
        p = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
        t.require(db.wait_for_query("INSERT INTO `big`") is not None, "the load of table big is running")
        p.send_signal(sig)
        _, err = p.communicate(timeout=300)
        err = err.decode("utf-8", "replace")
        print("  stderr: " + err.strip())
        t.check_eq(p.returncode, code, "{}: dbsnap exits {}".format(name, code), err)
        t.check(len(err.strip().splitlines()) == 1 and "interrupted" in err,
                "{}: one error line saying interrupted".format(name), err)
        untouched(name)
        t.check(wait_for(lambda: db.shadow_schemas() == [], 60, 0.2), "{}: the shadow schema was dropped".format(name),
                db.shadow_schemas())
        t.check(wait_for(lambda: not loader_pids(db), 30, 0.2), "{}: no restoring client is left in the container"
                .format(name), loader_pids(db))

    t.section("dbsnap killed (SIGKILL) mid-load")
    p = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
    t.require(db.wait_for_query("INSERT INTO `big`") is not None, "the load of table big is running")
    p.kill()
    p.wait()
    wait_for(lambda: not loader_pids(db), 120, 0.2)
    t.check(not loader_pids(db), "the orphaned client in the container ends")
    untouched("SIGKILL")
    t.check(len(db.shadow_schemas()) == 1, "SIGKILL leaves a shadow schema behind (for the next restore)",
            db.shadow_schemas())

    # ---- swap --------------------------------------------------------------
    db.sql("SET GLOBAL lock_wait_timeout = 3")
    t.section("the RENAME blocked by a transaction on a table until lock_wait_timeout")
    holder = db.spawn("app")
    holder.stdin.write(b"BEGIN;\nSELECT COUNT(*) FROM a_small;\n")
    holder.stdin.flush()
    holder.stdout.readline()
    r = restore()
    t.check_error(r, EXIT_ENGINE, "restore whose swap times out", ["put back as it was"])
    holder.stdin.close()
    holder.wait()
    untouched("RENAME blocked")
    t.check_eq(db.shadow_schemas(), [], "RENAME blocked: no shadow schema left (the SIGKILL's too)")
    t.check_eq(db.leftover_tables("app"), [], "RENAME blocked: no old tables left")

    t.section("a failure after the RENAME (a view held by a transaction) is undone")
    holder = db.spawn("app")
    holder.stdin.write(b"BEGIN;\nSELECT * FROM v_const;\n")
    holder.stdin.flush()
    holder.stdout.readline()
    r = restore()
    t.check_error(r, EXIT_ENGINE, "restore failing after the RENAME", ["put back as it was"])
    holder.stdin.close()
    holder.wait()
    untouched("failure after the RENAME")
    t.check_eq(db.shadow_schemas(), [], "after the RENAME: no shadow schema left")
    t.check_eq(db.leftover_tables("app"), [], "after the RENAME: no old tables left")
    db.sql("INSERT INTO c_after VALUES (99, 'trigger back')", "app")
    t.check_eq(db.value("SELECT COUNT(*) FROM log WHERE msg = 'trigger back'", "app"), "1",
               "the database's own trigger works again")
    db.sql("DELETE FROM c_after WHERE id = 99; DELETE FROM log WHERE msg = 'trigger back'", "app")
    db.sql("SET GLOBAL lock_wait_timeout = 86400")

    # ---- and then a restore that works -----------------------------------
    t.section("the next restore works")
    p = t.spawn_dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
    t.require(db.wait_for_query("INSERT INTO `big`") is not None, "the load of table big is running")
    p.kill()
    p.wait()
    wait_for(lambda: not loader_pids(db), 120, 0.2)
    t.check(len(db.shadow_schemas()) == 1, "another SIGKILL leaves a shadow schema", db.shadow_schemas())
    r = restore()
    t.check_rc(r, 0, "restore")
    t.check("removed what an interrupted restore" in r.errtext, "the leftover shadow schema is reported", r.errtext)
    t.check_eq(db.shadow_schemas(), [], "no shadow schemas left after the next restore")
    now = db.fingerprint("app")
    for key in ("tables", "views", "objects", "data", "revisions"):
        t.check_eq(now[key], snapshot_state[key], "restored: {} as in the snapshot".format(key))


if __name__ == "__main__":
    Test("mysql_restore_faults").run(body)
