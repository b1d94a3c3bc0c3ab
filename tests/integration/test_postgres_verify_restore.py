#!/usr/bin/python3
"""Scenario: PostgreSQL test restore (verify --restore) into a scratch database on the same server.

The round trip's database (quoted names, a schema with quotes and non-ASCII, bytea, a view, a
trigger function) plus a table of 200,000 rows. The manifest's row counts equal count(*) of every
table; a test restore matches them, leaves the database and the list of databases as they were and
is recorded (show, list, metrics); a manifest whose count was altered fails (exit 5) naming the
table; a test restore killed with -9 mid-load leaves the database untouched and the next one
removes its scratch database; a user who may not create databases gets one line (exit 7).
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from postgres_fixture import PgContainer, pg_project  # noqa: E402
from test_postgres_round_trip import DB, SCHEMA  # noqa: E402


def databases(pg):
    return pg.rows("SELECT datname FROM pg_database ORDER BY 1;", "postgres")


def live_counts(pg):
    tables = pg.rows("SELECT schemaname || '.' || tablename FROM pg_tables "
                     "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;", DB)
    counts = {}
    for row in pg.rows("SELECT n.nspname || '.' || c.relname, "
                       "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', "
                       "n.nspname, c.relname), false, true, '')))[1]::text FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                       "('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_';", DB):
        name, count = row.split("|")
        counts[name] = int(count)
    assert sorted(counts) == sorted(tables), (counts, tables)
    return counts


def body(t):
    with PgContainer(t, "verify_restore") as pg:
        pg.create_database(DB)
        pg.sql(SCHEMA, DB)
        pg.sql("CREATE TABLE big AS SELECT g AS id, md5(g::text) AS pad FROM generate_series(1, 200000) g;", DB)
        pg.sql("CREATE ROLE app_user LOGIN; CREATE DATABASE small OWNER app_user;", "postgres")
        pg.exec("psql", "-U", "app_user", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "small",
                input="CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);")
        proj = pg_project(t, {"pg": pg.target(DB), "limited": pg.target("small", user="app_user")})

        t.section("a backup records each table's rows")
        m = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        counts = live_counts(pg)
        t.require(counts.get("public.big") == 200000 and counts.get('Sales "Data" Ω.totals') == 3,
                  "the fixture's tables", counts)
        t.check_eq(m.get("tables"), counts, "the manifest's row counts are count(*) of every table")
        snap = m["id"]
        state = pg.state(DB)
        dbs = databases(pg)

        t.section("a test restore matches them, and changes nothing")
        r = t.dbsnap(proj, "verify", "--restore", snap)
        t.check_rc(r, 0, "verify --restore")
        t.check("scratch database 'dbsnap_test_" in r.text and "revision aaaa1111" in r.text and
                "{} tables with {} rows as counted at backup time".format(len(counts), sum(counts.values())) in r.text,
                "it says where it loaded the dump and what matched", r.describe())
        t.check_eq(pg.state(DB), state, "the database is as it was")
        t.check_eq(databases(pg), dbs, "no scratch database is left")
        show = t.show_json(proj, snap)
        t.check(show.get("restore_tested_at", "") != "", "the manifest records the test restore", show)
        metrics = t.dbsnap_ok(proj, "metrics").text
        t.check('dbsnap_last_restore_test_timestamp_seconds{target="pg"} 0\n' not in metrics and
                'dbsnap_last_restore_test_timestamp_seconds{target="pg"}' in metrics,
                "metrics give the time of the last test restore", metrics)

        t.section("a count that differs fails, naming the table")
        manifest = show["manifest_path"]
        with open(manifest) as fh:
            doc = json.load(fh)
        doc["tables"]['Sales "Data" Ω.totals'] = 2
        with open(manifest, "w") as fh:
            json.dump(doc, fh, ensure_ascii=False)
        t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")
        r = t.dbsnap(proj, "verify", "--restore", snap)
        t.check_error(r, 5, "a manifest that counted another number of rows", contains=("failed their test restore",))
        t.check("table 'Sales \"Data\" Ω.totals' holds 3 rows in the restored copy, the backup counted 2" in r.text,
                "the table is named", r.describe())
        t.check_eq(databases(pg), dbs, "no scratch database is left")
        doc["tables"]['Sales "Data" Ω.totals'] = 3
        with open(manifest, "w") as fh:
            json.dump(doc, fh, ensure_ascii=False)
        t.dbsnap_ok(proj, "catalog", "rebuild", what="catalog rebuild")

        t.section("a test restore killed mid-load: the next one removes its scratch database")
        p = t.spawn_dbsnap(proj, "verify", "--restore", snap)
        deadline = time.time() + 60
        seen = False
        while time.time() < deadline and p.poll() is None:
            if any(d.startswith("dbsnap_test_") for d in databases(pg)):
                seen = True
                break
            time.sleep(0.05)
        t.require(seen, "the scratch database appeared while the test restore ran")
        time.sleep(0.3)
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(1)
        print("  left after kill -9: {}".format([d for d in databases(pg) if d not in dbs]))
        t.check_eq(pg.state(DB), state, "the database is as it was")
        r = t.dbsnap(proj, "verify", "--restore", snap)
        t.check_rc(r, 0, "the next test restore")
        t.check_eq(databases(pg), dbs, "no scratch database is left")

        t.section("a user who may not create databases: one line, nothing changed")
        small = t.dbsnap_ok(proj, "backup", "limited", "--json").json()
        t.check_eq(small.get("tables"), {"public.t": 2}, "the small database's rows are counted")
        r = t.dbsnap(proj, "verify", "--restore", small["id"])
        t.check_error(r, 7, "verify --restore as a user without CREATEDB", contains=("may not create", "CREATEDB"))
        t.check_eq(databases(pg), dbs + ["small"] if "small" not in dbs else dbs, "no scratch database was made")
        # The same snapshot tested on the server through a target that may.
        r = t.dbsnap(proj, "verify", "--restore", small["id"], "--to", "pg")
        t.check_rc(r, 0, "verify --restore --to a target whose user may create databases")


if __name__ == "__main__":
    Test("postgres_verify_restore").run(body)
