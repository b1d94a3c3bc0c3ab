"""MariaDB round trip: backup, change data, schema objects and revision, restore, compare.

A database name and table names that need quoting, a non-ASCII and a binary column, a
foreign key, a trigger, views (one on another), a procedure, a function and an event.
`zstd -dc` of the blob equals `dbsnap cat`. Restoring into a missing database creates it.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, sha256_bytes, use_blobs, use_chunks  # noqa: E402
from mysql_fixture import MariaDB, mysql_project, store_files  # noqa: E402

DB = "my-app db"
SETUP = r"""
CREATE DATABASE `my-app db` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE `my-app db`;
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('aaa111');
CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE `child table` (id INT PRIMARY KEY, pid INT NOT NULL, note TEXT, data BLOB,
  FOREIGN KEY (pid) REFERENCES parent(id)) ENGINE=InnoDB;
CREATE TABLE `order` (`key-1` INT PRIMARY KEY, `group` VARCHAR(20)) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100)) ENGINE=InnoDB;
INSERT INTO parent VALUES (1, 'héllo wörld ☃ 😀 日本語'), (2, 'plain'), (3, 'tab\there ''quoted'' back\\slash');
INSERT INTO `child table` VALUES (1, 1, 'línea\nnueva', UNHEX(CONCAT(
  '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F',
  '202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F',
  '5C27220D0A1A00FFFEFDFCFBFAF9F8F7F6F5F4F3F2F1F0EFEEEDECEBEAE9E8E7',
  '808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F'))),
  (2, 2, NULL, NULL), (3, 1, '', '');
INSERT INTO `order` VALUES (1, 'a'), (2, NULL);
CREATE TRIGGER trg_parent AFTER INSERT ON parent FOR EACH ROW INSERT INTO audit(msg) VALUES (CONCAT('ins ', NEW.id));
CREATE VIEW v_base AS SELECT p.id, p.name, c.note FROM parent p LEFT JOIN `child table` c ON c.pid = p.id;
CREATE VIEW v_top AS SELECT id, name FROM v_base WHERE id < 3;
CREATE PROCEDURE p_count(OUT n INT) SELECT COUNT(*) INTO n FROM parent;
CREATE FUNCTION f_double(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE EVENT ev_noop ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE id < 0;
"""

CHANGE = r"""
USE `my-app db`;
UPDATE alembic_version SET version_num = 'bbb222';
INSERT INTO parent VALUES (4, 'new row');
UPDATE parent SET name = 'changed' WHERE id = 1;
DELETE FROM `child table` WHERE id = 3;
UPDATE `child table` SET data = 0xDEADBEEF WHERE id = 1;
DROP TABLE `order`;
CREATE TABLE added_later (id INT PRIMARY KEY);
DROP VIEW v_top;
CREATE VIEW v_new AS SELECT 1 AS one;
DROP PROCEDURE p_count;
CREATE PROCEDURE p_new() SELECT 2;
DROP TRIGGER trg_parent;
DROP EVENT ev_noop;
"""


def body(t):
    db = MariaDB(t, "dbsnap-mysql-round-trip")
    try:
        scenario(t, db)
    finally:
        db.remove()


def scenario(t, db):
    db.sql(SETUP)
    proj = mysql_project(t, {
        "dev": {"container": db.name, "database": DB, "password_from_container": "MYSQL_ROOT_PASSWORD"},
        "copy": {"container": db.name, "database": "copy of app", "password_from_container": "MYSQL_ROOT_PASSWORD"},
    })
    use_blobs(proj)  # the blob layout first; the default (chunks) in the last section
    before = db.fingerprint(DB)
    t.require(len(before["tables"]) == 5 and len(before["views"]) == 2, "fixture database created", before)

    t.section("backup")
    r = t.dbsnap_ok(proj, "backup", "dev", "--json")
    m = r.json()
    t.check_eq(m["revisions"], ["aaa111"], "the manifest records the revision read from the dump")
    t.check("MariaDB" in m["versions"]["tool"] and "mariadb-dump" in m["versions"]["tool"],
            "the tool version is recorded", m["versions"])
    t.check(m["versions"]["server"].startswith("10.11"), "the server version is recorded", m["versions"])
    t.check(DB in m["source"] and db.name in m["source"], "the source names database and container", m["source"])
    snap = m["id"]

    t.section("zstd -dc of the blob equals dbsnap cat")
    blob = m["path"]
    z = subprocess.run(["zstd", "-dc", blob], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    c = t.dbsnap(proj, "cat", snap)
    t.check_rc(c, 0, "dbsnap cat")
    t.check(z.returncode == 0 and z.stdout == c.out, "zstd -dc and dbsnap cat give the same bytes",
            "zstd rc {}, {} vs {} bytes".format(z.returncode, len(z.stdout), len(c.out)))
    text = c.out.decode("utf-8", "replace")
    t.check("-- MariaDB dump" in text[:400] and text.rstrip().splitlines()[-1].startswith("-- Dump completed"),
            "the dump has the header and the trailer")
    t.check("CREATE DATABASE" not in text and "\nUSE " not in text, "the dump names no database (no --databases)")

    t.section("change data, schema objects and revision")
    db.sql(CHANGE)
    changed = db.fingerprint(DB)
    t.require(changed != before and changed["revisions"] == ["bbb222"], "the database changed")

    t.section("restore")
    r = t.dbsnap(proj, "restore", snap, "--yes")
    t.check_rc(r, 0, "dbsnap restore")
    t.check("aaa111" in r.text, "restore prints the restored revision", r.describe())
    after = db.fingerprint(DB)
    for key in ("tables", "views", "objects", "data", "revisions"):
        t.check_eq(after[key], before[key], "after restore: {} as at backup time".format(key))
    t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")
    t.check_eq(db.leftover_tables(DB), [], "no old tables are left in the database")
    # The trigger works on the restored tables and the views resolve against them.
    db.sql("INSERT INTO parent VALUES (10, 'trigger check')", DB)
    t.check_eq(db.value("SELECT COUNT(*) FROM audit WHERE msg = 'ins 10'", DB), "1", "the restored trigger fires")
    t.check_eq(db.value("SELECT COUNT(*) FROM v_top", DB), "3", "the restored views work")
    t.check_eq(db.value("SELECT f_double(21)", DB), "42", "the restored function works")
    hex_blob = db.value("SELECT HEX(data) FROM `child table` WHERE id = 1", DB)
    t.check(hex_blob is not None and hex_blob.startswith("000102") and "5C27220D0A1A00FF" in hex_blob,
            "the binary column is byte-exact", hex_blob)
    name = db.value("SELECT name FROM parent WHERE id = 1", DB)
    t.check_eq(name, "héllo wörld ☃ 😀 日本語", "the non-ASCII column is exact")
    safety = [s for s in t.list_json(proj) if s.get("label") == "pre-restore"]
    t.check(len(safety) == 1 and safety[0]["revisions"] == ["bbb222"], "a safety snapshot of the changed state",
            safety)

    t.section("restore into a missing database creates it")
    r = t.dbsnap(proj, "restore", snap, "--to", "copy", "--yes")
    t.check_rc(r, 0, "dbsnap restore --to copy")
    copy = db.fingerprint("copy of app")
    for key in ("tables", "views", "objects", "data", "revisions"):
        t.check_eq(copy[key], before[key], "the new database: {} as in the snapshot".format(key))
    t.check_eq(db.shadow_schemas(), [], "no shadow schema is left")

    t.section("restore the safety snapshot (undo)")
    r = t.dbsnap(proj, "restore", safety[0]["id"], "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "restore of the safety snapshot")
    undone = db.fingerprint(DB)
    t.check_eq(undone["revisions"], ["bbb222"], "the changed revision is back")
    t.check_eq(undone["tables"], changed["tables"], "the changed tables are back")
    t.check_eq(undone["objects"], changed["objects"], "the changed triggers/routines/events are back")
    t.check_eq(undone["views"], changed["views"], "the changed views are back")

    t.section("the revision read from the live database")
    r = t.dbsnap(proj, "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "restore again")
    t.check_eq(db.revisions(DB), ["aaa111"], "the revision is the snapshot's")
    t.check(not [f for f in store_files(proj) if ".dbsnap-tmp" in f], "no temp files in the store")

    t.section("the same database stored as chunks (the default layout)")
    use_chunks(proj)
    mc = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.check_eq(mc["format_version"], 2, "a chunked snapshot has a format-2 manifest")
    cat = t.dbsnap_ok(proj, "cat", mc["id"])
    t.check_eq(sha256_bytes(cat.out), mc["data"]["raw_sha256"], "cat of the chunked snapshot has its SHA-256")
    db.sql(CHANGE)
    t.require(db.fingerprint(DB)["revisions"] == ["bbb222"], "the database changed")
    r = t.dbsnap(proj, "restore", mc["id"], "--yes")
    t.require_rc(r, 0, "restore the chunked snapshot")
    again = db.fingerprint(DB)
    for key in ("tables", "views", "objects", "data", "revisions"):
        t.check_eq(again[key], before[key], "after the chunked restore: {} as at backup time".format(key))
    safety = [s for s in t.list_json(proj) if s.get("label") == "pre-restore"]
    t.check(safety and safety[0]["format_version"] == 2, "the safety snapshot was stored as chunks too", safety[:1])
    t.dbsnap_ok(proj, "verify", "--all", what="verify --all over blob and chunked snapshots")


if __name__ == "__main__":
    Test("mysql_round_trip").run(body)
