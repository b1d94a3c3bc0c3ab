#!/usr/bin/python3
"""Scenario: `dbsnap upgrade TARGET -- COMMAND` guards a real Alembic migration with a snapshot.

An Alembic project made by Debian's alembic with four revisions (item, tag, audit, and a
broken one whose upgrade() creates a table, writes a row and raises). Checked: a good
`upgrade +1` (exit 0, revision moved, pre-upgrade snapshot at the old revision); a
migration that fails halfway (exit 9, checksum and revision exactly as before), first with
--keep-on-failure (left as the command left it, the printed restore command puts it back);
a command that leaves the revision alone (exit 9 and restored, or exit 0 with
--no-expect-change); the command's own output reaching dbsnap's stdout/stderr while it runs;
a command that cannot be started or deletes the database; SIGINT while the command runs
(to the process group as a terminal's Ctrl-C would, and to dbsnap alone). A failed command's
state is kept as a failed-upgrade snapshot (with the rows it wrote) before the restore; a retry
reuses an identical pre-upgrade snapshot; at the head there is nothing to upgrade (exit 0).
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, PYTHON, clean_env, connect, table_checksum, tables_of, revisions_of,  # noqa: E402
                         temp_files, wait_for, write, EXIT_OK, EXIT_USAGE, EXIT_GUARDED)


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    alembic = [PYTHON, "-m", "alembic"]

    rev1 = t.new_revision(proj, "create item", (
        "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('name', sa.String(64), nullable=False),\n"
        "                    sa.Column('qty', sa.Integer))\n"), "    op.drop_table('item')\n")
    rev2 = t.new_revision(proj, "create tag", (
        "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('item_id', sa.Integer, sa.ForeignKey('item.id')),\n"
        "                    sa.Column('label', sa.String(32)))\n"), "    op.drop_table('tag')\n")
    rev3 = t.new_revision(proj, "create audit", (
        "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), sa.Column('msg', sa.Text))\n"
        "    op.execute(\"INSERT INTO audit (msg) VALUES ('audit created')\")\n"), "    op.drop_table('audit')\n")
    rev4 = t.new_revision(proj, "broken halfway", (
        "    op.create_table('half', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute(\"UPDATE item SET qty = -1\")\n"
        "    raise RuntimeError('broken migration: gave up halfway')\n"), "    pass\n")

    t.section("a good upgrade +1 is guarded by a pre-upgrade snapshot")
    t.alembic(proj, "upgrade", rev1)
    write(db_file, ("INSERT INTO item (name, qty) VALUES (?, ?)", [("item-{}".format(i), i % 11) for i in range(300)]))
    ck1 = table_checksum(db_file)
    t.require_eq(revisions_of(db_file), [rev1], "the database starts at revision 1")

    r = t.dbsnap(proj, "upgrade", "dev", "--", *alembic, "upgrade", "+1")
    t.check_rc(r, EXIT_OK, "upgrade dev -- alembic upgrade +1")
    t.check_eq(revisions_of(db_file), [rev2], "after upgrade +1: alembic_version holds revision 2")
    t.check_eq(t.alembic_current(proj), [rev2], "alembic current agrees (revision 2)")
    t.check("upgraded  'dev': {} -> {}".format(rev1, rev2) in r.text, "stdout says 'upgraded  'dev': rev1 -> rev2'",
            r.describe())
    t.check("Running upgrade {} -> {}".format(rev1, rev2) in r.errtext,
            "alembic's own log line (inherited stderr) is in dbsnap's stderr", r.describe())
    listed = t.list_json(proj)
    pre = [m for m in listed if m["label"] == "pre-upgrade"]
    t.require_eq(len(pre), 1, "one pre-upgrade snapshot is listed", listed)
    pre = pre[0]
    t.check_eq(pre["revisions"], [rev1], "the pre-upgrade snapshot is at the old revision (1)")
    t.check(pre["id"] in r.text and "dbsnap rollback dev --to " + rev1 in r.text,
            "stdout names the snapshot and the rollback command", r.describe())
    t.check_eq(t.cat_checksum(proj, pre["id"], "pre-upgrade.db"), ck1,
               "the pre-upgrade snapshot holds the data as it was at revision 1")

    write(db_file, ("INSERT INTO tag (item_id, label) VALUES (?, ?)", [(i, "t{}".format(i)) for i in range(1, 80)]))
    ck2 = table_checksum(db_file)

    t.section("a migration that fails halfway, --keep-on-failure: left as the command left it")
    n_before = len(t.list_json(proj))
    r = t.dbsnap(proj, "upgrade", "dev", "--keep-on-failure", "--", *alembic, "upgrade", "head")
    t.check_last_error(r, EXIT_GUARDED, "upgrade --keep-on-failure -- alembic upgrade head (revision 4 raises)",
                       contains=("--keep-on-failure", "dbsnap restore "))
    t.check("broken migration: gave up halfway" in r.errtext, "the migration's traceback reached dbsnap's stderr",
            r.describe())
    left_revs, left_tables = revisions_of(db_file), tables_of(db_file)
    # What alembic leaves behind on SQLite ("Will assume non-transactional DDL"): revision 3 applied and
    # stamped, revision 4's CREATE TABLE committed, its UPDATE rolled back.
    t.check_eq(left_revs, [rev3], "the database is left as alembic left it: stamped at revision 3")
    t.check("half" in left_tables and "audit" in left_tables,
            "the database is left as alembic left it: tables audit and half exist", left_tables)
    t.check(table_checksum(db_file) != ck2, "the database was not restored (checksum differs from before)")
    listed = t.list_json(proj)
    t.check_eq(len(listed), n_before + 1, "the failed upgrade's snapshot stays listed")
    kept = listed[0] if listed else {}
    t.check_eq((kept.get("label"), kept.get("revisions")), ("pre-upgrade", [rev2]),
               "the newest snapshot is the pre-upgrade one at revision 2")
    m = re.search(r"put it back with: (dbsnap restore (\S+) --yes)", r.errtext)
    t.check(m is not None and m.group(2) == kept.get("id"), "the message names the restore command for that snapshot",
            r.describe())
    if m:
        r2 = t.dbsnap(proj, *shlex.split(m.group(1))[1:])
        t.check_rc(r2, EXIT_OK, "the named command " + m.group(1))
    t.check_eq(table_checksum(db_file), ck2, "after the named restore command: the checksum taken at revision 2")
    t.check_eq(revisions_of(db_file), [rev2], "after the named restore command: revision 2")

    t.section("a migration that fails halfway: exit 9, exactly as before")
    n_before = len(t.list_json(proj))
    r = t.dbsnap(proj, "upgrade", "dev", "--", *alembic, "upgrade", "head")
    t.check_last_error(r, EXIT_GUARDED, "upgrade -- alembic upgrade head (revision 4 raises)",
                       contains=("restored snapshot", "back at revision " + rev2))
    t.check_eq(table_checksum(db_file), ck2, "after the failed upgrade: the table checksum taken at revision 2")
    t.check_eq(revisions_of(db_file), [rev2], "after the failed upgrade: revision 2")
    t.check("half" not in tables_of(db_file) and "audit" not in tables_of(db_file),
            "the half-created tables are gone", tables_of(db_file))
    t.check_eq(t.alembic_current(proj), [rev2], "alembic current agrees (revision 2)")
    listed = t.list_json(proj)
    t.check_eq(len(listed), n_before + 1, "one snapshot more: the failed state (the pre-upgrade one is reused)")
    failed = [m for m in listed if m["label"] == "failed-upgrade"]
    t.check(len(failed) == 1 and failed[0]["revisions"] == [rev3] and failed[0]["automatic"],
            "the state the migration left is kept as an automatic failed-upgrade snapshot at revision 3", listed)
    t.check(failed and "failed state is kept as snapshot {}".format(failed[0]["id"]) in r.errtext,
            "the error names it", r.describe())
    t.check_eq(temp_files(proj), [], "no temp files are left behind")

    t.section("a command that leaves the revision unchanged")
    writer = [PYTHON, "-c", (
        "import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); "
        "d.execute(\"INSERT INTO item (name, qty) VALUES ('sneaky', 1)\"); d.commit(); "
        "print('WROTE-A-ROW', flush=True)"), db_file]
    r = t.dbsnap(proj, "upgrade", "dev", "--", *writer)
    t.check_last_error(r, EXIT_GUARDED, "upgrade with a command that writes but keeps the revision",
                       contains=("did not move", "--no-expect-change"))
    t.check("WROTE-A-ROW" in r.text, "the command's stdout reached dbsnap's stdout", r.describe())
    t.check_eq(table_checksum(db_file), ck2, "the row it wrote is gone: checksum taken at revision 2")
    t.check_eq(revisions_of(db_file), [rev2], "still at revision 2")
    m = re.search(r"failed state is kept as snapshot (\w+)", r.errtext)
    t.check(m is not None, "the error names the snapshot of the failed state", r.describe())
    if m:
        kept = t.path("failed-state.db")
        with open(kept, "wb") as f:
            f.write(t.dbsnap_ok(proj, "cat", m.group(1)).out)
        db = connect(kept)
        t.check_eq(db.execute("SELECT count(*) FROM item WHERE name = 'sneaky'").fetchone()[0], 1,
                   "the row the command wrote is in that snapshot: nothing was discarded without a copy")
        db.close()

    t.section("--no-expect-change, and the command's output arrives while it runs")
    argv = [t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "upgrade", "dev", "--no-expect-change", "--",
            "sh", "-c", "echo LIVE-OUT; echo LIVE-ERR >&2; sleep 1.5; exec \"$@\"", "sh"] + writer
    p = subprocess.Popen(argv, cwd=proj, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env())
    t.children.append(p)
    seen = {}

    def reader(stream, name):
        lines = []
        for line in iter(stream.readline, b""):
            lines.append(line)
            seen.setdefault(line.strip(), (name, time.monotonic(), p.poll()))
        seen[name] = lines

    threads = [threading.Thread(target=reader, args=(p.stdout, "stdout")),
               threading.Thread(target=reader, args=(p.stderr, "stderr"))]
    for th in threads:
        th.start()
    rc = p.wait(timeout=120)
    ended = time.monotonic()
    for th in threads:
        th.join()
    out = b"".join(seen.get("stdout", [])).decode()
    err = b"".join(seen.get("stderr", [])).decode()
    detail = "stdout: {}\nstderr: {}".format(out, err)
    t.check_eq(rc, EXIT_OK, "upgrade --no-expect-change with an unchanged revision exits 0", detail)
    for mark, stream in ((b"LIVE-OUT", "stdout"), (b"LIVE-ERR", "stderr")):
        got = seen.get(mark)
        t.check(got is not None and got[0] == stream, "{} reaches dbsnap's {}".format(mark.decode(), stream), detail)
        t.check(got is not None and got[2] is None and ended - got[1] > 1.0,
                "{} arrives while the command still runs (live, not buffered to the end)".format(mark.decode()),
                "arrival {} s before dbsnap ended".format(ended - got[1] if got else None))
    t.check(out.find("LIVE-OUT") < out.find("upgraded  'dev'"), "the command's output comes before dbsnap's summary",
            detail)
    t.check("upgraded  'dev': {} -> {}".format(rev2, rev2) in out, "stdout says 'upgraded  'dev': rev2 -> rev2'",
            detail)
    t.check_eq(revisions_of(db_file), [rev2], "--no-expect-change: still at revision 2")
    db = connect(db_file)
    n_sneaky = db.execute("SELECT count(*) FROM item WHERE name = 'sneaky'").fetchone()[0]
    db.close()
    t.check_eq(n_sneaky, 1, "--no-expect-change: the row the command wrote stays")
    ck2b = table_checksum(db_file)

    t.section("a command that cannot be started")
    for cmd in (["/nonexistent/bin/migrate"], ["dbsnap-no-such-command-xyz", "upgrade"]):
        n_before = len(t.list_json(proj))
        r = t.dbsnap(proj, "upgrade", "dev", "--", *cmd)
        t.check_last_error(r, EXIT_GUARDED, "upgrade -- {} (not found)".format(cmd[0]), contains=(cmd[0],))
        t.check_eq(table_checksum(db_file), ck2b, "after the failed start of {}: checksum unchanged".format(cmd[0]))
        t.check_eq(revisions_of(db_file), [rev2], "after the failed start of {}: revision 2".format(cmd[0]))
        # The first attempt takes a pre-upgrade snapshot; the retry finds the database byte for byte
        # the same and keeps that one instead of a second copy. The command changed nothing, so no
        # failed-upgrade snapshot is kept either.
        first = cmd[0].startswith("/")
        t.check_eq(len(t.list_json(proj)), n_before + (1 if first else 0),
                   "its pre-upgrade snapshot is listed" if first else "the retry reuses the identical pre-upgrade snapshot")
        t.check("the failed state is unchanged" in r.errtext, "stderr says the failed state is unchanged", r.describe())
        t.check(r.errtext.count("upgrade failed") == 1 and r.errtext.count(cmd[0]) == 2,
                "the failure is said once, in the error (the command is named there and where it is run)",
                r.describe())

    t.section("a command that deletes the database file")
    r = t.dbsnap(proj, "upgrade", "dev", "--", "rm", db_file)
    t.check_last_error(r, EXIT_GUARDED, "upgrade -- rm app.db", contains=("restored snapshot",))
    t.check(os.path.isfile(db_file) and table_checksum(db_file) == ck2b, "app.db is back with the same checksum")
    t.check_eq(revisions_of(db_file), [rev2], "app.db is back at revision 2")

    r = t.dbsnap(proj, "upgrade", "dev")
    t.check_error(r, EXIT_USAGE, "upgrade dev without a command", contains=("--",))

    t.section("SIGINT while the command runs")
    sleeper_src = (
        "import sqlite3, sys, time; d = sqlite3.connect(sys.argv[1]); "
        "d.execute(\"UPDATE item SET qty = qty + 1000\"); "
        "d.execute(\"UPDATE alembic_version SET version_num = '{}'\"); d.commit(); d.close(); "
        "open(sys.argv[2], 'w').close(); time.sleep(float(sys.argv[3]))").format(rev3)
    for how, sleep_s in (("process group (Ctrl-C)", 20), ("dbsnap alone", 3)):
        marker = t.path("running-{}".format(sleep_s))
        argv = [t.binary, "--config", os.path.join(proj, "dbsnap.toml"), "upgrade", "dev", "--",
                PYTHON, "-c", sleeper_src, db_file, marker, str(sleep_s)]
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=proj, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=clean_env(), start_new_session=True)
        t.children.append(p)
        t.require(wait_for(lambda: os.path.exists(marker), 30), "the sleeping command has changed the database")
        t.check_eq(revisions_of(db_file), [rev3], "while it sleeps the database reads revision 3 (changed)")
        if how.startswith("process group"):
            os.killpg(p.pid, signal.SIGINT)
        else:
            os.kill(p.pid, signal.SIGINT)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        secs = time.monotonic() - t0
        detail = "exit {}\nstdout: {}\nstderr: {}".format(p.returncode, out.decode(), err.decode())
        t.check(p.returncode not in (0, None) and p.returncode > 0,
                "SIGINT to {}: dbsnap exits non-zero (got {})".format(how, p.returncode), detail)
        t.check(secs < sleep_s + 15, "SIGINT to {}: dbsnap ends in reasonable time ({:.1f} s)".format(how, secs))
        t.check_eq(table_checksum(db_file), ck2b, "SIGINT to {}: the checksum from before the upgrade".format(how),
                   detail)
        t.check_eq(revisions_of(db_file), [rev2], "SIGINT to {}: back at revision 2".format(how), detail)
        t.check("restor" in err.decode(), "SIGINT to {}: stderr says it restored".format(how), detail)
    t.check_eq(temp_files(proj), [], "no temp files are left behind")

    t.section("nothing to upgrade: the database is at the migrations folder's head")
    broken = [f for f in os.listdir(os.path.join(proj, "migrations", "versions")) if f.startswith(rev4)]
    t.require_eq(len(broken), 1, "the broken revision's file is there to remove")
    os.remove(os.path.join(proj, "migrations", "versions", broken[0]))
    t.dbsnap_ok(proj, "upgrade", "dev", "--", *alembic, "upgrade", "head")
    t.require_eq(revisions_of(db_file), [rev3], "upgraded to the head (revision 3)")
    ck_head = table_checksum(db_file)
    n_before = len(t.list_json(proj))
    marker = t.path("command-ran")
    r = t.dbsnap(proj, "upgrade", "dev", "--", PYTHON, "-c", "open({!r}, 'w').close()".format(marker))
    t.check_rc(r, EXIT_OK, "upgrade at the head exits 0")
    t.check("nothing to upgrade" in r.text and rev3 in r.text, "it says there is nothing to upgrade", r.describe())
    t.check(not os.path.exists(marker), "the command was not run")
    t.check_eq(len(t.list_json(proj)), n_before, "no snapshot was taken")
    t.check_eq(table_checksum(db_file), ck_head, "nothing changed")
    r = t.dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", PYTHON, "-c",
                 "open({!r}, 'w').close()".format(marker))
    t.check_rc(r, EXIT_OK, "with --no-expect-change the command runs even at the head")
    t.check(os.path.exists(marker), "the command ran")


if __name__ == "__main__":
    Test("guarded_upgrade").run(body)
