#!/usr/bin/python3
"""Scenario: backup/restore round trip of a SQLite database with a real Alembic history.

An Alembic project made by Debian's alembic (init + revision), upgraded to A, filled,
backed up; upgraded to B and changed; restored to A (checksums, revisions, safety
snapshot at B), references (id prefix, @REV, latest, list --revision), then a branched
history with two heads (two rows in alembic_version) backed up and restored.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_NOT_FOUND, Test, sha256_bytes, sha256_file, table_checksum, revisions_of,  # noqa: E402
                         unique_prefix, write, zstd_decompress, EXIT_OK, recover, use_blobs, use_chunks)


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")

    rev_a = t.new_revision(proj, "create item", (
        "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('name', sa.String(64), nullable=False),\n"
        "                    sa.Column('qty', sa.Integer))\n"))
    rev_b = t.new_revision(proj, "item note and tag", (
        "    op.add_column('item', sa.Column('note', sa.Text))\n"
        "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True),\n"
        "                    sa.Column('item_id', sa.Integer, sa.ForeignKey('item.id')),\n"
        "                    sa.Column('label', sa.String(32)))\n"))

    t.section("upgrade to A, fill, back up")
    t.alembic(proj, "upgrade", rev_a)
    t.require_eq(t.alembic_current(proj), [rev_a], "alembic current is A after upgrade A")
    write(db_file, ("INSERT INTO item (name, qty) VALUES (?, ?)",
                    [("item-{}".format(i), i * 7 % 13) for i in range(500)]))
    ck_a = table_checksum(db_file)
    size_a = os.path.getsize(db_file)

    r = t.dbsnap_ok(proj, "backup", "dev", "--label", "at-A", "--json")
    m_a = r.json()
    t.check_eq(m_a["revisions"], t.alembic_current(proj), "backup --json: revisions equal what alembic current says")
    t.check_eq(m_a["target"], "dev", "backup --json: target")
    t.check_eq(m_a["label"], "at-A", "backup --json: label")
    t.check_eq(m_a["data"]["raw_bytes"], size_a, "raw_bytes equals the database file's size")
    t.check_eq(m_a["data"]["layout"], "chunks", "a new snapshot is stored as chunks (the default layout)")
    listing = m_a["path"]
    t.require(os.path.isfile(listing), "the chunk list {} exists".format(listing))
    t.check_eq(m_a["data"]["list_sha256"], sha256_file(listing), "list_sha256 equals sha256 of the chunk list")

    listed = t.list_json(proj)
    t.check_eq([m["id"] for m in listed], [m_a["id"]], "list --json shows exactly the new snapshot")
    t.check_eq(listed[0] if listed else None, m_a, "list --json entry equals the backup --json manifest")
    shown = t.show_json(proj, m_a["id"])
    t.check_eq(shown, m_a, "show --json equals the backup --json manifest")

    r = t.dbsnap_ok(proj, "cat", m_a["id"])
    t.check_eq(len(r.out), m_a["data"]["raw_bytes"], "dbsnap cat writes raw_bytes bytes")
    t.check_eq(sha256_bytes(r.out), m_a["data"]["raw_sha256"], "sha256 of dbsnap cat equals raw_sha256")

    rc, dump, err = recover(os.path.join(proj, "snapshots"), m_a["id"])
    t.require(rc == 0, "dbsnap-recover (python3 + zstd, no dbsnap) rebuilds the dump", err)
    plain = t.path("plain-recovered.db")
    with open(plain, "wb") as f:
        f.write(dump)
    t.check_eq(sha256_file(plain), m_a["data"]["raw_sha256"], "the rebuilt dump's sha256 equals raw_sha256")
    t.check_eq(table_checksum(plain), ck_a, "the rebuilt dump has the live database's table checksum")

    t.section("a blob snapshot (snapshot_layout = \"blob\") is one zstd file that zstd -dc decodes")
    use_blobs(proj)
    m_blob = t.dbsnap_ok(proj, "backup", "dev", "--label", "blob-at-A", "--json").json()
    blob = m_blob["path"]
    t.require(os.path.isfile(blob) and blob.endswith(".sqlite.zst"), "the blob {} exists".format(blob))
    t.check_eq(m_blob["blob"]["stored_bytes"], os.path.getsize(blob), "stored_bytes equals the blob's size")
    t.check_eq(m_blob["blob"]["stored_sha256"], sha256_file(blob), "stored_sha256 equals sha256 of the blob")
    plain = t.path("plain-zstd.db")
    rc, err = zstd_decompress(blob, plain)
    t.require(rc == 0, "plain zstd -dc decodes the blob", err)
    t.check_eq(sha256_file(plain), m_blob["blob"]["raw_sha256"], "zstd -dc output's sha256 equals raw_sha256")
    t.check_eq(table_checksum(plain), ck_a, "zstd -dc output has the live database's table checksum")
    t.dbsnap_ok(proj, "delete", m_blob["id"], "--yes")
    t.check(not os.path.exists(blob), "delete removes the blob")
    use_chunks(proj)

    t.section("upgrade to B, change data, restore A")
    t.alembic(proj, "upgrade", "head")
    t.require_eq(t.alembic_current(proj), [rev_b], "alembic current is B after upgrade head")
    write(db_file, "UPDATE item SET qty = qty + 100, note = 'changed' WHERE id % 3 = 0",
          "DELETE FROM item WHERE id % 5 = 0",
          ("INSERT INTO tag (item_id, label) VALUES (?, ?)", [(i, "t{}".format(i)) for i in range(1, 50)]))
    ck_b = table_checksum(db_file)
    t.require(ck_b != ck_a, "the data at B differs from the data at A")

    r = t.dbsnap(proj, "restore", m_a["id"], "--yes")
    t.check_rc(r, EXIT_OK, "restore <id of A> --yes")
    t.check_eq(table_checksum(db_file), ck_a, "after restore: the table checksum is the one taken at A")
    t.check_eq(revisions_of(db_file), [rev_a], "after restore: alembic_version holds A")
    t.check_eq(t.alembic_current(proj), [rev_a], "after restore: alembic current agrees (A)")
    t.check("revision  " + rev_a in r.text, "restore prints the restored revision", r.describe())

    listed = t.list_json(proj)
    safety = [m for m in listed if m["label"] == "pre-restore"]
    t.require_eq(len(safety), 1, "one safety snapshot labelled pre-restore exists", listed)
    safety = safety[0]
    t.check_eq(len(listed), 2, "list shows the snapshot and its safety snapshot")
    t.check_eq(listed[0]["id"], safety["id"], "list is newest first: the safety snapshot leads")
    t.check_eq(safety["revisions"], [rev_b], "the safety snapshot is at revision B")
    t.check(safety["id"] in r.errtext + r.text, "restore names the safety snapshot it took", r.describe())
    t.check_eq(t.cat_checksum(proj, safety["id"], "safety.db"), ck_b,
               "the safety snapshot holds the data as it was at B")

    t.section("references: list --revision, @REV, latest, id prefix")
    pa, pb = unique_prefix(rev_a, rev_b), unique_prefix(rev_b, rev_a)
    got = [m["id"] for m in t.list_json(proj, "--revision", pa)]
    t.check_eq(got, [m_a["id"]], "list --revision {} (prefix of A) lists only A's snapshot".format(pa))
    got = [m["id"] for m in t.list_json(proj, "--revision", pb)]
    t.check_eq(got, [safety["id"]], "list --revision {} (prefix of B) lists only the safety snapshot".format(pb))
    got = [m["id"] for m in t.list_json(proj, "--revision", rev_a)]
    t.check_eq(got, [m_a["id"]], "list --revision <full A> lists A's snapshot")
    t.check_eq(t.list_json(proj, "--revision", "ffffffffffff"), [], "list --revision of an unknown revision is empty")
    t.check_eq(t.show_json(proj, "@" + pa)["id"], m_a["id"], "show @{} resolves to A's snapshot".format(pa))
    t.check_eq(safety.get("automatic"), True, "the safety snapshot's manifest says it is automatic")
    t.check_eq(m_a.get("automatic"), False, "a backup's manifest says it is not automatic")
    r = t.dbsnap(proj, "show", "@" + rev_b)
    t.check_error(r, EXIT_NOT_FOUND, "show @<B> (only the safety snapshot is there)",
                  contains=(safety["id"], "--include-automatic"))
    t.check_eq(t.show_json(proj, "@" + rev_b, "--include-automatic")["id"], safety["id"],
               "show @<B> --include-automatic resolves to the safety snapshot")
    t.check_eq(t.show_json(proj, "latest")["id"], m_a["id"], "show latest is the newest snapshot the user took")
    t.check_eq(t.show_json(proj, "latest", "--target", "dev")["id"], m_a["id"], "show latest --target dev")
    t.check_eq(t.show_json(proj, "latest", "--include-automatic")["id"], safety["id"],
               "show latest --include-automatic is the safety snapshot")
    prefix = unique_prefix(m_a["id"], safety["id"], minimum=1)
    t.check_eq(t.show_json(proj, prefix)["id"], m_a["id"], "show <unique id prefix {}>".format(prefix))
    t.check_eq(t.show_json(proj, m_a["id"].upper())["id"], m_a["id"], "show <ID in upper case>")
    r = t.dbsnap_ok(proj, "cat", "@" + pa)
    t.check_eq(sha256_bytes(r.out), m_a["data"]["raw_sha256"], "cat @A streams A's dump")

    t.section("undo: restore <the safety snapshot's id> brings B back")
    r = t.dbsnap(proj, "restore", safety["id"], "--yes")
    t.check_rc(r, EXIT_OK, "restore <safety id> --yes")
    t.check_eq(table_checksum(db_file), ck_b, "after restoring the safety snapshot: checksum taken at B")
    t.check_eq(t.alembic_current(proj), [rev_b], "alembic current agrees (B)")
    t.check_eq(len(t.list_json(proj)), 3, "that restore took its own safety snapshot (3 listed)")

    t.section("branched history: two heads, two rows in alembic_version")
    rev_c = t.new_revision(proj, "branch c", (
        "    op.create_table('c_side', sa.Column('id', sa.Integer, primary_key=True), sa.Column('v', sa.Text))\n"),
        head=rev_b)
    rev_d = t.new_revision(proj, "branch d", (
        "    op.create_table('d_side', sa.Column('id', sa.Integer, primary_key=True), sa.Column('v', sa.Text))\n"),
        head=rev_b, splice=True)
    heads = sorted(re.findall(r"^([0-9a-f]+) ", t.alembic(proj, "heads").text, re.M))
    t.require_eq(heads, sorted([rev_c, rev_d]), "alembic heads lists the two branch heads")
    t.alembic(proj, "upgrade", "heads")
    current = t.alembic_current(proj)
    t.require_eq(current, sorted([rev_c, rev_d]), "alembic current reports both heads")
    t.require_eq(revisions_of(db_file), sorted([rev_c, rev_d]), "alembic_version has two rows")
    write(db_file, ("INSERT INTO c_side (v) VALUES (?)", [("c{}".format(i),) for i in range(20)]),
          ("INSERT INTO d_side (v) VALUES (?)", [("d{}".format(i),) for i in range(30)]))
    ck_cd = table_checksum(db_file)
    m_cd = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.check_eq(m_cd["revisions"], current, "the two-head snapshot's revision set equals alembic current")
    t.check_eq([m["id"] for m in t.list_json(proj, "--revision", rev_c)], [m_cd["id"]],
               "list --revision <head C> finds the two-head snapshot")
    t.check_eq([m["id"] for m in t.list_json(proj, "--revision", rev_d)], [m_cd["id"]],
               "list --revision <head D> finds the two-head snapshot")

    t.dbsnap_ok(proj, "restore", m_a["id"], "--yes", "--no-safety-snapshot")
    t.require_eq(t.alembic_current(proj), [rev_a], "back at A before restoring the two-head snapshot")
    r = t.dbsnap(proj, "restore", "@" + rev_d, "--yes")
    t.check_rc(r, EXIT_OK, "restore @<head D> --yes")
    t.check_eq(table_checksum(db_file), ck_cd, "the two-head state's table checksum is back")
    t.check_eq(t.alembic_current(proj), sorted([rev_c, rev_d]), "alembic current reports both heads again")
    t.check("revision  " + ",".join(sorted([rev_c, rev_d])) in r.text, "restore prints both revisions", r.describe())

    t.section("restore when the database file is gone")
    n = len(t.list_json(proj))
    os.remove(db_file)
    r = t.dbsnap(proj, "restore", "@" + pa, "--yes")
    t.check_rc(r, EXIT_OK, "restore @A --yes with app.db deleted")
    t.check(os.path.isfile(db_file) and table_checksum(db_file) == ck_a, "app.db is back with A's data")
    t.check_eq(t.alembic_current(proj), [rev_a], "alembic current agrees (A)")
    t.check_eq(len(t.list_json(proj)), n, "no safety snapshot was taken of the missing database")


if __name__ == "__main__":
    Test("round_trip").run(body)
