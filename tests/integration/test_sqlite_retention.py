#!/usr/bin/python3
"""Scenario: a retention policy in dbsnap.toml (keep_* keys of a target).

keep_last = 2: after each backup only the newest two stay, and stderr says what went (the backup's
--json document is unchanged); `prune dev` with no rules applies the same policy (--dry-run first);
rules on the command line win over the keys; keep_last = 0 never removes the snapshot just taken;
a bad key (keep_within = "soon", keep_last = -1) is a config error (exit 3) before anything is
backed up; the prune help and man page name the new --keep-daily/--keep-weekly/--keep-monthly.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, fill_items, EXIT_CONFIG  # noqa: E402


def body(t):
    proj = t.project(targets={"dev": "dev.db"})
    dev = os.path.join(proj, "dev.db")
    conf = os.path.join(proj, "dbsnap.toml")
    with open(conf) as f:
        base = f.read()

    def policy(*lines):
        with open(conf, "w") as f:
            f.write(base.rstrip("\n") + "\n" + "".join(line + "\n" for line in lines))

    def ids():
        return [m["id"] for m in t.list_json(proj, "dev")]

    t.section("keep_last = 2: each backup leaves the newest two")
    policy("keep_last = 2")
    taken = []
    for i in range(4):
        fill_items(dev, ["r1"], 10 + i, prefix="b{}-".format(i))
        r = t.dbsnap(proj, "backup", "dev", "--json")
        t.require_rc(r, 0, "backup {}".format(i + 1))
        taken.append(r.json()["id"])
        t.check_eq(r.json().get("target"), "dev", "--json is the snapshot's document")
        t.check_eq(ids(), list(reversed(taken))[:2], "after backup {}: the newest two".format(i + 1))
        if i >= 2:
            t.check(re.search(r"retention .*removed 1 snapshot\(s\): {}".format(taken[i - 2]), r.errtext),
                    "stderr names the snapshot the policy removed", r.describe())

    t.section("prune with no rules applies the target's policy; command-line rules win")
    policy("keep_last = 1")
    r = t.dbsnap(proj, "prune", "dev", "--dry-run")
    t.check_rc(r, 0, "prune dev --dry-run (keep_last = 1 from dbsnap.toml)")
    t.check("would remove  {}".format(taken[2]) in r.text and "newest 1" in r.text, "it would remove the older one",
            r.describe())
    t.check_eq(ids(), [taken[3], taken[2]], "a dry run removes nothing")
    r = t.dbsnap(proj, "prune", "dev", "--keep-last", "2", "--dry-run")
    t.check("would remove 0 snapshot(s)" in r.text, "--keep-last 2 on the command line wins", r.describe())
    t.dbsnap_ok(proj, "prune", "dev")
    t.check_eq(ids(), [taken[3]], "prune dev removed it")

    t.section("keep_last = 0 never removes the snapshot just taken")
    policy("keep_last = 0")
    r = t.dbsnap(proj, "backup", "dev", "--json")
    t.require_rc(r, 0, "backup with keep_last = 0")
    t.check_eq(ids(), [r.json()["id"]], "the new snapshot stays; the older one went")

    t.section("a bad key is a config error before anything is backed up")
    before = ids()
    for line in ('keep_within = "soon"', "keep_last = -1", 'keep_daily = "7"'):
        policy(line)
        r = t.dbsnap(proj, "backup", "dev")
        t.check_error(r, EXIT_CONFIG, "backup with " + line)
        policy()
        t.check_eq(ids(), before, "no snapshot was taken or removed")
    r = t.dbsnap(proj, "prune", "dev")
    t.check_error(r, 2, "prune dev with no rules anywhere", contains=["keep_"])

    t.section("the new rules are in --help")
    r = t.dbsnap(proj, "prune", "--help")
    for option in ("--keep-daily", "--keep-weekly", "--keep-monthly"):
        t.check(option in r.text, "prune --help names " + option, r.describe())


if __name__ == "__main__":
    Test("retention").run(body)
