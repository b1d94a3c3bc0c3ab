#!/usr/bin/python3
"""Scenario: snapshots dbsnap takes itself never stand in for the user's own.

1. `backup`, break the data, `restore latest --yes`, break it again, `restore latest --yes`: the
   second restore brings back the user's backup again, not the first restore's pre-restore
   snapshot (the old behaviour restored the broken state, exit 0). `list` marks the automatic
   snapshots ([auto], "automatic": true); the "undo with" hint still restores the safety snapshot
   by id; `--include-automatic` picks it as `latest`.
2. `@REV` skips automatic snapshots the same way, and says so when only automatic ones are there.
3. A snapshot `verify` marked damaged is refused by restore (exit 5, nothing changed) unless
   `--force`, and `rollback` skips it.
4. A store written before the `automatic` field existed: its pre-restore snapshots (label only)
   count as automatic.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_OK, Test, fill_items, flip_byte,  # noqa: E402
                         revisions_of, table_checksum, write)


def body(t):
    proj = t.project(targets={"dev": "app.db"})
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1"], 100)
    ck_good = table_checksum(db_file)
    backup = t.dbsnap_ok(proj, "backup", "dev", "--label", "good", "--json").json()

    t.section("restore latest twice brings back the user's backup both times")
    undo_ids, broken = [], []
    for attempt in (1, 2):
        write(db_file, "DELETE FROM item WHERE id % 2 = 0", "INSERT INTO item (v) VALUES ('broken {}')".format(attempt))
        broken.append(table_checksum(db_file))
        t.require(broken[-1] != ck_good, "attempt {}: the data is broken".format(attempt))
        r = t.dbsnap(proj, "restore", "latest", "--yes")
        t.check_rc(r, EXIT_OK, "attempt {}: restore latest --yes".format(attempt))
        t.check(backup["id"] in r.text, "attempt {}: it restored the user's backup".format(attempt), r.describe())
        t.check_eq(table_checksum(db_file), ck_good, "attempt {}: the data is the backup's".format(attempt))
        undo = [line.split()[4] for line in r.text.splitlines() if line.startswith("undo with dbsnap restore ")]
        t.require_eq(len(undo), 1, "attempt {}: stdout gives the undo command".format(attempt), r.describe())
        undo_ids.append(undo[0])
    listed = t.list_json(proj)
    auto = {m["id"]: m for m in listed if m["automatic"]}
    t.check_eq(sorted(auto), sorted(undo_ids), "the two pre-restore snapshots are the automatic ones")
    t.check(all(m["label"] == "pre-restore" for m in auto.values()), "both are labelled pre-restore")
    r = t.dbsnap_ok(proj, "list")
    for line in r.text.splitlines()[1:]:
        sid = line.split()[0]
        t.check(("[auto]" in line) == (sid in auto), "list marks {} {}".format(
            sid, "[auto]" if sid in auto else "without [auto]"), r.text)
    r = t.dbsnap(proj, "restore", undo_ids[1], "--yes", "--no-safety-snapshot")
    t.check_rc(r, EXIT_OK, "the undo hint (restore <pre-restore id>) works")
    t.check_eq(table_checksum(db_file), broken[1], "the undo brought back the state the second restore replaced")
    t.check_eq(t.show_json(proj, "latest", "--include-automatic")["id"], undo_ids[1],
               "show latest --include-automatic is the newest pre-restore snapshot")
    t.check_eq(t.show_json(proj, "latest")["id"], backup["id"], "show latest is the user's backup")

    t.section("@REV skips automatic snapshots")
    t.dbsnap_ok(proj, "restore", backup["id"], "--yes", "--no-safety-snapshot")
    write(db_file, "UPDATE alembic_version SET version_num = 'b2'")
    r = t.dbsnap_ok(proj, "restore", "@a1", "--yes")
    t.check(backup["id"] in r.text, "restore @a1 picks the user's backup", r.describe())
    r = t.dbsnap(proj, "show", "@b2")
    t.check_error(r, EXIT_NOT_FOUND, "show @b2 (only a pre-restore snapshot is at b2)", contains=("--include-automatic",))
    t.check_eq(t.show_json(proj, "@b2", "--include-automatic")["revisions"], ["b2"],
               "show @b2 --include-automatic finds the pre-restore snapshot")

    t.section("a snapshot verify marked damaged: restore refuses it without --force, rollback skips it")
    second = t.dbsnap_ok(proj, "backup", "dev", "--label", "second", "--json").json()
    flip_byte(second["path"])
    r = t.dbsnap(proj, "verify", second["id"])
    t.check_rc(r, EXIT_CORRUPT, "verify of the flipped snapshot")
    # Put the bytes back: the stored file is good again, but the manifest still says damaged.
    flip_byte(second["path"])
    write(db_file, "INSERT INTO item (v) VALUES ('after the damage')")
    ck_now = table_checksum(db_file)
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "restore", second["id"], "--yes")
    t.check_error(r, EXIT_CORRUPT, "restore of a snapshot marked damaged", contains=("marked damaged", "--force"))
    t.check_eq(table_checksum(db_file), ck_now, "nothing changed")
    t.check_eq(len(t.list_json(proj)), n, "no safety snapshot was taken")
    r = t.dbsnap(proj, "rollback", "dev", "--to", "b2", "--yes")
    t.check(second["id"] not in r.text, "rollback does not pick the damaged snapshot", r.describe())
    r = t.dbsnap(proj, "restore", second["id"], "--yes", "--force")
    t.check_rc(r, EXIT_OK, "restore --force of it (its bytes are good again)")
    t.check_eq(revisions_of(db_file), ["a1"], "it was restored")

    t.section("a store from before the 'automatic' field: labels tell")
    for m in t.list_json(proj):
        with open(m["manifest_path"]) as f:
            doc = json.load(f)
        doc.pop("automatic", None)
        with open(m["manifest_path"], "w") as f:
            json.dump(doc, f, indent=2)
    os.remove(os.path.join(proj, "snapshots", "catalog.db"))
    listed = t.list_json(proj)
    t.check_eq(sorted(m["id"] for m in listed if m["automatic"]),
               sorted(m["id"] for m in listed if m["label"] in ("pre-restore", "pre-rollback")),
               "after a rebuild from old manifests, the safety-labelled snapshots are automatic")
    t.check_eq(t.show_json(proj, "latest")["id"], second["id"], "latest is the newest user snapshot")


if __name__ == "__main__":
    Test("safety_snapshots").run(body)
