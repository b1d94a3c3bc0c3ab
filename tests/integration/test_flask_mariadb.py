#!/usr/bin/python3
"""The user story on MariaDB: a Flask-Migrate app in a `web` container, the database in another.

backup at revision 1 -> guarded `flask db upgrade` to revision 2 (group -> estimation_group,
user + FK; 'NewGroup' survives) -> the third migration fails halfway (duplicate names, then
FAIL_MIGRATION=1): `dbsnap upgrade` exits 9 and the database is exactly as before (checksum of
every table + revision; no half-added table/column) -> control: without dbsnap MariaDB stays
half-upgraded and stuck, `dbsnap restore` repairs it -> `rollback --to` 1 via restore -> up to 2
again -> `rollback --to` 1 via downgrade (a wrong and a failing command first: exit 9, nothing
changes) -> head with clean data -> `dbsnap revisions` -> revision travel with upgrade_command /
downgrade_command in dbsnap.toml: the plan back to 1 (--dry-run: the live downgrade, undoing 3
then 2; nothing changes) -> a downgrade failing in its second step (FAIL_DOWNGRADE=1: MariaDB is
left half-downgraded, kept as failed-downgrade) ends exactly as before the move (exit 9) ->
`restore initial --then-upgrade` failing (exactly as before) and succeeding (equal to the first
head upgrade) -> `rollback --via restore-downgrade` from the snapshot at 2 (equal to the first
backup).
"""
import os
import sys

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from flask_fixture import FlaskStack, container_story  # noqa: E402

t = Test("flask_mariadb")
with FlaskStack(t, "mariadb", "mariadb") as stack:
    t.run(lambda t: container_story(t, stack))
