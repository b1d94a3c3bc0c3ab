#!/usr/bin/python3
"""PostgreSQL: a database, a schema, tables, a sequence, a view and a trigger whose names hold
quotes, backticks, semicolons, backslashes, shell metacharacters and non-ASCII back up and
restore exactly (ordered table checksums, sequences, schemas, the revision); an alembic_version
row with shell metacharacters is recorded and found literally; no shell runs any of it (no PWNED
file in the container or on the host); and a database name that does not exist is a one-line
error that changes nothing. A snapshot altered (by whoever can write the store, its \\restrict line
removed) to hold psql commands, also in the middle of a line (`SELECT 1; \\! touch ...`), is
refused at restore (exit 7): nothing runs, the database is unchanged.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import EXIT_ENGINE, Test, forge_blob, use_blobs  # noqa: E402
from postgres_fixture import PgContainer, pg_project, published, quote_ident, quote_literal  # noqa: E402

DATABASE = "app'; DROP DATABASE \"x\"; -- `ñ表` $(touch PWNED) \\"
MISSING = "no such \"db\"; `ñ` $(touch PWNED)"
SCHEMA = "sch'ema \"x\"; `ñ`"
TABLES = ["it's", 'say "hi"', "back`tick`", "semi;colon; DROP TABLE x;--", "naïve 表 ✓", "$(touch PWNED)", "back\\slash"]
REVISION = "rev;rm -rf `touch PWNED` $(touch PWNED) '\"\\"


def pwned_in_container(pg):
    p = pg.exec("sh", "-c", "find / -xdev -name PWNED 2>/dev/null")
    return p.stdout.split()


def pwned_on_host(t):
    return [os.path.join(d, f) for d, _, names in os.walk(t.tmp) for f in names if f == "PWNED"]


def body(t):
    with PgContainer(t, "fuzz_hostile_names") as pg:
        scenario(t, pg)


def scenario(t, pg):
    pg.create_database(DATABASE)
    script = ("CREATE TABLE alembic_version (version_num varchar(64) NOT NULL PRIMARY KEY);\n"
              "INSERT INTO alembic_version VALUES ({});\n".format(quote_literal(REVISION)))
    script += "CREATE SCHEMA {};\n".format(quote_ident(SCHEMA))
    for n, name in enumerate(TABLES):
        schema = quote_ident(SCHEMA) + "." if n % 2 else ""
        script += ("CREATE TABLE {0}{1} (id serial PRIMARY KEY, {2} text);\n"
                   "INSERT INTO {0}{1} ({2}) VALUES ({3}), ({4}), (NULL);\n").format(
            schema, quote_ident(name), quote_ident(name + " col"), quote_literal(name),
            quote_literal("row of " + name))
    script += "CREATE VIEW {} AS SELECT * FROM {};\n".format(quote_ident("view `;' ñ"), quote_ident(TABLES[0]))
    script += ("CREATE FUNCTION {0}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
               "CREATE TRIGGER {1} BEFORE INSERT ON {2} FOR EACH ROW EXECUTE FUNCTION {0}();\n").format(
        quote_ident("fn \"; `x`"), quote_ident("trg \"; `x`"), quote_ident(TABLES[2]))
    pg.sql(script, DATABASE)
    before = pg.state(DATABASE)
    t.require_eq(before["@revision"], [REVISION], "alembic_version holds the revision with metacharacters")
    t.require(sum(k.startswith("table ") for k in before) == len(TABLES) + 1 and SCHEMA in before["@schemas"],
              "the hostile schema and tables exist", before)
    objects = "SELECT string_agg(v, ',' ORDER BY v) FROM (SELECT 'view ' || viewname FROM pg_views " \
              "WHERE schemaname = 'public' UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger " \
              "WHERE NOT tgisinternal) s(v);"
    objects_before = pg.sql(objects, DATABASE)

    proj = pg_project(t, {"h": pg.target(DATABASE), "missing": pg.target(MISSING)})

    t.section("backup of the hostile database")
    r = t.dbsnap(proj, "backup", "h", "--json")
    t.require_rc(r, 0, "backup h")
    snap = r.json()
    t.check_eq(snap["revisions"], [REVISION], "the snapshot records the revision literally")
    r = t.dbsnap(proj, "show", "@" + REVISION, "--json")
    t.check(r.rc == 0 and r.json()["id"] == snap["id"], "show @<revision with metacharacters> finds it",
            r.describe())

    t.section("change the database, then restore")
    pg.sql("DROP TABLE {};\nDELETE FROM {}.{};\nINSERT INTO {} ({}) VALUES ('new');\n"
           "UPDATE alembic_version SET version_num = 'other';\nCREATE TABLE {} (x int);\n".format(
               quote_ident(TABLES[2]), quote_ident(SCHEMA), quote_ident(TABLES[3]), quote_ident(TABLES[4]),
               quote_ident(TABLES[4] + " col"), quote_ident("added \" later")), DATABASE)
    t.require(pg.state(DATABASE) != before, "the database differs from the snapshot")
    r = t.dbsnap(proj, "restore", snap["id"], "--yes")
    t.check_rc(r, 0, "restore of the hostile database")
    t.check_eq(pg.state(DATABASE), before, "tables (ordered checksums), sequences, schemas and revision are back")
    t.check_eq(pg.sql(objects, DATABASE), objects_before, "the view and the trigger are back")

    t.section("a database name that does not exist")
    files = published(proj)
    databases = "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database;"
    dbs_before = pg.sql(databases, "postgres")
    for args in (("backup", "missing"), ("restore", snap["id"], "--to", "missing", "--yes")):
        r = t.dbsnap(proj, *args)
        t.check_error(r, EXIT_ENGINE, " ".join(args[:1] + args[2:]) + " (a database that does not exist)",
                      contains=("no such",))
    t.check("(createdb 'no such \"db\"; `ñ` $(touch PWNED)')" in r.errtext,
            "the suggested createdb command quotes the name for the shell", r.describe())
    t.check_eq(published(proj), files, "nothing was published or removed")
    t.check_eq(pg.sql(databases, "postgres"), dbs_before, "no database was created or dropped")
    t.check_eq(pg.state(DATABASE), before, "the hostile database is untouched")

    t.section("a snapshot altered to run psql commands: refused, nothing runs, nothing changes")
    use_blobs(proj)
    r = t.dbsnap(proj, "backup", "h", "--json")
    t.require_rc(r, 0, "backup h (blob layout, to alter it)")
    blob_snap = r.json()
    for line in ("SELECT 1; \\! touch /tmp/PWNED", "SELECT 'x' \\g /tmp/PWNED", "\\! touch /tmp/PWNED",
                 "CREATE TABLE forged (a int); \\o |touch /tmp/PWNED"):
        # After the SET lines at the top: inside the script's SQL, outside any string or COPY block;
        # and without pg_dump's \restrict line, which would make psql itself refuse the command.
        forge_blob(proj, blob_snap, lambda dump: re.sub(
            rb"(?m)^\\(un)?restrict .*\n", b"", dump.replace(b"\nSET ", ("\n" + line + "\nSET ").encode(), 1)))
        r = t.dbsnap(proj, "restore", blob_snap["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, EXIT_ENGINE, "restore of a dump with '{}'".format(line))
        t.check("psql command" in r.errtext, "the error names the psql command", r.describe())
        t.check_eq(pg.state(DATABASE), before, "the database is unchanged")

    t.check_eq(pwned_in_container(pg), [], "no shell ran the metacharacters in the container")
    t.check_eq(pwned_on_host(t), [], "no shell ran the metacharacters on the host")


if __name__ == "__main__":
    Test("postgres_hostile_names").run(body)
