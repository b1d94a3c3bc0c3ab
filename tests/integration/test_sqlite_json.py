#!/usr/bin/python3
"""Scenario: --json on every command that reports, checked against the schema FORMAT.md documents.

The schema is read from snapshots/FORMAT.md itself (its "JSON output" tables and the manifest
example), so the documentation and the output cannot drift apart: every documented field must be
present with its documented type, and no undocumented field may appear. On a real Alembic project
(SQLite, three revisions): backup, list, show, verify, revisions, doctor, upgrade (whose command
writes to stdout: that goes to stderr, stdout stays one JSON document), rollback via restore and
via downgrade, restore, prune (dry run and real), copy (copied, then present). --json is accepted before and after the command.
Errors are one line of JSON on stderr with kind, exit code and message (unknown snapshot, unknown
target, unknown command, bad option, damaged snapshot, failing doctor check), and commands that
report before failing print their document on stdout too. Without --json errors stay text.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, PYTHON, revisions_of, use_blobs, EXIT_OK, EXIT_USAGE, EXIT_CONFIG,  # noqa: E402
                         EXIT_NOT_FOUND, EXIT_CORRUPT, EXIT_FAILURE)

FORMAT_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "snapshots", "FORMAT.md")


# ---- the documented schema, read from FORMAT.md ---------------------------

def load_schema():
    """{section name: [(field path, type)]} from the "## JSON output" tables, and the manifest examples
    ({format_version: example}: 2 for a chunked snapshot, 1 for a blob)."""
    with open(FORMAT_MD, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Manifest", 1)[1].split("\n## ", 1)[0]
    manifest = {}
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        example = json.loads(block)
        manifest[example["format_version"]] = example
    part = text.split("## JSON output", 1)[1].split("\n## ", 1)[0]
    sections = {}
    name = "error"
    for line in part.splitlines():
        if line.startswith("### "):
            words = re.findall(r"`([a-z]+)`", line)
            name = ",".join(words) if words else line[4:].strip().lower()
            sections[name] = []
            continue
        m = re.match(r"\| `([^`]+)` \| ([a-z ]+) \|", line)
        if m:
            sections.setdefault(name, []).append((m.group(1), m.group(2).strip()))
    return manifest, sections


MANIFEST_EXAMPLES, SCHEMA = load_schema()
REFERENCE = SCHEMA["snapshot reference"]


def type_problems(value, type_name, where):
    """Problems of one value against a documented type name."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)
    if type_name.endswith(" or null"):
        return [] if value is None else type_problems(value, type_name[:-len(" or null")], where)
    simple = {"string": lambda v: isinstance(v, str), "integer": is_int, "boolean": lambda v: isinstance(v, bool),
              "object": lambda v: isinstance(v, dict),
              "array of strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
              # elements are checked by object_problems, with the rows documented for them
              "array of objects": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
              "array of references": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v)}
    if type_name == "reference":
        return object_problems(value, REFERENCE, where)
    if type_name not in simple:
        return ["{}: FORMAT.md uses an unknown type {!r}".format(where, type_name)]
    if not simple[type_name](value):
        return ["{}: expected {}, got {!r}".format(where, type_name, value)]
    return []


def object_problems(doc, rows, where="", extra_keys=()):
    """Checks `doc` against documented rows: each field present with its type, nothing undocumented.
    Rows may name nested fields ("a.b") and array elements ("a[].b", "[].b" for a top-level array)."""
    problems = []
    if not isinstance(doc, dict):
        return ["{}: expected an object, got {!r}".format(where or "document", doc)]
    top = {}
    nested = {}
    for path, type_name in rows:
        m = re.match(r"^([a-z_]+)(\[\])?\.(.+)$", path)
        if m:
            nested.setdefault(m.group(1), []).append((m.group(3), type_name, bool(m.group(2))))
        else:
            top[path] = type_name
    for key, type_name in top.items():
        if type_name in ("array of objects", "array of references"):
            nested.setdefault(key, [])  # each element is checked below
        if key not in doc:
            problems.append("{}: documented field {!r} is missing".format(where or "document", key))
        else:
            problems += type_problems(doc[key], type_name, where + "." + key if where else key)
    for key, subrows in nested.items():
        element = top.get(key) in ("array of objects", "array of references") or any(e for _, _, e in subrows)
        rows_here = [(p, t) for p, t, _ in subrows]
        if key not in doc:
            if key not in top:
                problems.append("{}: documented field {!r} is missing".format(where or "document", key))
            continue
        if element:
            base = REFERENCE if top.get(key) == "array of references" else []
            for i, x in enumerate(doc[key]):
                problems += object_problems(x, base + rows_here, "{}{}[{}]".format(where + "." if where else "", key, i))
        else:
            problems += object_problems(doc[key], rows_here, (where + "." if where else "") + key)
    known = set(top) | set(nested) | set(extra_keys)
    for key in doc:
        if key not in known:
            problems.append("{}: field {!r} is not documented in FORMAT.md".format(where or "document", key))
    return problems


def snapshot_problems(doc, where="snapshot"):
    """A snapshot document: every manifest field of FORMAT.md's example of its format (nested objects
    too), plus path/manifest_path."""
    if doc.get("format_version") not in MANIFEST_EXAMPLES:
        return ["{}: format_version {!r} has no example in FORMAT.md".format(where, doc.get("format_version"))]
    manifest_example = MANIFEST_EXAMPLES[doc["format_version"]]
    problems = object_problems(doc, SCHEMA["backup,show"], where, extra_keys=manifest_example.keys())
    for key, example in manifest_example.items():
        if key not in doc:
            problems.append("{}: manifest field {!r} is missing".format(where, key))
        elif type(doc[key]) is not type(example) and not (key == "tables" and doc[key] is None):
            problems.append("{}.{}: {!r} is not a {}".format(where, key, doc[key], type(example).__name__))
        elif isinstance(example, dict) and key != "tables" and set(doc[key]) != set(example):
            problems.append("{}.{}: keys {} differ from FORMAT.md's {}".format(where, key, sorted(doc[key]),
                                                                              sorted(example)))
    return problems


def array_problems(doc, rows, where):
    if not isinstance(doc, list):
        return ["{}: expected an array, got {!r}".format(where, doc)]
    element_rows = [(p[3:], t) for p, t in rows if p.startswith("[].")]
    return [p for i, x in enumerate(doc) for p in object_problems(x, element_rows, "{}[{}]".format(where, i))]


# ---- the scenario ---------------------------------------------------------

def body(t):
    t.require(all(k in SCHEMA for k in ("error", "snapshot reference", "backup,show", "verify", "restore", "revisions",
                                          "doctor", "prune", "upgrade", "rollback", "copy")),
              "FORMAT.md documents the JSON output of every reporting command", sorted(SCHEMA))
    t.require(sorted(MANIFEST_EXAMPLES) == [1, 2] and "data" in MANIFEST_EXAMPLES[2] and "blob" in MANIFEST_EXAMPLES[1],
              "FORMAT.md's manifest examples parse: format 2 (chunks) and format 1 (blob)")

    def check_doc(problems, what, r):
        t.check(problems == [], "{}: matches the documented schema".format(what),
                "\n".join(problems) + "\n" + r.describe())

    def json_of(r, what):
        """stdout is exactly one JSON document (and nothing else)."""
        try:
            return json.loads(r.out)
        except ValueError as e:
            t.check(False, "{}: stdout is one JSON document".format(what), "{}\n{}".format(e, r.describe()))
            return None

    def check_json_error(r, code, kind, what, contains=""):
        t.check_rc(r, code, what)
        lines = r.errtext.strip().splitlines()
        doc = None
        try:
            doc = json.loads(lines[-1]) if lines else None
        except ValueError:
            pass
        t.check(doc is not None, "{}: stderr ends with a line of JSON".format(what), r.describe())
        if doc is None:
            return
        check_doc(object_problems(doc, SCHEMA["error"]), what + ": the error", r)
        err = doc.get("error", {})
        t.check_eq((err.get("kind"), err.get("exit_code")), (kind, code), "{}: error kind and exit code".format(what))
        t.check(contains in err.get("message", ""), "{}: the message mentions {!r}".format(what, contains), r.describe())

    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    rev1 = t.new_revision(proj, "create item", (
        "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))\n"
        "    op.execute(\"INSERT INTO item (name) VALUES ('one'), ('two')\")\n"), "    op.drop_table('item')\n")
    rev2 = t.new_revision(proj, "create tag", (
        "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True))\n"), "    op.drop_table('tag')\n")
    rev3 = t.new_revision(proj, "create note", (
        "    op.create_table('note', sa.Column('id', sa.Integer, primary_key=True))\n"), "    op.drop_table('note')\n")
    t.alembic(proj, "upgrade", rev1)

    t.section("backup --json, after and before the command")
    r = t.dbsnap(proj, "backup", "dev", "--label", "first", "--json")
    t.require_rc(r, EXIT_OK, "backup dev --json")
    s1 = json_of(r, "backup --json")
    check_doc(snapshot_problems(s1), "backup --json", r)
    t.check_eq((s1["target"], s1["revisions"], s1["label"]), ("dev", [rev1], "first"),
               "backup --json: target, revision, label")
    t.check(os.path.isfile(s1["path"]) and os.path.isfile(s1["manifest_path"]),
            "backup --json: path and manifest_path exist")
    r = t.dbsnap(proj, "--json", "backup", "dev")
    t.require_rc(r, EXIT_OK, "--json backup dev (global position)")
    s2 = json_of(r, "--json backup")
    check_doc(snapshot_problems(s2), "--json backup", r)
    t.check(s2["id"] != s1["id"], "a second snapshot was taken")
    t.check_eq((s1["format_version"], s1["data"]["layout"]), (2, "chunks"), "backup --json: a chunked snapshot")
    blob_proj = t.project("blob-proj", targets={"dev": db_file})
    use_blobs(blob_proj)
    r = t.dbsnap(blob_proj, "backup", "dev", "--json")
    t.require_rc(r, EXIT_OK, "backup --json with snapshot_layout = \"blob\"")
    sb = json_of(r, "backup --json (blob)")
    check_doc(snapshot_problems(sb), "backup --json of a blob snapshot", r)
    t.check_eq(sb["format_version"], 1, "a blob snapshot's manifest is format 1")
    check_doc(snapshot_problems(t.show_json(blob_proj, sb["id"]), "show --json (blob)"), "show --json of a blob snapshot", r)

    t.section("list, show and verify --json")
    r = t.dbsnap(proj, "list", "--json")
    listed = json_of(r, "list --json")
    t.check(isinstance(listed, list) and [m["id"] for m in listed] == [s2["id"], s1["id"]],
            "list --json: an array of both snapshots, newest first", r.describe())
    for i, m in enumerate(listed or []):
        check_doc(snapshot_problems(m, "list[{}]".format(i)), "list --json element {}".format(i), r)
    r = t.dbsnap(proj, "--json", "list", "--revision", "ffff")
    t.check_eq(json_of(r, "list --json (no match)"), [], "list --json with no match: an empty array")
    r = t.dbsnap(proj, "show", s1["id"], "--json")
    shown = json_of(r, "show --json")
    check_doc(snapshot_problems(shown), "show --json", r)
    t.check_eq({k: v for k, v in shown.items() if k not in ("status", "verified_at")},
               {k: v for k, v in s1.items() if k not in ("status", "verified_at")}, "show --json is what backup printed")
    r = t.dbsnap(proj, "verify", "--all", "--json")
    t.check_rc(r, EXIT_OK, "verify --all --json")
    verified = json_of(r, "verify --json")
    check_doc(array_problems(verified, SCHEMA["verify"], "verify"), "verify --json", r)
    t.check_eq([(v["id"], v["ok"], v["problem"]) for v in verified or []], [(s2["id"], True, ""), (s1["id"], True, "")],
               "verify --json: both ok, no problem")
    r = t.dbsnap(proj, "verify", "--restore", "--latest-per-target", "--json")
    t.check_rc(r, EXIT_OK, "verify --restore --latest-per-target --json")
    tested = json_of(r, "verify --restore --json")
    check_doc(array_problems(tested, SCHEMA["`verify --restore`: an array of test restores"], "verify --restore"),
              "verify --restore --json", r)
    t.check_eq([(v["id"], v["ok"]) for v in tested or []], [(s2["id"], True)],
               "verify --restore --latest-per-target --json: the newest snapshot, ok")

    t.section("revisions and doctor --json")
    r = t.dbsnap(proj, "revisions", "dev", "--json")
    t.check_rc(r, EXIT_OK, "revisions dev --json")
    revs = json_of(r, "revisions --json")
    check_doc(object_problems(revs, SCHEMA["revisions"]), "revisions --json", r)
    t.check_eq([x["revision"] for x in revs["revisions"]], [rev3, rev2, rev1], "revisions --json: head to base")
    t.check_eq(revs["current"], [rev1], "revisions --json: current")
    r = t.dbsnap(proj, "doctor", "dev", "--json")
    t.check_rc(r, EXIT_OK, "doctor dev --json")
    doc = json_of(r, "doctor --json")
    check_doc(object_problems(doc, SCHEMA["doctor"]), "doctor --json", r)
    t.check_eq((doc["target"], doc["engine"], doc["ok"], doc["failures"]), ("dev", "sqlite", True, 0),
               "doctor --json: target, engine, ok")
    names = [c["name"] for c in doc["checks"]]
    t.check("config" in names and "revision" in names and all(c["level"] in ("ok", "warn", "fail") for c in doc["checks"]),
            "doctor --json: config and revision checks, levels ok/warn/fail", doc["checks"])
    t.check(any(c["name"] == "revision" and c["detail"] == rev1 for c in doc["checks"]),
            "doctor --json: the revision check found the database's revision", doc["checks"])

    t.section("upgrade --json: the command's stdout goes to stderr, stdout stays one document")
    cmd = "echo upgrade-noise-on-stdout; exec {} -m alembic upgrade +1".format(PYTHON)
    r = t.dbsnap(proj, "upgrade", "dev", "--json", "--", "sh", "-c", cmd)
    t.check_rc(r, EXIT_OK, "upgrade dev --json -- alembic upgrade +1")
    up = json_of(r, "upgrade --json")
    check_doc(object_problems(up or {}, SCHEMA["upgrade"]), "upgrade --json", r)
    t.check_eq((up["before"], up["after"], up["snapshot"]["revisions"], up["snapshot"]["label"]),
               ([rev1], [rev2], [rev1], "pre-upgrade"), "upgrade --json: before, after, the pre-upgrade snapshot")
    t.check("upgrade-noise-on-stdout" in r.errtext and "upgrade-noise" not in r.text,
            "the command's stdout was sent to dbsnap's stderr", r.describe())
    t.check_eq(revisions_of(db_file), [rev2], "the database is at revision 2")

    t.section("rollback --json, via restore and via downgrade")
    # rollback picks the newest snapshot at rev1 the user took, never the automatic pre-upgrade one.
    at_rev1 = [m for m in t.list_json(proj) if m["revisions"] == [rev1] and not m["automatic"]]
    t.require(at_rev1, "a backup taken by the user at rev1 exists")
    r = t.dbsnap(proj, "rollback", "dev", "--to", rev1, "--yes", "--json")
    t.check_rc(r, EXIT_OK, "rollback dev --to rev1 --json (via restore)")
    rb = json_of(r, "rollback --json")
    check_doc(object_problems(rb or {}, SCHEMA["rollback"]), "rollback --json (restore)", r)
    t.check_eq((rb["via"], rb["revision"], rb["before"], rb["after"], rb["snapshot"]["id"],
                rb["safety_snapshot"]["label"], rb["safety_snapshot"]["revisions"]),
               ("restore", rev1, [rev2], [rev1], at_rev1[0]["id"], "pre-rollback", [rev2]),
               "rollback --json: via restore of the user's newest rev1 snapshot, pre-rollback snapshot at rev2")
    t.alembic(proj, "upgrade", rev3)
    r = t.dbsnap(proj, "--json", "rollback", "dev", "--to", rev2, "--via", "downgrade", "--yes", "--command",
                 "echo downgrade-noise; exec {} -m alembic downgrade -1".format(PYTHON))
    t.check_rc(r, EXIT_OK, "rollback --via downgrade --json")
    rd = json_of(r, "rollback --via downgrade --json")
    check_doc(object_problems(rd or {}, SCHEMA["rollback"]), "rollback --json (downgrade)", r)
    t.check_eq((rd["via"], rd["before"], rd["after"], rd["snapshot"], rd["safety_snapshot"]["revisions"]),
               ("downgrade", [rev3], [rev2], None, [rev3]), "rollback --via downgrade --json: snapshot is null")
    t.check("downgrade-noise" in r.errtext and "downgrade-noise" not in r.text,
            "the downgrade command's stdout went to stderr", r.describe())
    r = t.dbsnap(proj, "--json", "rollback", "dev", "--to", rev1, "--dry-run", "--command", "true")
    t.check_rc(r, EXIT_OK, "rollback --dry-run --json")
    plan = json_of(r, "rollback --dry-run --json")
    check_doc(object_problems(plan or {}, SCHEMA["`rollback --dry-run`"]), "rollback --dry-run --json", r)
    t.check_eq(((plan or {}).get("chosen"), [p["via"] for p in (plan or {}).get("paths", [])]),
               ("downgrade", ["downgrade", "upgrade", "restore", "restore-downgrade", "restore-upgrade"]),
               "rollback --dry-run --json: five paths, the live downgrade chosen (a command is given)")
    t.check_eq(revisions_of(db_file), [rev2], "the dry run changed nothing")

    t.section("restore --json, with and without a safety snapshot")
    r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--json")
    t.check_rc(r, EXIT_OK, "restore s1 --yes --json")
    rs = json_of(r, "restore --json")
    check_doc(object_problems(rs or {}, SCHEMA["restore"]), "restore --json", r)
    t.check_eq((rs["target"], rs["snapshot"]["id"], rs["revisions"], rs["safety_snapshot"]["label"],
                rs["safety_snapshot"]["revisions"]), ("dev", s1["id"], [rev1], "pre-restore", [rev2]),
               "restore --json: target, snapshot, revision read back, the pre-restore snapshot")
    t.check(rs["duration_ms"] >= 0, "restore --json: duration_ms")
    r = t.dbsnap(proj, "--json", "restore", s1["id"], "--yes", "--no-safety-snapshot")
    rs2 = json_of(r, "restore --no-safety-snapshot --json")
    check_doc(object_problems(rs2 or {}, SCHEMA["restore"]), "restore --no-safety-snapshot --json", r)
    t.check(rs2 is not None and rs2["safety_snapshot"] is None, "restore --no-safety-snapshot --json: safety_snapshot null")

    t.section("prune --json: dry run, then for real")
    listing = t.list_json(proj)
    before = [m["id"] for m in listing]
    blob_ids = {m["id"] for m in listing if "blob" in m}
    r = t.dbsnap(proj, "prune", "dev", "--keep-last", "2", "--force", "--dry-run", "--json")
    t.check_rc(r, EXIT_OK, "prune --keep-last 2 --force --dry-run --json")
    pd = json_of(r, "prune --dry-run --json")
    check_doc(object_problems(pd or {}, SCHEMA["prune"]), "prune --dry-run --json", r)
    t.check_eq(([k["id"] for k in pd["kept"]], [k["id"] for k in pd["removed"]], pd["dry_run"]),
               (before[:2], before[2:], True), "prune --dry-run --json: the newest 2 kept, the rest would go")
    t.check_eq([m["id"] for m in t.list_json(proj)], before, "the dry run removed nothing")
    r = t.dbsnap(proj, "--json", "prune", "dev", "--keep-last", "2", "--force")
    pr = json_of(r, "prune --json")
    check_doc(object_problems(pr or {}, SCHEMA["prune"]), "prune --json", r)
    t.check_eq(([k["id"] for k in pr["removed"]], pr["dry_run"]), (before[2:], False), "prune --json: removed")
    t.check(pr["reclaimed"] is not None and pr["reclaimed"]["collected"], "prune --json: garbage collection ran", r.describe())
    t.check_eq(pr["freed_bytes"], (pr["reclaimed"] or {}).get("bytes_freed", -1) +
               sum(k["stored_bytes"] for k in pr["removed"] if k["id"] in blob_ids),
               "prune --json: freed_bytes is the removed blobs plus what the reclaim freed")
    t.check_eq([m["id"] for m in t.list_json(proj)], before[:2], "only the two newest are listed now")

    t.section("copy --json: copied, then present")
    other = t.path("other-store")
    r = t.dbsnap(proj, "copy", "--all", "--to", other, "--json")
    t.check_rc(r, EXIT_OK, "copy --all --json")
    cp = json_of(r, "copy --json")
    check_doc(object_problems(cp or {}, SCHEMA["copy"]), "copy --json", r)
    t.check_eq([(x["id"], x["outcome"]) for x in (cp or {}).get("snapshots", [])],
               [(i, "copied") for i in reversed(before[:2])], "copy --json: both copied, oldest first")
    r = t.dbsnap(proj, "--json", "copy", "--all", "--to", other)
    cp = json_of(r, "copy --json again")
    check_doc(object_problems(cp or {}, SCHEMA["copy"]), "copy --json again", r)
    t.check_eq([x["outcome"] for x in (cp or {}).get("snapshots", [])], ["present", "present"],
               "copy --json again: both present")

    t.section("errors as one line of JSON on stderr")
    r = t.dbsnap(proj, "show", "zzzz", "--json")
    check_json_error(r, EXIT_NOT_FOUND, "not_found", "show zzzz --json", "zzzz")
    t.check_eq(r.out, b"", "show zzzz --json: nothing on stdout")
    r = t.dbsnap(proj, "--json", "backup", "nosuch")
    check_json_error(r, EXIT_CONFIG, "config", "--json backup nosuch", "nosuch")
    r = t.dbsnap(proj, "--json", "frobnicate")
    check_json_error(r, EXIT_USAGE, "usage", "--json frobnicate (unknown command)", "frobnicate")
    r = t.dbsnap(proj, "list", "--json", "--no-such-option")
    check_json_error(r, EXIT_USAGE, "usage", "list --json --no-such-option", "--no-such-option")
    r = t.dbsnap(proj, "show", "zzzz")
    t.check_error(r, EXIT_NOT_FOUND, "show zzzz without --json: the error stays text")

    keep = t.list_json(proj)[0]
    with open(keep["path"], "r+b") as f:
        f.seek(10)
        byte = f.read(1)
        f.seek(10)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = t.dbsnap(proj, "verify", keep["id"], "--json")
    check_json_error(r, EXIT_CORRUPT, "corrupt", "verify of a damaged snapshot --json", keep["id"])
    vd = json_of(r, "verify --json of a damaged snapshot")
    t.check(isinstance(vd, list) and len(vd) == 1 and vd[0]["ok"] is False and vd[0]["problem"] != "",
            "verify --json still prints its results: ok false with the problem", r.describe())

    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write('\n[targets.gone]\nengine = "sqlite"\nfile = "no/such/dir/app.db"\n')
    r = t.dbsnap(proj, "doctor", "gone", "--json")
    check_json_error(r, EXIT_FAILURE, "failure", "doctor of a target whose folder is missing --json", "gone")
    dd = json_of(r, "doctor --json with a failing check")
    if dd is not None:
        check_doc(object_problems(dd, SCHEMA["doctor"]), "doctor --json (failing)", r)
        t.check(dd["ok"] is False and dd["failures"] >= 1 and any(c["level"] == "fail" for c in dd["checks"]),
                "doctor --json: ok false, a failing check listed", dd)


if __name__ == "__main__":
    Test("sqlite_json").run(body)
