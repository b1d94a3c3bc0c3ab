#!/usr/bin/python3
"""Scenario: restoring over a live database file that is itself damaged.

The reason to keep backups: the live file is overwritten with garbage, truncated
or emptied, and a good snapshot must bring it back. With --no-safety-snapshot
the restore has to succeed. Without it, dbsnap may refuse (a safety snapshot of
a broken file is impossible), but then it must leave the file as it was and say
how to go on (--no-safety-snapshot).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, integrity, sha256_file, table_checksum  # noqa: E402


def fill(path):
    db = connect(path)
    db.execute("BEGIN")
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("INSERT INTO alembic_version VALUES ('900d900d')")
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
               "INSERT INTO item (v, b) SELECT 'row ' || x, randomblob(500) FROM c")
    db.execute("COMMIT")
    db.close()


def damage(path, how, original):
    if how == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(len(original)))
    elif how == "truncated":
        with open(path, "wb") as f:
            f.write(original[: len(original) // 3])
    elif how == "zeroed header":
        with open(path, "wb") as f:
            f.write(b"\0" * 4096 + original[4096:])


def body(t):
    proj = t.project("proj", targets={"dev": "instance/app.db"})
    os.makedirs(os.path.join(proj, "instance"))
    db_file = os.path.join(proj, "instance", "app.db")
    fill(db_file)
    ck = table_checksum(db_file)
    with open(db_file, "rb") as f:
        original = f.read()
    good = t.dbsnap_ok(proj, "backup", "dev", "--json").json()

    for how in ("garbage", "truncated", "zeroed header"):
        t.section("live file {}".format(how))
        damage(db_file, how, original)
        damaged_sha = sha256_file(db_file)
        n = len(t.list_json(proj))

        r = t.dbsnap(proj, "restore", good["id"], "--yes")
        if r.rc == 0:
            t.check_eq(table_checksum(db_file), ck, "{}: restore --yes brought the data back".format(how))
        else:
            t.check_eq(sha256_file(db_file), damaged_sha, "{}: restore --yes refused and left the file as it was"
                       .format(how))
            t.check("--no-safety-snapshot" in r.errtext, "{}: the refusal says to pass --no-safety-snapshot"
                    .format(how), r.describe())
            t.check_eq(len(t.list_json(proj)), n, "{}: no safety snapshot was published".format(how))
            damage(db_file, how, original)

        r = t.dbsnap(proj, "restore", good["id"], "--yes", "--no-safety-snapshot")
        t.check_rc(r, 0, "{}: restore --yes --no-safety-snapshot over the damaged file".format(how))
        if r.rc == 0:
            t.check_eq(integrity(db_file), "ok", "{}: the restored database passes integrity_check".format(how))
            t.check_eq(table_checksum(db_file), ck, "{}: the snapshot's data is back".format(how))
        t.check_eq(sorted(f for f in os.listdir(os.path.dirname(db_file)) if "dbsnap-tmp" in f), [],
                   "{}: no temp file left beside the database".format(how))
        with open(db_file, "wb") as f:  # a clean start for the next case
            f.write(original)

    t.section("a snapshot of a database that was already corrupt when it was taken")
    bad_file = os.path.join(proj, "instance", "bad.db")
    fill(bad_file)
    db = connect(bad_file)
    db.execute("CREATE INDEX item_v ON item (v)")
    # Make the index disagree with its table: the file opens fine, integrity_check fails.
    db.execute("PRAGMA writable_schema=ON")
    db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX item_v ON item (b)' WHERE name = 'item_v'")
    db.close()
    t.require(integrity(bad_file) != "ok", "bad.db fails integrity_check")
    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write('\n[targets.bad]\nengine = "sqlite"\nfile = "instance/bad.db"\n')
    r = t.dbsnap(proj, "backup", "bad", "--json")
    if r.rc == 0:
        bad = r.json()
        r = t.dbsnap(proj, "restore", bad["id"], "--to", "dev", "--yes", "--no-safety-snapshot")
        t.check_error(r, 5, "restore of a snapshot whose image fails integrity_check", contains=("integrity_check",))
        t.check_eq(table_checksum(db_file), ck, "the target database is unchanged")
    else:
        t.check(r.rc == 7 and "integrity" in r.errtext, "backup of a corrupt database fails naming integrity_check",
                r.describe())


if __name__ == "__main__":
    Test("damaged_database").run(body)
