#!/usr/bin/python3
"""A store on a file system that fills up mid-backup (a 2 MiB tmpfs): the backup fails with a
one-line error naming the file and the cause, nothing is listed, no temp file stays, the space is
given back (the file system's free space is what it was before), and earlier
snapshots are intact; a restore whose safety snapshot cannot be written changes nothing.
Then a chunked backup that commits a 16 MiB pack before its file system (48 MiB) fills: the
failed backup deletes the pack it committed, so the free space is again what it was.
Needs root (mount)."""

import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, table_checksum, temp_files, EXIT_FAILURE  # noqa: E402


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def while_sampling(sample, run):
    """Calls sample() every millisecond on a thread while run() runs; returns run()'s result."""
    done = threading.Event()

    def watch():
        while not done.is_set():
            sample()
            done.wait(0.001)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return run()
    finally:
        done.set()
        watcher.join()


def body(t):
    proj = t.project(targets={"small": "small.db", "big": "big.db"})
    store = t.path("store")
    os.makedirs(store)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", store], capture_output=True)
    t.require(p.returncode == 0, "mount a 2 MiB tmpfs as the store (run as root)", p.stderr.decode())
    try:
        for name, rows in (("small.db", 200), ("big.db", 60000)):
            db = connect(os.path.join(proj, name))
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
            db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            db.execute("INSERT INTO alembic_version VALUES ('a1')")
            db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                       "INSERT INTO t (b) SELECT randomblob(100) FROM c", (rows,))
            db.commit()
            db.close()

        t.section("a small backup fits")
        r = t.dbsnap(proj, "--store", store, "backup", "small", "--json")
        t.require_eq(r.rc, 0, "backup of the small database", r.describe())
        small = r.json()

        t.section("a big backup fills the file system")
        free_before = free_bytes(store)
        lowest = [free_before]

        def sample_free():
            lowest[0] = min(lowest[0], free_bytes(store))
        r = while_sampling(sample_free, lambda: t.dbsnap(proj, "--store", store, "backup", "big"))
        print("  stderr: " + r.errtext.strip())
        t.check_error(r, EXIT_FAILURE, "backup onto a full file system", contains=("no space left on device",))
        t.check(store in r.errtext, "the error names the file it could not write (in the store)", r.describe())
        # ENOSPC (checked above) says it ran full; a 1 ms sampler can miss the last moments before
        # dbsnap gives the space back, so it only shows that the backup did write into it.
        t.check(lowest[0] < free_before, "the backup wrote into the store's file system before failing "
                "(lowest free seen: {} of {} bytes)".format(lowest[0], free_before))
        # What stays is the failure's record for `dbsnap metrics` (.locks/big/last-failure): its blocks.
        record = os.path.join(store, ".locks", "big", "last-failure")
        t.check(os.path.isfile(record), "the failure is recorded for dbsnap metrics")
        kept = os.stat(record).st_blocks * 512 if os.path.isfile(record) else 0
        t.check_eq(free_bytes(store), free_before - kept,
                   "the space is given back: free space as before the backup, but for the failure's record")
        listed = [m["id"] for m in t.dbsnap_ok(proj, "--store", store, "list", "--json").json()]
        t.check_eq(listed, [small["id"]], "only the earlier snapshot is listed")
        t.check_eq(temp_files(store), [], "no temp file left in the store")
        t.check_eq(sorted(os.listdir(os.path.join(store, ".scratch"))) if os.path.isdir(
            os.path.join(store, ".scratch")) else [], [], "no scratch copy left")
        r = t.dbsnap(proj, "--store", store, "verify", small["id"])
        t.check_eq(r.rc, 0, "the earlier snapshot still verifies", r.describe())

        t.section("a restore whose safety snapshot does not fit changes nothing")
        before = table_checksum(os.path.join(proj, "big.db"))
        r = t.dbsnap(proj, "--store", store, "restore", small["id"], "--to", "big", "--yes")
        t.check_rc(r, EXIT_FAILURE, "restore into big with a full store")
        t.check("--no-safety-snapshot" in r.errtext, "the error names --no-safety-snapshot", r.describe())
        t.check_eq(table_checksum(os.path.join(proj, "big.db")), before, "big.db unchanged")
        t.check_eq(temp_files(store), [], "no temp file left in the store after the refused restore")
    finally:
        subprocess.run(["umount", store], capture_output=True)

    t.section("a chunked backup that committed a pack before the file system filled gives it back")
    store = t.path("store48")
    os.makedirs(store)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", store], capture_output=True)
    t.require(p.returncode == 0, "mount a 48 MiB tmpfs as the store", p.stderr.decode())
    try:
        # 30 MB that do not compress: the online copy in .scratch takes 30 of the 48 MiB, the first
        # 16 MiB pack fits beside it, the second does not.
        db = connect(os.path.join(proj, "random.db"))
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
        db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) "
                   "INSERT INTO t (b) SELECT randomblob(1000) FROM c")
        db.commit()
        db.close()
        with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
            f.write('\n[targets.random]\nengine = "sqlite"\nfile = "random.db"\n')
        r = t.dbsnap(proj, "--store", store, "backup", "small")
        t.require_eq(r.rc, 0, "a small chunked backup first", r.describe())
        free_before = free_bytes(store)
        index_bytes = lambda: sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store)  # noqa: E731
                                  if f.startswith("index.db"))
        index_before = index_bytes()
        packs = lambda: sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(store, "data"))  # noqa: E731
                               for f in fs if "dbsnap-tmp" not in f)
        packs_before = packs()
        seen = set()
        r = while_sampling(lambda: seen.update(packs()), lambda: t.dbsnap(proj, "--store", store, "backup", "random"))
        print("  stderr: " + r.errtext.strip())
        t.check_error(r, EXIT_FAILURE, "chunked backup onto a full file system", contains=("no space left on device",))
        t.check(len(seen - set(packs_before)) >= 1, "it had committed a pack before the file system filled",
                sorted(seen))
        t.check_eq(packs(), packs_before, "the pack it committed is deleted")
        # index.db keeps the pages its rows used (SQLite reuses them): all the rest is given back.
        lost, grown = free_before - free_bytes(store), index_bytes() - index_before
        t.check(lost <= grown + 3 * 4096, "the space is given back: free space as before the backup, but for "
                "the chunk index's pages ({} bytes less free; index.db grew {} bytes)".format(lost, grown))
        t.check_eq(temp_files(store), [], "no temp file left in the store")
        r = t.dbsnap(proj, "--store", store, "verify", "--all", "--repository")
        t.check_rc(r, 0, "the store verifies, repository included")
        t.check(" 0 chunk(s) (0 B) no snapshot lists" in r.errtext, "no chunk is left that no snapshot lists",
                r.describe())
    finally:
        subprocess.run(["umount", store], capture_output=True)


Test("disk_full").run(body)
