#!/usr/bin/python3
"""Scenario: hostile and broken input.

1. A table of cases, one row each, run against one project with a populated store: every case
   must print one line 'dbsnap: error: ...' naming what is wrong, exit with its documented code,
   and change nothing: every file under the temp dir keeps its path and SHA-256 (catalog.db is
   compared by its rows instead, since SQLite may checkpoint it), and no file appears, in
   particular none that shell metacharacters in a revision, reference or name would create.
   Cases: unknown commands and options, a missing config, TOML syntax errors, unknown keys, wrong
   types, unknown engines, targets without a database, snapshot references with '/' or '..',
   unknown and ambiguous references, revisions with shell metacharacters.
2. Filter and lookup arguments with shell metacharacters that are not errors are taken literally.
3. SQLite tables, a view, an index and a trigger whose names hold quotes, backticks, semicolons
   and non-ASCII, in a database file whose name holds them too, back up and restore exactly; an
   alembic_version row with shell metacharacters is recorded, listed and found (@REV) literally.
4. Manifests edited by hand to point outside the store (a blob path with '..', an absolute blob
   path, a target '..', an id with '/'): while the catalog holds the edit, its row is skipped with a
   warning naming `catalog rebuild` (verify, restore, cat, show and delete of it exit 4; list and
   verify --all go on with the others); after `catalog rebuild`, which skips them, exit 4,
   and nothing outside the store is read, written or removed: a valid copy of the blob waits at
   each place the edit points to, so reading it would make verify pass.
"""
import json
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (Test, common_prefix, connect, fill_items, sha256_file, table_checksum,  # noqa: E402
                         EXIT_CONFIG, EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE)

# Names made of everything that breaks naive quoting: SQL quotes, shell metacharacters, non-ASCII.
HOSTILE_NAMES = [
    "it's",
    'say "hi"',
    "back`tick`",
    "semi;colon; DROP TABLE item;--",
    "naïve 表 ✓",
    "$(touch {canary})",
]


def toml_string(s):
    """A TOML basic string holding s."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sql_id(name):
    return '"' + name.replace('"', '""') + '"'


def fill_hostile(path, canary, revision):
    """Tables, a view, an index and a trigger with hostile names, and alembic_version = revision."""
    db = connect(path)
    db.execute("BEGIN")
    db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    db.execute("DELETE FROM alembic_version")
    db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    for n, raw in enumerate(HOSTILE_NAMES):
        name = raw.format(canary=canary)
        q = sql_id(name)
        db.execute("CREATE TABLE {} ({} TEXT, n INTEGER)".format(q, sql_id(name + " col")))
        db.executemany("INSERT INTO {} VALUES (?, ?)".format(q), [(name + " row {}".format(i), i) for i in range(50)])
        db.execute("CREATE INDEX {} ON {} (n)".format(sql_id(name + " idx"), q))
    first = sql_id(HOSTILE_NAMES[0])
    db.execute("CREATE VIEW {} AS SELECT * FROM {}".format(sql_id("view `;' ñ"), first))
    db.execute("CREATE TRIGGER {} AFTER INSERT ON {} BEGIN SELECT 1; END".format(sql_id("trg \"; `x`"), first))
    db.execute("COMMIT")
    db.close()


def schema_of(path):
    db = connect(path)
    try:
        return sorted(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"), key=lambda r: (r[0], r[1]))
    finally:
        db.close()


def body(t):
    canary = t.path("PWNED")  # what the metacharacters would create; relative ones would make */PWNED

    def shell_ran():
        return [os.path.join(d, f) for d, _, names in os.walk(t.tmp) for f in names if f == "PWNED"]
    proj = t.project("proj", targets={"dev": "app.db"})
    odd_file = "we'ird \"db\" ;`touch PWNED` $(touch PWNED) ñ表.db"  # relative: a file name holds no '/'
    with open(os.path.join(proj, "dbsnap.toml"), "a") as f:
        f.write("\n[targets.odd]\nengine = \"sqlite\"\nfile = {}\n".format(toml_string(odd_file)))
    dev, odd = os.path.join(proj, "app.db"), os.path.join(proj, odd_file)
    store = os.path.join(proj, "snapshots")
    meta_rev = "rev;rm -rf `touch {c}` $(touch {c}) '\"\\".format(c=canary)

    fill_items(dev, ["abc111"], 100)
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    fill_items(dev, ["abc222"], 50)
    s2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    fill_hostile(odd, canary, meta_rev)
    odd_schema, odd_ck = schema_of(odd), table_checksum(odd)
    s3 = t.dbsnap_ok(proj, "backup", "odd", "--json").json()
    t.require(not shell_ran(), "no shell ran the metacharacters in names and revisions during backup")
    prefix = common_prefix(s1["id"], s2["id"])
    t.require(len(prefix) >= 1, "the two dev snapshot ids share a prefix ({!r})".format(prefix))

    def state():
        """Every file under the temp dir with its SHA-256, and the catalog's rows."""
        files = {}
        for d, _, names in os.walk(t.tmp):
            for name in names:
                p = os.path.join(d, name)
                if os.path.dirname(p) == store and name.startswith("catalog.db"):
                    continue
                files[os.path.relpath(p, t.tmp)] = sha256_file(p) if os.path.isfile(p) else "not a file"
        db = connect(os.path.join(store, "catalog.db"))
        try:
            rows = (db.execute("SELECT * FROM snapshots ORDER BY id").fetchall(),
                    db.execute("SELECT * FROM snapshot_revisions ORDER BY snapshot_id, revision").fetchall())
        finally:
            db.close()
        return files, rows

    def differences(before, after):
        out = []
        for k in sorted(set(before[0]) | set(after[0])):
            if before[0].get(k) != after[0].get(k):
                out.append("{}: {} -> {}".format(k, before[0].get(k, "(absent)"), after[0].get(k, "(absent)")))
        if before[1] != after[1]:
            out.append("catalog rows differ")
        return "\n".join(out)

    def case(what, args, code, contains=(), cwd=proj, config=True):
        before = state()
        r = t.dbsnap(cwd, *args, config=config)
        if code == EXIT_OK:
            t.check_rc(r, code, what)
        else:
            t.check_error(r, code, what, contains=contains)
        after = state()
        t.check(after == before, "{}: nothing changed".format(what), differences(before, after))
        t.check(not shell_ran(), "{}: no shell ran".format(what))
        return r

    # ---- 1. the table -------------------------------------------------------------------
    t.section("the table: one-line errors, documented exit codes, nothing changed")
    bad_configs = {
        "TOML syntax error": ('[targets.dev]\nengine = "sqlite"\nfile = "app.db\n', 3, ()),
        "unknown key": ('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\nfiel = "x.db"\n', 4,
                        ("targets.dev.fiel",)),
        "wrong type": ('[targets.dev]\nengine = "sqlite"\nfile = ["app.db"]\n', 3, ("targets.dev.file",)),
        "wrong type of an integer key": ('[targets.dev]\nengine = "mysql"\ncontainer = "c"\ndatabase = "d"\n'
                                         'port = "3306"\n', 5, ("targets.dev.port", "integer")),
        "unknown engine": ('[targets.dev]\nengine = "oracle"\nfile = "app.db"\n', 2, ("oracle",)),
        "sqlite target without a file": ('[targets.dev]\nengine = "sqlite"\n', 1, ("'file'",)),
        "mysql target without a database": ('[targets.dev]\nengine = "mysql"\ncontainer = "db"\n', 1,
                                            ("'database'",)),
        "postgres target without a database": ('[targets.dev]\nengine = "postgres"\ncontainer = "db"\n', 1,
                                               ("'database'",)),
        "target name with '..' and '/'": ('[targets."../../etc"]\nengine = "sqlite"\nfile = "x.db"\n', 1,
                                          ("../../etc",)),
        "key with a line break": ('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n"fi\\nle" = 1\n', 4, ()),
        "engine with shell metacharacters": ('[targets.dev]\nengine = "$(touch {})"\nfile = "x.db"\n'.format(
            canary), 2, ("unknown engine",)),
    }
    rows = [
        # (what, args, exit code, what the message names, cwd, config)
        ("unknown command", ("frobnicate",), EXIT_USAGE, ("unknown command 'frobnicate'",)),
        ("unknown command with arguments", ("frobnicate", "dev", "--yes"), EXIT_USAGE, ("'frobnicate'",)),
        ("unknown option", ("list", "--frobnicate"), EXIT_USAGE, ("--frobnicate",)),
        ("unknown global option", ("--frobnicate", "list"), EXIT_USAGE, ("--frobnicate",)),
        ("option without its value", ("backup", "dev", "--label"), EXIT_USAGE, ("--label",)),
        ("option value of the wrong type", ("backup", "dev", "--level", "three"), EXIT_USAGE, ("--level",)),
        ("missing --config file", ("--config", t.path("missing.toml"), "list"), EXIT_CONFIG, ("missing.toml",),
         proj, False),
        ("unknown target", ("backup", "nope"), EXIT_CONFIG, ("'nope'", "dev", "odd")),
        ("unknown target with shell metacharacters", ("backup", "$(touch {})".format(canary)), EXIT_CONFIG,
         ("unknown target",)),
        ("reference with '..' and '/'", ("show", "../../etc/passwd"), EXIT_USAGE, ("not a snapshot reference",)),
        ("reference with '/' (cat)", ("cat", "dev/" + s1["id"]), EXIT_USAGE, ("not a snapshot reference",)),
        ("reference '..' (verify)", ("verify", ".."), EXIT_USAGE, ("not a snapshot reference",)),
        ("reference with '/' (restore)", ("restore", "../" + s1["id"], "--yes"), EXIT_USAGE,
         ("not a snapshot reference",)),
        ("reference with '/' (delete)", ("delete", s1["id"] + "/../" + s2["id"], "--yes"), EXIT_USAGE,
         ("not a snapshot reference",)),
        ("reference with a line break", ("show", s1["id"][:6] + "\nx"), EXIT_USAGE, ("not a snapshot reference",)),
        ("@REV with '..' and '/'", ("show", "@../../etc/passwd"), EXIT_NOT_FOUND, ("../../etc/passwd",)),
        ("unknown id (show)", ("show", "zzzz9999"), EXIT_NOT_FOUND, ("zzzz9999",)),
        ("unknown id (restore)", ("restore", "zzzz9999", "--yes"), EXIT_NOT_FOUND, ("zzzz9999",)),
        ("unknown id (delete)", ("delete", "zzzz9999", "--yes"), EXIT_NOT_FOUND, ("zzzz9999",)),
        ("unknown revision", ("restore", "@0000ff", "--yes"), EXIT_NOT_FOUND, ("0000ff",)),
        ("ambiguous id prefix (show)", ("show", prefix), EXIT_NOT_FOUND, ("ambiguous", s1["id"], s2["id"])),
        ("ambiguous id prefix (restore)", ("restore", prefix, "--yes"), EXIT_NOT_FOUND, ("ambiguous",)),
        ("ambiguous id prefix (delete)", ("delete", prefix, "--yes"), EXIT_NOT_FOUND, ("ambiguous",)),
        ("ambiguous revision prefix", ("show", "@abc"), EXIT_NOT_FOUND, ("ambiguous", "abc111", "abc222")),
        ("ambiguous --revision", ("list", "--revision", "abc"), EXIT_NOT_FOUND, ("ambiguous",)),
        ("'latest' with two targets", ("restore", "latest", "--yes"), EXIT_NOT_FOUND, ("--target",)),
        ("revision with shell metacharacters (show)", ("show", "@$(touch {});".format(canary)), EXIT_NOT_FOUND,
         ("no snapshot at revision",)),
        ("revision with shell metacharacters (restore)", ("restore", "@x;rm -rf `touch {}`".format(canary),
                                                          "--yes"), EXIT_NOT_FOUND, ("x;rm -rf",)),
        ("revision with shell metacharacters (rollback)", ("rollback", "dev", "--to", "$(touch {})".format(canary),
                                                           "--yes"), EXIT_USAGE, ("REVISION",)),
    ]
    empty = t.path("no-config-anywhere")
    os.makedirs(empty)
    rows.append(("no dbsnap.toml in the folder or its parents", ("backup", "dev"), EXIT_CONFIG, ("dbsnap.toml",),
                 empty, False))
    for n, (name, (text, line, names)) in enumerate(sorted(bad_configs.items())):
        d = t.path("config{}".format(n))
        os.makedirs(d)
        cfg = os.path.join(d, "dbsnap.toml")
        with open(cfg, "w") as f:
            f.write(text)
        rows.append(("config: " + name, ("backup", "dev"), EXIT_CONFIG, ("{}:{}".format(cfg, line),) + names, d))
        rows.append(("config: {} (list)".format(name), ("list",), EXIT_CONFIG, ("{}:{}".format(cfg, line),), d))
    for row in rows:
        what, args, code, contains = row[:4]
        cwd, config = (row[4], row[5] if len(row) > 5 else True) if len(row) > 4 else (proj, True)
        case(what, args, code, contains, cwd=cwd, config=config)

    # ---- 2. metacharacters that are not errors are taken literally -----------------------
    t.section("filters and lookups with shell metacharacters are taken literally")
    r = case("list --revision with shell metacharacters", ("list", "--revision", "$(touch {});".format(canary)),
             EXIT_OK)
    t.check("no snapshots" in r.errtext, "list --revision '$(touch ...);' finds nothing", r.describe())
    r = case("list --json --revision <the odd revision>", ("list", "--json", "--revision", meta_rev), EXIT_OK)
    t.check([m["id"] for m in json.loads(r.out)] == [s3["id"]], "list --revision finds the snapshot whose "
            "alembic_version row holds shell metacharacters", r.describe())
    r = case("show @<the odd revision>", ("show", "@" + meta_rev, "--json"), EXIT_OK)
    t.check(r.rc == 0 and r.json()["id"] == s3["id"] and r.json()["revisions"] == [meta_rev],
            "show @REV finds it and records the revision literally", r.describe())

    # ---- 3. hostile names round-trip -------------------------------------------------------
    t.section("SQLite: hostile table, view, index and trigger names in a hostile file name round-trip")
    t.check_eq(s3["revisions"], [meta_rev], "the snapshot records the alembic_version row literally")
    t.check(odd_file in (s3.get("source") or ""), "the snapshot's source names the hostile file", s3)
    db = connect(odd)
    db.execute("DROP TABLE {}".format(sql_id(HOSTILE_NAMES[1])))
    db.execute("DELETE FROM {}".format(sql_id(HOSTILE_NAMES[3])))
    db.execute("UPDATE alembic_version SET version_num = 'other'")
    db.close()
    t.require(table_checksum(odd) != odd_ck, "the odd database was changed after its backup")
    r = t.dbsnap(proj, "restore", s3["id"], "--yes")
    t.check_rc(r, 0, "restore of the snapshot with hostile names")
    t.check_eq(table_checksum(odd), odd_ck, "every table is back, row for row")
    t.check_eq(schema_of(odd), odd_schema, "tables, view, indexes and trigger are back with their exact names")
    r = t.dbsnap(proj, "cat", s3["id"])
    copy = t.path("cat-copy.db")
    with open(copy, "wb") as f:
        f.write(r.out)
    t.check_eq(table_checksum(copy), odd_ck, "cat gives the same database")
    r = t.dbsnap(proj, "restore", "@" + meta_rev, "--target", "odd", "--yes")
    t.check_rc(r, 0, "restore @<revision with shell metacharacters>")
    t.check(not shell_ran(), "no shell ran the metacharacters during restores")

    # ---- 4. manifests edited by hand to point outside the store ---------------------------
    t.section("manifests edited by hand to point outside the store are refused")
    victim = s1
    manifest_path = victim["manifest_path"]
    with open(manifest_path) as f:
        original = json.load(f)
    outside = t.path("outside")
    os.makedirs(outside)
    # The file the manifest names: a chunk list (the default layout) or, in a blob manifest, the blob.
    part, key, noun = ("data", "chunk_list", "chunk list name") if "data" in original else ("blob", "file", "blob file name")
    blob_copy = os.path.join(outside, original[part][key])
    shutil.copyfile(victim["path"], blob_copy)  # a valid copy: reading it would make verify pass
    sentinel = os.path.join(outside, "victim.json")
    with open(sentinel, "w") as f:
        f.write("{}\n")
    rel_to_outside = os.path.relpath(outside, os.path.join(store, "dev"))

    edits = [
        # (what, the edit, what the error says)
        ("{} with '..'".format(noun), lambda m: m[part].update({key: os.path.join(rel_to_outside, m[part][key])}),
         "invalid " + noun),
        ("absolute {}".format(noun), lambda m: m[part].update({key: blob_copy}), "invalid " + noun),
        ("target '..'", lambda m: m.update(target=os.path.relpath(outside, store)), "invalid target name"),
        ("id with '/'", lambda m: m.update(id=os.path.join(rel_to_outside, "victim")), "invalid snapshot id"),
    ]
    commands = [("verify", victim["id"]), ("verify", "--all"), ("show", victim["id"]), ("cat", victim["id"]),
                ("restore", victim["id"], "--yes"), ("delete", victim["id"], "--yes"), ("list",)]
    catalog = os.path.join(store, "catalog.db")
    for what, edit, complaint in edits:
        edited = json.loads(json.dumps(original))
        edit(edited)
        with open(manifest_path, "w") as f:
            json.dump(edited, f, indent=2)
        # The catalog holds a copy of each manifest; put the edit there too, as a rebuild once did.
        db = connect(catalog)
        db.execute("UPDATE snapshots SET manifest = ? WHERE id = ?", (json.dumps(edited), victim["id"]))
        db.close()
        for args in commands:
            # One bad catalog row is skipped with a warning naming `catalog rebuild`; it never
            # fails the rest of the store, and nothing outside the store is read or touched.
            label = "manifest with {}: {}".format(what, " ".join(a if a != victim["id"] else "<id>" for a in args))
            before = state()
            r = t.dbsnap(proj, *args)
            whole_store = args in (("list",), ("verify", "--all"))
            t.check_rc(r, EXIT_OK if whole_store else EXIT_NOT_FOUND, label)
            t.check(complaint in r.errtext and "'dbsnap catalog rebuild'" in r.errtext and "warning" in r.errtext,
                    "{}: a warning names the row's problem and catalog rebuild".format(label), r.describe())
            t.check(victim["id"] not in r.text, "{}: the bad row is not reported as a snapshot".format(label),
                    r.describe())
            after = state()
            outside_store = lambda st: {k: v for k, v in st[0].items() if not k.startswith("proj/snapshots/")}  # noqa: E731
            if args == ("verify", "--all"):  # it records the others' results in their manifests
                t.check_eq(outside_store(after), outside_store(before), "{}: nothing outside the store changed".format(label))
            else:
                t.check(after == before, "{}: nothing changed".format(label), differences(before, after))
            t.check(not shell_ran(), "{}: no shell ran".format(label))
        before = state()
        r = t.dbsnap(proj, "catalog", "rebuild")
        t.check_rc(r, 0, "manifest with {}: catalog rebuild succeeds".format(what))
        t.check("skipped" in r.errtext and os.path.basename(manifest_path) in r.errtext,
                "manifest with {}: catalog rebuild says it skipped the edited manifest".format(what), r.describe())
        after = state()
        t.check_eq(sorted(k for k in after[0] if not k.startswith("proj/snapshots/")),
                   sorted(k for k in before[0] if not k.startswith("proj/snapshots/")),
                   "manifest with {}: the rebuild touched nothing outside the store".format(what))
        for args in (("verify", victim["id"]), ("show", victim["id"]), ("cat", victim["id"]),
                     ("restore", victim["id"], "--yes"), ("delete", victim["id"], "--yes")):
            case("manifest with {} after the rebuild: {}".format(what, args[0]), args, EXIT_NOT_FOUND,
                 (victim["id"],))
        t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "manifest with {}: verify --all of the others".format(what))
        t.check_eq(sha256_file(blob_copy), sha256_file(victim["path"]),
                   "manifest with {}: the copy outside the store is untouched".format(what))
        t.check(os.path.exists(sentinel), "manifest with {}: the file outside the store still exists".format(what))
        # Put the real manifest back for the next edit.
        with open(manifest_path, "w") as f:
            json.dump(original, f, indent=2)
        t.dbsnap_ok(proj, "catalog", "rebuild")
        t.require(victim["id"] in [m["id"] for m in t.list_json(proj)], "the restored manifest is listed again")
    t.check_rc(t.dbsnap(proj, "verify", "--all"), 0, "every snapshot verifies once the manifest is restored")


if __name__ == "__main__":
    Test("hostile_input").run(body)
