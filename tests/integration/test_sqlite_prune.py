#!/usr/bin/python3
"""Scenario: `dbsnap prune TARGET` by retention rules over snapshots at three revisions.

Seven snapshots of target dev (two at revision 1, three at 2, two at 3, with labels) and
one of another target. Checked: no rule is a usage error; --dry-run removes nothing and
prints a keep/would-remove line with its reason for every snapshot; --keep-per-revision;
--keep-last 2 keeps the two newest AND the newest snapshot of every other revision ("only
snapshot left"), --force drops those too; --keep-within 1h keeps everything taken just now,
and (created_at of two manifests moved 3 h back, catalog rebuilt) drops the old ones but the
last of a revision; the blob and manifest files of removed snapshots are gone, the other
target is untouched, and verify --all passes afterwards.
"""
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, table_checksum, EXIT_OK, EXIT_USAGE, EXIT_CONFIG  # noqa: E402

REV1, REV2, REV3 = "1a2b3c4d5e6f", "2b3c4d5e6f70", "3c4d5e6f7081"


def stamp(db_file, rev, n):
    db = connect(db_file)
    db.execute("BEGIN")
    db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("DELETE FROM alembic_version")
    db.execute("INSERT INTO alembic_version VALUES (?)", (rev,))
    db.executemany("INSERT INTO item (name) VALUES (?)", [("row-{}-{}".format(n, i),) for i in range(20)])
    db.execute("COMMIT")
    db.close()


def parse_prune(text):
    """{id: (action, revision, reasons)} from prune's lines (unrecognised lines under "?"), and the summary."""
    lines, summary = {}, None
    for line in text.splitlines():
        if re.match(r"^(would remove|removed) \d+ snapshot", line):
            summary = line
            continue
        m = re.match(r"^(keep|would remove|remove)\s+([0-9a-z]+)\s+(\S+)\s+(\S+)\s*(.*)$", line)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3), m.group(5))
        elif line.strip():
            lines.setdefault("?", []).append(line)
    return lines, summary


def body(t):
    proj = t.project(targets={"dev": "app.db", "other": "other.db"})
    db_file = os.path.join(proj, "app.db")
    store = os.path.join(proj, "snapshots")

    t.section("seven snapshots of dev over three revisions, one of 'other'")
    plan = [("A", REV1, "first"), ("B", REV1, ""), ("C", REV2, "release"), ("D", REV2, ""), ("E", REV2, "pre-restore"),
            ("F", REV3, ""), ("G", REV3, "latest-work")]
    snap = {}
    for n, (name, rev, label) in enumerate(plan):
        stamp(db_file, rev, n)
        args = ["backup", "dev", "--json"] + (["--label", label] if label else [])
        snap[name] = t.dbsnap_ok(proj, *args).json()
        time.sleep(0.01)  # distinct created_at (ms) for a stable newest-first order
    stamp(os.path.join(proj, "other.db"), REV1, 99)
    other = t.dbsnap_ok(proj, "backup", "other", "--json").json()
    ids = {name: m["id"] for name, m in snap.items()}
    name_of = {v: k for k, v in ids.items()}
    t.require_eq([name_of.get(m["id"]) for m in t.list_json(proj, "dev")], list("GFEDCBA"),
                 "list dev is newest first: G F E D C B A")
    ck_live = table_checksum(db_file)

    def files_of(m):
        d = os.path.dirname(m["path"])
        return [m["path"], os.path.join(d, m["id"] + ".json")]

    def present():
        return "".join(name_of[m["id"]] for m in t.list_json(proj, "dev"))

    def prune(*args):
        r = t.dbsnap(proj, "prune", "dev", *args)
        lines, summary = parse_prune(r.text)
        return r, {name_of.get(k, k): v for k, v in lines.items()}, summary

    def check_lines(what, r, got, expected):
        """expected: {name: (action, reason substring)} for every snapshot present."""
        t.check_eq(sorted(got), sorted(expected), "{}: one line per snapshot".format(what), r.describe())
        for name, (action, reason) in sorted(expected.items()):
            line = got.get(name)
            ok = line is not None and line[0] == action and reason in line[2]
            t.check(ok, "{}: {} -> {} ({})".format(what, name, action, reason or "no reason"),
                    "got {!r}\n{}".format(line, r.describe()))
            if ok:
                t.check_eq(line[1], snap[name]["revisions"][0], "{}: {}'s line shows its revision".format(what, name))

    t.section("no rule, bad rules")
    r = t.dbsnap(proj, "prune", "dev")
    t.check_error(r, EXIT_USAGE, "prune dev without a rule", contains=("--keep-last",))
    r = t.dbsnap(proj, "prune", "dev", "--keep-within", "soon")
    t.check_error(r, EXIT_USAGE, "prune --keep-within soon", contains=("soon",))
    r = t.dbsnap(proj, "prune", "dev", "--keep-last", "-1")
    t.check_rc(r, EXIT_USAGE, "prune --keep-last -1")
    r = t.dbsnap(proj, "prune", "nosuchtarget", "--keep-last", "1")
    t.check_error(r, EXIT_CONFIG, "prune of an unknown target", contains=("nosuchtarget",))
    t.check_eq(present(), "GFEDCBA", "nothing was removed")

    t.section("--keep-within 1h: every snapshot was taken just now")
    r, got, summary = prune("--keep-within", "1h")
    t.check_rc(r, EXIT_OK, "prune --keep-within 1h")
    check_lines("--keep-within 1h", r, got, {n: ("keep", "within 1h") for n in "ABCDEFG"})
    t.check(summary is not None and summary.startswith("removed 0 snapshot(s)") and summary.endswith("kept 7"),
            "summary: removed 0, kept 7", r.describe())
    t.check_eq(present(), "GFEDCBA", "nothing was removed")

    t.section("--dry-run --keep-last 2")
    before = {n: [os.path.exists(f) for f in files_of(m)] for n, m in snap.items()}
    r, got, summary = prune("--keep-last", "2", "--dry-run")
    t.check_rc(r, EXIT_OK, "prune --keep-last 2 --dry-run")
    only = "only snapshot left at revision "
    check_lines("--keep-last 2 --dry-run", r, got, {
        "G": ("keep", "newest 2"), "F": ("keep", "newest 2"), "E": ("keep", only + REV2),
        "D": ("would remove", ""), "C": ("would remove", ""), "B": ("keep", only + REV1), "A": ("would remove", "")})
    t.check(summary is not None and summary.startswith("would remove 3 snapshot(s)") and summary.endswith("kept 4"),
            "summary: would remove 3, kept 4", r.describe())
    t.check_eq(present(), "GFEDCBA", "--dry-run removed nothing from the list")
    t.check_eq({n: [os.path.exists(f) for f in files_of(m)] for n, m in snap.items()}, before,
               "--dry-run removed no file")

    t.section("--dry-run --keep-per-revision 1")
    r, got, summary = prune("--keep-per-revision", "1", "--dry-run")
    t.check_rc(r, EXIT_OK, "prune --keep-per-revision 1 --dry-run")
    per = "newest 1 at its revision"
    check_lines("--keep-per-revision 1 --dry-run", r, got, {
        "G": ("keep", per), "F": ("would remove", ""), "E": ("keep", per), "D": ("would remove", ""),
        "C": ("would remove", ""), "B": ("keep", per), "A": ("would remove", "")})
    t.check_eq(present(), "GFEDCBA", "--dry-run removed nothing")

    t.section("--keep-per-revision 2")
    r, got, summary = prune("--keep-per-revision", "2")
    t.check_rc(r, EXIT_OK, "prune --keep-per-revision 2")
    per = "newest 2 at its revision"
    check_lines("--keep-per-revision 2", r, got, {
        "G": ("keep", per), "F": ("keep", per), "E": ("keep", per), "D": ("keep", per), "C": ("remove", ""),
        "B": ("keep", per), "A": ("keep", per)})
    t.check(summary is not None and summary.startswith("removed 1 snapshot(s)") and summary.endswith("kept 6"),
            "summary: removed 1, kept 6", r.describe())
    t.check_eq(present(), "GFEDBA", "C is gone from the list")
    t.check_eq([f for f in files_of(snap["C"]) if os.path.exists(f)], [], "C's blob and manifest are gone")

    t.section("--keep-last 2 keeps the newest of every other revision")
    r, got, summary = prune("--keep-last", "2")
    t.check_rc(r, EXIT_OK, "prune --keep-last 2")
    check_lines("--keep-last 2", r, got, {
        "G": ("keep", "newest 2"), "F": ("keep", "newest 2"), "E": ("keep", only + REV2), "D": ("remove", ""),
        "B": ("keep", only + REV1), "A": ("remove", "")})
    t.check_eq(present(), "GFEB", "left: G F (newest 2), E (revision 2), B (revision 1)")
    for n in "AD":
        t.check_eq([f for f in files_of(snap[n]) if os.path.exists(f)], [], "{}'s blob and manifest are gone".format(n))
    for n in "GFEB":
        t.check(all(os.path.exists(f) for f in files_of(snap[n])), "{}'s blob and manifest remain".format(n))
    r = t.dbsnap(proj, "verify", "--all")
    t.check_rc(r, EXIT_OK, "verify --all after prune")

    t.section("--keep-within 1h with two snapshots moved 3 h into the past")
    old = (datetime.now(timezone.utc) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for n in "BE":
        path = files_of(snap[n])[1]
        with open(path) as f:
            doc = json.load(f)
        doc["created_at"] = old
        with open(path, "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
    t.dbsnap_ok(proj, "catalog", "rebuild")
    t.require_eq([m["created_at"] for m in t.list_json(proj, "dev") if name_of[m["id"]] in "BE"], [old, old],
                 "after catalog rebuild B and E were taken 3 h ago")
    r, got, summary = prune("--keep-within", "1h", "--dry-run")
    t.check_rc(r, EXIT_OK, "prune --keep-within 1h --dry-run")
    check_lines("--keep-within 1h (B, E 3 h old)", r, got, {
        "G": ("keep", "within 1h"), "F": ("keep", "within 1h"), "E": ("keep", only + REV2),
        "B": ("keep", only + REV1)})
    r, got, summary = prune("--keep-within", "2h", "--keep-last", "1", "--force", "--dry-run")
    t.check_rc(r, EXIT_OK, "prune --keep-within 2h --keep-last 1 --force --dry-run")
    check_lines("--keep-within 2h --keep-last 1 --force", r, got, {
        "G": ("keep", "newest 1; within 2h"), "F": ("keep", "within 2h"), "E": ("would remove", ""),
        "B": ("would remove", "")})
    t.check_eq(present(), "GFEB", "--dry-run removed nothing")

    t.section("--keep-last 2 --force drops the last snapshots of revisions 1 and 2")
    r, got, summary = prune("--keep-last", "2", "--force")
    t.check_rc(r, EXIT_OK, "prune --keep-last 2 --force")
    check_lines("--keep-last 2 --force", r, got, {
        "G": ("keep", "newest 2"), "F": ("keep", "newest 2"), "E": ("remove", ""), "B": ("remove", "")})
    t.check_eq(present(), "GF", "left: G F")
    for n in "ABCDE":
        t.check_eq([f for f in files_of(snap[n]) if os.path.exists(f)], [], "{}'s files are gone".format(n))
    leftovers = sorted(f for f in os.listdir(os.path.join(store, "dev")))
    t.check_eq(leftovers, sorted(os.path.basename(f) for n in "GF" for f in files_of(snap[n])),
               "the store's dev folder holds exactly G's and F's blob and manifest")
    t.check_eq([m["id"] for m in t.list_json(proj, "other")], [other["id"]], "the other target's snapshot is untouched")
    r = t.dbsnap(proj, "verify", "--all")
    t.check_rc(r, EXIT_OK, "verify --all after prune --force")
    t.check_eq(table_checksum(db_file), ck_live, "prune never touched the live database")

    t.section("--keep-last 0 keeps only the last snapshot of each revision; restore of a kept one works")
    r, got, summary = prune("--keep-last", "0")
    t.check_rc(r, EXIT_OK, "prune --keep-last 0")
    check_lines("--keep-last 0", r, got, {"G": ("keep", only + REV3), "F": ("remove", "")})
    t.check_eq(present(), "G", "left: G")
    r = t.dbsnap(proj, "restore", ids["G"], "--yes", "--no-safety-snapshot")
    t.check_rc(r, EXIT_OK, "restore G after all the pruning")

    t.section("pinned snapshots: prune keeps them whatever the rules and --force; delete refuses them")
    h = t.dbsnap_ok(proj, "backup", "dev", "--label", "H", "--pin", "--json").json()
    name_of[h["id"]] = "H"
    snap["H"] = h
    t.check_eq(h["pinned"], True, "backup --pin writes a pinned manifest")
    r = t.dbsnap(proj, "pin", ids["G"])
    t.check_rc(r, EXIT_OK, "pin G")
    t.check(t.show_json(proj, ids["G"])["pinned"], "show says G is pinned")
    t.check("[pinned]" in t.dbsnap_ok(proj, "list").text, "list marks pinned snapshots")
    for args in (("--keep-last", "0", "--force"), ("--keep-within", "0s", "--force")):
        r, got, summary = prune(*args)
        t.check_rc(r, EXIT_OK, "prune {}".format(" ".join(args)))
        check_lines(" ".join(args), r, got, {"H": ("keep", "pinned"), "G": ("keep", "pinned")})
        t.check_eq(present(), "HG", "H and G are still there")
    r = t.dbsnap(proj, "delete", ids["G"], "--yes")
    t.check_error(r, 8, "delete of a pinned snapshot", contains=("is pinned", "dbsnap unpin " + ids["G"]))
    t.check_eq(present(), "HG", "nothing was deleted")
    t.check_rc(t.dbsnap(proj, "unpin", ids["G"]), EXIT_OK, "unpin G")
    with open(os.path.join(store, "dev", ids["G"] + ".json")) as f:
        t.check_eq(json.load(f)["pinned"], False, "the manifest file says unpinned")
    r, got, summary = prune("--keep-last", "0", "--force")
    check_lines("after unpin", r, got, {"H": ("keep", "pinned"), "G": ("remove", "")})
    t.check_eq(present(), "H", "G is gone once unpinned; H stays")


if __name__ == "__main__":
    Test("prune").run(body)
