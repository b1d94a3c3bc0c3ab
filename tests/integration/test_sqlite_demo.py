#!/usr/bin/python3
"""Scenario: `dbsnap demo DIR` and the Alembic history it embeds are real.

The demo exits 0 and leaves a project in which Debian's alembic reports the head
revision; on a copy, `alembic downgrade base` and `alembic upgrade head` work and
rebuild the same schema. The demo's snapshots verify, and a second run reuses the
project while a non-demo folder is refused.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, table_checksum, tables_of, EXIT_USAGE  # noqa: E402

HEAD = "c61e04d2f9b8"  # the demo's head revision (src/cli/demo_project.cpp)


def columns(path, table):
    db = connect(path)
    try:
        return [(r[1], r[2].upper(), r[3]) for r in db.execute('PRAGMA table_info("{}")'.format(table))]
    finally:
        db.close()


def body(t):
    demo = t.path("demo")
    r = t.dbsnap(t.tmp, "demo", demo, config=False)
    t.require_rc(r, 0, "dbsnap demo DIR")
    t.check("The data is back" in r.text, "the demo reports that the data came back", r.describe())
    db_file = os.path.join(demo, "instance", "app.db")
    t.require(os.path.isfile(db_file), "the demo created instance/app.db")

    t.section("alembic agrees with the demo")
    t.check_eq(t.alembic_current(demo), [HEAD], "alembic current in DIR reports the head revision")
    r = t.alembic(demo, "heads")
    t.check(re.search(r"^{} \(head\)".format(HEAD), r.text, re.M) is not None, "alembic heads is " + HEAD, r.text)
    r = t.alembic(demo, "history")
    t.check_eq(len(re.findall(r"->", r.text)), 3, "alembic history has three revisions", r.text)

    listing = t.list_json(demo)
    t.check_eq(sorted(m["label"] for m in listing), ["before-experiment", "pre-restore"],
               "the demo left its snapshot and the restore's safety snapshot")
    by_label = {m["label"]: m for m in listing}
    t.check_eq(by_label.get("before-experiment", {}).get("revisions"), [HEAD], "the demo snapshot is at the head")
    t.check_rc(t.dbsnap(demo, "verify", "--all"), 0, "verify --all in DIR")

    t.section("the embedded history is real: downgrade base, upgrade head on a copy")
    tables_at_head = tables_of(db_file)
    cols_at_head = {tb: columns(db_file, tb) for tb in tables_at_head}
    copy = t.path("demo-copy")
    shutil.copytree(demo, copy)
    copy_db = os.path.join(copy, "instance", "app.db")
    t.alembic(copy, "downgrade", "base")
    t.check_eq(t.alembic_current(copy), [], "after downgrade base: alembic current is empty")
    t.check_eq(tables_of(copy_db), ["alembic_version"], "after downgrade base: only alembic_version is left")
    t.alembic(copy, "upgrade", "head")
    t.check_eq(t.alembic_current(copy), [HEAD], "after upgrade head: alembic current is the head again")
    t.check_eq(tables_of(copy_db), tables_at_head, "after upgrade head: the same tables as the demo database")
    for tb in tables_at_head:
        t.check_eq(columns(copy_db, tb), cols_at_head[tb], "after upgrade head: table {} has the same columns".format(tb))

    t.section("running the demo again")
    ck = table_checksum(db_file)
    r = t.dbsnap(t.tmp, "demo", demo, config=False)
    t.check_rc(r, 0, "dbsnap demo DIR a second time (reuses the project)")
    t.check("reusing" in r.text, "the second run says it reuses the project", r.describe())
    t.check_eq(table_checksum(db_file), ck, "after the second run the data is the same")
    t.check_eq(t.alembic_current(demo), [HEAD], "and alembic still reports the head")
    other = t.path("not-a-demo")
    os.makedirs(other)
    with open(os.path.join(other, "notes.txt"), "w") as f:
        f.write("mine\n")
    r = t.dbsnap(t.tmp, "demo", other, config=False)
    t.check_error(r, EXIT_USAGE, "dbsnap demo into a non-empty folder that is no demo", contains=(other,))
    t.check_eq(sorted(os.listdir(other)), ["notes.txt"], "that folder was left alone")


if __name__ == "__main__":
    Test("demo").run(body)
