#!/usr/bin/python3
"""Scenario: damaged snapshots are caught before they can do harm.

In each layout (a blob per snapshot; chunks, the default, where the damage hits the chunk list),
four snapshots; one stays good, one gets a flipped byte, one is truncated and
one loses its blob or chunk list. (Damaged packs: repo_chunked_snapshots.) `verify` exits 5 naming the snapshot, `cat` fails with 5,
`restore` refuses with 5 and leaves the database (and the store) unchanged,
`verify --all` reports each bad one and the good one still verifies.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, flip_byte, sha256_file, table_checksum, temp_files, use_layout, EXIT_CORRUPT  # noqa: E402


def fill(db_file, variant):
    db = connect(db_file)
    db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("BEGIN")
    db.execute("DELETE FROM alembic_version")
    db.execute("INSERT INTO alembic_version VALUES (?)", ("a1b2c3d4e5f{}".format(variant),))
    db.executemany("INSERT INTO item (v) VALUES (?)", [("variant {} row {}".format(variant, i),) for i in range(3000)])
    db.execute("COMMIT")
    db.close()


def body(t):
    for layout in ("blob", "chunks"):
        damaged(t, layout)


def damaged(t, layout):
    proj = t.project("proj-" + layout, targets={"dev": "app.db"})
    use_layout(proj, layout)
    db_file = os.path.join(proj, "app.db")
    snaps = {}
    for name, variant in (("good", 0), ("flipped", 1), ("truncated", 2), ("missing", 3)):
        fill(db_file, variant)
        snaps[name] = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    ids = {name: m["id"] for name, m in snaps.items()}

    t.section("{}: damage three stored files".format(layout))
    path = snaps["flipped"]["path"]
    flip_byte(path)
    stored = snaps["flipped"]["data"]["list_sha256"] if layout == "chunks" else snaps["flipped"]["blob"]["stored_sha256"]
    t.require(sha256_file(path) != stored, "one byte of the stored file flipped")
    path = snaps["truncated"]["path"]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size * 2 // 3)
    t.require(os.path.getsize(path) < size, "a blob truncated to two thirds")
    os.remove(snaps["missing"]["path"])
    t.require(not os.path.exists(snaps["missing"]["path"]), "a blob removed")

    # The live database is now variant 3; everything below must leave it so.
    fill(db_file, 4)
    ck_live = table_checksum(db_file)
    raw_live = sha256_file(db_file)
    count_before = len(t.list_json(proj))

    t.section("{}: verify, cat and restore of each damaged snapshot".format(layout))
    for name in ("flipped", "truncated", "missing"):
        sid = ids[name]
        r = t.dbsnap(proj, "verify", sid)
        t.check_error(r, EXIT_CORRUPT, "verify of the {} snapshot".format(name), contains=(sid,))
        t.check("BAD" in r.text and sid in r.text, "verify prints a BAD line for the {} snapshot".format(name),
                r.describe())
        r = t.dbsnap(proj, "cat", sid)
        t.check_error(r, EXIT_CORRUPT, "cat of the {} snapshot".format(name), contains=(sid,))
        r = t.dbsnap(proj, "restore", sid, "--yes")
        t.check_error(r, EXIT_CORRUPT, "restore of the {} snapshot".format(name), contains=(sid,))
        t.check_eq(sha256_file(db_file), raw_live, "after the refused restore of {}: the database file is "
                   "byte for byte unchanged".format(name))
        t.check_eq(table_checksum(db_file), ck_live, "after the refused restore of {}: table checksum unchanged"
                   .format(name))
        t.check_eq(len(t.list_json(proj)), count_before, "the refused restore of {} took no safety snapshot"
                   .format(name))
        t.check_eq(sorted(f for f in os.listdir(proj) if f.startswith(("app.db", ".app.db"))), ["app.db"],
                   "nothing left beside the database after the refused restore of {}".format(name))
        r = t.dbsnap(proj, "restore", sid)
        t.check_error(r, EXIT_CORRUPT, "restore of the {} snapshot without --yes (verified before asking)"
                      .format(name), contains=(sid,))

    t.section("{}: verify --all".format(layout))
    r = t.dbsnap(proj, "verify", "--all")
    bad = [ids[n] for n in ("flipped", "truncated", "missing")]
    t.check_error(r, EXIT_CORRUPT, "verify --all with three damaged snapshots", contains=tuple(bad) + ("3 of 4",))
    for name in ("flipped", "truncated", "missing"):
        lines = [ln for ln in r.text.splitlines() if ids[name] in ln]
        t.check(len(lines) == 1 and lines[0].startswith("BAD"), "verify --all reports the {} snapshot as BAD"
                .format(name), r.describe())
    lines = [ln for ln in r.text.splitlines() if ids["good"] in ln]
    t.check(len(lines) == 1 and lines[0].startswith("ok"), "verify --all reports the good snapshot as ok",
            r.describe())
    r = t.dbsnap(proj, "verify", "--all", "--json")
    t.check_rc(r, EXIT_CORRUPT, "verify --all --json")
    try:
        report = {e["id"]: e for e in r.json()}
    except ValueError:
        report = {}
    t.check_eq({i: report.get(i, {}).get("ok") for i in ids.values()},
               {ids["good"]: True, ids["flipped"]: False, ids["truncated"]: False, ids["missing"]: False},
               "verify --all --json: ok per snapshot")
    t.check(all(report.get(ids[n], {}).get("problem") for n in ("flipped", "truncated", "missing")),
            "verify --all --json gives a problem for each bad snapshot", r.text)

    statuses = {m["id"]: m["status"] for m in t.list_json(proj)}
    t.check_eq(statuses, {ids["good"]: "verified", ids["flipped"]: "damaged", ids["truncated"]: "damaged",
                          ids["missing"]: "damaged"}, "list --json records verified/damaged statuses")
    r = t.dbsnap_ok(proj, "list")
    t.check(all("[DAMAGED]" in ln for ln in r.text.splitlines() if any(b in ln for b in bad))
            and sum("[DAMAGED]" in ln for ln in r.text.splitlines()) == 3,
            "list marks exactly the three damaged snapshots [DAMAGED]", r.text)

    t.section("{}: the good snapshot still works".format(layout))
    r = t.dbsnap(proj, "verify", ids["good"])
    t.check_rc(r, 0, "verify of the good snapshot")
    r = t.dbsnap(proj, "restore", ids["good"], "--yes")
    t.check_rc(r, 0, "restore of the good snapshot")
    db = connect(db_file)
    rows = db.execute("SELECT count(*), min(v) FROM item").fetchone()
    db.close()
    t.check_eq(rows, (3000, "variant 0 row 0"), "the good snapshot's data is back")
    t.check_eq(temp_files(proj), [], "no temp files anywhere in the project")

    t.section("{}: delete the damaged snapshots".format(layout))
    r = t.dbsnap(proj, "delete", *bad, "--yes")
    t.check_rc(r, 0, "delete the three damaged snapshots --yes")
    left = [m["id"] for m in t.list_json(proj)]
    t.check(all(b not in left for b in bad) and ids["good"] in left, "only good snapshots are listed after that",
            left)
    t.check(not any(os.path.exists(snaps[n][k]) for n in ("flipped", "truncated", "missing")
                    for k in ("path", "manifest_path")), "their blobs and manifests are gone")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "verify --all passes again")


if __name__ == "__main__":
    Test("damaged_blob").run(body)
