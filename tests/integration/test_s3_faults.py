#!/usr/bin/python3
"""Scenario: the S3 server dies under dbsnap (a real radosgw, SIGKILLed), and a bucket fills its quota.

A SQLite target of 40 MB that does not compress, stored in the test server's bucket. The server
is killed with SIGKILL (tests/harness/s3.sh rgw-kill; the Ceph cluster behind it stays) while
dbsnap uploads or downloads, and started again (rgw-start):
- killed mid-upload and back within a second: the backup completes (its requests are retried)
  and verifies from another machine;
- killed mid-upload and gone: the backup fails with a one-line error, nothing is listed from
  another machine; once the server is back the next backup succeeds, and the next prune removes
  what the failed one uploaded (no chunk is left that no snapshot lists, no lock object stays);
- killed mid-restore (while the restore's temp file beside the database grows) and back within
  a second: the restore completes, the database is the snapshot's;
- killed mid-restore and gone: the restore fails with a one-line error, the database is exactly
  as before and no temp file is left beside it; once the server is back the restore succeeds;
- a second radosgw of the same cluster whose clock is an hour ahead (faketime): list and backup
  say the clock is off (one line, exit 3), and nothing is written in the bucket;
- a bucket whose quota is smaller than the snapshot: the backup fails with one line naming the
  quota (exit 1), nothing is listed; with the quota raised the next backup succeeds and the next
  prune leaves no unreferenced chunk.
Runs alone (RUN_SERIAL): it stops the server every other S3 scenario uses.
"""
import os
import re
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, EXIT_FAILURE, Test, connect, db_state, fill_items, temp_files, write  # noqa: E402
from s3_fixture import S3  # noqa: E402

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "s3.sh")
TOML = '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'


def harness(t, *args):
    p = subprocess.run([HARNESS] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    t.require(p.returncode == 0, "s3.sh {}".format(" ".join(args)), p.stderr.decode(errors="replace"))


def body(t):
    s3 = S3(t)
    s3_dir = os.environ.get("DBSNAP_TEST_S3_DIR", "")
    t.require(os.path.isfile(os.path.join(s3_dir, "ceph.conf")), "the test server's folder is known", s3_dir)
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 1000)
    write(db_file, "CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)",
          ("INSERT INTO blob (data) VALUES (?)", [(os.urandom(8000),) for _ in range(5000)]))
    toml_path = os.path.join(proj, "dbsnap.toml")
    with open(toml_path, "w") as fh:
        fh.write('store = "{}"\n'.format(s3.location()) + TOML)
    host = s3.env(t.path("cache-a"))
    other = s3.env(t.path("cache-b"))

    def ids(env):
        r = t.dbsnap(proj, "list", "--json", env=env)
        t.require_rc(r, 0, "list")
        return sorted(m["id"] for m in r.json())

    def unreferenced(env):
        r = t.dbsnap(proj, "verify", "--repository", env=env)
        t.check_rc(r, 0, "verify --repository")
        m = re.search(r"(\d+) chunk\(s\) \([^)]*\) no snapshot lists", r.errtext)
        return int(m.group(1)) if m else -1

    def kill_when(p, ready, what):
        """Kills the server once ready() is true while `p` runs; False if `p` ended first."""
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline:
            if ready():
                harness(t, "rgw-kill", s3_dir)
                return True
            time.sleep(0.005)
        t.check(False, "{}: the server was killed while dbsnap worked".format(what), "dbsnap ended first")
        return False

    def new_packs(before):
        return lambda: bool(set(s3.objects("data/")) - before)

    def finish(p):
        out, err = p.communicate(timeout=300)
        return p.returncode, err.decode(errors="replace")

    t.section("killed mid-upload, back within a second: the backup completes")
    first = None
    p = t.spawn_dbsnap(proj, "backup", "dev", "--json", env=host)
    if kill_when(p, new_packs(set()), "upload, bounced"):
        time.sleep(0.3)
        harness(t, "rgw-start", s3_dir)
    out, err = p.communicate(timeout=300)
    t.check_eq(p.returncode, 0, "the backup completed", err.decode(errors="replace")[-2000:])
    if p.returncode == 0:
        import json
        first = json.loads(out)
    t.check(first is not None and first["id"] in ids(other), "another machine lists it")
    t.check_rc(t.dbsnap(proj, "verify", "--all", env=other), 0, "and verifies it")

    t.section("killed mid-upload and gone: one line, nothing listed; the next runs clean up")
    write(db_file, "UPDATE blob SET data = randomblob(8000) WHERE id % 2 = 0")
    listed = ids(other)
    packs = set(s3.objects("data/"))
    p = t.spawn_dbsnap(proj, "backup", "dev", env=host)
    killed = kill_when(p, new_packs(packs), "upload, gone")
    rc, err = finish(p)
    if killed:
        harness(t, "rgw-start", s3_dir)
    lines = [line for line in err.strip().splitlines() if not line.startswith("dbsnap: warning: ")]
    t.check_eq(rc, EXIT_FAILURE, "the backup failed (exit 1)", err[-2000:])
    t.check(len(lines) == 1 and lines[0].startswith("dbsnap: error: ") and "nothing was published" in lines[0],
            "one error line (besides warnings) that says nothing was published", err[-2000:])
    t.check_eq(ids(other), listed, "another machine lists nothing new")
    t.check(set(s3.objects("data/")) - packs, "the failed backup had uploaded packs")
    second = t.dbsnap(proj, "backup", "dev", "--json", env=host)
    t.check_rc(second, 0, "the next backup succeeds")
    t.check_rc(t.dbsnap(proj, "prune", "dev", "--keep-last", "10", env=host), 0, "prune")
    t.check_eq(unreferenced(host), 0, "no chunk is left that no snapshot lists")
    t.check_eq(s3.objects("locks/"), {}, "no lock object stays")
    t.check_rc(t.dbsnap(proj, "verify", "--all", env=other), 0, "every snapshot verifies from another machine")

    restore_temp = lambda: any(os.path.getsize(f) > 1_000_000 for f in temp_files(proj)  # noqa: E731
                               if os.path.exists(f))

    t.section("killed mid-restore, back within a second: the restore completes")
    target_state = None
    if first is not None:
        write(db_file, "DELETE FROM blob WHERE id % 3 = 0")
        p = t.spawn_dbsnap(proj, "restore", first["id"], "--yes", env=host)
        if kill_when(p, restore_temp, "restore, bounced"):
            time.sleep(0.3)
            harness(t, "rgw-start", s3_dir)
        rc, err = finish(p)
        t.check_eq(rc, 0, "the restore completed", err[-2000:])
        target_state = db_state(db_file)
        t.check_eq(temp_files(proj), [], "no temp file beside the database")

    t.section("killed mid-restore and gone: one line, the database as it was")
    if first is not None:
        write(db_file, "DELETE FROM blob WHERE id % 5 = 0")
        before = db_state(db_file)
        p = t.spawn_dbsnap(proj, "restore", first["id"], "--yes", env=host)
        killed = kill_when(p, restore_temp, "restore, gone")
        rc, err = finish(p)
        if killed:
            harness(t, "rgw-start", s3_dir)
        lines = err.strip().splitlines()
        t.check(rc not in (0, -9) and len(lines) >= 1 and lines[-1].startswith("dbsnap: error: ") and
                "unchanged" in lines[-1], "the restore failed with a line saying the target is unchanged",
                "exit {}: {}".format(rc, err[-2000:]))
        t.check(db_state(db_file) == before, "the database is exactly as before")
        t.check_eq(temp_files(proj), [], "no temp file beside the database")
        t.check(len(s3.objects("locks/")) >= 1, "the failed restore left its lock object (the server was gone)")
        t.check_rc(t.dbsnap(proj, "restore", first["id"], "--yes", env=host), 0, "with the server back it restores")
        t.check(db_state(db_file) == target_state, "to the snapshot's state")
        t.check_eq(s3.objects("locks/"), {}, "and removed the lock object of the dead process of this host")

    t.section("a server whose clock is an hour ahead: one line, nothing written")
    with open(toml_path, "w") as fh:
        fh.write('store = "{}"\n'.format(s3.location()) + TOML)
    skew_port = int(s3.endpoint.rsplit(":", 1)[1]) + 10
    harness(t, "rgw-skewed", s3_dir, str(skew_port))
    try:
        skewed = dict(s3.env(t.path("cache-skew")), AWS_ENDPOINT_URL="http://127.0.0.1:{}".format(skew_port))
        before = s3.objects()
        state = db_state(db_file)
        for args in (("list",), ("backup", "dev")):
            r = t.dbsnap(proj, *args, env=skewed)
            t.check_error(r, EXIT_CONFIG, " ".join(args) + " against it", contains=("clock", "NTP"))
        t.check_eq(s3.objects(), before, "nothing was written in the bucket")
        t.check(db_state(db_file) == state, "the database is unchanged")
    finally:
        harness(t, "rgw-skewed-stop", s3_dir)

    t.section("a bucket over its quota")
    bucket = "dbsnap-quota-" + uuid.uuid4().hex[:8]
    harness(t, "bucket", s3_dir, bucket)
    harness(t, "quota", s3_dir, bucket, str(3_000_000))
    quota_store = "s3://{}/q".format(bucket)
    with open(toml_path, "w") as fh:
        fh.write('store = "{}"\n'.format(quota_store) + TOML)
    q_host = s3.env(t.path("cache-q"))
    state = db_state(db_file)
    r = t.dbsnap(proj, "backup", "dev", env=q_host)
    t.check_last_error(r, EXIT_FAILURE, "a backup larger than the quota", contains=("quota", bucket))
    t.check_eq(ids(s3.env(t.path("cache-q2"))), [], "nothing is listed")
    t.check(db_state(db_file) == state, "the database is unchanged")
    harness(t, "quota", s3_dir, bucket, str(1_000_000_000))
    t.check_rc(t.dbsnap(proj, "backup", "dev", env=q_host), 0, "with the quota raised the backup succeeds")
    t.check_rc(t.dbsnap(proj, "prune", "dev", "--keep-last", "10", env=q_host), 0, "prune")
    t.check_eq(unreferenced(q_host), 0, "no chunk is left that no snapshot lists")


if __name__ == "__main__":
    Test("s3_faults").run(body)
