#!/usr/bin/python3
"""Scenario: a store written by the previous release keeps working, snapshot for snapshot.

tests/fixtures/store-0.1.0-3c3f21b.tar.gz was made by dbsnap 0.1.0 at commit 3c3f21b (the release
before automatic and pinned snapshots): a SQLite target with two backups (labels first, second)
and the pre-restore safety snapshot of a `restore latest`. Its manifests have neither `automatic`
nor `pinned`. This build must list, verify, cat and restore every one of them, treat the
pre-restore one as automatic (so `latest` is the user's `second`), rebuild the catalog from the
old manifests, and add new snapshots beside them (stored as chunks, the default now); the old
manifests keep their fields. Then `dbsnap convert` stores the old ones again as chunks (same ids, format-2 manifests, no blob
left): every one verifies, restores with its data and revision, and is rebuilt by dbsnap-recover
with its original SHA-256; a second run has nothing to do. The two states a killed conversion can
leave (a chunk list beside a blob snapshot; a blob beside a converted one) are cleaned by the next
command, each snapshot whole in the layout its manifest names.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_OK, RECOVER, Test, data_of, revisions_of, table_checksum  # noqa: E402
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "store-0.1.0-3c3f21b.tar.gz")


def body(t):
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(t.tmp)
    proj = t.path("proj")
    store = os.path.join(proj, "snapshots")
    manifests = {}
    for name in sorted(os.listdir(os.path.join(store, "dev"))):
        if name.endswith(".json"):
            with open(os.path.join(store, "dev", name)) as f:
                doc = json.load(f)
            manifests[doc["label"]] = doc
    t.require_eq(sorted(manifests), ["first", "pre-restore", "second"], "the fixture holds the old release's three snapshots")
    t.require(all("automatic" not in m and "pinned" not in m for m in manifests.values()),
              "the old manifests have no automatic or pinned field")

    t.section("list, show, verify and cat every old snapshot")
    listed = {m["label"]: m for m in t.list_json(proj)}
    t.check_eq(sorted(listed), sorted(manifests), "list shows all three")
    t.check_eq({k: m["automatic"] for k, m in listed.items()}, {"first": False, "second": False, "pre-restore": True},
               "only the pre-restore snapshot counts as automatic")
    t.check_eq({k: m["pinned"] for k, m in listed.items()}, {"first": False, "second": False, "pre-restore": False},
               "none is pinned")
    t.check_eq(t.show_json(proj, "latest")["label"], "second", "latest is the user's newest backup, not pre-restore")
    r = t.dbsnap(proj, "verify", "--all")
    t.check_rc(r, EXIT_OK, "verify --all of the old store")
    for label, m in manifests.items():
        r = t.dbsnap_ok(proj, "cat", m["id"])
        t.check_eq(hashlib.sha256(r.out).hexdigest(), m["blob"]["raw_sha256"], "cat {} gives its raw dump".format(label))

    t.section("restore each old snapshot")
    db_file = os.path.join(proj, "app.db")
    for label in ("first", "second", "pre-restore"):
        m = manifests[label]
        r = t.dbsnap(proj, "restore", m["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, EXIT_OK, "restore {}".format(label))
        t.check_eq(revisions_of(db_file), m["revisions"], "{}: the revision is back".format(label))
        copy = t.path("{}.db".format(label))
        with open(copy, "wb") as f:
            f.write(t.dbsnap_ok(proj, "cat", m["id"]).out)
        t.check_eq(table_checksum(db_file), table_checksum(copy), "{}: the data is the snapshot's".format(label))

    t.section("catalog rebuild from the old manifests, and new snapshots beside them")
    os.remove(os.path.join(store, "catalog.db"))
    t.check_rc(t.dbsnap(proj, "catalog", "rebuild"), EXIT_OK, "catalog rebuild")
    t.check_eq(sorted(m["label"] for m in t.list_json(proj)), sorted(manifests), "the same three after the rebuild")
    new = t.dbsnap_ok(proj, "backup", "dev", "--label", "new", "--json").json()
    t.check_eq(t.show_json(proj, "latest")["id"], new["id"], "a new backup is latest")
    t.check_eq(new["data"]["layout"], "chunks", "a new backup into the old store is stored as chunks")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), EXIT_OK, "verify --all of old and new")
    for label, m in manifests.items():
        with open(os.path.join(store, "dev", m["id"] + ".json")) as f:
            now = json.load(f)
        kept = {k: v for k, v in now.items() if k not in ("status", "verified_at", "automatic", "pinned", "tables",
                                                             "restore_tested_at")}
        was = {k: v for k, v in m.items() if k not in ("status", "verified_at")}
        t.check_eq(kept, was, "{}: the old manifest keeps every field it had".format(label))

    t.section("convert the store to chunks")
    before_convert = t.path("before-convert")
    shutil.copytree(store, before_convert)
    dry = t.dbsnap_ok(proj, "convert", "--dry-run")
    t.check("would convert 3 snapshot(s)" in dry.text, "--dry-run lists the three blob snapshots", dry.text)
    t.check_eq(len(glob.glob(os.path.join(store, "dev", "*.zst"))), 3, "--dry-run changes nothing")
    r = t.dbsnap_ok(proj, "convert")
    t.check("converted 3 snapshot(s)" in r.text, "convert converts the three", r.text)
    t.check_eq(glob.glob(os.path.join(store, "dev", "*.zst")), [], "no blob is left")
    manifests["new"] = new
    for label, m in manifests.items():
        with open(os.path.join(store, "dev", m["id"] + ".json")) as f:
            now = json.load(f)
        t.check(now["format_version"] == 2 and now["data"]["raw_sha256"] == data_of(m)["raw_sha256"],
                "{}: a format-2 manifest with the same dump's SHA-256".format(label), now)
        t.check_eq((now["label"], now["revisions"], now["created_at"]), (m["label"], m["revisions"], m["created_at"]),
                   "{}: label, revisions and time kept".format(label))
        rec = subprocess.run([RECOVER, store, os.path.join(store, "dev", m["id"] + ".chunks")], capture_output=True)
        t.check(rec.returncode == 0 and hashlib.sha256(rec.stdout).hexdigest() == data_of(m)["raw_sha256"],
                "{}: dbsnap-recover rebuilds the original dump".format(label), rec.stderr.decode())
    t.check_rc(t.dbsnap(proj, "verify", "--all"), EXIT_OK, "verify --all after the conversion")
    for label in ("first", "second", "pre-restore"):
        m = manifests[label]
        t.check_rc(t.dbsnap(proj, "restore", m["id"], "--yes", "--no-safety-snapshot"), EXIT_OK,
                   "restore {} after the conversion".format(label))
        t.check_eq(revisions_of(db_file), m["revisions"], "{}: the revision is back".format(label))
        t.check_eq(table_checksum(db_file), table_checksum(t.path("{}.db".format(label))),
                   "{}: the data is the snapshot's".format(label))
    again = t.dbsnap_ok(proj, "convert")
    t.check("no snapshots stored as blobs" in again.errtext, "a second run has nothing to do", again.describe())

    t.section("what a killed conversion leaves is cleaned by the next command")
    first_id, second_id = manifests["first"]["id"], manifests["second"]["id"]
    # Killed after the commit point: the converted snapshot, and its old blob still there.
    for blob in glob.glob(os.path.join(before_convert, "dev", first_id + ".*.zst")):
        shutil.copy(blob, os.path.join(store, "dev"))
    # Killed before it: a blob snapshot, and a chunk list beside it (the converted store's).
    shutil.copy(os.path.join(store, "dev", second_id + ".chunks"), os.path.join(before_convert, "dev"))
    t.check_rc(t.dbsnap(proj, "verify", first_id), EXIT_OK, "the converted snapshot verifies")
    t.check_eq(glob.glob(os.path.join(store, "dev", first_id + ".*.zst")), [], "its leftover blob was removed")
    t.check_rc(t.dbsnap(proj, "--store", before_convert, "verify", second_id), EXIT_OK,
               "the blob snapshot verifies")
    t.check(not os.path.exists(os.path.join(before_convert, "dev", second_id + ".chunks")),
            "the leftover chunk list beside it was removed")
    t.check_eq(len(glob.glob(os.path.join(before_convert, "dev", second_id + ".*.zst"))), 1, "its blob stays")


if __name__ == "__main__":
    Test("old_store").run(body)
