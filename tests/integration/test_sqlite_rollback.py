#!/usr/bin/python3
"""Scenario: `dbsnap rollback TARGET --to REV` by restore and by downgrade, on a real Alembic history.

Three revisions (item, tag, audit, each with a downgrade); snapshots at revision 1 (two,
with different data), 2 and 3, then more writes at 3. Checked: rollback --to <rev1 prefix>
--yes restores the NEWEST verified snapshot at 1 and leaves a pre-rollback snapshot at 3
holding the data it replaced; without --yes (stdin not a terminal) exit 8 and nothing
changes; --via downgrade with the command after -- and with --command; a downgrade that
lands on the wrong revision (one step too far) exits 9 with the pre-rollback state back
exactly; --to an unknown, ambiguous or empty revision; a corrupted newest snapshot at REV is
skipped for the next older verified one, and with none left rollback fails clearly without
changing anything; a prefix ambiguous in the history is refused even when only one of its
revisions has snapshots.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, PYTHON, flip_byte, table_checksum, revisions_of, temp_files, write,  # noqa: E402
                         common_prefix, unique_prefix, EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_GUARDED)


# Chosen revision ids: 2 and 3 share the prefix "b2b2".
REV1, REV2, REV3 = "1a1a1a1a0001", "b2b2b2b2b002", "b2b2c3c3c003"


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    alembic = [PYTHON, "-m", "alembic"]

    rev1 = t.new_revision(proj, "create item", (
        "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('name', sa.String(64), nullable=False),\n"
        "                    sa.Column('qty', sa.Integer))\n"), "    op.drop_table('item')\n", rev_id=REV1)
    rev2 = t.new_revision(proj, "create tag", (
        "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('item_id', sa.Integer, sa.ForeignKey('item.id')),\n"
        "                    sa.Column('label', sa.String(32)))\n"), "    op.drop_table('tag')\n", rev_id=REV2)
    rev3 = t.new_revision(proj, "create audit", (
        "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), sa.Column('msg', sa.Text))\n"),
        "    op.drop_table('audit')\n", rev_id=REV3)
    p1 = max(unique_prefix(rev1, rev2), unique_prefix(rev1, rev3), key=len)  # a unique prefix of revision 1
    p23 = common_prefix(rev2, rev3)  # a prefix of both 2 and 3

    t.section("snapshots at revisions 1 (two), 2 and 3")
    t.alembic(proj, "upgrade", rev1)
    write(db_file, ("INSERT INTO item (name, qty) VALUES (?, ?)", [("item-{}".format(i), i % 7) for i in range(200)]))
    ck1_old = table_checksum(db_file)
    s1_old = t.dbsnap_ok(proj, "backup", "dev", "--label", "at-1-old", "--json").json()
    write(db_file, "UPDATE item SET qty = qty * 10 WHERE id % 2 = 0", "DELETE FROM item WHERE id > 150")
    ck1 = table_checksum(db_file)
    t.require(ck1 != ck1_old, "the two snapshots at revision 1 hold different data")
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--label", "at-1", "--json").json()
    t.alembic(proj, "upgrade", rev2)
    write(db_file, ("INSERT INTO tag (item_id, label) VALUES (?, ?)", [(i, "t{}".format(i)) for i in range(1, 60)]))
    s2 = t.dbsnap_ok(proj, "backup", "dev", "--label", "at-2", "--json").json()
    t.alembic(proj, "upgrade", rev3)
    write(db_file, ("INSERT INTO audit (msg) VALUES (?)", [("a{}".format(i),) for i in range(40)]))
    s3 = t.dbsnap_ok(proj, "backup", "dev", "--label", "at-3", "--json").json()
    write(db_file, "UPDATE item SET name = name || '-late'",
          "INSERT INTO audit (msg) VALUES ('written after the last backup')")
    ck3 = table_checksum(db_file)
    t.require_eq([s["revisions"] for s in (s1_old, s1, s2, s3)], [[rev1], [rev1], [rev2], [rev3]],
                 "the four snapshots are at revisions 1, 1, 2, 3")

    def state():
        return table_checksum(db_file), revisions_of(db_file)

    def pre_rollbacks():
        return [m for m in t.list_json(proj) if m["label"] == "pre-rollback"]

    def undo(snapshot_id):
        t.dbsnap_ok(proj, "restore", snapshot_id, "--yes", "--no-safety-snapshot")
        t.require_eq(state(), (ck3, [rev3]), "undone: back at revision 3 with its data")

    t.section("without --yes and stdin not a terminal: refused")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", p1)
    t.check_rc(r, EXIT_REFUSED, "rollback dev --to {} (no --yes, stdin /dev/null)".format(p1))
    last = (r.errtext.strip().splitlines() or [""])[-1]
    t.check(last.startswith("dbsnap: error: ") and "--yes" in last, "the error says to pass --yes", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed (checksum and revision 3)")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("rollback --to <rev1 prefix> --yes restores the newest snapshot at 1")
    r = t.dbsnap(proj, "rollback", "dev", "--to", p1, "--yes")
    t.check_rc(r, EXIT_OK, "rollback dev --to {} --yes".format(p1))
    t.check_eq(revisions_of(db_file), [rev1], "the revision read back is revision 1")
    t.check_eq(t.alembic_current(proj), [rev1], "alembic current agrees (revision 1)")
    t.check_eq(table_checksum(db_file), ck1, "the data is the newest revision-1 snapshot's (not the older one's)")
    t.check(s1["id"] in r.text and rev1 in r.text, "stdout names the snapshot and the full revision", r.describe())
    pre = pre_rollbacks()
    t.require_eq(len(pre), 1, "one pre-rollback snapshot exists", pre)
    t.check_eq(pre[0]["revisions"], [rev3], "the pre-rollback snapshot is at revision 3")
    t.check_eq(t.cat_checksum(proj, pre[0]["id"], "pre1.db"), ck3, "it holds the data the rollback replaced")
    t.check("dbsnap restore {} --yes".format(pre[0]["id"]) in r.text, "stdout names the undo command", r.describe())
    undo(pre[0]["id"])

    t.section("--via downgrade -- alembic downgrade <rev2>")
    expect_copy = t.path("expected-at-2.db")
    shutil.copyfile(db_file, expect_copy)
    write(expect_copy, "DROP TABLE audit", "UPDATE alembic_version SET version_num = '{}'".format(rev2))
    ck_down2 = table_checksum(expect_copy)
    n_pre = len(pre_rollbacks())
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev2, "--via", "downgrade", "--", *alembic, "downgrade", rev2)
    t.check_rc(r, EXIT_OK, "rollback --to rev2 --via downgrade -- alembic downgrade rev2")
    t.check_eq(state(), (ck_down2, [rev2]), "downgraded: revision 2, the data of revision 3 minus the audit table")
    t.check("Running downgrade {} -> {}".format(rev3, rev2) in r.errtext, "alembic's log reached dbsnap's stderr",
            r.describe())
    pre = pre_rollbacks()
    # The database is byte for byte what the first rollback's pre-rollback snapshot holds (it was
    # undone to it): that snapshot is kept and named instead of a second, identical one.
    t.check_eq(len(pre), n_pre, "the identical pre-rollback snapshot is reused, not taken twice")
    t.check("(identical to the current state) kept" in r.errtext, "stderr says the snapshot was kept", r.describe())
    t.check_eq(pre[0]["revisions"] if pre else None, [rev3], "the pre-rollback snapshot is at revision 3")
    t.check(pre and "dbsnap restore {} --yes".format(pre[0]["id"]) in r.text, "stdout names the undo command",
            r.describe())
    if pre:
        undo(pre[0]["id"])

    t.section("--via downgrade --command \"...\"")
    command = "{} -m alembic downgrade {}".format(PYTHON, rev2)
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev2, "--via", "downgrade", "--command", command)
    t.check_rc(r, EXIT_OK, "rollback --to rev2 --via downgrade --command '{}'".format(command))
    t.check_eq(state(), (ck_down2, [rev2]), "downgraded by --command: revision 2, the same data")
    pre = pre_rollbacks()
    if pre:
        undo(pre[0]["id"])
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev2, "--via", "downgrade", "--command", command,
                 "--", *alembic, "downgrade", rev2)
    t.check_rc(r, EXIT_USAGE, "--command and a command after -- together")
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev2, "--via", "downgrade")
    t.check_error(r, EXIT_USAGE, "--via downgrade without a command", contains=("--via downgrade needs",))
    t.check("no snapshot" not in r.errtext, "it does not claim there is no snapshot", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev3, "--yes")
    t.check_rc(r, EXIT_OK, "rollback --to the revision it is already at")
    t.check("already at revision {}".format(rev3) in r.text, "it says it is already there", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")

    t.section("a downgrade that lands on the wrong revision (one step too far)")
    n_pre = len(pre_rollbacks())
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev2, "--via", "downgrade", "--", *alembic, "downgrade", rev1)
    t.check_rc(r, EXIT_GUARDED, "rollback --to rev2 --via downgrade -- alembic downgrade rev1")
    last = (r.errtext.strip().splitlines() or [""])[-1]
    t.check(last.startswith("dbsnap: error: ") and rev1 in last and rev2 in last,
            "the error names the revision reached and the one asked for", r.describe())
    t.check_eq(table_checksum(db_file), ck3, "the pre-rollback checksum is back exactly")
    t.check_eq(revisions_of(db_file), [rev3], "the pre-rollback revision (3) is back")
    # The database was undone to an earlier pre-rollback snapshot, so that identical one protects
    # this move and stays listed; the state the failed downgrade left is kept as failed-downgrade.
    t.check_eq(len(pre_rollbacks()), n_pre, "the identical pre-rollback snapshot protects it and stays listed")
    failed = [m for m in t.list_json(proj) if m["label"] == "failed-downgrade"]
    t.require_eq(len(failed), 1, "the failed state is kept as a failed-downgrade snapshot", failed)
    t.check_eq((failed[0]["revisions"], failed[0]["automatic"]), ([rev1], True),
               "the failed-downgrade snapshot is at revision 1 and automatic")
    t.check(failed[0]["id"] in last, "the error names the failed state's snapshot", r.describe())

    t.section("--to an unknown revision")
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", "fedcba987654", "--yes")
    t.check_error(r, EXIT_NOT_FOUND, "rollback --to fedcba987654 (not in the history)", contains=("fedcba987654",))
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("--to an ambiguous prefix, an empty revision")
    r = t.dbsnap(proj, "rollback", "dev", "--to", p23, "--yes")
    t.check_error(r, EXIT_NOT_FOUND, "rollback --to {} (prefix of 2 and 3)".format(p23), contains=("ambiguous",))
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    r = t.dbsnap(proj, "rollback", "dev", "--to", "", "--yes")
    t.check(r.rc in (EXIT_USAGE, EXIT_NOT_FOUND) and "empty" in r.errtext,
            "rollback --to '' exits 2 or 4 saying the revision is empty (History::resolve: "
            "\"an empty revision id matches nothing\")", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")

    t.section("a corrupted newest snapshot at revision 1 is skipped")
    flip_byte(s1["path"])
    r = t.dbsnap(proj, "verify", s1["id"])
    t.require(r.rc != 0, "verify reports the flipped blob", r.describe())
    n_pre = len(pre_rollbacks())
    r = t.dbsnap(proj, "rollback", "dev", "--to", p1, "--yes")
    t.check_rc(r, EXIT_OK, "rollback --to rev1 --yes with the newest revision-1 snapshot corrupted")
    t.check_eq(state(), (ck1_old, [rev1]), "the older verified snapshot at revision 1 was restored")
    t.check("skipping snapshot " + s1["id"] in r.errtext, "stderr says the corrupted snapshot was skipped",
            r.describe())
    t.check(s1_old["id"] in r.text, "stdout names the older snapshot", r.describe())
    pre = pre_rollbacks()
    t.check_eq(len(pre), n_pre + 1, "a pre-rollback snapshot was taken")
    if pre:
        undo(pre[0]["id"])

    t.section("every snapshot at revision 1 corrupted: a clear failure, nothing changed")
    flip_byte(s1_old["path"])
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", p1, "--yes")
    t.check(r.rc != EXIT_OK, "rollback --to rev1 (default --via) fails", r.describe())
    last = (r.errtext.strip().splitlines() or [""])[-1]
    t.check(last.startswith("dbsnap: error: ") and rev1 in last, "its error line names revision 1", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    r = t.dbsnap(proj, "rollback", "dev", "--to", p1, "--via", "restore", "--yes")
    t.check_rc(r, EXIT_NOT_FOUND, "rollback --to rev1 --via restore")
    last = (r.errtext.strip().splitlines() or [""])[-1]
    t.check(last.startswith("dbsnap: error: ") and "no verified snapshot" in last,
            "the error says there is no verified snapshot", r.describe())
    t.check_eq(state(), (ck3, [rev3]), "nothing changed")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")
    t.check_eq(temp_files(proj), [], "no temp files are left behind")

    t.section("a prefix ambiguous in the history stays ambiguous when only one of its revisions has snapshots")
    t.dbsnap_ok(proj, "delete", s2["id"], "--yes")
    t.require_eq(t.list_json(proj, "--revision", rev2), [], "no snapshot left at revision 2")
    write(db_file, "INSERT INTO audit (msg) VALUES ('written after every snapshot')")
    ck3_late = table_checksum(db_file)
    n = len(t.list_json(proj))
    r = t.dbsnap(proj, "rollback", "dev", "--to", p23, "--yes")
    t.check(r.rc == EXIT_NOT_FOUND and "ambiguous" in r.errtext and rev2 in r.errtext and rev3 in r.errtext,
            "rollback --to {} (prefix of 2 and 3 in the history; snapshots only at 3) exits 4: "
            "ambiguous, naming both".format(p23), r.describe())
    t.check_eq(state(), (ck3_late, [rev3]), "nothing changed (the row written after every snapshot is still there)")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")


if __name__ == "__main__":
    Test("rollback").run(body)
