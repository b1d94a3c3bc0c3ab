#!/usr/bin/python3
"""Scenario: `dbsnap revisions TARGET` and `dbsnap list --by-revision / --revision` on a real Alembic history.

Three revisions made by Debian's alembic with chosen ids (two share the prefix a1b2), two
snapshots at revision 1, one at 2, none at 3 (the current one). Checked: the table runs head
to base, marks the current revision with '*' and 'current', shows snapshot counts and the
newest id; --json has the same facts; a database stamped at a revision not in the folder
warns with Alembic's "Can't locate revision"; --migrations DIR overrides the target's
`migrations` key; list --by-revision groups in chain order with "(no snapshots)";
list --revision with a unique / ambiguous prefix; a branched history with two heads warns,
marks both heads current after `upgrade heads`, and a snapshot at both heads is grouped with them.
"""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, connect, revisions_of, write, EXIT_OK, EXIT_NOT_FOUND  # noqa: E402

R1, R2, R3 = "a1b2c3d4e5f6", "a1b2ffff0002", "c0ffee000003"
R4, R5 = "d4d4d4d4d4d4", "e5e5e5e5e5e5"  # two heads on top of R3
MESSAGES = {R1: "create item", R2: "create tag", R3: "create audit", R4: "branch d", R5: "branch e"}


def new_revision(t, proj, rev, upgrade, head=None, splice=False):
    """`alembic revision -m MESSAGE --rev-id rev` with the given upgrade() body; returns the file's path."""
    return t.new_revision(proj, MESSAGES[rev], upgrade, rev_id=rev, head=head, splice=splice,
                          what="alembic revision --rev-id {}".format(rev), return_path=True)


def write_toml(proj, migrations=None):
    lines = ["[targets.dev]", 'engine = "sqlite"', 'file = "app.db"']
    if migrations:
        lines.append('migrations = "{}"'.format(migrations))
    with open(os.path.join(proj, "dbsnap.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")


ROW = re.compile(r"^([* ])\s+([0-9a-f]{6,})\s+(\d+)\s+(-|[0-9a-z]+ \([^)]*\))\s+(.*?)\s*$")


def table(t, r):
    """The rows of `dbsnap revisions`: [(mark, revision, count, newest id or '-', message)]."""
    rows = []
    lines = r.text.splitlines()
    t.check(bool(lines) and lines[0].split() == ["REVISION", "SNAPSHOTS", "NEWEST", "MESSAGE"],
            "the table's header is REVISION SNAPSHOTS NEWEST MESSAGE", r.describe())
    for line in lines[1:]:
        m = ROW.match(line)
        t.check(m is not None, "table row parses: {!r}".format(line))
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3)), m.group(4).split(" ")[0], m.group(5)))
    return rows


def by_revision(text):
    """list --by-revision: [(heading, [snapshot ids or '(no snapshots)'])]."""
    groups = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("    "):
            item = line.strip()
            groups[-1][1].append(item if item == "(no snapshots)" else item.split()[0])
        else:
            groups.append((line.strip(), []))
    return groups


def body(t):
    proj = t.alembic_project()
    db_file = os.path.join(proj, "app.db")
    versions = os.path.join(proj, "migrations", "versions")

    files = {}
    files[R1] = new_revision(t, proj, R1, "    op.create_table('item', sa.Column('id', sa.Integer, primary_key=True),"
                             " sa.Column('name', sa.Text))\n")
    files[R2] = new_revision(t, proj, R2, "    op.create_table('tag', sa.Column('id', sa.Integer, primary_key=True),"
                             " sa.Column('label', sa.Text))\n")
    files[R3] = new_revision(t, proj, R3, "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True),"
                             " sa.Column('msg', sa.Text))\n")

    def fill(table_name, n):
        write(db_file, ("INSERT INTO {} VALUES (NULL, ?)".format(table_name), [("v{}".format(i),) for i in range(n)]))

    t.section("snapshots: two at revision 1, one at 2, none at 3 (current)")
    t.alembic(proj, "upgrade", R1)
    fill("item", 50)
    s1a = t.dbsnap_ok(proj, "backup", "dev", "--label", "one-a", "--json").json()
    fill("item", 5)
    s1b = t.dbsnap_ok(proj, "backup", "dev", "--label", "one-b", "--json").json()
    t.alembic(proj, "upgrade", R2)
    fill("tag", 20)
    s2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.alembic(proj, "upgrade", R3)
    t.require_eq(revisions_of(db_file), [R3], "the database is at revision 3")

    t.section("dbsnap revisions dev: head to base, current marked, counts, newest")
    r = t.dbsnap(proj, "revisions", "dev")
    t.check_rc(r, EXIT_OK, "revisions dev")
    rows = table(t, r)
    t.check_eq([row[1] for row in rows], [R3, R2, R1], "rows run head to base: 3, 2, 1")
    t.check_eq([row[1] for row in rows if row[0] == "*"], [R3], "only revision 3 is marked '*'")
    want = {R3: (0, "-"), R2: (1, s2["id"]), R1: (2, s1b["id"])}
    for mark, rev, count, newest, message in rows:
        t.check_eq((count, newest), want.get(rev), "{}: snapshot count and newest id".format(rev))
        t.check(message.startswith(MESSAGES[rev]), "{}: the message is {!r}".format(rev, MESSAGES[rev]), message)
    marks = {row[1]: row[4][len(MESSAGES[row[1]]):].strip() for row in rows}
    t.check_eq(marks, {R3: "(head, current)", R2: "", R1: "(base)"}, "the head/base/current marks")
    t.check_eq(r.errtext, "", "no warnings for a linear history at a known revision")

    t.section("revisions --json has the same facts")
    r = t.dbsnap(proj, "revisions", "dev", "--json")
    t.check_rc(r, EXIT_OK, "revisions dev --json")
    doc = r.json()
    t.check_eq(doc.get("current"), [R3], "--json current")
    t.check_eq(doc.get("heads"), [R3], "--json heads")
    t.check_eq(doc.get("warnings"), [], "--json warnings")
    t.check_eq(os.path.realpath(doc.get("migrations", "")), os.path.realpath(versions), "--json migrations folder")
    revs = doc.get("revisions", [])
    t.check_eq([x["revision"] for x in revs], [R3, R2, R1], "--json revisions run head to base")
    t.check_eq({x["revision"]: x["current"] for x in revs}, {R3: True, R2: False, R1: False}, "--json current flags")
    t.check_eq({x["revision"]: x["snapshots"] for x in revs}, {R3: [], R2: [s2["id"]], R1: [s1b["id"], s1a["id"]]},
               "--json snapshots per revision, newest first")
    t.check_eq({x["revision"]: x["down_revisions"] for x in revs}, {R3: [R2], R2: [R1], R1: []},
               "--json down_revisions")
    t.check_eq({x["revision"]: x["message"] for x in revs}, {r_: MESSAGES[r_] for r_ in (R1, R2, R3)},
               "--json messages")
    t.check_eq({x["revision"]: os.path.realpath(x["file"]) for x in revs},
               {r_: os.path.realpath(files[r_]) for r_ in (R1, R2, R3)}, "--json files")
    t.check_eq({x["revision"]: (len(x["snapshots"]), x["snapshots"][0] if x["snapshots"] else "-") for x in revs},
               {row[1]: (row[2], row[3]) for row in rows}, "--json and the table agree on counts and newest ids")

    t.section("list --by-revision and list --revision")
    r = t.dbsnap(proj, "list", "dev", "--by-revision")
    t.check_rc(r, EXIT_OK, "list dev --by-revision")
    t.check_eq(by_revision(r.text), [
        ("{}  {}".format(R3, MESSAGES[R3]), ["(no snapshots)"]),
        ("{}  {}".format(R2, MESSAGES[R2]), [s2["id"]]),
        ("{}  {}".format(R1, MESSAGES[R1]), [s1b["id"], s1a["id"]])],
        "list --by-revision: chain order, newest first in each group, (no snapshots) at 3", r.describe())
    t.check("one-b" in r.text and "one-a" in r.text, "list --by-revision shows the labels", r.describe())
    r = t.dbsnap(proj, "list", "--by-revision")
    t.check_eq(by_revision(r.text)[0][0] if r.rc == 0 and r.text else None, "{}  {}".format(R3, MESSAGES[R3]),
               "list --by-revision without a target uses the only target's history", r.describe())
    ids = lambda *a: [m["id"] for m in t.list_json(proj, *a)]  # noqa: E731
    t.check_eq(ids("--revision", "a1b2c"), [s1b["id"], s1a["id"]], "list --revision a1b2c (unique prefix of 1)")
    t.check_eq(ids("--revision", R2), [s2["id"]], "list --revision <full 2>")
    t.check_eq(ids("--revision", "a1b2f"), [s2["id"]], "list --revision a1b2f (unique prefix of 2)")
    t.check_eq(ids("--revision", "c0ff"), [], "list --revision c0ff (revision 3, no snapshots) is empty")
    r = t.dbsnap(proj, "list", "--revision", "a1b2")
    t.check_error(r, EXIT_NOT_FOUND, "list --revision a1b2 (prefix of 1 and 2)", contains=("ambiguous", R1, R2))
    r = t.dbsnap(proj, "list", "--revision", "a1b2", "--json")
    t.check_rc(r, EXIT_NOT_FOUND, "list --revision a1b2 --json")

    t.section("a database stamped at a revision not in the folder")
    db = connect(db_file)
    db.execute("UPDATE alembic_version SET version_num = 'deadbeef'")
    db.close()
    r = t.dbsnap(proj, "revisions", "dev")
    t.check_rc(r, EXIT_OK, "revisions dev (stamped deadbeef)")
    t.check("Can't locate revision identified by 'deadbeef'" in r.errtext and r.errtext.startswith("warning: "),
            "a warning quotes Alembic's \"Can't locate revision identified by 'deadbeef'\"", r.describe())
    t.check_eq([row[1] for row in table(t, r) if row[0] == "*"], [], "no row is marked current")
    doc = t.dbsnap_ok(proj, "revisions", "dev", "--json").json()
    t.check_eq(doc["current"], ["deadbeef"], "--json current is deadbeef")
    t.check(any("Can't locate revision" in w for w in doc["warnings"]), "--json warnings say so too", doc["warnings"])
    t.check_eq([x["revision"] for x in doc["revisions"] if x["current"]], [], "--json: no revision is current")
    sd = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    r = t.dbsnap(proj, "revisions", "dev")
    t.check("1 snapshot(s) hold revision deadbeef" in r.errtext, "a warning names the snapshot at deadbeef",
            r.describe())
    r = t.dbsnap_ok(proj, "list", "dev", "--by-revision")
    groups = by_revision(r.text)
    t.check_eq(groups[-1] if groups else None, ("deadbeef  not in migrations", [sd["id"]]),
               "list --by-revision puts deadbeef last, 'not in migrations'", r.describe())
    t.dbsnap_ok(proj, "delete", sd["id"], "--yes")
    db = connect(db_file)
    db.execute("UPDATE alembic_version SET version_num = ?", (R3,))
    db.close()

    t.section("--migrations DIR overrides the target's migrations key")
    old = t.path("old-versions")
    os.makedirs(old)
    for rev in (R1, R2):
        shutil.copy(files[rev], old)
    r = t.dbsnap(proj, "revisions", "dev", "--migrations", old)
    t.check_rc(r, EXIT_OK, "revisions dev --migrations <folder with 1 and 2>")
    t.check_eq([row[1] for row in table(t, r)], [R2, R1], "--migrations: only revisions 2 and 1")
    t.check("Can't locate revision identified by '{}'".format(R3) in r.errtext,
            "--migrations: the current revision 3 is not in that folder", r.describe())
    write_toml(proj, migrations="../old-versions")
    r = t.dbsnap(proj, "revisions", "dev")
    t.check_eq([row[1] for row in table(t, r)], [R2, R1], "with migrations = \"../old-versions\" in dbsnap.toml")
    r = t.dbsnap(proj, "revisions", "dev", "--json", "--migrations", "migrations/versions")
    t.check_rc(r, EXIT_OK, "revisions --migrations migrations/versions (relative) with the key set")
    doc = r.json() if r.rc == 0 else {}
    t.check_eq([x["revision"] for x in doc.get("revisions", [])], [R3, R2, R1], "--migrations beats the key")
    t.check_eq(os.path.realpath(doc.get("migrations", "")), os.path.realpath(versions), "--json names that folder")
    t.check_eq(doc.get("warnings"), [], "no warnings with the right folder")
    r = t.dbsnap(proj, "revisions", "dev", "--migrations", t.path("nowhere"))
    t.check(r.rc != EXIT_OK and "nowhere" in r.errtext, "--migrations <missing folder> fails naming it", r.describe())
    write_toml(proj)

    t.section("a branched history with two heads")
    files[R4] = new_revision(t, proj, R4, "    op.create_table('d_side', sa.Column('id', sa.Integer, primary_key=True),"
                             " sa.Column('v', sa.Text))\n")
    files[R5] = new_revision(t, proj, R5, "    op.create_table('e_side', sa.Column('id', sa.Integer, primary_key=True),"
                             " sa.Column('v', sa.Text))\n", head=R3, splice=True)
    heads = sorted(re.findall(r"^([0-9a-f]+) ", t.alembic(proj, "heads").text, re.M))
    t.require_eq(heads, [R4, R5], "alembic heads lists the two branch heads")
    r = t.dbsnap(proj, "revisions", "dev")
    t.check_rc(r, EXIT_OK, "revisions dev (two heads)")
    t.check("warning: the history has 2 heads" in r.errtext and R4 in r.errtext and R5 in r.errtext,
            "a warning says the history has 2 heads and names them", r.describe())
    rows = table(t, r)
    t.check_eq(sorted(row[1] for row in rows[:2]), [R4, R5], "the two heads come first")
    t.check_eq([row[1] for row in rows[2:]], [R3, R2, R1], "then 3, 2, 1")
    t.check(all("(head)" in row[4] for row in rows[:2]), "both are marked head", rows)
    t.check_eq([row[1] for row in rows if row[0] == "*"], [R3], "revision 3 is still the current one")
    t.alembic(proj, "upgrade", "heads")
    t.require_eq(revisions_of(db_file), [R4, R5], "alembic_version has two rows")
    s45 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    r = t.dbsnap(proj, "revisions", "dev", "--json")
    doc = r.json()
    t.check_eq(sorted(doc["current"]), [R4, R5], "--json current is both heads")
    t.check_eq(sorted(doc["heads"]), [R4, R5], "--json heads")
    t.check(any("2 heads" in w for w in doc["warnings"]), "--json warnings mention the 2 heads", doc["warnings"])
    t.check_eq({x["revision"]: x["snapshots"] for x in doc["revisions"] if x["revision"] in (R4, R5)},
               {R4: [s45["id"]], R5: [s45["id"]]}, "--json: the two-head snapshot counts at each head")
    rows = table(t, t.dbsnap_ok(proj, "revisions", "dev"))
    t.check_eq(sorted(row[1] for row in rows if row[0] == "*"), [R4, R5], "both heads are marked '*'")
    t.check(all("current" in row[4] for row in rows[:2]), "both heads say current", rows)
    r = t.dbsnap_ok(proj, "list", "dev", "--by-revision")
    groups = by_revision(r.text)
    headings = [g[0].split()[0] for g in groups]
    t.check_eq((sorted(headings[:2]), headings[2:5]), ([R4, R5], [R3, R2, R1]),
               "list --by-revision: the two heads, then 3, 2, 1", r.describe())
    t.check(not any("not in migrations" in g[0] for g in groups),
            "list --by-revision: no group says 'not in migrations' (both heads are in the folder)", r.describe())
    at_heads = {g[0].split()[0]: g[1] for g in groups if g[0].split()[0] in (R4, R5)}
    t.check_eq(at_heads, {R4: [s45["id"]], R5: [s45["id"]]},
               "list --by-revision: the two-head snapshot is listed under each head (as `revisions` counts it)",
               r.describe())
    t.check_eq(json.loads(t.dbsnap_ok(proj, "list", "--revision", "d4d4", "--json").out)[0]["id"], s45["id"],
               "list --revision d4d4 finds the two-head snapshot")


if __name__ == "__main__":
    Test("revisions").run(body)
