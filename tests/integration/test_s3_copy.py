#!/usr/bin/python3
"""Scenario: snapshots copied off the host into a bucket (a real Ceph radosgw on loopback), and back.

A SQLite target backs up into a local folder store; the bucket is looked into with curl's own
SigV4 client, as in s3_store:
- `copy --all --to s3://...`: manifests, chunk lists and packs are in the bucket; a new machine
  (only the bucket and the credentials) lists the snapshots by revision, verifies them and
  restores one exactly;
- a small change, a backup and `copy latest`: the packs it adds to the bucket are under 10 % of
  the first copy's (24 MB of random rows: three changed rows, the header and the freelist touch a
  handful of chunks of at most 256 KiB; with 6 MB that once came to 14.6 %); running the copy again finds every snapshot present and uploads nothing;
- `copy_to = "s3://..."` in dbsnap.toml: a backup lands in the bucket too (its --json says so);
- back from the bucket: `--store s3://... copy --all --to FOLDER` gives a store that verifies;
- an encrypted copy in the bucket (DBSNAP_COPY_PASSPHRASE): every object there is an age file;
- a copy killed -9 mid-upload lists nothing new; the next copy completes it, and every snapshot
  verifies from another machine.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, db_state, fill_items, write  # noqa: E402
from s3_fixture import S3  # noqa: E402

TOML = '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'


def body(t):
    s3 = S3(t)
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 2000)
    write(db_file, "CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)",
          ("INSERT INTO blob (data) VALUES (?)", [(os.urandom(4000),) for _ in range(6000)]))
    toml_path = os.path.join(proj, "dbsnap.toml")
    with open(toml_path, "w") as fh:
        fh.write(TOML)
    host = s3.env(t.path("cache-a"))
    other = s3.env(t.path("cache-b"))

    def run(env, *args, **kw):
        return t.dbsnap(proj, *args, env=env, **kw)

    def ok(env, *args):
        r = run(env, *args)
        t.require_rc(r, 0, "dbsnap " + " ".join(args))
        return r

    def ids(env, *store):
        return sorted(m["id"] for m in ok(env, *store, "list", "--json").json())

    t.section("copy --all into the bucket")
    state_1 = db_state(db_file)
    first = ok(host, "backup", "dev", "--json").json()
    write(db_file, "UPDATE alembic_version SET version_num = 'b2b2b2b2'")
    second = ok(host, "backup", "dev", "--json").json()
    r = ok(host, "copy", "--all", "--to", s3.location(), "--json")
    t.check_eq([s["outcome"] for s in r.json()["snapshots"]], ["copied", "copied"], "both copied")
    objects = s3.objects()
    for snap in (first, second):
        t.check("dev/{}.json".format(snap["id"]) in objects, "{}'s manifest is in the bucket".format(snap["id"]))
        t.check("dev/{}.chunks".format(snap["id"]) in objects, "{}'s chunk list too".format(snap["id"]))
    first_bytes = sum(v for k, v in objects.items() if k.startswith("data/"))
    t.check(first_bytes > 24_000_000, "the packs hold the 24 MB that do not compress ({} bytes)".format(first_bytes))
    t.check_eq(s3.objects("locks/"), {}, "no lock object stays behind")

    t.section("a new machine restores from the bucket")
    bucket = ("--store", s3.location())
    t.check_eq(ids(other, *bucket), sorted([first["id"], second["id"]]), "it lists both")
    at_a1 = ok(other, *bucket, "list", "dev", "--revision", "a1a1a1a1", "--json").json()
    t.check_eq([m["id"] for m in at_a1], [first["id"]], "by revision")
    ok(other, *bucket, "verify", "--all")
    write(db_file, "DELETE FROM blob")
    ok(other, *bucket, "restore", first["id"], "--yes")
    t.check_eq(db_state(db_file), state_1, "the first state is back, from the bucket")

    t.section("a small change: the next copy uploads a small fraction; again: nothing")
    write(db_file, "UPDATE blob SET data = zeroblob(4000) WHERE id IN (10, 3000, 5900)")
    third = ok(host, "backup", "dev", "--json").json()
    packs = s3.objects("data/")
    ok(host, "copy", "latest", "--to", s3.location())
    added = sum(v for k, v in s3.objects("data/").items() if k not in packs)
    t.check(added < first_bytes * 0.10, "the copy added {} bytes of packs, {:.1%} of the first's {}".format(
        added, added / first_bytes, first_bytes))
    before = s3.objects()
    r = ok(host, "copy", "--all", "--to", s3.location(), "--json")
    t.check(all(s["outcome"] == "present" for s in r.json()["snapshots"]), "a second run finds them all present")
    t.check_eq(s3.objects(), before, "and changes nothing in the bucket")

    t.section("copy_to in dbsnap.toml")
    with open(toml_path, "w") as fh:
        fh.write('copy_to = "{}"\n'.format(s3.location()) + TOML)
    fourth = ok(host, "backup", "dev", "--json").json()
    t.check_eq(fourth.get("copy", {}).get("outcome"), "copied", "the backup's --json says it was copied")
    t.check(fourth["id"] in ids(other, *bucket), "the bucket lists it")
    with open(toml_path, "w") as fh:
        fh.write(TOML)

    t.section("back from the bucket into a folder")
    back = t.path("back")
    ok(other, *bucket, "copy", "--all", "--to", back)
    t.check_eq(ids(other, "--store", back), ids(other, *bucket), "the folder store holds them all")
    ok(other, "--store", back, "verify", "--all")

    t.section("an encrypted copy in the bucket")
    enc = S3(t)
    enc_env = dict(host, DBSNAP_COPY_PASSPHRASE="offsite secret")
    ok(enc_env, "copy", third["id"], "--to", enc.location())
    objects = enc.objects()
    t.check("config" in objects and any(k.startswith("keys/") for k in objects), "config and a key object")
    sealed = [k for k in objects if k.startswith(("dev/", "data/"))]
    t.check(len(sealed) >= 3, "manifest, chunk list and packs ({})".format(len(sealed)))
    for name in sealed:
        t.check(enc.get(name)[:22] == b"age-encryption.org/v1\n", "{} is an age file".format(name))
    ok(dict(other, DBSNAP_PASSPHRASE="offsite secret"), "--store", enc.location(), "verify", "--all")

    t.section("a copy killed -9 mid-upload, then run again")
    write(db_file, "CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)",
          ("INSERT INTO big (data) VALUES (?)", [(os.urandom(8000),) for _ in range(5000)]))
    big = ok(host, "backup", "dev", "--json").json()
    listed = ids(other, *bucket)
    packs = set(s3.objects("data/"))
    p = t.spawn_dbsnap(proj, "copy", big["id"], "--to", s3.location(), env=host)
    uploaded = set()
    deadline = time.monotonic() + 120
    while not uploaded and p.poll() is None and time.monotonic() < deadline:
        uploaded = set(s3.objects("data/")) - packs
        time.sleep(0.02)
    p.kill()
    p.wait()
    t.require(uploaded and p.returncode == -9, "the copy was killed after it had uploaded a pack ({})".format(
        sorted(uploaded)))
    t.check_eq(ids(other, *bucket), listed, "nothing new is listed")
    r = ok(host, "copy", big["id"], "--to", s3.location(), "--json")
    t.check_eq(r.json()["snapshots"][0]["outcome"], "copied", "the next copy completes it")
    t.check(big["id"] in ids(other, *bucket), "another machine lists it")
    ok(other, *bucket, "verify", "--all")


if __name__ == "__main__":
    Test("s3_copy").run(body)
