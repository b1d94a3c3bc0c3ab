#!/usr/bin/python3
"""Scenario: a SQLite target backed up into the deduplicating repository (snapshot_layout = "chunks").

A store that already holds a snapshot written as a blob (the layout before repository v2) gets
three chunked snapshots of a growing database, and one that carries 3 MB of data dropped again
afterwards. Checked, as a user would:
- packs under data/, a chunk list and a format-2 manifest per snapshot; the later snapshots add
  a fraction of the first one's bytes;
- list, show and verify --all; cat of every snapshot has the manifest's SHA-256, and so has
  tools/dbsnap-recover's rebuild from the chunk list with python3 and zstd only;
- restore of a chunked snapshot and of the old blob snapshot in the same store;
- delete while a backup holds the repository lock: nothing is collected, exit 0, a note says
  so; prune afterwards gives the 3 MB back, and every snapshot left still verifies;
- verify --repository counts the chunks a deleted snapshot left unreferenced;
- a damaged pack: verify and verify --repository name the same snapshots that use it (exit 5),
  a restore of one is refused (exit 5) with the database unchanged;
- convert of a damaged blob fails (exit 5) and leaves the snapshot as it was;
- a bad snapshot_layout is a config error (exit 3).
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (RECOVER, Test, connect, table_checksum, EXIT_CONFIG, EXIT_CORRUPT)  # noqa: E402


def config(proj, layout):
    head = 'snapshot_layout = "{}"\n'.format(layout) if layout else ""
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(head + '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')


def grow(db_file, start, count):
    db = connect(db_file)
    db.execute("BEGIN")
    db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
    db.executemany("INSERT INTO item VALUES (?, ?, ?)",
                   [(i, "item-{:07d}".format(i), "note {} ".format(i) * 4) for i in range(start, start + count)])
    db.execute("UPDATE item SET note = 'changed' WHERE id > ?", (start - 200,))
    db.execute("COMMIT")
    db.close()


def packs_of(store):
    return sorted(p for p in glob.glob(os.path.join(store, "data", "*", "*")) if os.path.isfile(p))


def pack_bytes(store):
    return sum(os.path.getsize(p) for p in packs_of(store))


def body(t):
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    store = os.path.join(proj, "snapshots")
    grow(db_file, 0, 40000)

    t.section("a snapshot written the old way (a blob), then the store switched to chunks (the default)")
    config(proj, "blob")
    old = t.dbsnap_ok(proj, "--json", "backup", "dev").json()
    old_sum = table_checksum(db_file)
    t.check(os.path.isfile(os.path.join(store, "dev", old["id"] + ".sqlite.zst")), "the old snapshot is a blob")
    config(proj, None)

    t.section("three chunked snapshots of a growing database")
    sums, snaps = {}, []
    for n in range(3):
        grow(db_file, 40000 + n * 1000, 1000)
        s = t.dbsnap_ok(proj, "--json", "backup", "dev").json()
        snaps.append(s)
        sums[s["id"]] = table_checksum(db_file)
    for s in snaps:
        with open(os.path.join(store, "dev", s["id"] + ".json")) as fh:
            manifest = json.load(fh)
        t.check_eq(manifest["format_version"], 2, "snapshot {} has a format-2 manifest".format(s["id"]))
        t.check_eq(manifest["data"]["chunk_list"], s["id"] + ".chunks", "its manifest names its chunk list")
        t.check(os.path.isfile(os.path.join(store, "dev", s["id"] + ".chunks")), "its chunk list is beside it")
        t.check(not glob.glob(os.path.join(store, "dev", s["id"] + ".*.zst")), "it has no blob")
    t.check(len(packs_of(store)) >= 1, "packs are under data/", packs_of(store))
    first_added = snaps[0]["data"]["added_bytes"]
    for s in snaps[1:]:
        t.check(s["data"]["added_bytes"] < first_added * 0.3,
                "snapshot {} added {} bytes, under 30 % of the first one's {}".format(
                    s["id"], s["data"]["added_bytes"], first_added))

    t.section("list, show and verify know both layouts")
    listed = t.dbsnap_ok(proj, "--json", "list").json()
    t.check_eq(len(listed), 4, "list shows all four snapshots")
    shown = t.dbsnap_ok(proj, "show", snaps[1]["id"]).text
    t.check("chunks " in shown and snaps[1]["id"] + ".chunks" in shown, "show names the chunk list", shown)
    t.dbsnap_ok(proj, "verify", "--all")

    t.section("cat and dbsnap-recover rebuild every chunked dump with its SHA-256")
    for s in snaps:
        cat = t.dbsnap(proj, "cat", s["id"])
        t.check_eq(hashlib.sha256(cat.out).hexdigest(), s["data"]["raw_sha256"], "cat {}".format(s["id"]))
        r = subprocess.run([RECOVER, store, s["id"]], capture_output=True)
        t.check_eq(r.returncode, 0, "dbsnap-recover {} exits 0".format(s["id"]), r.stderr.decode())
        t.check_eq(hashlib.sha256(r.stdout).hexdigest(), s["data"]["raw_sha256"],
                   "dbsnap-recover rebuilds {} without dbsnap".format(s["id"]))
    r = subprocess.run([RECOVER, store, old["id"][:9]], capture_output=True)
    t.check(r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == old["blob"]["raw_sha256"],
            "dbsnap-recover also rebuilds the blob snapshot, named by an id prefix", r.stderr.decode())
    r = subprocess.run([RECOVER, store, "1"], capture_output=True)
    t.check(r.returncode == 1 and b"ambiguous" in r.stderr, "an ambiguous prefix is refused", r.stderr.decode())

    t.section("restore a chunked snapshot, then the old blob snapshot, in the same store")
    t.dbsnap_ok(proj, "restore", snaps[0]["id"], "--yes")
    t.check_eq(table_checksum(db_file), sums[snaps[0]["id"]], "the database is as at the first chunked snapshot")
    t.dbsnap_ok(proj, "restore", old["id"], "--yes")
    t.check_eq(table_checksum(db_file), old_sum, "the database is as at the blob snapshot")
    t.dbsnap_ok(proj, "restore", snaps[2]["id"], "--yes")
    t.check_eq(table_checksum(db_file), sums[snaps[2]["id"]], "and back at the newest")

    t.section("a snapshot with 3 MB of data dropped afterwards")
    db = connect(db_file)
    db.execute("BEGIN")
    db.execute("CREATE TABLE scratch (b BLOB)")
    db.executemany("INSERT INTO scratch VALUES (?)", [(os.urandom(30000),) for _ in range(100)])
    db.execute("COMMIT")
    db.close()
    big = t.dbsnap_ok(proj, "--json", "backup", "dev", "--label", "big").json()
    db = connect(db_file)
    db.execute("DROP TABLE scratch")
    db.execute("VACUUM")
    db.close()
    after = t.dbsnap_ok(proj, "--json", "backup", "dev").json()
    before_bytes = pack_bytes(store)
    t.check(big["data"]["added_bytes"] > 3000000, "the big snapshot added its 3 MB", big["data"]["added_bytes"])

    t.section("delete while a backup holds the repository: nothing collected, and it says so")
    with open(os.path.join(store, ".repository-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        r = t.dbsnap(proj, "delete", big["id"], "--yes")
        fcntl.flock(lock, fcntl.LOCK_UN)
    t.check_eq(r.rc, 0, "delete exits 0", r.describe())
    t.check("using the repository" in r.errtext, "a note says the repository was in use", r.describe())
    t.check_eq(pack_bytes(store), before_bytes, "no pack was touched")
    r = t.dbsnap(proj, "verify", "--repository")
    t.check_eq(r.rc, 0, "verify --repository exits 0", r.describe())
    m = re.search(r"(\d+) chunk\(s\) \([^)]*\) no snapshot lists", r.errtext)
    t.check(m is not None and int(m.group(1)) > 10, "it counts the deleted snapshot's chunks as unreferenced",
            r.describe())

    t.section("prune collects what no snapshot lists")
    r = t.dbsnap_ok(proj, "--json", "prune", "dev", "--keep-last", "10")
    reclaimed = r.json()["reclaimed"]
    t.check(reclaimed is not None and reclaimed["bytes_freed"] > 2500000, "prune reports the 3 MB freed", r.text)
    t.check(pack_bytes(store) < before_bytes - 2500000, "the packs shrank by the 3 MB",
            "{} -> {}".format(before_bytes, pack_bytes(store)))
    t.dbsnap_ok(proj, "verify", "--all", what="every snapshot left verifies after collection")
    t.dbsnap_ok(proj, "restore", snaps[1]["id"], "--yes")
    t.check_eq(table_checksum(db_file), sums[snaps[1]["id"]], "a restore after collection gives the old state")
    t.dbsnap_ok(proj, "restore", after["id"], "--yes")

    t.section("a damaged pack is named by verify and refused by restore")
    victim = max(packs_of(store), key=os.path.getsize)
    with open(victim, "r+b") as fh:
        fh.seek(200)
        b = fh.read(1)
        fh.seek(200)
        fh.write(bytes([b[0] ^ 0x5A]))
    r = t.dbsnap(proj, "verify", "--all")
    t.check_eq(r.rc, EXIT_CORRUPT, "verify --all exits 5", r.describe())
    bad = [s["id"] for s in snaps + [after] if "BAD  " + s["id"] in r.text]
    t.check(len(bad) >= 1, "verify names the snapshots that use the damaged chunk", r.text)
    rr = t.dbsnap(proj, "verify", "--repository")
    t.check_eq(rr.rc, EXIT_CORRUPT, "verify --repository exits 5", rr.describe())
    t.check_eq([s["id"] for s in snaps + [after] if "BAD  " + s["id"] in rr.text], bad,
               "verify --repository names the same snapshots, reading each pack once", rr.text)
    t.check(os.path.basename(victim) in rr.errtext, "and the damaged pack", rr.errtext)
    t.check(old["id"] not in bad and "ok   " + old["id"] in r.text, "the blob snapshot is not affected", r.text)
    if bad:
        current = table_checksum(db_file)
        r = t.dbsnap(proj, "restore", bad[0], "--yes", "--no-safety-snapshot")
        t.check_last_error(r, EXIT_CORRUPT, "restore of a damaged snapshot", contains=(bad[0],))
        t.check_eq(table_checksum(db_file), current, "the database is unchanged")

    t.section("a chunk list that does not read stops the reclaim, not the delete")
    with open(os.path.join(store, "dev", snaps[2]["id"] + ".chunks"), "w") as fh:
        fh.write("dbsnap-chunks 1\nnot a line\n")
    r = t.dbsnap(proj, "delete", snaps[0]["id"], "--yes")
    t.check_eq(r.rc, 0, "delete exits 0", r.describe())
    t.check("space not reclaimed" in r.errtext and snaps[2]["id"] in r.errtext,
            "a warning names the list that stopped the reclaim", r.describe())
    t.check(not os.path.exists(os.path.join(store, "dev", snaps[0]["id"] + ".json")), "the snapshot is deleted")

    t.section("convert refuses a damaged blob and leaves it as it was")
    blob = os.path.join(store, "dev", old["id"] + ".sqlite.zst")
    with open(blob, "r+b") as fh:
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0x5A]))
    r = t.dbsnap(proj, "convert")
    t.check_last_error(r, EXIT_CORRUPT, "convert of a damaged blob", contains=(old["id"],))
    t.check(os.path.isfile(blob), "the blob is still there")
    t.check(not os.path.exists(os.path.join(store, "dev", old["id"] + ".chunks")), "no chunk list was left")
    with open(os.path.join(store, "dev", old["id"] + ".json")) as fh:
        t.check_eq(json.load(fh)["format_version"], 1, "its manifest is unchanged")

    t.section("a bad snapshot_layout is a config error")
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('snapshot_layout = "tapes"\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')
    r = t.dbsnap(proj, "backup", "dev")
    t.check_error(r, EXIT_CONFIG, "snapshot_layout = tapes", contains=("snapshot_layout", '"chunks"'))


if __name__ == "__main__":
    Test("repo_chunked_snapshots").run(body)
