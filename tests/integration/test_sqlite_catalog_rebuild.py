#!/usr/bin/python3
"""Scenario: the catalog is only an index; `dbsnap catalog rebuild` recreates it from the manifests.

Snapshots of two targets (one verified, one with a label, one with two revisions),
then: catalog.db (and its -wal/-shm) deleted -> rebuild -> `list --json` equals the
list before; catalog.db overwritten with garbage -> rebuild -> the same.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, data_of, fill_items  # noqa: E402


def summary(listing):
    return [(m["id"], m["target"], m["revisions"], data_of(m), m["status"],
             m["label"]) for m in listing]


def rebuild_and_compare(t, proj, before, how):
    """Rebuilds, compares list --json with `before`, checks the catalog works; returns the new listing."""
    r = t.dbsnap(proj, "catalog", "rebuild")
    t.check_rc(r, 0, "catalog rebuild after the catalog was {}".format(how))
    t.check("{} snapshot(s)".format(len(before)) in r.text, "rebuild reports {} snapshots indexed".format(len(before)),
            r.describe())
    r = t.dbsnap(proj, "list", "--json")
    t.check_rc(r, 0, "list --json after the rebuild ({})".format(how))
    after = r.json() if r.rc == 0 else []
    t.check_eq(summary(after), summary(before), "after rebuild ({}): ids, targets, revisions, sizes, status, "
               "labels in the same order".format(how))
    differing = [(b, a) for b, a in zip(before, after) if a != b]
    t.check(len(after) == len(before) and not differing, "after rebuild ({}): list --json is identical".format(how),
            "first differing entry (before, after): {}".format(differing[:1]))
    r = t.dbsnap(proj, "show", "@feed02", "--target", "dev", "--json")
    t.check(r.rc == 0 and r.json()["revisions"] == ["cafe01", "feed02"],
            "after rebuild ({}): @REV finds the two-revision snapshot".format(how), r.describe())
    # The catalog takes updates again: re-verify the one verified snapshot.
    verified = [m["id"] for m in before if m["status"] == "verified"]
    r = t.dbsnap(proj, "verify", *verified)
    t.check_rc(r, 0, "after rebuild ({}): verify {}".format(how, " ".join(verified)))
    return t.list_json(proj)

def body(t):
    proj = t.project("proj", targets={"dev": "dev.db", "stage": "stage.db"})
    dev, stage = os.path.join(proj, "dev.db"), os.path.join(proj, "stage.db")
    fill_items(dev, ["abc123"], 100)
    t.dbsnap_ok(proj, "backup", "dev", "--label", "first")
    fill_items(stage, ["abc123"], 50)
    t.dbsnap_ok(proj, "backup", "stage")
    fill_items(dev, ["cafe01", "feed02"], 100)
    m = t.dbsnap_ok(proj, "backup", "dev", "--level", "9", "--json").json()
    t.dbsnap_ok(proj, "verify", m["id"])
    fill_items(stage, ["def456"], 70)
    t.dbsnap_ok(proj, "backup", "stage", "--label", "with space & ünïcode")
    before = t.list_json(proj)
    t.require_eq(len(before), 4, "four snapshots listed before the catalog goes")
    t.require_eq(sorted(m["status"] for m in before), ["complete", "complete", "complete", "verified"],
                 "one of them is marked verified")
    store = os.path.join(proj, "snapshots")
    catalog = os.path.join(store, "catalog.db")
    t.require(os.path.isfile(catalog), "the catalog is {}".format(catalog))

    t.section("catalog deleted")
    # What `rm catalog.db` does: any -wal/-shm stay (dbsnap checkpoints on exit, so normally there are none).
    os.remove(catalog)
    before = rebuild_and_compare(t, proj, before, "deleted")

    t.section("catalog overwritten with garbage")
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(catalog + suffix):
            os.remove(catalog + suffix)
    garbage = os.urandom(8192)
    with open(catalog, "wb") as f:
        f.write(garbage)
    r = t.dbsnap(proj, "list")
    t.check(r.rc != 0 and "catalog rebuild" in r.errtext, "list on a garbage catalog fails and suggests "
            "'dbsnap catalog rebuild'", r.describe())
    before = rebuild_and_compare(t, proj, before, "garbage")
    aside = [f for f in os.listdir(store) if f.startswith("catalog.db.") and "damaged" in f]
    kept = None
    if len(aside) == 1:
        with open(os.path.join(store, aside[0]), "rb") as f:
            kept = f.read()
    t.check(kept == garbage, "the damaged catalog was set aside intact (catalog.db.damaged-*), not deleted",
            os.listdir(store))

    t.section("catalog overwritten with garbage that starts like a SQLite file")
    with open(catalog, "r+b") as f:
        f.seek(0)
        f.write(b"SQLite format 3\x00" + os.urandom(200))
    stray = os.path.join(store, "dev", "notes.json")
    with open(stray, "w") as f:
        f.write("{ not a manifest")
    rebuild_and_compare(t, proj, before, "SQLite header + garbage")
    r = t.dbsnap(proj, "catalog", "rebuild")
    t.check(r.rc == 0 and "skipped" in r.errtext and "notes.json" in r.errtext,
            "rebuild reports the stray notes.json it skipped, and still succeeds", r.describe())


if __name__ == "__main__":
    Test("catalog_rebuild").run(body)
