#!/usr/bin/python3
"""Scenario: `dbsnap metrics`, Prometheus' text exposition format for node_exporter's textfile
collector. Two backups, a restore (its pre-restore snapshot is dbsnap's own), a verify, a damaged
snapshot: every line fits the format's grammar (and `promtool check metrics` accepts it when
promtool is on PATH), each family has HELP and TYPE once, and the values are the store's: snapshot
count, the newest user snapshot's time and size, the last verification, the damaged count. An
unknown --target is exit 3; metrics writes nothing to the store.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, fill_items, flip_byte, use_blobs, EXIT_CONFIG  # noqa: E402
from datetime import datetime  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{target="((?:[^"\\\n]|\\.)*)"\} (\S+)$')


def parse(t, text):
    """{family: {target: value}}, checking the grammar line by line."""
    families, typed, helped = {}, set(), set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            t.check(name not in helped, "one HELP for " + name)
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            t.check(kind in ("gauge", "counter") and name not in typed, "one TYPE for " + name, line)
            typed.add(name)
        else:
            m = SAMPLE.match(line)
            t.check(m is not None, "a sample line: " + line)
            if m:
                t.check(m.group(1) in typed, "its family was typed before: " + m.group(1))
                families.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return families


def utc_seconds(text):
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def body(t):
    proj = t.project(targets={"dev": "dev.db", "other": "other.db"})
    use_blobs(proj)  # a blob is the file flip_byte damages
    dev = os.path.join(proj, "dev.db")
    fill_items(dev, ["r1"], 50)
    first = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    fill_items(dev, ["r2"], 50)
    second = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.dbsnap_ok(proj, "restore", first["id"], "--yes")  # leaves a pre-restore snapshot, newer than both
    t.dbsnap_ok(proj, "verify", second["id"])
    flip_byte(os.path.join(proj, "snapshots", "dev", first["id"] + ".sqlite.zst"))
    r = t.dbsnap(proj, "verify", first["id"])
    t.check_eq(r.rc, 5, "verify marks the flipped snapshot damaged")

    t.section("the exposition")
    files_before = sorted(os.listdir(os.path.join(proj, "snapshots", "dev")))
    r = t.dbsnap(proj, "metrics")
    t.require_rc(r, 0, "dbsnap metrics")
    metrics = parse(t, r.text)
    t.check_eq(sorted(os.listdir(os.path.join(proj, "snapshots", "dev"))), files_before, "it wrote nothing")
    listing = t.list_json(proj, "dev")
    t.check_eq(metrics["dbsnap_snapshots"], {"dev": 3.0, "other": 0.0}, "3 snapshots of dev, none of other")
    t.check_eq(metrics["dbsnap_last_backup_timestamp_seconds"]["dev"], round(utc_seconds(second["created_at"]), 3),
               "the last backup is the second one (the pre-restore snapshot is dbsnap's own)")
    t.check_eq(metrics["dbsnap_last_backup_raw_bytes"]["dev"], float(second["blob"]["raw_bytes"]),
               "its dump's size")
    t.check_eq(metrics["dbsnap_stored_bytes"]["dev"], float(sum(m["blob"]["stored_bytes"] for m in listing)),
               "what the snapshots take in the store")
    verified = max(utc_seconds(m["verified_at"]) for m in listing if m.get("verified_at"))
    t.check_eq(metrics["dbsnap_last_verified_timestamp_seconds"]["dev"], round(verified, 3), "the last verification")
    t.check_eq(metrics["dbsnap_damaged_snapshots"], {"dev": 1.0, "other": 0.0}, "one damaged snapshot")
    t.check_eq(metrics["dbsnap_last_backup_timestamp_seconds"]["other"], 0.0, "0 for a target never backed up")

    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.out, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        t.check(p.returncode == 0 and not p.stdout.strip(), "promtool check metrics accepts it", p.stdout.decode())
    else:
        print("(promtool is not on PATH: checked against the format's grammar only)", flush=True)

    t.section("--target")
    r = t.dbsnap(proj, "metrics", "--target", "other")
    t.check_rc(r, 0, "metrics --target other")
    t.check_eq(set(parse(t, r.text)["dbsnap_snapshots"]), {"other"}, "only that target")
    t.check_error(t.dbsnap(proj, "metrics", "--target", "nosuch"), EXIT_CONFIG, "an unknown target")


if __name__ == "__main__":
    Test("metrics").run(body)
