#!/usr/bin/python3
"""Scenario: a PostgreSQL restore is all-or-nothing, whatever fails and wherever.

Snapshot S1 (revision A, a ~120 MB table and small ones); then the database moves on to a
"before" state (revision B, changed rows, a table added by a newer migration). Each fault below
hits a restore of S1; afterwards every table's and sequence's checksum, the schemas and the
revision equal the before state, no restore session is left and no renamed-aside schema exists:

  early   S1's blob with a flipped byte / truncated: refused before anything (exit 5);
          S1's blob rewritten as valid zstd whose SQL breaks halfway, restored without the
          pre-check: psql fails first, yet the error names the failed verification (exit 5);
          a snapshot whose dump holds a large object: refused (exit 7, "large objects");
  middle  the server cancels the restore's statement mid-COPY (exit 7);
          dbsnap SIGKILLed mid-COPY (psql in the container reads EOF and rolls back);
          psql killed inside the container mid-COPY (exit 7);
  commit  the restored revision differs from the snapshot's (a target whose version table is
          elsewhere): RAISE inside the transaction (exit 7);
          another session holds a lock on a table: lock_timeout expires at commit (exit 7);
          dbsnap SIGKILLed while commit() waits for that lock.
Then a clean restore of S1 brings back exactly S1's state. S1 is a blob (snapshot_layout = "blob",
for the rewritten-stream case); finally, stored as chunks (the default), a snapshot whose chunk
near the end of the dump is damaged in its pack: the restore streams most of the dump into psql,
meets the bad chunk, and stops with exit 5, the database unchanged.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, use_blobs, use_chunks, EXIT_CORRUPT, EXIT_ENGINE  # noqa: E402
from postgres_fixture import DOCKER, PgContainer, pg_project, fill_big_table  # noqa: E402


def restore_copy_bytes(pg):
    """Bytes the restore session's COPY has processed, or -1 when it is not copying."""
    p = pg.try_sql("SELECT coalesce(max(p.bytes_processed), -1) FROM pg_stat_progress_copy p "
                   "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'dbsnap-restore';", "postgres")
    try:
        return int(p.stdout.strip())
    except ValueError:
        return -1


def restore_query(pg):
    p = pg.try_sql("SELECT query FROM pg_stat_activity WHERE application_name = 'dbsnap-restore';", "postgres")
    return p.stdout


def wait_until(proc, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def body(t):
    with PgContainer(t, "atomic_restore") as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('a1a1a1a1');"
               "CREATE TABLE small (id serial PRIMARY KEY, v text);"
               "INSERT INTO small (v) SELECT 'row ' || g FROM generate_series(1, 500) g;"
               "CREATE SCHEMA app2; CREATE TABLE app2.cfg (k text PRIMARY KEY, v text);"
               "INSERT INTO app2.cfg VALUES ('mode', 'A');")
        fill_big_table(pg, "big", 120)
        proj = pg_project(t, {
            "pg": pg.target(lock_timeout=3),
            "slow": pg.target(lock_timeout=120),
            "elsewhere": pg.target(schema="app2"),
        })
        use_blobs(proj)
        state_1 = pg.state()

        t.section("snapshots: S1 at A, and one holding a large object")
        s1 = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        t.require_eq(s1["revisions"], ["a1a1a1a1"], "S1 is at A")
        pg.sql("SELECT lo_from_bytea(0, 'large object payload');")
        r = t.dbsnap(proj, "backup", "pg", "--json", "--label", "with-lo")
        t.require_rc(r, 0, "backup with a large object")
        s_lo = r.json()
        t.check("warning" in r.errtext and "large objects" in r.errtext,
                "the backup warns that the dump cannot be restored all-or-nothing", r.errtext)
        pg.sql("SELECT lo_unlink(oid) FROM pg_largeobject_metadata;")

        t.section("the database moves on to B")
        pg.sql("UPDATE alembic_version SET version_num = 'b2b2b2b2';"
               "UPDATE small SET v = v || ' changed' WHERE id % 2 = 0;"
               "INSERT INTO small (v) VALUES ('added at B');"
               "DELETE FROM big WHERE id % 10 = 0;"
               "UPDATE app2.cfg SET v = 'B';"
               "CREATE TABLE newer (id int PRIMARY KEY); INSERT INTO newer VALUES (1), (2);")
        before = pg.state()
        t.require(before != state_1, "B differs from A")

        def unchanged(what):
            t.check(pg.wait_no_restore_session(60), "{}: no restore session is left".format(what),
                    restore_query(pg))
            t.check_eq(pg.state(), before, "{}: every table, sequence, schema and the revision are as before".format(
                what))
            t.check_eq(pg.processes("dbsnap-restore"), [], "{}: no psql lingers in the container".format(what))

        t.section("early: a damaged blob is refused before anything")
        blob = s1["path"]
        saved = t.path("s1.blob")
        shutil.copyfile(blob, saved)
        with open(blob, "r+b") as f:
            f.seek(os.path.getsize(blob) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        r = t.dbsnap(proj, "restore", s1["id"], "--yes")
        t.check_error(r, EXIT_CORRUPT, "restore of a flipped blob", ["verification"])
        unchanged("flipped byte")
        shutil.copyfile(saved, blob)
        with open(blob, "r+b") as f:
            f.truncate(os.path.getsize(blob) * 2 // 3)
        r = t.dbsnap(proj, "restore", s1["id"], "--yes")
        t.check_error(r, EXIT_CORRUPT, "restore of a truncated blob", ["verification"])
        unchanged("truncated blob")

        # A blob rewritten as a valid zstd stream whose SQL breaks halfway: psql fails long before
        # the stream's own checks reach the end, and dbsnap must still name the damage (exit 5).
        t.section("early: a rewritten blob whose SQL breaks halfway")
        sql = t.path("s1.sql")
        with open(sql, "wb") as out:
            t.require(subprocess.run(["zstd", "-dcq", saved], stdout=out).returncode == 0, "zstd -dc of S1")
        with open(sql, "r+b") as f:
            f.seek(os.path.getsize(sql) // 2)
            f.readline()
            f.write(b"\\.\nSELECT this is not SQL;\n")  # ends big's COPY, then fails (ON_ERROR_STOP)
        t.require(subprocess.run(["zstd", "-qf", "-1", sql, "-o", blob]).returncode == 0, "zstd of the broken SQL")
        r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        t.check_error(r, EXIT_CORRUPT, "restore of a rewritten blob", ["verification", "unchanged"])
        unchanged("rewritten blob")
        shutil.copyfile(saved, blob)
        t.dbsnap_ok(proj, "verify", s1["id"])

        t.section("early: a dump with a large object is refused")
        r = t.dbsnap(proj, "restore", s_lo["id"], "--yes", "--no-safety-snapshot")
        t.check_error(r, EXIT_ENGINE, "restore of the large-object snapshot", ["large objects", "unchanged"])
        unchanged("large object")

        t.section("middle: the server cancels the restore mid-COPY")
        p = t.spawn_dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        hit = wait_until(p, lambda: restore_copy_bytes(pg) > (10 << 20))
        if hit:
            pg.sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbsnap-restore';",
                   "postgres")
        out, err = p.communicate(timeout=300)
        t.require(hit, "the restore was caught mid-COPY", err)
        t.check_eq(p.returncode, EXIT_ENGINE, "a cancelled restore exits 7", err)
        t.check(b"canceling statement" in err and len(err.strip().splitlines()) == 1,
                "one error line with the server's message", err)
        unchanged("server error")

        t.section("middle: dbsnap SIGKILLed mid-COPY")
        p = t.spawn_dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        hit = wait_until(p, lambda: restore_copy_bytes(pg) > (10 << 20))
        if hit:
            p.send_signal(signal.SIGKILL)
        p.communicate(timeout=300)
        t.require(hit, "dbsnap was caught mid-COPY")
        t.check_eq(p.returncode, -signal.SIGKILL, "dbsnap died of SIGKILL")
        unchanged("SIGKILL mid-COPY")

        t.section("middle: psql killed inside the container mid-COPY")
        p = t.spawn_dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        hit = wait_until(p, lambda: restore_copy_bytes(pg) > (10 << 20))
        if hit:
            subprocess.run([DOCKER, "exec", pg.name, "pkill", "-KILL", "-f", "application_name='dbsnap-restore'"])
        out, err = p.communicate(timeout=300)
        t.require(hit, "psql was caught mid-COPY", err)
        t.check_eq(p.returncode, EXIT_ENGINE, "a restore whose psql was killed exits 7", err)
        t.check(len(err.strip().splitlines()) == 1 and b"unchanged" in err, "one error line saying unchanged", err)
        unchanged("psql killed")

        t.section("commit: the restored revision differs from the snapshot's")
        r = t.dbsnap(proj, "restore", s1["id"], "--to", "elsewhere", "--yes", "--no-safety-snapshot")
        t.check_error(r, EXIT_ENGINE, "restore whose revision check fails", ["rolled back", "revision"])
        unchanged("revision mismatch")

        t.section("commit: another session keeps a table locked past lock_timeout")
        holder = subprocess.Popen([DOCKER, "exec", "-i", pg.name] + pg.psql_argv("app", "lock-holder"),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        holder.stdin.write("BEGIN; SELECT count(*) FROM small; SELECT 'locked';\n")
        holder.stdin.flush()
        lines = [holder.stdout.readline().strip() for _ in range(2)]
        t.require_eq(lines, ["501", "locked"], "another session holds a lock on table small")
        r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        t.check_error(r, EXIT_ENGINE, "restore blocked at commit", ["kept the tables locked", "rolled back"])

        t.section("commit: dbsnap SIGKILLed while commit() waits for the lock")
        p = t.spawn_dbsnap(proj, "restore", s1["id"], "--to", "slow", "--yes", "--no-safety-snapshot")
        hit = wait_until(p, lambda: "LOCK TABLE" in restore_query(pg))
        time.sleep(0.5)
        if hit:
            p.send_signal(signal.SIGKILL)
        p.communicate(timeout=300)
        t.require(hit, "dbsnap was caught waiting at commit")
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        holder.wait(timeout=60)
        unchanged("SIGKILL at commit")

        t.section("a clean restore of S1")
        r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
        t.require_rc(r, 0, "restore S1")
        t.check_eq(pg.state(), state_1, "exactly S1's state is back")
        t.check_eq(pg.rows("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dbsnap_old_%';"), ["0"],
                   "no renamed-aside schema is left")

        t.section("chunks: a chunk damaged near the end of the dump stops the restore mid-stream")
        use_chunks(proj)
        sc = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        pg.sql("UPDATE small SET v = v || ' after the chunked backup' WHERE id < 10;")
        before = pg.state()
        data = os.path.join(proj, "snapshots", "data")
        packs = sorted((os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs),
                       key=lambda p: os.stat(p).st_mtime_ns)
        t.require(len(packs) >= 2, "the dump filled several packs", packs)
        last = packs[-1]  # committed last: it holds the end of the dump
        saved = t.path("last.pack")
        shutil.copyfile(last, saved)
        with open(last, "r+b") as f:
            f.seek(os.path.getsize(last) // 3)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        r = t.dbsnap(proj, "restore", sc["id"], "--yes", "--no-safety-snapshot")
        t.check_error(r, EXIT_CORRUPT, "restore of a snapshot with a damaged chunk", [sc["id"]])
        unchanged("damaged chunk")
        shutil.copyfile(saved, last)
        t.dbsnap_ok(proj, "verify", sc["id"])


if __name__ == "__main__":
    Test("postgres_atomic_restore").run(body)
