#!/usr/bin/python3
"""Scenario: a backup (or restore) killed or interrupted half-way publishes nothing and leaves no temp files.

A 200 MB database of random blobs makes a backup take long enough to hit it:
- SIGKILL while the dump is being stored, in each layout (a blob; packs of chunks): nothing
  listed, and the next dbsnap run removes every *.dbsnap-tmp* file (there were some: the kill
  was mid-way); packs the killed run committed are listed by no snapshot, `verify --repository`
  counts them, and the next prune reclaims them;
- SIGINT while the dump is being stored, SIGTERM while SQLite copies: exit 130 / 143,
  a one-line error, nothing listed, no temp files even before the next run;
- a normal backup still works afterwards;
- SIGINT and SIGKILL during a restore: the database is unchanged, and no temp
  file is left beside it (after the next dbsnap run, for SIGKILL); SIGKILL in
  the middle of the copy into the live file: SQLite rolls it back; SIGTERM there (before the
  copy's last step, its commit point): exit 143, the database as it was; `list` removes what a
  killed restore left beside the database.
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, beside, connect, integrity, sha256_file, table_checksum, temp_files,  # noqa: E402
                         use_layout, EXIT_INTERRUPTED, EXIT_TERMINATED)

MEGABYTES = 200


def make_big_db(path):
    db = connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("INSERT INTO alembic_version VALUES ('b16b10b5')")
    db.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
               "INSERT INTO blobs (b) SELECT randomblob(1048576) FROM c", (MEGABYTES,))
    db.close()


def store_files(store, suffix):
    found = []
    for d, _, files in os.walk(store):
        found += [os.path.join(d, f) for f in files if f.endswith(suffix)]
    return sorted(found)


def dump_temp(store):
    """The size of the largest temp file being written outside .scratch: a blob, or a pack of chunks."""
    scratch = os.path.join(store, ".scratch") + os.sep
    sizes = [file_size(f) for f in temp_files(store) if not f.startswith(scratch)]
    return max(sizes) if sizes else -1


def committed_packs(store):
    """How many packs under data/ are committed (not temp files)."""
    return len([f for f in store_files(os.path.join(store, "data"), "") if "dbsnap-tmp" not in f])


def unreferenced_chunks(t, proj):
    """How many chunks no snapshot lists, as `verify --repository` counts them."""
    r = t.dbsnap(proj, "verify", "--repository")
    t.check_rc(r, 0, "verify --repository")
    m = re.search(r"(\d+) chunk\(s\) \([^)]*\) no snapshot lists", r.errtext)
    t.require(m, "verify --repository counts the chunks no snapshot lists", r.describe())
    return int(m.group(1))


def scratch_temp(store):
    sizes = [os.path.getsize(f) for f in temp_files(os.path.join(store, ".scratch")) if os.path.exists(f)]
    return max(sizes) if sizes else -1


def hit(t, proc, ready, sig, what, timeout=60):
    """Waits until ready() (polling fast), then sends sig; REQUIREs that the process was still running."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.002)
    running = proc.poll() is None
    if running:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    t.require(running, "{}: the signal reached the process mid-way".format(what),
              "it had already exited {} (too fast? make the database bigger)\nstderr: {}".format(
                  proc.returncode, err.decode(errors="replace")))
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def hot_journal(path):
    """True when a rollback journal has been synced (its magic written): the database file may be half-written."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == bytes.fromhex("d9d505f920a163d7")
    except OSError:
        return False


def body(t):
    proj = t.project("proj", targets={"dev": "instance/app.db"})
    os.makedirs(os.path.join(proj, "instance"))
    db_file = os.path.join(proj, "instance", "app.db")
    make_big_db(db_file)
    t.require(os.path.getsize(db_file) > MEGABYTES * 1000 * 1000, "a {} MB database".format(MEGABYTES))
    store = os.path.join(proj, "snapshots")
    db_sha = sha256_file(db_file)

    for layout in ("blob", "chunks"):
        t.section("SIGKILL while the dump is stored as " + layout)
        use_layout(proj, layout)
        p = t.spawn_dbsnap(proj, "backup", "dev")
        # chunks: after the first 16 MiB pack is committed, mid-way through the next one
        packs_before = committed_packs(store)
        rc, _, err = hit(t, p, lambda: dump_temp(store) > (4 << 20) and (
            layout == "blob" or committed_packs(store) > packs_before), signal.SIGKILL, "SIGKILL")
        t.check_eq(rc, -signal.SIGKILL, "the backup died of SIGKILL")
        left = temp_files(store)
        t.require(len(left) > 0, "the killed backup left temp files behind (so the kill was mid-way)", left)
        r = t.dbsnap(proj, "list", "--json")
        t.check_rc(r, 0, "list after the SIGKILL")
        t.check_eq(r.json() if r.rc == 0 else None, [], "list does not show the killed backup")
        t.check_eq(temp_files(store), [], "after that dbsnap run, no *.dbsnap-tmp* file remains in the store",
                   "before it: {}".format(left))
        t.check_eq(store_files(os.path.join(store, "dev"), ""), [],
                   "no blob, chunk list or manifest was published")
    # The chunked run committed whole 16 MiB packs before it died: garbage, not snapshots.
    killed_chunks = unreferenced_chunks(t, proj)
    t.check(killed_chunks > 0, "the packs the killed run committed hold chunks no snapshot lists", killed_chunks)
    r = t.dbsnap(proj, "prune", "dev", "--keep-last", "1", "--json")
    t.check_rc(r, 0, "prune --keep-last 1 (no snapshot to delete)")
    reclaimed = r.json()["reclaimed"] if r.rc == 0 else None
    t.check(reclaimed and reclaimed["collected"] and reclaimed["packs_deleted"] > 0 and reclaimed["bytes_freed"] > 0,
            "prune reclaims the packs the killed chunked backup left", r.describe())
    t.check_eq(unreferenced_chunks(t, proj), 0, "after the prune no chunk is left that no snapshot lists")
    t.check_eq(committed_packs(store), 0, "and no pack")
    t.section("SIGINT while the dump is stored")
    p = t.spawn_dbsnap(proj, "backup", "dev")
    started = time.monotonic()
    rc, _, err = hit(t, p, lambda: dump_temp(store) > (4 << 20), signal.SIGINT, "SIGINT")
    t.check_eq(rc, EXIT_INTERRUPTED, "SIGINT mid-backup: exit 130", err)
    lines = err.strip().splitlines()
    t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: ") and "interrupted" in lines[0],
            "SIGINT: one line 'dbsnap: error: ... interrupted ...' on stderr", err)
    t.check(time.monotonic() - started < 30, "SIGINT: the backup stopped promptly")
    t.check_eq(temp_files(store), [], "SIGINT: the interrupted backup removed its own temp files")
    t.check_eq(t.list_json(proj), [], "SIGINT: nothing listed")

    t.section("SIGTERM while SQLite copies the database")
    p = t.spawn_dbsnap(proj, "backup", "dev")
    rc, _, err = hit(t, p, lambda: scratch_temp(store) > 0 or dump_temp(store) > 0, signal.SIGTERM, "SIGTERM")
    t.check_eq(rc, EXIT_TERMINATED, "SIGTERM mid-backup: exit 143", err)
    t.check("dbsnap: error:" in err and "interrupted" in err, "SIGTERM: the error says interrupted", err)
    t.check_eq(temp_files(store), [], "SIGTERM: no temp files left")
    t.check_eq(t.list_json(proj), [], "SIGTERM: nothing listed")
    t.check_eq(sha256_file(db_file), db_sha, "the database was never touched by the killed backups")

    t.section("a normal backup afterwards")
    r = t.dbsnap(proj, "backup", "dev", "--json")
    t.require_rc(r, 0, "backup after the killed ones")
    good = r.json()
    t.check_eq(good["revisions"], ["b16b10b5"], "its revision")
    t.check_eq([m["id"] for m in t.list_json(proj)], [good["id"]], "exactly that snapshot is listed")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "verify --all")

    t.section("SIGINT and SIGKILL during a restore")
    db = connect(db_file)
    db.execute("DELETE FROM blobs WHERE id % 2 = 0")
    db.close()
    changed_sha = sha256_file(db_file)
    changed_ck = table_checksum(db_file)
    t.require(changed_sha != db_sha, "the database changed since the snapshot")

    def restore_temp():
        d = os.path.dirname(db_file)
        sizes = [os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                 if "dbsnap-tmp" in f and os.path.exists(os.path.join(d, f))]
        return max(sizes) if sizes else -1

    p = t.spawn_dbsnap(proj, "restore", good["id"], "--yes", "--no-safety-snapshot")
    rc, _, err = hit(t, p, lambda: restore_temp() > (4 << 20), signal.SIGINT, "SIGINT during restore")
    t.check_eq(rc, EXIT_INTERRUPTED, "SIGINT mid-restore: exit 130", err)
    t.check_eq(sha256_file(db_file), changed_sha, "SIGINT mid-restore: the database is unchanged")
    t.check_eq(beside(db_file), [], "SIGINT mid-restore: nothing left beside the database")

    p = t.spawn_dbsnap(proj, "restore", good["id"], "--yes", "--no-safety-snapshot")
    rc, _, err = hit(t, p, lambda: restore_temp() > (4 << 20), signal.SIGKILL, "SIGKILL during restore")
    t.check_eq(rc, -signal.SIGKILL, "the restore died of SIGKILL")
    t.check_eq(sha256_file(db_file), changed_sha, "SIGKILL mid-restore: the database is unchanged")
    left = beside(db_file)
    t.require(len(left) > 0, "the killed restore had its temp file beside the database (the kill was mid-way)")
    r = t.dbsnap(proj, "list")
    t.check_rc(r, 0, "list after the killed restore")
    t.check_eq([f for f in beside(db_file) if "dbsnap-tmp" in f], [],
               "list removed the killed restore's temp file beside the database", "before: {}".format(left))

    t.section("SIGKILL while the restore writes into the live database")
    journal = db_file + "-journal"
    p = t.spawn_dbsnap(proj, "restore", good["id"], "--yes", "--no-safety-snapshot")
    mtime = os.stat(db_file).st_mtime_ns
    # Half the pages are the same in both versions (the odd blobs): wait until the journal holds
    # 32 MB of original pages, so that changed ones have been overwritten too.
    rc, _, err = hit(t, p, lambda: hot_journal(journal) and os.stat(db_file).st_mtime_ns != mtime
                     and file_size(journal) > (32 << 20), signal.SIGKILL, "SIGKILL during the live copy")
    t.check_eq(rc, -signal.SIGKILL, "the restore died of SIGKILL")
    t.require(hot_journal(journal), "it died in the middle of its write transaction (a hot -journal is left)")
    t.check(sha256_file(db_file) != changed_sha, "the live file had been partly overwritten when it died")
    t.check_eq(integrity(db_file), "ok", "the database passes integrity_check (SQLite rolled the journal back)")
    t.check_eq(table_checksum(db_file), changed_ck, "all or nothing: the database holds its data from before the "
               "restore")
    left += [f for f in beside(db_file) if f not in left]

    t.section("SIGTERM while the restore writes into the live database: before its commit point")
    # The copy into the live file runs in steps inside one write transaction that only its last
    # step commits: a signal before then rolls it back, and dbsnap exits 143 with the target as it was.
    p = t.spawn_dbsnap(proj, "restore", good["id"], "--yes", "--no-safety-snapshot")
    mtime = os.stat(db_file).st_mtime_ns
    rc, _, err = hit(t, p, lambda: hot_journal(journal) and os.stat(db_file).st_mtime_ns != mtime, signal.SIGTERM,
                     "SIGTERM during the live copy")
    t.check_eq(rc, EXIT_TERMINATED, "SIGTERM during the live copy: exit 143", err)
    t.check("interrupted by SIGTERM" in err, "SIGTERM during the live copy: the error says so", err)
    t.check_eq(integrity(db_file), "ok", "SIGTERM during the live copy: the database passes integrity_check")
    t.check_eq(table_checksum(db_file), changed_ck, "SIGTERM during the live copy: the data from before the restore")

    t.dbsnap_ok(proj, "backup", "dev", "--label", "after-killed-restore")
    # (A -journal whose header was never synced may stay: SQLite's own business, not a dbsnap temp file.)
    t.check_eq([f for f in beside(db_file) if "dbsnap-tmp" in f], [], "SIGKILL mid-restore: after the next dbsnap "
               "run on that target no *.dbsnap-tmp file is left beside the database",
               "left by the kills: {}".format(left))
    t.check_eq(temp_files(store), [], "no temp files in the store")


if __name__ == "__main__":
    Test("killed_backup").run(body)
