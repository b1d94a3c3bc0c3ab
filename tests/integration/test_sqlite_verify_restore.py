#!/usr/bin/python3
"""Scenario: test restores of SQLite snapshots (verify --restore) into a temp file of the store.

A database with an ordinary, an empty, a quoted and an FTS5 table (virtual: not counted; its shadow
tables are). The manifest counts each table's rows; a test restore matches them and leaves the
database file byte for byte as it was and no temp file; --latest-per-target tests each target's
newest snapshot; a manifest whose count differs, a damaged snapshot (marked damaged) and a snapshot
taken before counts existed (the revision alone is compared); a snapshot whose target is no longer
configured (skipped by --latest-per-target, exit 3 when named); usage errors; a test restore
killed with -9 leaves a temp file that the next command removes.
"""
import json
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CONFIG, EXIT_CORRUPT, EXIT_OK, EXIT_USAGE, Test, flip_byte, sha256_file,  # noqa: E402
                         temp_files, use_blobs)


def make_db(path, rows):
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('c0ffee000001');
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, pad BLOB);
        CREATE TABLE empty_one (x);
        CREATE TABLE "odd ""name"" ✓" (v);
        INSERT INTO "odd ""name"" ✓" VALUES ('a'), ('b');
        CREATE VIRTUAL TABLE notes USING fts5(body);
        INSERT INTO notes VALUES ('hello world'), ('second note');
    """)
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
               "INSERT INTO items (name, pad) SELECT 'item ' || x, randomblob(?) FROM c", (rows, 200))
    db.commit()
    db.close()


def counts(path):
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND sql NOT LIKE 'CREATE VIRTUAL%'")]
    out = {n: db.execute('SELECT count(*) FROM "{}"'.format(n.replace('"', '""'))).fetchone()[0] for n in names}
    db.close()
    return out


def body(t):
    proj = t.project(targets={"dev": "app.db", "other": "other.db"})
    app, other = os.path.join(proj, "app.db"), os.path.join(proj, "other.db")
    make_db(app, 3000)
    make_db(other, 10)
    store = os.path.join(proj, "snapshots")

    t.section("a backup records each table's rows (virtual tables left out)")
    m = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    expected = counts(app)
    t.require("notes" not in expected and "notes_data" in expected and expected["items"] == 3000,
              "the fixture's tables", expected)
    t.check_eq(m["tables"], expected, "the manifest's row counts are count(*) of every table")
    t.check_eq(m["restore_tested_at"], "", "never tested yet")
    mo = t.dbsnap_ok(proj, "backup", "other", "--json").json()

    t.section("a test restore matches them and changes nothing")
    before = sha256_file(app)
    r = t.dbsnap(proj, "verify", "--restore", m["id"])
    t.check_rc(r, EXIT_OK, "verify --restore")
    t.check("a temporary copy in " in r.text and "revision c0ffee000001" in r.text and
            "{} tables with {} rows as counted at backup time".format(len(expected), sum(expected.values())) in r.text,
            "it says where and what matched", r.describe())
    t.check_eq(sha256_file(app), before, "the database file is byte for byte as it was")
    t.check_eq(temp_files(store), [], "no temp file is left")
    shown = t.dbsnap_ok(proj, "show", m["id"]).text
    t.check("tested    " in shown and "never" not in shown.split("tested")[1].splitlines()[0],
            "show says when it was tested", shown)
    t.check("[tested]" in t.dbsnap_ok(proj, "list").text, "list marks it")

    t.section("--latest-per-target tests each target's newest snapshot")
    r = t.dbsnap(proj, "verify", "--restore", "--latest-per-target")
    t.check_rc(r, EXIT_OK, "verify --restore --latest-per-target")
    lines = [line for line in r.text.splitlines() if line.startswith("ok ")]
    t.check(len(lines) == 2 and any(m["id"] in x for x in lines) and any(mo["id"] in x for x in lines),
            "both targets' newest snapshots", r.describe())

    t.section("a count that differs fails, naming the table; nothing is marked damaged")
    manifest = t.show_json(proj, m["id"])["manifest_path"]
    with open(manifest) as fh:
        doc = json.load(fh)
    doc["tables"]["items"] = 2999
    with open(manifest, "w") as fh:
        json.dump(doc, fh, ensure_ascii=False)
    t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")
    r = t.dbsnap(proj, "verify", "--restore", m["id"])
    t.check_error(r, EXIT_CORRUPT, "a manifest that counted another number", contains=("failed their test restore",))
    t.check("table 'items' holds 3000 rows in the restored copy, the backup counted 2999" in r.text,
            "the table is named", r.describe())
    t.check(t.show_json(proj, m["id"])["status"] != "damaged", "the stored bytes are sound: not marked damaged")

    t.section("a snapshot taken before counts existed: the revision alone is compared")
    del doc["tables"]
    del doc["restore_tested_at"]
    with open(manifest, "w") as fh:
        json.dump(doc, fh, ensure_ascii=False)
    t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")
    r = t.dbsnap(proj, "verify", "--restore", m["id"])
    t.check_rc(r, EXIT_OK, "verify --restore of an older snapshot")
    t.check("row counts not compared" in r.text, "it says the rows were not compared", r.describe())

    t.section("a damaged snapshot fails and is marked damaged")
    use_blobs(proj)
    mb = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    flip_byte(mb["path"])
    r = t.dbsnap(proj, "verify", "--restore", mb["id"])
    t.check_error(r, EXIT_CORRUPT, "verify --restore of a damaged snapshot", contains=(mb["id"],))
    t.check_eq(t.show_json(proj, mb["id"])["status"], "damaged", "it is marked damaged")
    t.check_eq(temp_files(store), [], "no temp file is left")
    t.dbsnap_ok(proj, "delete", mb["id"], "--yes", what="delete the damaged snapshot")

    t.section("usage and configuration errors")
    r = t.dbsnap(proj, "verify", "--restore", "--repository")
    t.check_error(r, EXIT_USAGE, "--restore with --repository")
    r = t.dbsnap(proj, "verify", "--latest-per-target")
    t.check_error(r, EXIT_USAGE, "--latest-per-target without --restore")
    r = t.dbsnap(proj, "verify", "--restore", "--all", "--latest-per-target")
    t.check_error(r, EXIT_USAGE, "--all with --latest-per-target")
    r = t.dbsnap(proj, "verify", "--restore", m["id"], "--to", "nope")
    t.check_error(r, EXIT_CONFIG, "--to an unknown target", contains=("nope",))
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')
    r = t.dbsnap(proj, "verify", "--restore", "--latest-per-target")
    t.check_rc(r, EXIT_OK, "--latest-per-target with a target no longer configured")
    t.check("skipped {}: target 'other' is not in the config".format(mo["id"]) in r.errtext,
            "the unconfigured target's snapshot is skipped, and said so", r.describe())
    r = t.dbsnap(proj, "verify", "--restore", mo["id"])
    t.check_error(r, EXIT_CONFIG, "a named snapshot of an unconfigured target", contains=("'other'",))

    t.section("a test restore killed with -9: the next command removes its temp file")
    with sqlite3.connect(app) as db:
        db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000) "
                   "INSERT INTO items (name, pad) SELECT 'more ' || x, randomblob(300) FROM c")
    big = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    p = t.spawn_dbsnap(proj, "verify", "--restore", big["id"])
    deadline, seen = time.time() + 30, []
    while time.time() < deadline and p.poll() is None and not seen:
        seen = [f for f in temp_files(store) if "sqlite-trial" in f]
        time.sleep(0.005)
    t.require(seen, "the test restore's temp file appeared")
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.check([f for f in temp_files(store) if "sqlite-trial" in f] != [], "kill -9 left it behind")
    t.dbsnap_ok(proj, "list", what="the next command")
    t.check_eq(temp_files(store), [], "the next command removed it")
    r = t.dbsnap(proj, "verify", "--restore", big["id"])
    t.check_rc(r, EXIT_OK, "the test restore, run again")


if __name__ == "__main__":
    Test("sqlite_verify_restore").run(body)
