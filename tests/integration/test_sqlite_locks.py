#!/usr/bin/python3
"""Scenario: per-target locks and several dbsnap processes on one store.

- An upgrade holds 'dev' alone (its command is a `sleep`): a restore and a backup of dev fail
  with exit 10 after --lock-timeout (at once with 0, after 1 s with 1), naming the holder's pid and
  command; the database is unchanged; another target and `list` are not blocked.
- The holder SIGKILLed (its `sleep` child still running): the next restore gets the lock at once
  (no stale lock), and the dead holder's note is swept.
- A restore queued behind a short upgrade waits, says whom it waits for, and then runs.
- SIGINT / SIGTERM to a process waiting for the lock: exit 130 / 143 promptly, nothing changed.
- Backups share a target: while two backups of one target wait for its database (another
  process holds it in an exclusive transaction), a restore of that target is refused naming both;
  when the database is free, both backups are published.
- Twelve backups of four targets and three `catalog rebuild`s at the same time: every backup
  is listed, the catalog passes integrity_check, every snapshot verifies.
"""
import glob
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_BUSY, EXIT_INTERRUPTED, EXIT_TERMINATED, Test, connect, fill_items,  # noqa: E402
                         table_checksum, temp_files, wait_for)


def notes(store, target):
    return sorted(glob.glob(os.path.join(store, ".locks", target, "holder.*")))


def holds(store, target, proc):
    """True once `proc` holds the target's lock: a note with its pid (notes of killed holders stay until swept)."""
    for n in notes(store, target):
        try:
            with open(n) as f:
                if "pid={}\n".format(proc.pid) in f.read():
                    return True
        except FileNotFoundError:
            pass
    return proc.poll() is not None


def children_of(pid):
    p = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE)
    return [int(x) for x in p.stdout.split()]


def kill_tree(proc):
    """SIGKILLs a spawned dbsnap and the command it runs."""
    kids = children_of(proc.pid)
    proc.kill()
    proc.wait()
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass


HOLD_DB = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def body(t):
    targets = {"dev": "dev.db", "other": "other.db", "shared": "shared.db"}
    targets.update({"t{}".format(i): "t{}.db".format(i) for i in range(4)})
    proj = t.project("proj", targets=targets)
    store = os.path.join(proj, "snapshots")
    dev = os.path.join(proj, "dev.db")
    for name, f in targets.items():
        fill_items(os.path.join(proj, f), ["a1b2c3"], 200, prefix=name)

    snap = t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]
    fill_items(dev, ["d4e5f6"], 50, prefix="later")
    dev_ck = table_checksum(dev)

    t.section("an upgrade holds 'dev' alone")
    holder = t.spawn_dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", "sleep", "60")
    t.require(bool(wait_for(lambda: holds(store, "dev", holder), 30)) and holder.poll() is None,
              "the upgrade took the lock and wrote its holder note", notes(store, "dev"))
    with open(notes(store, "dev")[0]) as f:
        note = f.read()
    t.check("pid={}\n".format(holder.pid) in note and "mode=exclusive\n" in note and
            "upgrade dev --no-expect-change -- sleep 60" in note, "the note names pid, mode and command", note)

    r = t.dbsnap(proj, "--lock-timeout", "0", "restore", snap, "--yes")
    t.check_error(r, EXIT_BUSY, "restore of dev with --lock-timeout 0", contains=(
        "target 'dev' is locked by pid {} (".format(holder.pid), "upgrade dev --no-expect-change -- sleep 60)",
        "waited 0 s (see --lock-timeout)"))
    t.check(r.seconds < 10, "--lock-timeout 0 fails at once ({:.1f} s)".format(r.seconds))

    r = t.dbsnap(proj, "--lock-timeout", "1", "restore", snap, "--yes")
    last = t.check_last_error(r, EXIT_BUSY, "restore of dev with --lock-timeout 1", contains=(
        "target 'dev' is locked by pid {} (".format(holder.pid), "waited 1 s (see --lock-timeout)"))
    lines = r.errtext.strip().splitlines()
    t.check(len(lines) == 2 and "waiting up to 1 s (--lock-timeout)" in lines[0] and str(holder.pid) in lines[0],
            "it said once, before waiting, whom it waits for", r.describe())
    t.check(1.0 <= r.seconds < 15, "it waited about 1 s ({:.1f} s)".format(r.seconds))

    r = t.dbsnap(proj, "--lock-timeout", "0", "backup", "dev")
    t.check_error(r, EXIT_BUSY, "backup of dev while an upgrade holds it",
                  contains=("target 'dev' is locked by pid {}".format(holder.pid),))
    t.check_eq(table_checksum(dev), dev_ck, "dev unchanged by the refused commands")
    r = t.dbsnap(proj, "--lock-timeout", "0", "backup", "other")
    t.check_rc(r, 0, "a backup of another target is not blocked")
    t.check_rc(t.dbsnap(proj, "list"), 0, "list is not blocked")

    t.section("the holder SIGKILLed: no stale lock")
    kids = children_of(holder.pid)
    t.require(bool(kids), "the upgrade's command (sleep) runs")
    holder.kill()
    holder.wait()
    t.check(all(os.path.exists("/proc/{}".format(k)) for k in kids),
            "its sleep child still runs (and does not hold the lock: it was not inherited)")
    t.check_eq(len(notes(store, "dev")), 1, "the killed holder's note is still there")
    r = t.dbsnap(proj, "--lock-timeout", "0", "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "restore right after the SIGKILL gets the lock at once")
    t.check_eq(notes(store, "dev"), [], "the dead holder's note was swept, the restore's own removed")
    for k in kids:
        os.kill(k, signal.SIGKILL)
    fill_items(dev, ["d4e5f6"], 50, prefix="later2")
    dev_ck = table_checksum(dev)

    t.section("a restore waits for a short upgrade, then runs")
    holder = t.spawn_dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", "sleep", "2")
    t.require(bool(wait_for(lambda: holds(store, "dev", holder), 30)) and holder.poll() is None,
              "the upgrade holds dev")
    r = t.dbsnap(proj, "--lock-timeout", "60", "restore", snap, "--yes", "--no-safety-snapshot")
    t.check_rc(r, 0, "the queued restore")
    t.check("is locked by pid {}".format(holder.pid) in r.errtext and "waiting up to 60 s" in r.errtext,
            "it said whom it waited for", r.describe())
    t.check(r.seconds >= 0.5, "it waited for the upgrade ({:.1f} s)".format(r.seconds))
    holder.communicate(timeout=60)
    t.check_eq(holder.returncode, 0, "the upgrade itself succeeded")
    t.check(table_checksum(dev) != dev_ck, "the restore ran after the upgrade")
    dev_ck = table_checksum(dev)

    for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)):
        name = signal.Signals(sig).name
        t.section("{} while waiting for the lock".format(name))
        holder = t.spawn_dbsnap(proj, "upgrade", "dev", "--no-expect-change", "--", "sleep", "60")
        t.require(bool(wait_for(lambda: holds(store, "dev", holder), 30)) and
                  holder.poll() is None, "the upgrade holds dev")
        waiter = t.spawn_dbsnap(proj, "--lock-timeout", "60", "restore", snap, "--yes")
        time.sleep(1.0)
        t.require(waiter.poll() is None, "the restore is waiting")
        sent = time.monotonic()
        waiter.send_signal(sig)
        _, err = waiter.communicate(timeout=30)
        err = err.decode("utf-8", "replace")
        t.check_eq(waiter.returncode, code, "{}: the waiting restore exits {}".format(name, code), err)
        t.check(time.monotonic() - sent < 5, "{}: promptly".format(name))
        t.check(err.strip().splitlines()[-1].startswith("dbsnap: error: interrupted by {} while waiting for the "
                                                        "lock on target 'dev'".format(name)),
                "{}: the error says it was waiting for the lock".format(name), err)
        kill_tree(holder)
        t.check_eq(table_checksum(dev), dev_ck, "{}: dev unchanged".format(name))

    t.section("backups share a target")
    hold = t.spawn_python(HOLD_DB, os.path.join(proj, "shared.db"), stdin=subprocess.PIPE)
    t.require(hold.stdout.readline().strip() == "locked", "another process holds shared.db in an exclusive "
              "transaction (in rollback-journal mode, so readers wait)")
    first = t.spawn_dbsnap(proj, "backup", "shared", "--label", "first")
    t.require(bool(wait_for(lambda: holds(store, "shared", first), 30)) and
              first.poll() is None, "the first backup holds 'shared' and waits for the database")
    second = t.spawn_dbsnap(proj, "--lock-timeout", "0", "backup", "shared", "--label", "second")
    t.require(bool(wait_for(lambda: holds(store, "shared", second), 30)),
              "the second backup took the lock too")
    t.check(second.poll() is None, "the second backup (--lock-timeout 0) was not refused: it shares the lock",
            second.returncode)
    r = t.dbsnap(proj, "--lock-timeout", "0", "restore", "latest", "--target", "dev", "--to", "shared", "--yes")
    t.check_error(r, EXIT_BUSY, "restore into 'shared' while two backups run", contains=(
        "target 'shared' is locked by pid {} (".format(min(first.pid, second.pid)),
        "backup shared --label first)", "backup shared --label second)", ") and pid "))
    hold.stdin.write("commit\n")
    hold.stdin.flush()
    hold.wait(timeout=30)
    for p, label in ((first, "first"), (second, "second")):
        _, err = p.communicate(timeout=120)
        t.check_eq(p.returncode, 0, "the {} backup succeeded once the database was free".format(label),
                   err.decode(errors="replace"))
    t.check_eq(sorted(m["label"] for m in t.list_json(proj, "shared")), ["first", "second"],
               "both backups of 'shared' are listed")

    t.section("12 backups of 4 targets and 3 catalog rebuilds at once")
    before = len(t.list_json(proj))
    procs = []
    for round_ in range(3):
        for i in range(4):
            procs.append(t.spawn_dbsnap(proj, "backup", "t{}".format(i), "--label", "c{}".format(round_)))
        procs.append(t.spawn_dbsnap(proj, "catalog", "rebuild"))
    for p in procs:
        _, err = p.communicate(timeout=240)
        t.check_eq(p.returncode, 0, " ".join(p.argv[3:]) + " succeeded", err.decode(errors="replace"))
    listing = t.list_json(proj)
    t.check_eq(len(listing), before + 12, "every concurrent backup is listed")
    for i in range(4):
        t.check_eq(sorted(m["label"] for m in listing if m["target"] == "t{}".format(i)), ["c0", "c1", "c2"],
                   "t{}: its three backups".format(i))
    db = connect(os.path.join(store, "catalog.db"))
    t.check_eq(db.execute("PRAGMA integrity_check").fetchone()[0], "ok", "the catalog passes integrity_check")
    db.close()
    manifests = glob.glob(os.path.join(store, "*", "*.json"))
    t.check_eq(len(manifests), len(listing), "one manifest per listed snapshot")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "verify --all")
    t.check_eq(temp_files(store), [], "no temp files left")


if __name__ == "__main__":
    Test("locks").run(body)
