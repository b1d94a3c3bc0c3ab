#!/usr/bin/python3
"""Scenario: a target's own migration commands (upgrade_command / downgrade_command in dbsnap.toml).

A real Alembic history of four revisions (item, tag, audit, and a fourth whose upgrade fails
after creating a table). The target names its commands as argv arrays; the downgrade goes through
a relative `./migrate.sh` that logs its arguments, so the scenario sees the argv it was given and
the folder it ran in. dbsnap runs from a subfolder of the project (dbsnap.toml found upward).
Checked: `upgrade dev --to PREFIX` runs the configured command with the full revision and lands
there; `upgrade dev` goes to the heads, and again says there is nothing to upgrade without running
it; `--json`; `rollback --via downgrade` and (no snapshot at REV) plain `rollback` run
downgrade_command with the revision as one argument, in the config's folder, keeping data;
`upgrade --to` the failing revision restores the pre-upgrade state exactly (exit 9); usage errors:
no command configured, `--to` with a command after --, `--to` without a placeholder, an unknown
revision; a downgrade_command without {revision} is a config error (exit 3).
"""
import json
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, PYTHON, connect, table_checksum, revisions_of, write, unique_prefix,  # noqa: E402
                         EXIT_USAGE, EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_GUARDED)

REV1, REV2, REV3, REV4 = "1a1a1a1a0001", "2b2b2b2b0002", "3c3c3c3c0003", "4d4d4d4d0004"

MIGRATE_SH = """#!/bin/sh
# Logs where it runs and its arguments, one per line, then runs alembic with them.
{{ pwd; for a in "$@"; do printf '<%s>\\n' "$a"; done; echo --; }} >> calls.log
exec {python} -m alembic "$@"
"""


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    sub = os.path.join(proj, "sub")
    os.makedirs(sub)
    script = os.path.join(proj, "migrate.sh")
    with open(script, "w") as f:
        f.write(MIGRATE_SH.format(python=PYTHON))
    os.chmod(script, stat.S_IRWXU)
    calls_log = os.path.join(proj, "calls.log")

    t.new_revision(proj, "create item", (
        "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('name', sa.String(64), nullable=False))\n"),
        "    op.drop_table('item')\n", rev_id=REV1)
    t.new_revision(proj, "create tag", (
        "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True), sa.Column('label', sa.Text))\n"),
        "    op.drop_table('tag')\n", rev_id=REV2)
    t.new_revision(proj, "create audit", (
        "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), sa.Column('msg', sa.Text))\n"),
        "    op.drop_table('audit')\n", rev_id=REV3)
    p2 = unique_prefix(REV2, REV3)

    def configure(upgrade, downgrade):
        lines = ['[targets.dev]', 'engine = "sqlite"', 'file = "app.db"']
        if upgrade is not None:
            lines.append("upgrade_command = " + json.dumps(upgrade))
        if downgrade is not None:
            lines.append("downgrade_command = " + json.dumps(downgrade))
        with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def run(*args):
        """dbsnap from proj/sub, finding proj/dbsnap.toml upward."""
        return t.dbsnap(sub, *args, config=False)

    def calls():
        if not os.path.exists(calls_log):
            return []
        with open(calls_log) as f:
            return [c.strip("\n").split("\n") for c in f.read().split("--\n") if c.strip()]

    def state():
        return table_checksum(db_file), revisions_of(db_file)

    def items():
        db = connect(db_file)
        try:
            return db.execute("SELECT count(*), group_concat(name, ',') FROM item").fetchone()
        finally:
            db.close()

    configure([PYTHON, "-m", "alembic", "upgrade", "{revision}"], ["./migrate.sh", "downgrade", "{revision}"])

    t.section("upgrade --to a prefix: the configured command, the full revision")
    t.alembic(proj, "upgrade", REV1)
    write(db_file, ("INSERT INTO item (name) VALUES (?)", [("item-{}".format(i),) for i in range(100)]))
    r = run("upgrade", "dev", "--to", p2)
    t.require_rc(r, 0, "upgrade dev --to {}".format(p2))
    t.check_eq(revisions_of(db_file), [REV2], "the database is at revision 2")
    t.check("{} -> {}".format(REV1, REV2) in r.text, "the summary names both revisions", r.describe())
    t.check("upgrade {}".format(REV2) in r.errtext, "the note shows the command with the full revision",
            r.describe())
    pre = [m for m in t.list_json(proj) if m["label"] == "pre-upgrade"]
    t.check_eq([m["revisions"] for m in pre], [[REV1]], "one pre-upgrade snapshot, at revision 1")

    t.section("upgrade with no revision: to the heads; again: nothing to do")
    r = run("upgrade", "dev", "--json")
    t.require_rc(r, 0, "upgrade dev --json")
    doc = r.json()
    t.check_eq((doc["before"], doc["after"]), ([REV2], [REV3]), "--json says 2 -> 3")
    n = len(t.list_json(proj))
    r = run("upgrade", "dev")
    t.require_rc(r, 0, "upgrade dev at the head")
    t.check("nothing to upgrade" in r.text, "says there is nothing to upgrade", r.describe())
    r = run("upgrade", "dev", "--to", REV3)
    t.require_rc(r, 0, "upgrade dev --to the current revision")
    t.check("nothing to upgrade" in r.text, "--to the current revision: nothing to upgrade", r.describe())
    t.check_eq(len(t.list_json(proj)), n, "neither took a snapshot")
    write(db_file, ("INSERT INTO audit (msg) VALUES (?)", [("a{}".format(i),) for i in range(20)]),
          "UPDATE item SET name = name || '-at-3'")

    t.section("rollback --via downgrade: downgrade_command, one argument, in the config's folder")
    items_at_3 = items()
    r = run("rollback", "dev", "--to", REV2, "--via", "downgrade")
    t.require_rc(r, 0, "rollback dev --to 2 --via downgrade")
    t.check_eq(revisions_of(db_file), [REV2], "the database is at revision 2")
    t.check_eq(calls()[-1], [os.path.realpath(proj), "<downgrade>", "<{}>".format(REV2)],
               "./migrate.sh ran in the project folder with the revision as one argument")
    t.check("(downgrade)" in r.text, "the summary says downgrade", r.describe())
    t.check_eq(items(), items_at_3, "the rows written at revision 3 are kept")

    t.section("no snapshot at the revision: plain rollback downgrades with the configured command")
    at_1 = [m for m in t.list_json(proj) if m["revisions"] == [REV1]]
    for m in at_1:
        t.dbsnap_ok(proj, "delete", m["id"], "--yes")
    r = run("rollback", "dev", "--to", REV1, "--yes")
    t.require_rc(r, 0, "rollback dev --to 1 (no snapshot at 1)")
    t.check_eq(revisions_of(db_file), [REV1], "the database is at revision 1")
    t.check_eq(calls()[-1], [os.path.realpath(proj), "<downgrade>", "<{}>".format(REV1)],
               "downgrade_command ran with revision 1")

    t.section("a failing upgrade step: the pre-upgrade state comes back exactly")
    t.new_revision(proj, "half done", (
        "    op.create_table('half', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    raise RuntimeError('this migration fails halfway')\n"), "    op.drop_table('half')\n", rev_id=REV4)
    before = state()
    r = run("upgrade", "dev", "--to", REV4)
    t.check_eq(r.rc, EXIT_GUARDED, "upgrade --to the failing revision exits 9", r.describe())
    t.check_eq(state(), before, "the database is exactly as before (revision 1, same data)")
    t.check("this migration fails halfway" in r.errtext, "the migration's own error is shown", r.describe())
    os.unlink(os.path.join(proj, "migrations", "versions",
                           next(f for f in os.listdir(os.path.join(proj, "migrations", "versions"))
                                if f.startswith(REV4))))

    t.section("usage and config errors change nothing")
    t.alembic(proj, "upgrade", REV2)
    n = len(t.list_json(proj))
    before = state()
    r = run("upgrade", "dev", "--to", "ffff0000")
    t.check_eq(r.rc, EXIT_NOT_FOUND, "upgrade --to an unknown revision exits 4", r.describe())
    r = run("upgrade", "dev", "--to", REV2, "--", PYTHON, "-m", "alembic", "upgrade", "head")
    t.check_eq(r.rc, EXIT_USAGE, "--to with a command after -- exits 2", r.describe())
    configure([PYTHON, "-m", "alembic", "upgrade", "heads"], ["./migrate.sh", "downgrade"])
    r = run("upgrade", "dev", "--to", REV2)
    t.check_eq(r.rc, EXIT_USAGE, "--to when upgrade_command has no {revision} exits 2", r.describe())
    t.check("{revision}" in r.errtext, "and names the placeholder", r.describe())
    r = run("rollback", "dev", "--to", REV1, "--via", "downgrade")
    t.check_eq(r.rc, EXIT_CONFIG, "a downgrade_command without {revision} exits 3", r.describe())
    t.check(len(r.errtext.strip().splitlines()) == 1, "in one line", r.describe())
    configure(None, None)
    r = run("upgrade", "dev")
    t.check_eq(r.rc, EXIT_USAGE, "upgrade with no command and no upgrade_command exits 2", r.describe())
    t.check("upgrade_command" in r.errtext, "and names upgrade_command", r.describe())
    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write('downgrade_command = "./migrate.sh downgrade {revision}"\n')
    r = run("list")
    t.check_eq(r.rc, EXIT_CONFIG, "downgrade_command as a string (not an argv array) exits 3", r.describe())
    t.check("array of strings" in r.errtext, "and says it must be an array of strings", r.describe())
    configure(None, None)
    t.check_eq(state(), before, "the database is unchanged")
    t.check_eq(len(t.list_json(proj)), n, "no snapshot was taken")


if __name__ == "__main__":
    Test("migration_commands").run(body)
