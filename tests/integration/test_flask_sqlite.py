#!/usr/bin/python3
"""The user story's development side: SQLite on the host, the fixture app migrated with plain
Alembic (Debian's /usr/bin/python3 -m alembic; no Flask, no containers).

"Restore my dev database after a failed experiment": at revision 2 with data, back up; drop a
table and run the third migration with FAIL_MIGRATION=1 (it fails halfway and leaves `estimate`
behind, so a retry is stuck); `dbsnap restore` brings every table and the revision back.
Then the same through dbsnap: guarded upgrade (failing: exit 9, nothing changed; working: head;
unchanged revision: exit 9 unless --no-expect-change), `rollback --to` via restore and via
downgrade, and `dbsnap revisions` (head -> base, current marked, snapshot counts, a warning for
revisions missing from --migrations).
"""
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, integrity, table_checksum  # noqa: E402
from flask_fixture import (REV1, REV2, REV3, SqliteApp, check_revisions_output, check_state,  # noqa: E402
                           column_names, command_string, output_of, rows, says_back_at, snapshots,
                           table_names)


def body(t):
    app = SqliteApp(t)
    proj = app.dir

    t.section("dev database at revision 2 with data")
    app.alembic_ok("upgrade", REV1)
    app.sql("INSERT INTO \"group\" (name) VALUES ('NewGroup')")
    app.alembic_ok("upgrade", REV2)
    app.sql("INSERT INTO estimation_group (name, user) VALUES ('Sprint 12', 1)")
    t.require_eq(app.current(), [REV2], "alembic current says " + REV2)
    good = app.state()
    t.require_eq(rows(good, "estimation_group"), [(1, "NewGroup", 1), (2, "Sprint 12", 1)], "two groups")
    good_sqlite_ck = table_checksum(app.db)

    r = t.dbsnap(proj, "backup", "dev", "--label", "before-experiment", "--json")
    t.require_rc(r, 0, "dbsnap backup dev --label before-experiment")
    snap = r.json()
    t.check_eq(snap.get("revisions"), [REV2], "the backup records revision " + REV2)

    t.section("dbsnap revisions dev (at {})".format(REV2))
    r = t.dbsnap(proj, "revisions", "dev")
    t.check_rc(r, 0, "dbsnap revisions dev")
    if r.rc == 0:
        check_revisions_output(t, r, [REV3, REV2, REV1], [REV2], counts={REV2: 1})
        for rev, msg in ((REV3, "estimates and unique group names"), (REV1, "create group")):
            line = next((l for l in r.text.splitlines() if rev in l), "")
            t.check(msg in line, "revisions shows {}'s message on its line".format(rev), r.describe())

    t.section("the failed experiment: drop a table, run a bad migration")
    app.sql("DROP TABLE user")
    r = app.alembic("upgrade", "head", fail=True)
    t.check(r.rc != 0, "alembic upgrade head with FAIL_MIGRATION=1 fails", r.describe())
    broken = app.state()
    t.check("user" not in broken["tables"] and "estimate" in broken["tables"],
            "the database is broken: user gone, half-added estimate left behind", table_names(broken))
    t.check_eq(broken["revision"], [REV2], "alembic_version still says " + REV2)
    r = app.alembic("upgrade", "head")
    t.check(r.rc != 0 and "already exists" in output_of(r), "a plain retry is stuck ('already exists')",
            r.describe())

    t.section("dbsnap restore @{} --yes".format(REV2[:6]))
    r = t.dbsnap(proj, "restore", "@" + REV2[:6], "--yes")
    t.check_rc(r, 0, "dbsnap restore @" + REV2[:6])
    check_state(t, app.state(), good, "every table and the revision are back")
    t.check_eq(table_checksum(app.db), good_sqlite_ck, "dbsnap_test.table_checksum equal as well")
    t.check_eq(integrity(app.db), "ok", "integrity_check ok")
    t.check_eq(app.current(), [REV2], "alembic current says " + REV2)
    safety = [m for m in snapshots(t, proj, "dev") if m.get("label") == "pre-restore"]
    t.check_eq([m.get("revisions") for m in safety], [[REV2]], "the broken state was kept as a pre-restore snapshot")

    t.section("guarded: dbsnap upgrade dev -- alembic upgrade head (FAIL_MIGRATION=1)")
    failing = ["env", "FAIL_MIGRATION=1"] + app.alembic_argv("upgrade", "head")
    r = t.dbsnap(proj, "upgrade", "dev", "--", *failing)
    t.check_rc(r, 9, "guarded failing upgrade")
    t.check("no_such_column" in output_of(r), "alembic's error is shown", r.describe())
    t.check(says_back_at(r, REV2), "dbsnap says the database is back at " + REV2, r.describe())
    after = app.state()
    check_state(t, after, good, "the database is exactly as before")
    t.check("estimate" not in after["tables"], "no half-added table estimate", table_names(after))
    t.check("description" not in column_names(after, "estimation_group"), "no half-added column description")

    t.section("guarded: the working upgrade, then an upgrade that does not move the revision")
    r = t.dbsnap(proj, "upgrade", "dev", "--", *app.alembic_argv("upgrade", "head"))
    t.check_rc(r, 0, "guarded upgrade to head")
    t.check_eq(app.current(), [REV3], "alembic current says " + REV3)
    head = app.state()
    t.check_eq(rows(head, "estimate"), [(1, 1, "f0.0"), (2, 2, "f0.0")], "one starter estimate per group")
    n = len(snapshots(t, proj, "dev"))
    r = t.dbsnap(proj, "upgrade", "dev", "--", *app.alembic_argv("upgrade", "head"))
    t.check_rc(r, 0, "upgrade at head: nothing to upgrade")
    t.check("nothing to upgrade" in r.text and REV3 in r.text, "dbsnap says there is nothing to upgrade", r.describe())
    t.check_eq(len(snapshots(t, proj, "dev")), n, "no snapshot was taken")
    check_state(t, app.state(), head, "nothing changed")
    r = t.dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", *app.alembic_argv("upgrade", "head"))
    t.check_rc(r, 0, "the same with --no-expect-change")
    check_state(t, app.state(), head, "nothing changed")

    r = t.dbsnap(proj, "revisions", "dev")
    t.check_rc(r, 0, "dbsnap revisions dev (at head)")
    if r.rc == 0:
        check_revisions_output(t, r, [REV3, REV2, REV1], [REV3])

    t.section("rollback --to {} via restore, and via downgrade".format(REV2))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--yes")
    t.check_rc(r, 0, "rollback dev --to " + REV2)
    check_state(t, app.state(), good, "the database equals the backed-up one")
    r = t.dbsnap(proj, "upgrade", "dev", "--", *app.alembic_argv("upgrade", "head"))
    t.check_rc(r, 0, "guarded upgrade to head again")
    check_state(t, app.state(), head, "head again, same content")
    cmd = command_string(app.alembic_argv("downgrade", REV2))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "downgrade", "--command", cmd, "--yes")
    t.check_rc(r, 0, "rollback dev --to {} --via downgrade".format(REV2))
    t.check_eq(app.current(), [REV2], "alembic current says " + REV2)
    check_state(t, app.state(), good, "the downgraded database equals the backed-up one")
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "downgrade", "--command", cmd, "--yes")
    t.check_rc(r, 0, "rollback --to {} when already there".format(REV2))
    t.check("already at revision " + REV2 in r.text, "it says it is already there", r.describe())
    check_state(t, app.state(), good, "nothing changed")
    r = t.dbsnap(proj, "upgrade", "dev", "--", *app.alembic_argv("upgrade", "head"))
    t.check_rc(r, 0, "guarded upgrade to head once more")
    cmd = command_string(app.alembic_argv("downgrade", REV1))
    r = t.dbsnap(proj, "rollback", "dev", "--to", REV2, "--via", "downgrade", "--command", cmd, "--yes")
    t.check_rc(r, 9, "rollback --to {} whose command goes to {} instead".format(REV2, REV1))
    check_state(t, app.state(), head, "the database is exactly as before that rollback")

    t.section("revisions --migrations DIR without " + REV3)
    partial = t.path("partial-versions")
    os.makedirs(partial)
    for f in os.listdir(os.path.join(proj, "migrations", "versions")):
        if f.endswith(".py") and not f.startswith(REV3):
            shutil.copy(os.path.join(proj, "migrations", "versions", f), partial)
    at_rev3 = len(snapshots(t, proj, "dev", "--revision", REV3))
    t.require(at_rev3 > 0, "there are snapshots at {} (safety snapshots)".format(REV3))
    r = t.dbsnap(proj, "revisions", "dev", "--migrations", partial)
    t.check_rc(r, 0, "dbsnap revisions dev --migrations DIR")
    warned = [l for l in output_of(r).splitlines() if REV3 in l and "warn" in l.lower()]
    t.check(bool(warned), "a warning names {}, which DIR lacks".format(REV3), r.describe())


t = Test("flask_sqlite")
t.run(body)
