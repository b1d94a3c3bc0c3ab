#!/usr/bin/python3
"""Scenario: `restore SNAPSHOT --then-upgrade [REV]`: yesterday's snapshot brought up to the code.

A real Alembic history item -> tag -> audit with the target's upgrade_command. A snapshot at 1
(data D1), then the database upgraded to 3 with more rows. Checked:
- without --yes: refused (exit 8), nothing changed;
- `--then-upgrade` (to the heads): D1's rows at revision 3; the pre-restore snapshot holds the
  state before; `--then-upgrade 2 --json`: revision 2, `upgraded_from` [1];
- an upgrade that fails halfway: exit 9, the database exactly as before the move, the failed
  state kept as a failed-upgrade snapshot;
- a snapshot already at the heads, --no-safety-snapshot, a revision not above the snapshot's,
  no upgrade_command: exit 2, nothing changed;
- a target with no database yet: restored, then upgraded; a failed upgrade there leaves the
  restored snapshot (there was nothing before it), exit 9.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, db_state, items_of, PYTHON, revisions_of, write,  # noqa: E402
                         EXIT_REFUSED, EXIT_GUARDED, EXIT_USAGE)

REV1, REV2, REV3 = "1a1a1a1a0001", "2b2b2b2b0002", "3c3c3c3c0003"


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    fresh_file = os.path.join(proj, "fresh.db")
    # A second target, not created yet, migrated through its own alembic.ini.
    with open(os.path.join(proj, "alembic.ini")) as f:
        ini = f.read()
    with open(os.path.join(proj, "fresh.ini"), "w") as f:
        f.write(re.sub(r"^sqlalchemy\.url = .*$", "sqlalchemy.url = sqlite:///fresh.db", ini, flags=re.M))
    t.migration_commands(proj, downgrade=None)
    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write('\n[targets.fresh]\nengine = "sqlite"\nfile = "fresh.db"\n')
    t.migration_commands(proj, upgrade=[PYTHON, "-m", "alembic", "-c", "fresh.ini", "upgrade", "{revision}"],
                         downgrade=None)

    t.table_revision(proj, "item", REV1, column="name")
    t.table_revision(proj, "tag", REV2)
    audit_file = t.table_revision(proj, "audit", REV3, return_path=True)

    def items(path=db_file):
        return items_of(path)

    def state():
        return db_state(db_file)

    t.section("a snapshot at 1, then the database at 3 with more rows")
    t.alembic(proj, "upgrade", REV1)
    write(db_file, ("INSERT INTO item (name) VALUES (?)", [("one-{}".format(i),) for i in range(25)]))
    d1 = items()
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.alembic(proj, "upgrade", REV3)
    write(db_file, ("INSERT INTO item (name) VALUES (?)", [("three-{}".format(i),) for i in range(7)]))
    late = state()

    t.section("without --yes: refused, nothing changed")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "restore", s1["id"], "--then-upgrade")
    t.check_eq(r.rc, EXIT_REFUSED, "exits 8 when stdin is not a terminal", r.describe())
    t.check_eq(state(), late, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("--then-upgrade: the snapshot at 1, upgraded to the heads")
    r = t.dbsnap(proj, "restore", s1["id"], "--then-upgrade", "--yes")
    t.require_rc(r, 0, "restore --then-upgrade --yes")
    t.check_eq(revisions_of(db_file), [REV3], "the database is at 3")
    t.check_eq(items(), d1, "with the rows of the snapshot at 1")
    t.check("upgraded  {} -> {}".format(REV1, REV3) in r.text, "the summary says what was upgraded", r.describe())
    m = re.search(r"undo with dbsnap restore (\S+) --yes", r.text)
    t.require(m is not None, "it names the snapshot that undoes it", r.describe())
    t.dbsnap_ok(proj, "restore", m.group(1), "--yes", "--no-safety-snapshot")
    t.require_eq(state(), late, "that snapshot holds the state before the move")

    t.section("--then-upgrade 2 --json")
    r = t.dbsnap(proj, "restore", s1["id"], "--then-upgrade", REV2[:6], "--yes", "--json")
    t.require_rc(r, 0, "restore --then-upgrade REV2-prefix --yes --json")
    doc = r.json()
    t.check_eq((doc["revisions"], doc["upgraded_from"], doc["snapshot"]["id"], doc["safety_snapshot"]["label"]),
               ([REV2], [REV1], s1["id"], "pre-restore"), "--json: at 2, upgraded from 1, the pre-restore snapshot")
    t.check_eq(items(), d1, "with the rows of the snapshot at 1")
    at_2 = state()

    t.section("an upgrade that fails halfway: everything as before the move")
    with open(audit_file) as f:
        src = f.read()
    with open(audit_file, "w") as f:
        f.write(src.replace("sa.Column('v', sa.Text))\n",
                            "sa.Column('v', sa.Text))\n    raise RuntimeError('upgrade fails halfway')\n"))
    r = t.dbsnap(proj, "restore", s1["id"], "--then-upgrade", "--yes")
    t.check_eq(r.rc, EXIT_GUARDED, "exits 9", r.describe())
    t.check("upgrade fails halfway" in r.errtext, "the migration's error is shown", r.describe())
    t.check_eq(state(), at_2, "the database is exactly as before the move")
    failed = [x for x in t.list_json(proj) if x["label"] == "failed-upgrade"]
    t.check_eq(len(failed), 1, "the failed state is kept as a failed-upgrade snapshot", failed)

    t.section("refusals: exit 2, nothing changed")
    with open(audit_file, "w") as f:
        f.write(src)
    s3 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()  # at 2: not the head
    t.alembic(proj, "upgrade", REV3)
    s_head = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    before = state()
    n = len(t.list_json(proj))
    for args, what in (
            ([s_head["id"], "--then-upgrade", "--yes"], "a snapshot at the heads already"),
            ([s1["id"], "--then-upgrade", "--yes", "--no-safety-snapshot"], "--no-safety-snapshot"),
            ([s3["id"], "--then-upgrade", REV1, "--yes"], "a revision below the snapshot's"),
            ([s1["id"], "--then-upgrade", "--to-file", os.path.join(proj, "x.db"), "--yes"], "--to-file")):
        r = t.dbsnap(proj, "restore", *args)
        t.check_eq(r.rc, EXIT_USAGE, what + ": exit 2", r.describe())
        t.check(len(r.errtext.strip().splitlines()) == 1, what + ": one line", r.describe())
    t.check_eq(state(), before, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("a target with no database yet")
    r = t.dbsnap(proj, "restore", s1["id"], "--to", "fresh", "--then-upgrade", "--yes", "--json")
    t.require_rc(r, 0, "restore --to fresh --then-upgrade")
    doc = r.json()
    t.check_eq((doc["revisions"], doc["safety_snapshot"]), ([REV3], None), "at 3; no database was there to keep")
    t.check_eq(items(fresh_file), d1, "with the rows of the snapshot at 1")
    os.remove(fresh_file)
    with open(audit_file, "w") as f:
        f.write(src.replace("sa.Column('v', sa.Text))\n",
                            "sa.Column('v', sa.Text))\n    raise RuntimeError('upgrade fails halfway')\n"))
    r = t.dbsnap(proj, "restore", s1["id"], "--to", "fresh", "--then-upgrade", "--yes")
    t.check_eq(r.rc, EXIT_GUARDED, "a failing upgrade there exits 9", r.describe())
    t.check_eq((revisions_of(fresh_file), items(fresh_file)), ([REV1], d1),
               "and leaves the snapshot restored, not upgraded")
    with open(audit_file, "w") as f:
        f.write(src)

    t.section("no upgrade_command: exit 2")
    with open(os.path.join(proj, "dbsnap.toml")) as f:
        toml = f.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write("\n".join(ln for ln in toml.splitlines() if not ln.startswith("upgrade_command")) + "\n")
    r = t.dbsnap(proj, "restore", s1["id"], "--then-upgrade", "--yes")
    t.check_eq(r.rc, EXIT_USAGE, "exits 2", r.describe())
    t.check("upgrade_command" in r.errtext, "and names upgrade_command", r.describe())
    t.check_eq(state(), before, "the database is unchanged")


if __name__ == "__main__":
    Test("restore_then_upgrade").run(body)
