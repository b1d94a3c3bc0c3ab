#!/usr/bin/python3
"""Scenario: a reader running during a PostgreSQL restore sees the old state or the new one, never
a mix, and keeps reading the old state while the dump loads.

State X (revision X, tables items/accounts, a ~80 MB table to make the restore last) is backed up;
the database moves to Y (same tables, every row of items and accounts changed, revision Y). While
dbsnap restores X, a reader session checksums items + accounts + alembic_version in ONE statement,
over and over. Every checksum it gets is X's or Y's; it sees Y, then X, and never Y again after X;
it got answers all through the load (not blocked until COMMIT), and the longest pause is short.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test  # noqa: E402
from postgres_fixture import DOCKER, PgContainer, pg_project, fill_big_table  # noqa: E402

READER_SQL = ("SELECT 'ck:' || md5(string_agg(x, '|' ORDER BY x)) FROM ("
              "SELECT 'i' || t::text FROM items t UNION ALL "
              "SELECT 'a' || t::text FROM accounts t UNION ALL "
              "SELECT 'v' || version_num FROM alembic_version) s(x);\n")


class Reader:
    """One psql session in the container running READER_SQL in a loop; keeps (time, result)."""

    def __init__(self, pg):
        self.samples = []
        self.errors = []
        self._stop = threading.Event()
        self._proc = subprocess.Popen(
            [DOCKER, "exec", "-i", pg.name, "psql", "-U", "postgres", "-d", "app", "-XAtq"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self._proc.stdin.write(READER_SQL + "\\echo @@done\n")
            self._proc.stdin.flush()
            result = None
            for line in self._proc.stdout:
                line = line.rstrip("\n")
                if line == "@@done":
                    break
                if line.startswith("ck:"):
                    result = line[3:]
                elif line:
                    self.errors.append(line)
            else:
                return
            if result is not None:
                self.samples.append((time.monotonic(), result))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        return False


def body(t):
    with PgContainer(t, "concurrent_reader") as pg:
        pg.sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
               "INSERT INTO alembic_version VALUES ('x1x1x1x1');"
               "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);"
               "INSERT INTO items SELECT g, 'item ' || g, g * 0.5 FROM generate_series(1, 20000) g;"
               "CREATE TABLE accounts (id int PRIMARY KEY, balance numeric);"
               "INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 100) g;")
        fill_big_table(pg, "big", 80)
        proj = pg_project(t, {"pg": pg.target()})
        ck_x = pg.sql(READER_SQL).strip()[3:]
        s_x = t.dbsnap_ok(proj, "backup", "pg", "--json").json()

        pg.sql("UPDATE alembic_version SET version_num = 'y2y2y2y2';"
               "UPDATE items SET price = price + 1, name = name || ' (Y)';"
               "UPDATE accounts SET balance = balance - id;")
        ck_y = pg.sql(READER_SQL).strip()[3:]
        t.require(ck_x != ck_y, "X and Y differ")

        t.section("restore X while a reader checksums in a loop")
        with Reader(pg) as reader:
            time.sleep(1.0)
            started = time.monotonic()
            p = t.spawn_dbsnap(t.path("proj"), "restore", s_x["id"], "--yes", "--no-safety-snapshot")
            out, err = p.communicate(timeout=600)
            ended = time.monotonic()
            time.sleep(1.0)
        t.require_eq(p.returncode, 0, "the restore succeeded", err.decode(errors="replace"))

        values = [v for _, v in reader.samples]
        t.check_eq(reader.errors, [], "the reader got no errors")
        t.check(len(values) > 20, "the reader took {} samples".format(len(values)))
        strange = sorted(set(values) - {ck_x, ck_y})
        t.check_eq(strange, [], "every sample is X's or Y's checksum (never a mix)")
        first_x = values.index(ck_x) if ck_x in values else len(values)
        t.check(ck_y in values[:first_x] and ck_x in values, "the reader saw Y, then X")
        t.check(ck_y not in values[first_x:], "never Y again after X")
        # The load is the restore's first part; the swap comes at its end. A fixed margin left too few samples
        # when the restore took 1.1 s on a fast machine, so the window is the first half of the restore's time.
        load_end = started + 0.5 * (ended - started)
        during = [v for ts, v in reader.samples if started < ts < load_end]
        t.check(len(during) >= 5 and during.count(ck_y) == len(during),
                "while the dump loaded the reader kept reading the old state ({} of {} samples in the first half of "
                "the restore were Y, the restore took {:.1f} s)".format(during.count(ck_y), len(during),
                                                                         ended - started))
        times = [ts for ts, _ in reader.samples if started <= ts <= ended + 1]
        gap = max((b - a for a, b in zip(times, times[1:])), default=0)
        t.check(gap < 10, "the longest pause of the reader during the restore was {:.2f} s".format(gap))
        t.check_eq(pg.revisions(), ["x1x1x1x1"], "the revision is X")


if __name__ == "__main__":
    Test("postgres_concurrent_reader").run(body)
