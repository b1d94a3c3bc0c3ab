#!/usr/bin/python3
"""Scenario: a store dbsnap cannot use says so in one line and is left exactly as it was.

One row per case; each runs a command against a store holding two snapshots and checks the exit
code, the one-line error and that no file of the store changed (names and SHA-256 of every file):

  store folder read-only (a read-only bind mount: root ignores permission bits): backup fails,
    list, show, cat, verify and restore --to-file work and change nothing; restore into the target
    refuses (no place for its safety snapshot) unless --no-safety-snapshot, and then works
  list, show, cat, verify where there is no store: nothing is created
  store path is a file, not a folder
  catalog.db read-only (a read-only bind mount of the file)
  catalog.db from a newer dbsnap (PRAGMA user_version = 2), for backup, list and catalog rebuild
  catalog.db damaged (garbage), for list and backup; then `catalog rebuild` repairs it

Needs root (mount).
"""
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_FAILURE, Test, connect, data_of, fill_items, table_checksum  # noqa: E402


def store_state(store):
    """{relative path: sha256} of every file under the store."""
    state = {}
    for d, _, files in os.walk(store):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                state[os.path.relpath(path, store)] = hashlib.sha256(fh.read()).hexdigest()
    return state


def mount(t, *argv):
    p = subprocess.run(["mount"] + list(argv), capture_output=True)
    t.require(p.returncode == 0, "mount {}".format(" ".join(argv)), p.stderr.decode())


def umount(path):
    subprocess.run(["umount", path], capture_output=True)


def body(t):
    proj = t.project(targets={"dev": "dev.db"})
    dev = os.path.join(proj, "dev.db")
    store = os.path.join(proj, "snapshots")
    catalog = os.path.join(store, "catalog.db")
    fill_items(dev, ["a1"], 100)
    t.dbsnap_ok(proj, "backup", "dev")
    fill_items(dev, ["b2"], 100)
    t.dbsnap_ok(proj, "backup", "dev")
    listing = t.list_json(proj)
    t.require(len(listing) == 2, "two snapshots to start with")
    t.require(not os.path.exists(catalog + "-wal"), "no -wal left after a run (dbsnap checkpoints when it closes)")
    dev_ck = table_checksum(dev)

    def row(what, args, contains, code=EXIT_FAILURE, store_dir=store):
        t.section(what)
        before = store_state(store_dir) if os.path.isdir(store_dir) else None
        r = t.dbsnap(proj, *args)
        print("  stderr: " + r.errtext.strip())
        t.check_error(r, code, what, contains=contains)
        if before is not None:
            t.check_eq(store_state(store_dir), before, "{}: no file of the store changed".format(what))
        t.check_eq(table_checksum(dev), dev_ck, "{}: the database is untouched".format(what))
        return r

    # ---- the store folder ----------------------------------------------------
    mount(t, "--bind", store, store)
    try:
        mount(t, "-o", "remount,bind,ro", store)
        row("backup into a read-only store folder", ["backup", "dev"],
            ("cannot write to the store folder {} (Read-only file system)".format(store),))
        # A read-only store (a mounted backup disk) can still be read: list, show, cat, verify.
        t.section("reading a read-only store folder")
        before = store_state(store)
        got = [m["id"] for m in t.list_json(proj)]
        t.check_eq(got, [m["id"] for m in listing], "list of a read-only store lists both snapshots")
        t.check_eq(t.show_json(proj, listing[1]["id"])["id"], listing[1]["id"], "show works on a read-only store")
        r = t.dbsnap(proj, "cat", listing[1]["id"])
        t.check(r.rc == 0 and hashlib.sha256(r.out).hexdigest() == data_of(listing[1])["raw_sha256"],
                "cat streams the dump from a read-only store", r.describe())
        r = t.dbsnap(proj, "verify", "--all")
        t.check_rc(r, 0, "verify --all on a read-only store")
        t.check(r.text.count("ok   ") == 2, "verify reports both snapshots ok", r.describe())
        t.check("cannot record the result" in r.errtext, "verify says it cannot record the result", r.describe())
        beside = os.path.join(proj, "yesterday.db")
        r = t.dbsnap(proj, "restore", listing[1]["id"], "--to-file", beside)
        t.check_rc(r, 0, "restore --to-file from a read-only store")
        t.check(os.path.exists(beside) and hashlib.sha256(open(beside, "rb").read()).hexdigest() ==
                data_of(listing[1])["raw_sha256"], "the new file is the snapshot's database", r.describe())
        t.check_eq(table_checksum(dev), dev_ck, "the target's database is untouched")
        # A plain restore into the target: the safety snapshot cannot be kept in the store, so it
        # refuses, naming --no-safety-snapshot; with it, the restore runs (its lock lives outside).
        r = t.dbsnap(proj, "restore", listing[1]["id"], "--yes")
        t.check_error(r, EXIT_FAILURE, "restore with a safety snapshot into a read-only store",
                      contains=("cannot be written here", "--no-safety-snapshot", "target 'dev' untouched"))
        t.check_eq(table_checksum(dev), dev_ck, "the refused restore left the database untouched")
        older = os.path.join(proj, "older.db")
        t.dbsnap_ok(proj, "restore", listing[1]["id"], "--to-file", older)
        r = t.dbsnap(proj, "restore", listing[1]["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, 0, "restore --no-safety-snapshot from a read-only store")
        t.check_eq(table_checksum(dev), table_checksum(older), "the target now holds the older snapshot's data")
        t.check(dev_ck != table_checksum(older), "the two snapshots differ (the check above can fail)")
        r = t.dbsnap(proj, "restore", listing[0]["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, 0, "restore the newer snapshot back from the read-only store")
        t.check_eq(table_checksum(dev), dev_ck, "the target holds the newer snapshot's data again")
        t.check_eq(store_state(store), before, "reading changed no file of the read-only store")
        t.check_eq(len(t.list_json(proj)), 2, "no snapshot was added")
    finally:
        umount(store)

    # A read-only catalog.db beside a store folder that cannot be written either, and no catalog at all.
    t.section("read-only commands never create a store")
    bare = t.path("bare")
    os.makedirs(bare)
    r = t.dbsnap(bare, "list", config=False)
    t.check_rc(r, 0, "list in a folder without dbsnap.toml or store")
    t.check_eq(os.listdir(bare), [], "list created nothing there (no snapshots/ folder)")
    for args in (["show", "latest"], ["cat", "latest"], ["verify", "latest"]):
        r = t.dbsnap(bare, *args, config=False)
        t.check_rc(r, 4, "{} in a folder without a store".format(args[0]))
    t.check_eq(os.listdir(bare), [], "show, cat and verify created nothing there")

    not_a_folder = t.path("store-file")
    with open(not_a_folder, "w") as f:
        f.write("not a store\n")
    row("a store path that is a file", ["--store", not_a_folder, "backup", "dev"],
        ("the store {} is not a folder".format(not_a_folder),))
    with open(not_a_folder) as f:
        t.check_eq(f.read(), "not a store\n", "the file is unchanged")

    # ---- catalog.db ------------------------------------------------------------
    mount(t, "--bind", catalog, catalog)
    try:
        mount(t, "-o", "remount,bind,ro", catalog)
        row("backup with a read-only catalog.db", ["backup", "dev"],
            ("catalog {} is not writable (Read-only file system)".format(catalog),))
    finally:
        umount(catalog)

    shutil.copy(catalog, t.path("catalog.good"))
    db = connect(catalog)
    db.execute("PRAGMA user_version = 2")
    db.close()
    t.require(not os.path.exists(catalog + "-wal"), "the newer catalog is checkpointed")
    newer = ("catalog {} was written by a newer dbsnap (schema 2, this build knows 1); upgrade dbsnap".format(catalog),)
    row("backup with a catalog from a newer dbsnap", ["backup", "dev"], newer)
    row("list with a catalog from a newer dbsnap", ["list"], newer)
    row("catalog rebuild with a catalog from a newer dbsnap (not set aside)", ["catalog", "rebuild"], newer)
    shutil.copy(t.path("catalog.good"), catalog)

    with open(catalog, "wb") as f:
        f.write(os.urandom(16384))
    damaged = ("catalog {} is damaged (".format(catalog), "'dbsnap catalog rebuild'")
    row("list with a damaged catalog", ["list"], damaged)
    row("backup with a damaged catalog", ["backup", "dev"], damaged)
    t.section("catalog rebuild repairs it")
    r = t.dbsnap(proj, "catalog", "rebuild")
    t.check_rc(r, 0, "catalog rebuild")
    t.check_eq([m["id"] for m in t.list_json(proj)], [m["id"] for m in listing], "the same snapshots are listed")
    t.check(any(f.startswith("catalog.db.damaged-") for f in os.listdir(store)), "the damaged file was set aside")
    t.check_rc(t.dbsnap(proj, "backup", "dev"), 0, "backups work again")

    t.section("a store location with a scheme: file:// is a folder, s3:// a bucket (never a folder named 's3:')")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "--store", "file://" + store, "list", "--json")
    t.check_rc(r, 0, "--store file://STORE list")
    t.check_eq(len(r.json()), n, "it is the same store")
    no_endpoint = {"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "DBSNAP_CACHE_DIR": t.path("cache")}
    for args in (["--store", "s3://bucket/prefix", "backup", "dev"], ["--store", "s3://bucket/prefix", "list"]):
        r = t.dbsnap(proj, *args, env=no_endpoint)
        t.check_error(r, 3, " ".join(args) + " with no S3 endpoint set", contains=["s3://", "AWS_ENDPOINT_URL_S3"])
    r = t.dbsnap(proj, "--store", "s3://B/prefix", "list", env=no_endpoint)
    t.check_error(r, 3, "a bucket name S3 does not allow", contains=["not a bucket name"])
    t.check(not os.path.exists(t.path("cache")), "no cache folder was made for a store that did not open")
    # An endpoint that is a web server, not S3 (it answers the bucket listing with an HTML 404).
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    web.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=web.serve_forever, daemon=True).start()
    not_s3 = dict(no_endpoint, AWS_ENDPOINT_URL="http://127.0.0.1:{}".format(web.server_address[1]),
                  AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret")
    r = t.dbsnap(proj, "--store", "s3://bucket/prefix", "list", env=not_s3)
    t.check_error(r, 3, "an endpoint that is not S3", contains=["does not answer as an S3 server does",
                                                                 "127.0.0.1:{}".format(web.server_address[1])])
    web.shutdown()
    t.check(not os.path.exists(t.path("cache")), "no cache folder was made for it either")
    with open(os.path.join(proj, "dbsnap.toml")) as f:
        toml = f.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write('store = "s3://bucket/prefix"\n' + toml)
    r = t.dbsnap(proj, "backup", "dev", env=no_endpoint)
    t.check_error(r, 3, "store = \"s3://...\" in dbsnap.toml", contains=["s3://"])
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write(toml)
    t.check(not os.path.exists(os.path.join(proj, "s3:")), "no folder named 's3:' was made", os.listdir(proj))
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was added")


if __name__ == "__main__":
    Test("store_faults").run(body)
