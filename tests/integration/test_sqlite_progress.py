#!/usr/bin/python3
"""Scenario: the live progress line on a terminal, and --verbose's command log (SQLite on the host).

dbsnap runs with its stderr on a real pseudo-terminal (os.openpty, raw mode) and its stdout on a
pipe. backup draws "backup 'dev'" lines (bytes, rate, elapsed, no percent); restore draws the
stored-file check, the safety snapshot and "restore <id>" with percent and ETA; verify draws
"verify <id>" with percent and ETA; each ends at its final count ("100% ... finishing"). Each line
is redrawn in place (carriage return, erase to the end of line, never a newline), at most about 4
times a second, cut to the terminal's width, and erased at the end, so the result and errors start
on a clean line. Nothing of it with --quiet (nothing at all on the terminal then),
with --json (stdout stays one JSON document), or when stderr is a pipe. --verbose logs each
command dbsnap runs as "dbsnap: run: ..." with secrets masked: the guarded upgrade command (a
password in it shows as ***, nowhere in full), nothing for a backup of a host file (SQLite runs no
command), and nothing without --verbose.
"""
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, PYTHON, clean_env, connect, revisions_of, EXIT_OK, EXIT_CORRUPT  # noqa: E402

DRAW = re.compile(rb"\r([^\r\n\x1b]+)\x1b\[K")  # one drawn progress line
ERASE = b"\r\x1b[K"
SECRET = "hunter2-Xq9-upgrade"


class TtyResult:
    def __init__(self, argv, rc, out, tty_bytes, seconds):
        self.argv, self.rc, self.out, self.tty, self.seconds = argv, rc, out, tty_bytes, seconds

    @property
    def draws(self):
        return [m.decode("utf-8", "replace") for m in DRAW.findall(self.tty)]

    def describe(self):
        return "$ {}\n  exit {} after {:.2f} s\n  stdout: {}\n  terminal (stderr): {!r}".format(
            " ".join(self.argv), self.rc, self.seconds, self.out.decode("utf-8", "replace")[:2000], self.tty[-3000:])


def dbsnap_on_tty(t, proj, *args, columns=160):
    """Runs dbsnap with stderr on a pseudo-terminal of `columns` columns; returns what it drew there."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no \n -> \r\n translation: the bytes are exactly what dbsnap wrote
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    argv = [t.binary, "--config", os.path.join(proj, "dbsnap.toml")] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=proj, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                         env=clean_env())
    os.close(slave)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    got = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            p.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not chunk:
            break
        got += chunk
    rc = p.wait(timeout=60)
    reader.join()
    os.close(master)
    return TtyResult(argv, rc, out[0] if out else b"", bytes(got), time.monotonic() - t0)


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    rev1 = t.new_revision(proj, "create blobs", (
        "    op.create_table('blobs', sa.Column('id', sa.Integer, primary_key=True), sa.Column('data', sa.LargeBinary))\n"),
        "    op.drop_table('blobs')\n")
    rev2 = t.new_revision(proj, "create tag", "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True))\n",
                          "    op.drop_table('tag')\n")
    t.alembic(proj, "upgrade", rev1)
    db = connect(db_file)
    db.execute("BEGIN")
    # Incompressible data, so that every stage has real work: about 96 MiB.
    db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 96) "
               "INSERT INTO blobs (data) SELECT randomblob(1048576) FROM n")
    db.execute("COMMIT")
    db.close()
    size = os.path.getsize(db_file)
    t.require(size > 90 << 20, "the database holds {} MiB".format(size >> 20))

    def check_progress(r, label, percent, what):
        draws = [d for d in r.draws if d.startswith(label)]
        t.check(len(draws) >= 1, "{}: a progress line {!r} is drawn on the terminal".format(what, label), r.describe())
        if not draws:
            return draws
        t.check(all("/s" in d and re.search(r"\b\d+:\d\d\b", d) for d in draws),
                "{}: each line shows a rate and the elapsed time".format(what), draws[:5])
        if percent:
            pcts = [int(m.group(1)) for d in draws for m in [re.search(r"\s(\d{1,3})%\s", d)] if m]
            t.check(len(pcts) == len(draws) and all(" of " in d and ("ETA" in d or d.endswith("finishing"))
                                                    for d in draws),
                    "{}: each line shows percent, 'X of TOTAL' and an ETA (or 'finishing')".format(what), draws[:5])
            t.check(draws[-1].endswith("finishing") and pcts[-1] == 100,
                    "{}: the last line is at 100%, finishing".format(what), draws[-3:])
            t.check(pcts == sorted(pcts) and all(0 <= x <= 100 for x in pcts),
                    "{}: the percent only grows, within 0-100".format(what), pcts)
        else:
            t.check(not any("%" in d or "ETA" in d for d in draws),
                    "{}: no percent or ETA (the total is unknown)".format(what), draws[:5])
            t.check(draws[-1].endswith("finishing"), "{}: the last line is the final count, finishing".format(what),
                    draws[-3:])
        return draws

    def check_erased(r, what, newlines=0):
        # Redrawn in place: no newline on the terminal but those of the notes; erased at the end.
        t.check_eq(r.tty.count(b"\n"), newlines, "{}: the line is redrawn in place (newlines on the terminal)".format(
            what), r.describe())
        # A note may come last (the safety snapshot a SQLite restore takes inside its commit): the
        # line is erased before it, and nothing is drawn after it.
        after = r.tty[r.tty.rfind(ERASE) + len(ERASE):] if ERASE in r.tty else r.tty
        t.check(after == b"" or (after.endswith(b"\n") and b"\r" not in after),
                "{}: the progress line is erased at the end".format(what), r.describe())

    def check_rate_limited(r, what, stages=1):
        # Each stage draws when it starts and when its data is through, and at most every 250 ms between.
        allowed = 2 * stages + int(r.seconds * 4) + 2
        t.check(len(r.draws) <= allowed, "{}: {} draws in {:.2f} s: at most ~4 a second".format(
            what, len(r.draws), r.seconds), r.describe())

    t.section("backup on a terminal: bytes, rate, elapsed; no percent")
    r = dbsnap_on_tty(t, proj, "backup", "dev")
    t.require_eq(r.rc, EXIT_OK, "backup dev on a terminal exits 0", r.describe())
    draws = check_progress(r, "backup 'dev'", False, "backup")
    check_erased(r, "backup")
    check_rate_limited(r, "backup")
    if r.seconds > 1.5:
        t.check(len(draws) >= 2, "backup: a run of {:.1f} s is redrawn while it runs".format(r.seconds), r.describe())
    t.check(re.search(rb"snapshot  [0-9a-z]{13}", r.out) is not None, "backup: the summary is on stdout as usual",
            r.describe())
    snap = re.search(rb"snapshot  ([0-9a-z]{13})", r.out).group(1).decode()

    t.section("verify on a terminal: percent and ETA")
    r = dbsnap_on_tty(t, proj, "verify", snap)
    t.check_eq(r.rc, EXIT_OK, "verify on a terminal exits 0", r.describe())
    check_progress(r, "verify " + snap, True, "verify")
    check_erased(r, "verify")
    check_rate_limited(r, "verify")
    t.check(("ok   " + snap).encode() in r.out, "verify: the result line is on stdout", r.describe())

    t.section("restore on a terminal: the check, the safety snapshot and the restore, with percent")
    t.alembic(proj, "upgrade", rev2)
    r = dbsnap_on_tty(t, proj, "restore", snap, "--yes")
    t.require_eq(r.rc, EXIT_OK, "restore --yes on a terminal exits 0", r.describe())
    check_progress(r, "check " + snap, True, "restore's check of the stored file")
    check_progress(r, "safety snapshot of 'dev'", False, "restore's safety snapshot")
    draws = check_progress(r, "restore " + snap, True, "restore")
    check_erased(r, "restore", newlines=1)
    check_rate_limited(r, "restore", stages=3)
    t.check(re.search(rb"safety snapshot [0-9a-z]{13} of 'dev' taken", r.tty) is not None,
            "restore: the safety snapshot note is on the terminal, on a clean line", r.describe())
    t.check_eq(revisions_of(db_file), [rev1], "the restore happened (revision 1 again)")

    t.section("a narrow terminal: the line is cut, never wrapped")
    r = dbsnap_on_tty(t, proj, "verify", snap, columns=30)
    t.check_eq(r.rc, EXIT_OK, "verify on a 30-column terminal")
    t.check(len(r.draws) >= 1 and all(len(d) <= 29 for d in r.draws), "every line fits in 29 columns", r.draws)

    t.section("nothing with --quiet, with --json, or when stderr is a pipe")
    for args in (["backup", "dev", "--quiet"], ["-q", "verify", snap],
                 ["restore", snap, "--yes", "--no-safety-snapshot", "--quiet"]):
        r = dbsnap_on_tty(t, proj, *args)
        t.check_eq(r.rc, EXIT_OK, "{} exits 0".format(" ".join(args)), r.describe())
        t.check_eq(r.tty, b"", "{}: nothing at all on the terminal".format(" ".join(args)), r.describe())
    for args in (["backup", "dev", "--json"], ["--json", "verify", snap],
                 ["restore", snap, "--yes", "--no-safety-snapshot", "--json"]):
        r = dbsnap_on_tty(t, proj, *args)
        t.check_eq(r.rc, EXIT_OK, "{} exits 0".format(" ".join(args)), r.describe())
        t.check(b"\r" not in r.tty and b"\x1b" not in r.tty, "{}: no progress line on the terminal".format(
            " ".join(args)), r.describe())
        try:
            json.loads(r.out)
            parsed = True
        except ValueError:
            parsed = False
        t.check(parsed, "{}: stdout is one JSON document".format(" ".join(args)), r.describe())
    for args in (["backup", "dev"], ["verify", snap], ["restore", snap, "--yes", "--no-safety-snapshot"]):
        r = t.dbsnap(proj, *args)
        t.check_rc(r, EXIT_OK, "{} with stderr on a pipe".format(" ".join(args)))
        t.check(b"\r" not in r.err and b"\x1b" not in r.err and "%" not in r.errtext,
                "{}: no progress line on a pipe".format(" ".join(args)), r.describe())

    t.section("an error after a progress line starts on a clean line")
    blob = [m for m in t.list_json(proj) if m["id"] == snap][0]["path"]
    with open(blob, "r+b") as f:
        f.seek(os.path.getsize(blob) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x55]))
    r = dbsnap_on_tty(t, proj, "verify", snap)
    t.check_eq(r.rc, EXIT_CORRUPT, "verify of the damaged snapshot exits 5 on a terminal", r.describe())
    t.check(len(r.draws) >= 1, "verify drew its progress before it found the damage", r.describe())
    err_at = r.tty.find(b"dbsnap: error: ")
    t.check(err_at > 0 and r.tty[:err_at].endswith(ERASE), "the error line comes right after the erased line",
            r.describe())

    t.section("--verbose logs the commands dbsnap runs, secrets masked")
    r = t.dbsnap(proj, "--verbose", "backup", "dev")
    t.check_rc(r, EXIT_OK, "--verbose backup dev")
    t.check("dbsnap: run:" not in r.errtext, "a backup of a host SQLite file runs no command: nothing logged",
            r.describe())
    cmd = "PGPASSWORD={} true; exec {} -m alembic upgrade +1".format(SECRET, PYTHON)
    r = t.dbsnap(proj, "upgrade", "dev", "-v", "--", "sh", "-c", cmd)
    t.check_rc(r, EXIT_OK, "upgrade dev -v -- sh -c '...'")
    runs = [l for l in r.errtext.splitlines() if l.startswith("dbsnap: run: ")]
    expected = "dbsnap: run: sh -c 'PGPASSWORD=*** true; exec {} -m alembic upgrade +1'".format(PYTHON)
    t.check_eq(runs, [expected], "exactly the upgrade command is logged, its password masked", r.describe())
    t.check(SECRET not in r.errtext and SECRET not in r.text, "the password appears nowhere in dbsnap's output",
            r.describe())
    t.check_eq(revisions_of(db_file), [rev2], "the upgrade ran")
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev1, "--via", "downgrade", "--yes", "--command",
                 "exec {} -m alembic downgrade -1".format(PYTHON))
    t.check_rc(r, EXIT_OK, "rollback via downgrade without --verbose")
    t.check("dbsnap: run:" not in r.errtext, "without --verbose nothing is logged", r.describe())


if __name__ == "__main__":
    Test("sqlite_progress").run(body)
