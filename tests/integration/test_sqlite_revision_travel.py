#!/usr/bin/python3
"""Scenario: revision travel on SQLite: restore a snapshot, then migrate it, as one guarded move.

A real Alembic history item -> tag -> audit, the target's upgrade_command / downgrade_command
configured. A snapshot at revision 1 (data D1) and one at revision 3 (data D3), then more rows at
3 that no snapshot holds, and no snapshot at revision 2. Checked:
`rollback --to 2 --via restore-downgrade` without --yes is refused (exit 8), nothing changed; with
--yes it restores the snapshot at 3 and downgrades it to 2: D3's rows, revision 2, a pre-rollback
snapshot holding the late rows; `--via restore-upgrade` restores the one at 1 and upgrades it to 2
(D1's rows; --json names the snapshot and the via); a downgrade that fails halfway puts the
database back exactly as before the move (exit 9, the failed state kept); a damaged snapshot at 3
is skipped and, with none left, the move is refused (exit 4) with nothing changed; no snapshot
beyond the last revision: exit 4.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, db_state, items_of, flip_byte, revisions_of, write,  # noqa: E402
                         EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_GUARDED, EXIT_USAGE)

REV1, REV2, REV3 = "1a1a1a1a0001", "2b2b2b2b0002", "3c3c3c3c0003"


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    t.migration_commands(proj)
    t.table_revision(proj, "item", REV1, column="name")
    t.table_revision(proj, "tag", REV2)
    audit_file = t.table_revision(proj, "audit", REV3, column="msg", return_path=True)

    def items():
        return items_of(db_file)

    def state():
        return db_state(db_file)

    t.section("snapshots at revisions 1 and 3, later rows that no snapshot holds")
    t.alembic(proj, "upgrade", REV1)
    write(db_file, ("INSERT INTO item (name) VALUES (?)", [("one-{}".format(i),) for i in range(50)]))
    d1 = items()
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.alembic(proj, "upgrade", REV3)
    write(db_file, ("INSERT INTO item (name) VALUES (?)", [("three-{}".format(i),) for i in range(30)]),
          ("INSERT INTO audit (msg) VALUES (?)", [("a{}".format(i),) for i in range(10)]))
    d3 = items()
    s3 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    write(db_file, "INSERT INTO item (name) VALUES ('late, in no snapshot')")
    late = state()
    t.require_eq([s1["revisions"], s3["revisions"]], [[REV1], [REV3]], "snapshots at 1 and 3")

    t.section("--dry-run: the plan, nothing changed")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--dry-run")
    t.require_rc(r, 0, "rollback --to 2 --dry-run")
    lines = r.text.splitlines()
    chosen_line = [ln for ln in lines if ln.startswith("  > ")]
    t.check_eq(len(chosen_line), 1, "one path is marked chosen", r.describe())
    t.check(chosen_line and "downgrade" in chosen_line[0] and "undo {}".format(REV3) in chosen_line[0],
            "the live downgrade is chosen (downgrade_command is configured), undoing revision 3", r.describe())
    t.check(any("restore " in ln and "cannot: no verified snapshot at {}".format(REV2) in ln for ln in lines),
            "restore: no snapshot at 2", r.describe())
    t.check(any("restore-downgrade" in ln and s3["id"] in ln for ln in lines),
            "restore-downgrade starts from the snapshot at 3", r.describe())
    t.check(any("restore-upgrade" in ln and s1["id"] in ln and "apply {}".format(REV2) in ln for ln in lines),
            "restore-upgrade starts from the snapshot at 1 and applies 2", r.describe())
    t.check("nothing was changed" in r.text, "says nothing was changed", r.describe())
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to 2 --dry-run --json")
    plan = r.json()
    by_via = {p["via"]: p for p in plan["paths"]}
    t.check_eq((plan["chosen"], by_via["downgrade"]["steps"], by_via["restore"]["available"],
                by_via["restore-downgrade"]["snapshot"]["id"], by_via["restore-downgrade"]["steps"],
                by_via["restore-upgrade"]["snapshot"]["id"], by_via["restore-upgrade"]["steps"]),
               ("downgrade", [REV3], False, s3["id"], [REV3], s1["id"], [REV2]), "--json: the same plan")
    rows = by_via["restore-downgrade"]["rows"]
    t.check(rows is not None and rows["differ"] == [{"table": "item", "now": d3[0] + 1, "snapshot": d3[0]}]
            and rows["unchanged"] >= 2,
            "--json: restoring the snapshot at 3 loses one row of item (the late one), by the counts", rows)
    t.check(any("restore-downgrade" in ln and "item {} -> {}".format(d3[0] + 1, d3[0]) in ln for ln in lines),
            "the plan says how many rows of item restoring the snapshot at 3 loses", r.describe())
    rows = by_via["restore-upgrade"]["rows"]
    t.check(rows is not None and {"table": "item", "now": d3[0] + 1, "snapshot": d1[0]} in rows["differ"],
            "--json: restoring the snapshot at 1 loses more rows of item", rows)
    t.check_eq(state(), late, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("restore-downgrade without --yes: refused, nothing changed")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "restore-downgrade")
    t.check_eq(r.rc, EXIT_REFUSED, "exits 8 when stdin is not a terminal", r.describe())
    t.check_eq(state(), late, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("restore-downgrade: the snapshot at 3, downgraded to 2")
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "restore-downgrade", "--yes")
    t.require_rc(r, 0, "rollback --to 2 --via restore-downgrade --yes")
    t.check_eq(revisions_of(db_file), [REV2], "the database is at revision 2")
    t.check_eq(items(), d3, "with the rows of the snapshot at 3")
    t.check(s3["id"] in r.errtext and "then downgrade" in r.errtext, "the plan note names the snapshot and the step",
            r.describe())
    t.check("moved 'dev'" in r.text and "downgrade" in r.text, "the summary says what moved", r.describe())
    pre = [m for m in t.list_json(proj) if m["label"] == "pre-rollback"]
    t.require_eq(len(pre), 1, "one pre-rollback snapshot", pre)
    t.dbsnap_ok(proj, "restore", pre[0]["id"], "--yes", "--no-safety-snapshot")
    t.check_eq(state(), late, "the pre-rollback snapshot holds the state before the move, late rows included")

    t.section("restore-upgrade: the snapshot at 1, upgraded to 2 (--json)")
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "restore-upgrade", "--yes", "--json")
    t.require_rc(r, 0, "rollback --to 2 --via restore-upgrade --yes --json")
    doc = r.json()
    t.check_eq((doc["via"], doc["snapshot"]["id"], doc["before"], doc["after"]),
               ("restore-upgrade", s1["id"], [REV3], [REV2]), "--json: via, the snapshot, before and after")
    t.check_eq(revisions_of(db_file), [REV2], "the database is at revision 2")
    t.check_eq(items(), d1, "with the rows of the snapshot at 1")
    t.dbsnap_ok(proj, "restore", doc["safety_snapshot"]["id"], "--yes", "--no-safety-snapshot")
    t.require_eq(state(), late, "back to the state before the move")

    t.section("a downgrade that fails halfway: everything as before the move")
    with open(audit_file) as f:
        src = f.read()
    with open(audit_file, "w") as f:
        f.write(src.replace("    op.drop_table('audit')\n",
                            "    op.drop_table('audit')\n    raise RuntimeError('downgrade fails halfway')\n"))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "restore-downgrade", "--yes")
    t.check_eq(r.rc, EXIT_GUARDED, "exits 9", r.describe())
    t.check_eq(state(), late, "the database is exactly as before the move (revision 3, late rows)")
    t.check("downgrade fails halfway" in r.errtext, "the migration's error is shown", r.describe())
    failed = [m for m in t.list_json(proj) if m["label"] == "failed-downgrade"]
    t.check_eq(len(failed), 1, "the failed state is kept as a failed-downgrade snapshot", failed)
    with open(audit_file, "w") as f:
        f.write(src)

    t.section("a damaged snapshot is skipped; none left: refused, nothing changed")
    flip_byte(s3["path"])  # the stored snapshot's chunk list
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "restore-downgrade", "--yes")
    t.check_eq(r.rc, EXIT_NOT_FOUND, "exits 4: no verified snapshot after revision 2", r.describe())
    t.check("skipping snapshot {}".format(s3["id"]) in r.errtext, "says it skipped the damaged one", r.describe())
    t.check_eq(state(), late, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("nothing after the last revision")
    t.alembic(proj, "downgrade", REV2)
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV3, "--via", "restore-downgrade", "--yes")
    t.check_eq(r.rc, EXIT_NOT_FOUND, "restore-downgrade to the head exits 4", r.describe())

    t.section("no upgrade command: restore-upgrade refused, nothing changed")
    with open(os.path.join(proj, "dbsnap.toml")) as f:
        toml = f.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write("\n".join(ln for ln in toml.splitlines() if not ln.startswith("upgrade_command")) + "\n")
    before = state()
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV3, "--via", "restore-upgrade", "--yes")
    t.check_eq(r.rc, EXIT_USAGE, "restore-upgrade without upgrade_command or --command exits 2", r.describe())
    t.check("upgrade_command" in r.errtext, "and names upgrade_command", r.describe())
    t.check_eq(state(), before, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")


if __name__ == "__main__":
    Test("revision_travel").run(body)
