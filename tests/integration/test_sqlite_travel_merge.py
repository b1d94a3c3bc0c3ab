#!/usr/bin/python3
"""Scenario: revision travel through a merge, on a real Alembic history with two branches.

    A (item) <- B (tag) <- C (note)  <- M (merge of C and X) <- H (audit)
                      \\<- X (flag) <-/

The target's upgrade_command / downgrade_command are Debian's alembic. Checked against what
Alembic itself does:
- `rollback --to C` from H: Alembic's downgrade to C would undo the merge and leave X applied
  (two heads, not C). Every path says so or says why it cannot run (--dry-run and --json), and
  the real run is refused (exit 2) with nothing changed.
- `rollback --to B` from H: the plan undoes H, M, C, X, the order in which `alembic downgrade`
  then reports running them; the database lands at B.
- `rollback --to H --via restore-upgrade` from a snapshot at B: the plan applies X, C, M, H, the
  order `alembic upgrade` reports; the rows are the snapshot's.
- `rollback --to B --via restore-downgrade` from the snapshot at H: across the merge, the
  snapshot's rows at B.
- the database file gone: the default is the path whose snapshot is newest (restore-downgrade from
  H over an older snapshot at B), restored into the empty target and downgraded; a damaged newest
  candidate is skipped and the next newest is read.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, db_state, flip_byte, revisions_of, write, EXIT_USAGE  # noqa: E402

A, B, C, X, M, H = "aa0000000001", "bb0000000002", "cc0000000003", "dd0000000004", "ee0000000005", "ff0000000006"


def ran(result, direction):
    """The revisions Alembic reports running, in order ("Running downgrade H -> M, msg" gives H)."""
    out = []
    for line in (result.text + result.errtext).splitlines():
        m = re.search(r"Running {} (.*?) -> (.*?), ".format(direction), line)
        if m:
            out.append((m.group(1) if direction == "downgrade" else m.group(2)).strip())
    return out


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    t.migration_commands(proj)
    t.table_revision(proj, "item", A)
    t.table_revision(proj, "tag", B, head=A)
    t.table_revision(proj, "note", C, head=B)
    t.table_revision(proj, "flag", X, head=B, splice=True)
    t.alembic(proj, "merge", "-m", "merge note and flag", "--rev-id", M, C, X)
    t.table_revision(proj, "audit", H, head=M)
    heads = t.alembic(proj, "heads").text
    t.require_eq(re.findall(r"^([0-9a-f]+)", heads, re.M), [H], "alembic heads: H alone")

    def state():
        return db_state(db_file)

    def items():
        db = connect(db_file)
        try:
            return db.execute("SELECT count(*) FROM item").fetchone()[0]
        finally:
            db.close()

    t.section("at H with rows, a snapshot")
    t.alembic(proj, "upgrade", H)
    write(db_file, ("INSERT INTO item (v) VALUES (?)", [("h-{}".format(i),) for i in range(40)]))
    s_h = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.require_eq(s_h["revisions"], [H], "the snapshot is at H")

    t.section("to C, a branch merged above it: every path says why it cannot, nothing runs")
    before = state()
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", C, "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to C --dry-run --json")
    plan = r.json()
    by_via = {p["via"]: p for p in plan["paths"]}
    t.check_eq(plan["chosen"], None, "no path is chosen", r.describe())
    down = by_via["downgrade"]["unavailable"] or ""
    t.check("merge revision {}".format(M) in down and "leaves {} applied".format(X) in down,
            "the live downgrade: undoes the merge and leaves X applied", down)
    rd = by_via["restore-downgrade"]["unavailable"] or ""
    t.check(s_h["id"] in rd and "leaves {} applied".format(X) in rd,
            "restore-downgrade: the snapshot at H, refused for the same reason", rd)
    t.check(not by_via["restore"]["available"] and not by_via["restore-upgrade"]["available"],
            "no snapshot at C or below it", json.dumps(plan))
    r = t.dbsnap(proj, "rollback", "dev", "--to", C, "--dry-run")
    t.require_rc(r, 0, "rollback --to C --dry-run")
    t.check("chosen: none" in r.text and "leaves {} applied".format(X) in r.text,
            "the text plan says none, and why", r.describe())
    r = t.dbsnap(proj, "rollback", "dev", "--to", C, "--yes")
    t.check_eq(r.rc, EXIT_USAGE, "the real run is refused (exit 2)", r.describe())
    t.check("leaves {} applied".format(X) in r.errtext, "saying why", r.describe())
    t.check_eq(state(), before, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("to B, below the branch point: the planned steps are the ones Alembic runs")
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to B --dry-run --json")
    plan = r.json()
    steps = {p["via"]: p["steps"] for p in plan["paths"]}
    t.check_eq((plan["chosen"], steps["downgrade"]), ("downgrade", [H, M, C, X]),
               "the live downgrade is chosen: H, M, C, X")
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--yes")
    t.require_rc(r, 0, "rollback --to B --yes")
    t.check_eq(ran(r, "downgrade"), [H, M, C, X], "alembic ran exactly the planned steps, in order", r.describe())
    t.check_eq(revisions_of(db_file), [B], "the database is at B")
    t.check_eq(items(), 40, "with its rows")

    t.section("restore-upgrade from a snapshot at B through the merge to H")
    write(db_file, ("INSERT INTO item (v) VALUES (?)", [("b-{}".format(i),) for i in range(5)]))
    s_b = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    write(db_file, "INSERT INTO item (v) VALUES ('late')")
    r = t.dbsnap(proj, "rollback", "dev", "--to", H, "--via", "restore-upgrade", "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to H --via restore-upgrade --dry-run --json")
    plan = r.json()
    path = [p for p in plan["paths"] if p["via"] == "restore-upgrade"][0]
    t.check_eq((plan["chosen"], path["snapshot"]["id"], path["steps"]), ("restore-upgrade", s_b["id"], [X, C, M, H]),
               "restore-upgrade: the snapshot at B, then X, C, M, H")
    r = t.dbsnap(proj, "rollback", "dev", "--to", H, "--via", "restore-upgrade", "--yes")
    t.require_rc(r, 0, "rollback --to H --via restore-upgrade --yes")
    t.check_eq(ran(r, "upgrade"), [X, C, M, H], "alembic ran exactly the planned steps, in order", r.describe())
    t.check_eq(revisions_of(db_file), [H], "the database is at H")
    t.check_eq(items(), 45, "with the snapshot's rows (the late one is in the pre-rollback snapshot)")

    t.section("restore-downgrade from the snapshot at H through the merge to B")
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--via", "restore-downgrade", "--yes", "--json")
    t.require_rc(r, 0, "rollback --to B --via restore-downgrade --yes --json")
    doc = r.json()
    t.check_eq((doc["snapshot"]["id"], doc["after"]), (s_h["id"], [B]), "from the snapshot at H, landing at B")
    t.check_eq(items(), 40, "with that snapshot's rows")
    t.check_eq(sorted(ran(r, "downgrade")), sorted([H, M, C, X]), "undoing H, M, C and X", r.describe())

    t.section("the database is gone: the path whose snapshot is newest loses the least")
    t.alembic(proj, "upgrade", H)
    write(db_file, "INSERT INTO item (v) VALUES ('newest')")
    s_h2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    os.remove(db_file)
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--dry-run", "--json")
    t.require_rc(r, 0, "rollback --to B --dry-run --json, no database")
    plan = r.json()
    by_via = {p["via"]: p for p in plan["paths"]}
    t.check_eq((plan["chosen"], by_via["restore"]["snapshot"]["id"], by_via["restore-downgrade"]["snapshot"]["id"]),
               ("restore-downgrade", s_b["id"], s_h2["id"]),
               "restore-downgrade from the newest snapshot (at H) is chosen over the older one at B")
    t.check("loses the least" in plan["why"], "and the plan says why", plan["why"])
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--yes", "--json")
    t.require_rc(r, 0, "rollback --to B --yes into a target with no database")
    doc = r.json()
    t.check_eq((doc["via"], doc["snapshot"]["id"], doc["after"], doc["safety_snapshot"]),
               ("restore-downgrade", s_h2["id"], [B], None), "restored from the snapshot at H, downgraded to B")
    t.check_eq(items(), 41, "with that snapshot's rows (the one written last included)")

    t.section("the newest candidate is damaged: set aside, the next newest is read")
    t.alembic(proj, "upgrade", H)
    s_h3 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    flip_byte(s_h3["path"])
    os.remove(db_file)
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--yes", "--json")
    t.require_rc(r, 0, "rollback --to B --yes")
    t.check("skipping snapshot {}".format(s_h3["id"]) in r.errtext, "says it skipped the damaged one", r.describe())
    t.check_eq((r.json()["via"], r.json()["snapshot"]["id"]), ("restore-downgrade", s_h2["id"]),
               "and starts from the next newest")
    r = t.dbsnap(proj, "rollback", "dev", "--to", B, "--dry-run")
    t.check_rc(r, 0, "with the database back at B, --dry-run")
    t.check("already at revision" in r.text, "it is at B already: nothing to do", r.describe())


if __name__ == "__main__":
    Test("travel_merge").run(body)
