#!/usr/bin/python3
"""The user story on PostgreSQL: the same steps as test_flask_mariadb.py.

Here the failing third migration rolls back by itself (transactional DDL): dbsnap must still
see the failed command, exit 9 and say the database is back at revision 2, with every table
and the revision exactly as before. The same holds for the revision travel at the end: the
downgrade failing in its second step rolls back by itself, and the move still ends exactly as
before it.
"""
import os
import sys

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from flask_fixture import FlaskStack, container_story  # noqa: E402

t = Test("flask_postgres")
with FlaskStack(t, "postgres", "postgres") as stack:
    t.run(lambda t: container_story(t, stack))
