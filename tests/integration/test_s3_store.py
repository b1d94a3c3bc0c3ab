#!/usr/bin/python3
"""Scenario: a store in an S3 bucket (a real Ceph radosgw on loopback, CTest's s3 fixture).

A SQLite target is backed up with `store = "s3://BUCKET/PREFIX"` in dbsnap.toml. Checked with
curl's own SigV4 client looking into the bucket, as a user would:
- the snapshot's manifest, chunk list and packs are in the bucket under the prefix; locally only
  the cache folder (catalog.db, index.db) exists, and no folder named 's3:';
- a second backup after a small change uploads a small fraction of the first one's bytes;
- list, show, verify --all, cat and restore work; restore brings the first state back;
- a new machine (another cache folder, nothing else) lists both snapshots by revision, verifies
  and restores them: the catalog and the chunk index are rebuilt from the bucket alone; so does
  `catalog rebuild` after the cache's catalog is deleted;
- a pin set by one host reaches the other's catalog (its prune keeps the snapshot), and so does
  an unpin and a verify's status;
- the same bucket through the server's https endpoint: the same snapshots, verified; without the
  private CA in AWS_CA_BUNDLE one line, exit 3;
- two hosts (two cache folders) backing up at the same time: both succeed, every snapshot
  verifies from a third;
- another host's live exclusive lock object makes a backup wait (and say for whom) until it is
  gone; another host's live shared lock object makes prune collect nothing (exit 0, said);
  prune on its own then collects, and every remaining snapshot still verifies from another host;
- a chunk list left in the bucket without a manifest (a host killed before its commit point) is
  not listed, and the next garbage collection removes it;
- a backup killed -9 mid-upload: no snapshot listed, another host's verify unaffected, the next
  prune removes its packs and its lock object (a dead process of this host);
- an encrypted store in the bucket (key_file): config, a key object, age files; another cache
  folder restores with the key, and is refused without it;
- that encrypted store made old by hand (no manifest MAC, a key object without the line): key
  upgrade through the bucket gives the manifest its MAC and a new key object; a manifest planted
  afterwards is refused;
- a wrong secret key: one line, exit 3, nothing changed.
"""
import hashlib
import json
import subprocess
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_CONFIG, EXIT_CORRUPT, Test, connect, data_of, db_state, fill_items, write  # noqa: E402
from s3_fixture import S3  # noqa: E402


def make_db(path):
    fill_items(path, ["a1a1a1a1"], 0)
    db = connect(path)
    db.execute("BEGIN")
    db.execute("CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)")
    # 6 MB that do not compress: dedup, not zstd, has to make the second backup small.
    db.executemany("INSERT INTO blob (data) VALUES (?)", [(os.urandom(4000),) for _ in range(1500)])
    db.execute("COMMIT")
    db.close()


def lock_text(host, pid, mode, age_s=0):
    now = int(time.time() * 1000) - age_s * 1000
    return json.dumps({"format": 1, "host": host, "pid": pid, "mode": mode, "command": "dbsnap prune",
                       "created_ms": now, "refreshed_ms": now}).encode()


def body(t):
    s3 = S3(t)
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    make_db(db_file)
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('store = "{}"\n\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'.format(s3.location()))
    host_a = s3.env(t.path("cache-a"))
    host_b = s3.env(t.path("cache-b"))

    def run(env, *args, **kw):
        return t.dbsnap(proj, *args, env=env, **kw)

    def ok(env, *args):
        r = run(env, *args)
        t.require_rc(r, 0, "dbsnap " + " ".join(args))
        return r

    t.section("the first backup goes into the bucket")
    state_1 = db_state(db_file)
    first = ok(host_a, "backup", "dev", "--json").json()
    objects = s3.objects()
    t.check("dev/{}.json".format(first["id"]) in objects, "the manifest is in the bucket", sorted(objects)[:10])
    t.check("dev/{}.chunks".format(first["id"]) in objects, "the chunk list is in the bucket")
    packs_1 = {k: v for k, v in objects.items() if k.startswith("data/")}
    t.check(len(packs_1) >= 1, "packs are in the bucket under data/ ({})".format(len(packs_1)))
    first_bytes = sum(packs_1.values())
    t.check(first_bytes > 5_000_000, "they hold the 6 MB that do not compress ({} bytes)".format(first_bytes))
    t.check(not [k for k in objects if k.startswith("locks/")], "no lock object stays behind")
    manifest = json.loads(s3.get("dev/{}.json".format(first["id"])))
    t.check_eq(manifest["id"], first["id"], "the manifest in the bucket is the snapshot's")
    caches = os.listdir(os.path.join(host_a["DBSNAP_CACHE_DIR"], "stores"))
    t.require_eq(len(caches), 1, "one cache folder for the store")
    cache_a = os.path.join(host_a["DBSNAP_CACHE_DIR"], "stores", caches[0])
    t.check({"catalog.db", "index.db", "location"} <= set(os.listdir(cache_a)),
            "the cache holds catalog.db and index.db", os.listdir(cache_a))
    with open(os.path.join(cache_a, "location")) as fh:
        t.check_eq(fh.read().strip(), s3.location(), "the cache names its store")
    t.check(not os.path.exists(os.path.join(proj, "s3:")) and not os.path.exists(os.path.join(proj, "snapshots")),
            "nothing was written in the project folder", os.listdir(proj))
    t.check(not [f for f in os.listdir(cache_a) if f.endswith(".json") or f == "dev"],
            "no snapshot data in the cache", os.listdir(cache_a))

    t.section("a second backup after a small change uploads a small fraction")
    write(db_file, "UPDATE alembic_version SET version_num = 'b2b2b2b2'", "UPDATE blob SET data = zeroblob(4000) "
          "WHERE id IN (10, 700, 1400)")
    state_2 = db_state(db_file)
    second = ok(host_a, "backup", "dev", "--json").json()
    packs_2 = {k: v for k, v in s3.objects("data/").items() if k not in packs_1}
    added = sum(packs_2.values())
    t.check(added < first_bytes * 0.10, "the second backup added {} bytes of packs, {:.1%} of the first's {}".format(
        added, added / first_bytes, first_bytes))

    t.section("list, show, verify, cat, restore")
    listing = json.loads(ok(host_a, "list", "--json").out)
    t.check_eq(sorted(m["id"] for m in listing), sorted([first["id"], second["id"]]), "list shows both")
    shown = json.loads(ok(host_a, "show", first["id"], "--json").out)
    t.check_eq(shown["revisions"], ["a1a1a1a1"], "show gives the first snapshot's revision")
    ok(host_a, "verify", "--all")
    cat = run(host_a, "cat", first["id"], timeout=120)
    t.check_rc(cat, 0, "cat of the first snapshot")
    t.check_eq(len(cat.out), data_of(manifest)["raw_bytes"], "cat gives the dump's size")
    t.check_eq(hashlib.sha256(cat.out).hexdigest(), data_of(manifest)["raw_sha256"], "and its SHA-256")
    ok(host_a, "restore", first["id"], "--yes")
    t.check_eq(db_state(db_file), state_1, "restore brought the first state back")

    t.section("a new machine: another cache folder, only the bucket")
    listing_b = json.loads(ok(host_b, "list", "--json").out)
    ids_a = sorted(m["id"] for m in json.loads(ok(host_a, "list", "--json").out))
    t.check_eq(sorted(m["id"] for m in listing_b), ids_a, "it lists the same snapshots (the pre-restore one too)")
    t.check(any(m["id"] == second["id"] for m in listing_b), "the second snapshot among them")
    at_b2 = json.loads(ok(host_b, "list", "dev", "--revision", "b2b2b2b2", "--json").out)
    t.check(second["id"] in [m["id"] for m in at_b2], "list --revision b2b2b2b2 finds the second snapshot")
    ok(host_b, "verify", "--all")
    ok(host_b, "restore", "@b2b2b2b2", "--yes")
    t.check_eq(db_state(db_file), state_2, "it restored the second state from the bucket")
    caches_b = os.listdir(os.path.join(host_b["DBSNAP_CACHE_DIR"], "stores"))
    os.remove(os.path.join(host_b["DBSNAP_CACHE_DIR"], "stores", caches_b[0], "catalog.db"))
    ok(host_b, "catalog", "rebuild")
    ids_a = sorted(m["id"] for m in json.loads(ok(host_a, "list", "--json").out))
    ids_rebuilt = sorted(m["id"] for m in json.loads(ok(host_b, "list", "--json").out))
    t.check_eq(ids_rebuilt, ids_a, "catalog rebuild from the bucket lists them all ({})".format(len(ids_a)))

    t.section("a pin by another host reaches this host's cache: its prune keeps the snapshot")
    # The manifest is the truth, the catalog a cache: a rewritten manifest (pin, a verify's
    # status) must reach every host's catalog, or a prune there would delete a pinned snapshot.
    ok(host_b, "pin", first["id"])
    shown = json.loads(ok(host_a, "show", first["id"], "--json").out)
    t.check_eq(shown["pinned"], True, "this host sees the pin another host set")
    plan = json.loads(ok(host_a, "prune", "dev", "--keep-last", "1", "--force", "--dry-run", "--json").out)
    t.check(first["id"] in [k["id"] for k in plan["kept"]] and
            first["id"] not in [k["id"] for k in plan["removed"]], "prune here would keep it", json.dumps(plan))
    ok(host_a, "unpin", first["id"])
    shown = json.loads(ok(host_b, "show", first["id"], "--json").out)
    t.check_eq(shown["pinned"], False, "and the other host sees it unpinned")
    ok(host_b, "verify", first["id"])
    t.check_rc(run(host_a, "verify", "--all"), 0, "a verify by one host is no mismatch for the other")

    t.section("the same bucket over https (the harness's private CA)")
    host_tls = s3.env(t.path("cache-tls"), tls=True)
    ids_tls = sorted(m["id"] for m in json.loads(ok(host_tls, "list", "--json").out))
    t.check_eq(ids_tls, ids_a, "list over https gives the same snapshots")
    ok(host_tls, "verify", second["id"])
    untrusted = dict(host_tls)
    del untrusted["AWS_CA_BUNDLE"]
    r = run(untrusted, "list")
    t.check_error(r, EXIT_CONFIG, "https without the CA that signed the server's certificate",
                  contains=["is not trusted", "AWS_CA_BUNDLE"])

    t.section("two hosts back up at the same time")
    write(db_file, "UPDATE blob SET data = zeroblob(4000) WHERE id = 5")
    pa = t.spawn_dbsnap(proj, "backup", "dev", "--json", env=host_a)
    pb = t.spawn_dbsnap(proj, "backup", "dev", "--json", env=host_b)
    out_a, err_a = pa.communicate(timeout=300)
    out_b, err_b = pb.communicate(timeout=300)
    t.check_eq(pa.returncode, 0, "host a's backup succeeded", err_a.decode(errors="replace"))
    t.check_eq(pb.returncode, 0, "host b's backup succeeded", err_b.decode(errors="replace"))
    host_c = s3.env(t.path("cache-c"))
    ok(host_c, "verify", "--all")
    ids_c = {m["id"] for m in json.loads(ok(host_c, "list", "--json").out)}
    t.check({json.loads(out_a)["id"], json.loads(out_b)["id"]} <= ids_c, "a third host lists both")

    t.section("another host's exclusive lock object makes a backup wait for it")
    s3.put("locks/" + "e" * 32, lock_text("elsewhere.example", 4242, "exclusive"))
    p = t.spawn_dbsnap(proj, "backup", "dev", env=host_a)
    time.sleep(6)
    t.check(p.poll() is None, "the backup is waiting")
    s3.delete("locks/" + "e" * 32)
    out, err = p.communicate(timeout=120)
    err = err.decode(errors="replace")
    t.check_eq(p.returncode, 0, "it finished once the lock was gone", err)
    t.check("waiting for the repository" in err and "elsewhere.example" in err and "4242" in err,
            "it said whom it waited for", err)

    t.section("another host's shared lock object keeps garbage collection out")
    doomed = second["id"]
    s3.put("locks/" + "5" * 32, lock_text("elsewhere.example", 4243, "shared"))
    packs_before = s3.objects("data/")
    r = run(host_a, "delete", doomed, "--yes")
    t.check_rc(r, 0, "delete with another host's backup running")
    t.check("using the repository" in r.errtext, "it says nothing was collected and why", r.errtext)
    t.check_eq(s3.objects("data/"), packs_before, "no pack was touched")
    s3.delete("locks/" + "5" * 32)

    t.section("a chunk list without a manifest is never listed, and garbage collection removes it")
    orphan_id = first["id"][:9] + "zzzz"  # a snapshot id no run took
    orphan = "dev/{}.chunks".format(orphan_id)
    s3.put(orphan, b"left by a host killed before its manifest\n")
    r = run(host_a, "list", "--json")
    t.check_rc(r, 0, "list with the orphan there")
    t.check(all(m["id"] != orphan_id for m in r.json()), "it is not listed")
    t.check(orphan in s3.objects("dev/"), "an open does not remove it (another host may be publishing it)")
    # A stale lock object (a host killed 40 minutes ago) does not keep prune out, and goes.
    s3.put("locks/" + "d" * 32, lock_text("elsewhere.example", 4244, "shared", age_s=40 * 60))
    r = run(host_a, "prune", "dev", "--keep-last", "1", "--force")
    t.check_rc(r, 0, "prune dev --keep-last 1 --force")
    t.check(orphan not in s3.objects("dev/"), "garbage collection removed the orphan chunk list")
    t.check_eq([k for k in s3.objects("locks/")], [], "the stale lock object went too, and no lock stays")
    t.check(sum(s3.objects("data/").values()) <= sum(packs_before.values()), "prune gave space back")
    ok(host_b, "verify", "--all")
    ok(host_b, "verify", "--repository")

    t.section("a backup killed -9 mid-upload: nothing listed, the next prune removes what it uploaded")
    write(db_file, "CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)",
          ("INSERT INTO big (data) VALUES (?)", [(os.urandom(8000),) for _ in range(6000)]))
    listed = {m["id"] for m in json.loads(ok(host_a, "list", "--json").out)}
    packs_before = set(s3.objects("data/"))
    p = t.spawn_dbsnap(proj, "backup", "dev", env=host_a)
    uploaded = set()
    deadline = time.monotonic() + 120
    while not uploaded and p.poll() is None and time.monotonic() < deadline:
        uploaded = set(s3.objects("data/")) - packs_before
        time.sleep(0.02)
    p.kill()
    p.wait()
    t.require(uploaded and p.returncode == -9, "the backup was killed after it had uploaded a pack ({})".format(
        sorted(uploaded)))
    t.check_eq({m["id"] for m in json.loads(ok(host_a, "list", "--json").out)}, listed, "no new snapshot is listed")
    left = s3.objects("locks/")
    t.check_eq(len(left), 1, "the killed run's lock object is there", left)
    ok(host_b, "verify", "--all")
    r = run(host_a, "prune", "dev", "--keep-last", "1", "--force")
    t.check_rc(r, 0, "prune after the kill")
    t.check_eq(set(s3.objects("data/")) & uploaded, set(), "the killed run's packs are gone")
    t.check_eq(s3.objects("locks/"), {}, "its lock object (a dead process of this host) went too")
    ok(host_b, "verify", "--all")

    t.section("an encrypted store in the bucket: age files there, a new machine restores with the key")
    key_file = t.path("user.key")
    subprocess.run(["age-keygen", "-o", key_file], check=True, stderr=subprocess.DEVNULL)
    enc = S3(t)  # another prefix of the same bucket
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('store = "{}"\n\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'.format(enc.location()))
    enc_a = dict(enc.env(t.path("cache-enc-a")), DBSNAP_KEY_FILE=key_file)
    state = db_state(db_file)
    snap = ok(enc_a, "backup", "dev", "--json").json()
    objects = enc.objects()
    t.check("config" in objects and any(k.startswith("keys/") for k in objects), "config and a key object")
    for name in [k for k in objects if k.startswith(("dev/", "data/"))]:
        t.check(enc.get(name)[:22] == b"age-encryption.org/v1\n", "{} is an age file".format(name))
    write(db_file, "DELETE FROM blob")
    enc_b = dict(enc.env(t.path("cache-enc-b")), DBSNAP_KEY_FILE=key_file)
    ok(enc_b, "restore", snap["id"], "--yes")
    t.check_eq(db_state(db_file), state, "a new machine with the key restored it")
    r = run(enc.env(t.path("cache-enc-c")), "list")
    t.check_error(r, EXIT_CONFIG, "a new machine without the key", contains=["is encrypted"])

    t.section("that store as an older dbsnap left it (no manifest MACs): key upgrade in the bucket")

    def age(*args, data):
        return subprocess.run(["age"] + list(args), input=data, check=True, capture_output=True).stdout

    recipient = json.loads(enc.get("config"))["recipient"]
    my_recipient = subprocess.run(["age-keygen", "-y", key_file], check=True, capture_output=True).stdout.decode().strip()
    (old_key_name,) = [k for k in enc.objects("keys/")]
    repo_key = b"\n".join(line for line in age("-d", "-i", key_file, data=enc.get(old_key_name)).split(b"\n")
                          if line.strip() != b"# manifests: hmac-sha256")
    enc.put(old_key_name, age("-r", my_recipient, data=repo_key))
    repo_key_file = t.path("repo.key")
    with open(repo_key_file, "wb") as fh:
        fh.write(repo_key)
    manifest_name = "dev/{}.json".format(snap["id"])
    manifest_names = [k for k in enc.objects("dev/") if k.endswith(".json")]
    for name in manifest_names:
        old = json.loads(age("-d", "-i", repo_key_file, data=enc.get(name)))
        old.pop("mac")
        enc.put(name, age("-r", recipient, data=json.dumps(old, indent=2).encode()))
        if name == manifest_name:
            doc = old
    enc_d = dict(enc.env(t.path("cache-enc-d")), DBSNAP_KEY_FILE=key_file)
    r = ok(enc_d, "key", "upgrade")
    t.check("gave a MAC to {} manifest(s)".format(len(manifest_names)) in r.text and snap["id"] in r.text,
            "every manifest got its MAC", r.text)
    t.check("mac" in json.loads(age("-d", "-i", repo_key_file, data=enc.get(manifest_name))),
            "the manifest in the bucket carries a MAC")
    (new_key_name,) = [k for k in enc.objects("keys/")]
    t.check(new_key_name != old_key_name and b"# manifests: hmac-sha256" in
            age("-d", "-i", key_file, data=enc.get(new_key_name)), "a new key object that requires MACs")
    t.check_eq(enc.objects("locks/"), {}, "its exclusive lock object is gone")
    planted = dict(doc, revisions=["f0f0f0f0"])
    enc.put(manifest_name, age("-r", recipient, data=json.dumps(planted, indent=2).encode()))
    enc_e = dict(enc.env(t.path("cache-enc-e")), DBSNAP_KEY_FILE=key_file)
    listed = [m["id"] for m in ok(enc_e, "list", "--json").json()]
    t.check(snap["id"] not in listed, "a manifest planted after the upgrade is left out by a new machine's catalog")
    r = run(enc_d, "verify", snap["id"])
    t.check_rc(r, EXIT_CORRUPT, "and the upgrading machine's verify refuses it")

    t.section("a wrong secret key: one line, exit 3, nothing changed")
    before = s3.objects()
    state = db_state(db_file)
    r = run(s3.env(t.path("cache-a"), secret="wrong" + s3.secret_key[5:]), "backup", "dev")
    t.check_error(r, EXIT_CONFIG, "backup with a wrong secret key", contains=["AWS_SECRET_ACCESS_KEY"])
    t.check_eq(s3.objects(), before, "the bucket is unchanged")
    t.check_eq(db_state(db_file), state, "the database is unchanged")


if __name__ == "__main__":
    Test("s3_store").run(body)
