#!/usr/bin/python3
"""Scenario: PostgreSQL backup/restore round trip in a real container.

A database whose name needs quoting (space, quotes, '=' and non-ASCII), tables and a schema whose
names need quoting, non-ASCII text with tabs/newlines/backslashes, bytea holding every byte value,
a sequence, a view, a function and a trigger; backed up at revision A (manifest: revision, tool and
server versions; `zstd -dc` of the blob equals `dbsnap cat`); then changed and migrated to B, with
a table, a schema and an extension added "by a newer migration"; restored to A: every table's and
sequence's checksum and the revision are back, the newer objects are gone, the safety snapshot
holds B; a second restore brings B back; restoring into a fresh database with --to works; two
Alembic heads are recorded as two revisions.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import use_blobs, use_chunks, sha256_bytes, Test, sha256_file, temp_files  # noqa: E402
from postgres_fixture import PgContainer, pg_project, published, store_dir, quote_ident  # noqa: E402

DB = 'Bücher "Shop" a=b'

SCHEMA = r"""
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('aaaa1111');
CREATE TABLE "Order Items" (
    id serial PRIMARY KEY,
    "Product Name" text NOT NULL,
    qty integer,
    payload bytea,
    created timestamptz DEFAULT '2024-01-02 03:04:05+00'
);
CREATE SCHEMA "Sales ""Data"" Ω";
CREATE TABLE "Sales ""Data"" Ω".totals (k text PRIMARY KEY, v numeric);
CREATE VIEW big_orders AS SELECT * FROM "Order Items" WHERE qty > 5;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.qty := coalesce(NEW.qty, 0);
  RETURN NEW;
END;
$$;
CREATE TRIGGER touch BEFORE INSERT ON "Order Items" FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO "Order Items" ("Product Name", qty, payload)
SELECT 'item ' || g || E' grüße 🎉\t"quoted"\nline2 back\\slash ''single''', g % 11,
       decode(lpad(to_hex(g % 256), 2, '0') || md5(g::text), 'hex')
FROM generate_series(1, 3000) g;
INSERT INTO "Order Items" ("Product Name", qty, payload)
SELECT 'all bytes', NULL, string_agg(set_byte('\x00'::bytea, 0, b), ''::bytea ORDER BY b) FROM generate_series(0, 255) b;
INSERT INTO "Sales ""Data"" Ω".totals VALUES ('Ωmega', 1.5), (E'tab\there', -2), ('', 0);
"""

CHANGE = r"""
UPDATE alembic_version SET version_num = 'bbbb2222';
UPDATE "Order Items" SET qty = qty + 1 WHERE id % 3 = 0;
DELETE FROM "Order Items" WHERE id > 2900;
INSERT INTO "Order Items" ("Product Name") VALUES ('new after backup');
UPDATE "Sales ""Data"" Ω".totals SET v = 99;
CREATE TABLE added_later (id int PRIMARY KEY, note text);
INSERT INTO added_later VALUES (1, 'from a newer migration');
CREATE SCHEMA newer_schema;
CREATE TABLE newer_schema.t (x int);
CREATE EXTENSION hstore;
ALTER TABLE "Order Items" ADD COLUMN extra hstore;
"""


def body(t):
    with PgContainer(t, "round_trip") as pg:
        pg.create_database(DB)
        pg.sql(SCHEMA, DB)
        proj = pg_project(t, {"pg": pg.target(DB), "fresh": pg.target("app")})
        state_a = pg.state(DB)
        t.require_eq(state_a["@revision"], ["aaaa1111"], "the database is at revision A")

        use_blobs(proj)  # the blob layout first; the default (chunks) in the last section
        t.section("backup at A")
        r = t.dbsnap_ok(proj, "backup", "pg", "--json")
        m_a = r.json()
        t.check_eq(m_a["revisions"], ["aaaa1111"], "the manifest records revision A")
        t.check_eq(m_a["engine"], "postgres", "engine postgres")
        t.check(m_a["versions"]["tool"].startswith("pg_dump (PostgreSQL) 15."), "tool version is pg_dump's",
                m_a["versions"])
        t.check(m_a["versions"]["server"].startswith("15."), "server version is recorded", m_a["versions"])
        t.check(DB in m_a["source"] and pg.name in m_a["source"], "source names the database and container",
                m_a["source"])
        t.check(m_a["path"].endswith(".sql.zst"), "the blob is a .sql.zst", m_a["path"])
        t.check_eq(m_a["blob"]["stored_sha256"], sha256_file(m_a["path"]), "stored_sha256 matches the blob")
        t.check_eq(pg.state(DB), state_a, "a backup changes nothing")

        t.section("zstd -dc of the blob equals dbsnap cat")
        z = subprocess.run(["zstd", "-dc", m_a["path"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t.require_eq(z.returncode, 0, "zstd -dc the blob", z.stderr)
        cat = t.dbsnap_ok(proj, "cat", m_a["id"])
        t.check(z.stdout == cat.out, "zstd -dc output equals dbsnap cat ({} bytes)".format(len(cat.out)))
        t.check_eq(len(cat.out), m_a["blob"]["raw_bytes"], "raw_bytes equals the dump's size")
        text = cat.text
        t.check(text.startswith("--\n-- PostgreSQL database dump\n"), "the dump starts with pg_dump's header")
        t.check("-- PostgreSQL database dump complete" in text, "the dump has the trailer")
        t.check("OWNER TO" not in text and "GRANT " not in text, "--no-owner --no-privileges")

        t.section("migrate to B, with objects of a newer migration")
        pg.sql(CHANGE, DB)
        state_b = pg.state(DB)
        t.require(state_b != state_a, "the data changed")
        t.require_eq(state_b["@revision"], ["bbbb2222"], "revision B")
        t.require("table public.added_later" in state_b, "table added_later exists at B")

        t.section("restore A")
        r = t.dbsnap(proj, "restore", m_a["id"], "--yes")
        t.require_rc(r, 0, "restore A")
        t.check("revision  aaaa1111" in r.text, "restore prints revision A", r.text)
        after = pg.state(DB)
        t.check_eq(after, state_a, "every table, sequence and the revision are back at A")
        t.check("table public.added_later" not in after, "the newer migration's table is gone")
        t.check("newer_schema" not in after["@schemas"], "the newer migration's schema is gone")
        t.check_eq(pg.rows("SELECT extname FROM pg_extension ORDER BY 1;", DB), ["plpgsql"],
                   "the newer migration's extension is gone")
        t.check_eq(pg.rows("SELECT count(*) FROM big_orders;", DB),
                   pg.rows("SELECT count(*) FROM \"Order Items\" WHERE qty > 5;", DB), "the view works")
        pg.sql("INSERT INTO \"Order Items\" (\"Product Name\") VALUES ('after restore');", DB)
        t.check_eq(pg.rows("SELECT qty FROM \"Order Items\" WHERE \"Product Name\" = 'after restore';", DB), ["0"],
                   "the trigger and the sequence work after the restore")
        t.check_eq(pg.rows("SELECT nspowner::regrole::text || ' ' || array_to_string(nspacl, ',') "
                           "FROM pg_namespace WHERE nspname = 'public';", DB),
                   ["pg_database_owner pg_database_owner=UC/pg_database_owner,=U/pg_database_owner"],
                   "schema public has PostgreSQL 15's owner and privileges")
        t.check_eq(pg.rows("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dbsnap_old_%';", DB), ["0"],
                   "no renamed-aside schema is left")

        snaps = t.list_json(proj, "pg")
        safety = [s for s in snaps if s.get("label") == "pre-restore"]
        t.require(len(safety) == 1, "one pre-restore safety snapshot", snaps)
        t.check_eq(safety[0]["revisions"], ["bbbb2222"], "the safety snapshot holds revision B")

        t.section("undo: restore the safety snapshot")
        r = t.dbsnap(proj, "restore", safety[0]["id"], "--yes", "--no-safety-snapshot")
        t.require_rc(r, 0, "restore the safety snapshot")
        t.check_eq(pg.state(DB), state_b, "back at B, with the newer table, schema and extension")

        t.section("restore into a fresh database with --to")
        r = t.dbsnap(proj, "restore", m_a["id"], "--to", "fresh", "--yes")
        t.require_rc(r, 0, "restore A --to fresh")
        t.check_eq(pg.state("app"), state_a, "the fresh database holds A")

        t.section("two heads")
        pg.sql("INSERT INTO alembic_version VALUES ('cccc3333');", DB)
        m2 = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        t.check_eq(m2["revisions"], ["bbbb2222", "cccc3333"], "two heads: two revisions, sorted")
        pg.sql("DELETE FROM alembic_version;", DB)
        m3 = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        t.check_eq(m3["revisions"], [], "an empty version table: no revision")
        r = t.dbsnap(proj, "restore", m2["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, 0, "restore the two-head snapshot")
        t.check_eq(pg.revisions(DB), ["bbbb2222", "cccc3333"], "both heads are back")

        t.check_eq(temp_files(store_dir(proj)), [], "no temp files in the store")
        t.check_eq(len(published(proj)), 2 * 5, "five snapshots published (blob + manifest each)")

        t.section("the same database stored as chunks (the default layout)")
        use_chunks(proj)
        state_c = pg.state(DB)
        mc = t.dbsnap_ok(proj, "backup", "pg", "--json").json()
        t.check_eq(mc["format_version"], 2, "a chunked snapshot has a format-2 manifest")
        t.check(mc["path"].endswith(mc["id"] + ".chunks"), "its path is its chunk list", mc["path"])
        cat = t.dbsnap_ok(proj, "cat", mc["id"])
        t.check_eq(sha256_bytes(cat.out), mc["data"]["raw_sha256"], "cat of the chunked snapshot has its SHA-256")
        pg.sql("UPDATE alembic_version SET version_num = 'dddd4444' WHERE version_num = 'cccc3333'; "
               "INSERT INTO \"Order Items\" (\"Product Name\") VALUES ('after the chunked backup');", DB)
        t.require(pg.state(DB) != state_c, "the database changed")
        r = t.dbsnap(proj, "restore", mc["id"], "--yes")
        t.require_rc(r, 0, "restore the chunked snapshot")
        t.check_eq(pg.state(DB), state_c, "every table, sequence and the revision are back")
        safety = [s for s in t.list_json(proj, "pg") if s.get("label") == "pre-restore"]
        t.check(safety and safety[0]["format_version"] == 2, "the safety snapshot was stored as chunks too",
                safety[:1])
        t.dbsnap_ok(proj, "verify", "--all", what="verify --all over blob and chunked snapshots")


if __name__ == "__main__":
    Test("postgres_round_trip").run(body)
