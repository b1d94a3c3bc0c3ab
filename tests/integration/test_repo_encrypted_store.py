#!/usr/bin/python3
"""Scenario: an encrypted store (key_file in dbsnap.toml), checked with Debian's age as a user would.

- A key given for a new store turns encryption on: `config` (plaintext) and one `keys/ID`;
  every manifest, chunk list and pack is an age file; no byte of the database (a marker
  string, in rows and in a column name) is anywhere in the store's files.
- `age -d -i USER-KEY keys/ID` gives the repository's identity, which opens the manifest (the
  snapshot's JSON), the chunk list and the packs with `age -d -i`.
- list, verify --all, verify --repository, cat, restore: the database comes back exactly.
- No key: one line, exit 3. Another key: exit 8. A key file that does not parse: exit 3.
- key add --recipient / --passphrase-env: each opens the store; key remove: the removed one no
  longer does; the last key cannot be removed (exit 8).
- A pack replaced by another valid object of the same repository: verify and restore say corrupt
  (exit 5), the database is unchanged.
- A manifest forged by someone who can write the store (an edited copy, encrypted with Debian's age
  to the store's public recipient, which anyone can do): verify says it does not authenticate
  (exit 5), a catalog rebuild leaves it out, restore and dbsnap-recover refuse it.
- A store with snapshots in the clear and a key given: refused (exit 3), nothing written.
- key on a store in the clear, key add without a key or with a malformed one: one line, nothing added.
- key_command: an identity file or a passphrase printed by a command opens the store;
  DBSNAP_KEY_FILE wins over it; a failing command, one printing nothing, a string instead of an
  array, a wrong passphrase: one line (exit 3, or 8 for the wrong key).
- delete and prune reclaim space in the encrypted store; what is left verifies.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CONFIG, EXIT_CORRUPT, EXIT_REFUSED, EXIT_USAGE, RECOVER, Test, clean_env,  # noqa: E402
                         db_state, fill_items, write)

MARKER = "PLAINTEXT-MARKER-7f3a9"


def keygen(path):
    subprocess.run(["age-keygen", "-o", path], check=True, stderr=subprocess.DEVNULL)
    return subprocess.run(["age-keygen", "-y", path], check=True, stdout=subprocess.PIPE).stdout.decode().strip()


def age_decrypt(identity, path):
    p = subprocess.run(["age", "-d", "-i", identity, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout


def store_files(store):
    out = []
    for root, _, files in os.walk(store):
        out += [os.path.join(root, f) for f in files]
    return sorted(out)


def body(t):
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 200, prefix=MARKER + " ")
    write(db_file, "CREATE TABLE {} (id INTEGER PRIMARY KEY, data BLOB)".format(MARKER.replace("-", "_")),
          ("INSERT INTO {} (data) VALUES (?)".format(MARKER.replace("-", "_")),
           [(os.urandom(3000),) for _ in range(400)]))
    user_key = t.path("user.key")
    keygen(user_key)
    toml = '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('key_file = "{}"\n'.format(user_key) + toml)
    store = os.path.join(proj, "snapshots")

    t.section("a key for a new store turns encryption on")
    state_1 = db_state(db_file)
    first = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    with open(os.path.join(store, "config")) as fh:
        config = json.load(fh)
    t.check_eq(config["encryption"], "age-v1", "config says the store is encrypted with age")
    keys = sorted(os.listdir(os.path.join(store, "keys")))
    t.check_eq(len(keys), 1, "one key object")
    objects = [f for f in store_files(store) if os.path.relpath(f, store).startswith(("dev/", "data/"))]
    t.check(len(objects) >= 3, "manifest, chunk list and packs ({})".format(len(objects)))
    for f in objects:
        with open(f, "rb") as fh:
            head = fh.read(22)
        t.check_eq(head, b"age-encryption.org/v1\n", "{} is an age file".format(os.path.relpath(f, store)))
    leaks = []
    for f in store_files(store):
        if os.path.basename(f).startswith(("catalog.db", "index.db")):
            continue  # local indexes: metadata only (FORMAT.md)
        with open(f, "rb") as fh:
            if MARKER.encode() in fh.read() or MARKER.replace("-", "_").encode() in open(f, "rb").read():
                leaks.append(f)
    t.check_eq(leaks, [], "no byte of the database in the clear in the store's objects")

    t.section("Debian's age opens everything with the repository's identity")
    rc, repo_key = age_decrypt(user_key, os.path.join(store, "keys", keys[0]))
    t.require_eq(rc, 0, "age -d -i USER-KEY keys/ID")
    t.check(b"AGE-SECRET-KEY-1" in repo_key and b"# chunk-key: " in repo_key, "it is an identity file with the chunk key")
    repo_key_file = t.path("repo.key")
    with open(repo_key_file, "wb") as fh:
        fh.write(repo_key)
    rc, manifest = age_decrypt(repo_key_file, os.path.join(store, "dev", first["id"] + ".json"))
    t.require_eq(rc, 0, "age -d -i REPO-KEY the manifest")
    manifest = json.loads(manifest)
    t.check_eq(manifest["id"], first["id"], "the manifest is the snapshot's")
    for pack in glob.glob(os.path.join(store, "data", "*", "*")):
        rc, plain = age_decrypt(repo_key_file, pack)
        t.check(rc == 0 and len(plain) > 0, "age opens pack {}".format(os.path.basename(pack)))
    rc, _ = age_decrypt(user_key, os.path.join(store, "dev", first["id"] + ".json"))
    t.check(rc != 0, "the user's own key does not open the manifest (only the repository's identity does)")

    t.section("dbsnap-recover rebuilds the dump with age, zstd and Python (no dbsnap)")
    cat = t.dbsnap_ok(proj, "cat", first["id"]).out
    for key, what in ((user_key, "the user's key"), (repo_key_file, "the repository's identity")):
        r = subprocess.run([RECOVER, "--identity", key, store, first["id"]], capture_output=True)
        t.check(r.returncode == 0 and r.stdout == cat, "dbsnap-recover with {} gives dbsnap cat's bytes".format(what),
                r.stderr.decode(errors="replace"))
    r = subprocess.run([RECOVER, store, first["id"]], capture_output=True, env=clean_env())
    t.check(r.returncode == 1 and b"is encrypted" in r.stderr and not r.stdout, "without a key: one line, no output",
            r.stderr.decode(errors="replace"))
    stranger = t.path("stranger.key")
    keygen(stranger)
    r = subprocess.run([RECOVER, "--identity", stranger, store, first["id"]], capture_output=True)
    t.check(r.returncode == 1 and b"opens none of the 1 key(s)" in r.stderr and not r.stdout,
            "with a key the store does not have: one line, no output", r.stderr.decode(errors="replace"))

    t.section("the commands work on it")
    write(db_file, "UPDATE item SET v = 'changed' WHERE id < 5", "UPDATE alembic_version SET version_num = 'b2b2b2b2'",
          "CREATE TABLE extra (data BLOB)", ("INSERT INTO extra VALUES (?)", [(os.urandom(4000),) for _ in range(300)]))
    second = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    t.check_eq(len(t.list_json(proj)), 2, "list shows both snapshots")
    t.dbsnap_ok(proj, "verify", "--all")
    t.dbsnap_ok(proj, "verify", "--repository")
    cat = t.dbsnap(proj, "cat", first["id"])
    t.check_rc(cat, 0, "cat of the first snapshot")
    t.check_eq(hashlib.sha256(cat.out).hexdigest(), manifest["data"]["raw_sha256"], "cat gives the dump's SHA-256")
    t.dbsnap_ok(proj, "restore", first["id"], "--yes")
    t.check_eq(db_state(db_file), state_1, "restore brought the first state back")

    t.section("without the key, or with another one")
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml)
    r = t.dbsnap(proj, "list")
    t.check_error(r, EXIT_CONFIG, "list with no key", contains=["is encrypted", "DBSNAP_KEY_FILE"])
    other_key = t.path("other.key")
    other_recipient = keygen(other_key)
    r = t.dbsnap(proj, "list", env={"DBSNAP_KEY_FILE": other_key})
    t.check_error(r, EXIT_REFUSED, "list with another key", contains=["none of the 1 key(s)"])
    bad = t.path("bad.key")
    with open(bad, "w") as fh:
        fh.write("not a key\n")
    r = t.dbsnap(proj, "list", env={"DBSNAP_KEY_FILE": bad})
    t.check_error(r, EXIT_CONFIG, "a key file that does not parse", contains=["bad.key"])

    t.section("keys: add a recipient and a passphrase, remove one, never the last")
    mine = {"DBSNAP_KEY_FILE": user_key}
    r = t.dbsnap_ok(proj, "key", "add", "--recipient", other_recipient, env=mine)
    other_id = r.text.split()[-1]
    r = t.dbsnap_ok(proj, "key", "add", "--passphrase-env", "NEW_PASS", env=dict(mine, NEW_PASS="correct horse"))
    pass_id = r.text.split()[-1]
    ids = t.dbsnap_ok(proj, "key", "list", env=mine).text.split()
    t.check_eq(sorted(ids), sorted([keys[0], other_id, pass_id]), "key list shows the three key objects")
    t.check_eq(len(t.list_json(proj, env={"DBSNAP_KEY_FILE": other_key})), 3, "the added recipient opens the store")
    t.check_eq(len(t.list_json(proj, env={"DBSNAP_PASSPHRASE": "correct horse"})), 3, "so does the passphrase")
    r = t.dbsnap(proj, "list", env={"DBSNAP_PASSPHRASE": "wrong horse"})
    t.check_error(r, EXIT_REFUSED, "a wrong passphrase", contains=["DBSNAP_PASSPHRASE"])
    t.dbsnap_ok(proj, "key", "remove", keys[0], env={"DBSNAP_KEY_FILE": other_key})
    r = t.dbsnap(proj, "list", env=mine)
    t.check_error(r, EXIT_REFUSED, "the removed key no longer opens the store")
    t.dbsnap_ok(proj, "key", "remove", pass_id, env={"DBSNAP_KEY_FILE": other_key})
    r = t.dbsnap(proj, "key", "remove", other_id, env={"DBSNAP_KEY_FILE": other_key})
    t.check_error(r, EXIT_REFUSED, "removing the last key", contains=["only key"])
    t.check_eq(len(t.list_json(proj, env={"DBSNAP_KEY_FILE": other_key})), 3, "the store still opens")

    t.section("key_command: a key from a command (a password manager), identity file or passphrase")
    def with_command(argv_toml):
        with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
            fh.write("key_command = {}\n".format(argv_toml) + toml)
    with_command('["cat", "{}"]'.format(other_key))
    t.check_eq(len(t.list_json(proj)), 3, "an identity file printed by key_command opens the store")
    r = t.dbsnap_ok(proj, "key", "add", "--passphrase-env", "NEW_PASS", env={"NEW_PASS": "battery staple"})
    staple_id = r.text.split()[-1]
    with_command('["printf", "%s\\n", "battery staple"]')
    t.check_eq(len(t.list_json(proj)), 3, "a passphrase printed on one line opens it")
    r = t.dbsnap(proj, "list", env={"DBSNAP_KEY_FILE": bad})
    t.check_error(r, EXIT_CONFIG, "DBSNAP_KEY_FILE wins over key_command", contains=["bad.key"])
    with_command('["sh", "-c", "echo vault is sealed >&2; exit 3"]')
    r = t.dbsnap(proj, "list")
    t.check_error(r, EXIT_CONFIG, "a key_command that fails", contains=["key_command", "vault is sealed"])
    with_command('["true"]')
    r = t.dbsnap(proj, "list")
    t.check_error(r, EXIT_CONFIG, "a key_command that prints nothing", contains=["printed no key"])
    with_command('"cat {}"'.format(other_key))
    r = t.dbsnap(proj, "list")
    t.check_error(r, EXIT_CONFIG, "a key_command given as a string", contains=["key_command", "array"])
    with_command('["printf", "%s\\n", "wrong staple"]')
    r = t.dbsnap(proj, "list")
    t.check_error(r, EXIT_REFUSED, "a key_command that prints a wrong passphrase", contains=["key_command"])
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml)
    t.dbsnap_ok(proj, "key", "remove", staple_id, env={"DBSNAP_KEY_FILE": other_key})

    t.section("a pack replaced by another valid object of the repository")
    theirs = {"DBSNAP_KEY_FILE": other_key}
    packs = sorted(glob.glob(os.path.join(store, "data", "*", "*")))
    t.require(len(packs) >= 2, "two packs to swap ({})".format(len(packs)))
    saved = t.path("pack.saved")
    shutil.copyfile(packs[0], saved)
    shutil.copyfile(packs[1], packs[0])
    state = db_state(db_file)
    r = t.dbsnap(proj, "verify", "--all", env=theirs)
    t.check_rc(r, EXIT_CORRUPT, "verify --all finds it")
    affected = [line.split()[1] for line in r.text.splitlines() if line.startswith("BAD")]
    t.check(len(affected) >= 1, "and names the snapshots it hits", r.text)
    r = t.dbsnap(proj, "restore", affected[0] if affected else first["id"], "--yes", "--force", env=theirs)
    t.check_rc(r, EXIT_CORRUPT, "a restore of one is refused as corrupt")
    t.check_eq(db_state(db_file), state, "the database is unchanged")
    shutil.copyfile(saved, packs[0])
    t.dbsnap_ok(proj, "verify", "--all", env=theirs)

    t.section("a manifest forged by anyone who can write the store (age to its public recipient)")
    t.check(b"# manifests: hmac-sha256" in repo_key, "the repository key says its manifests carry a MAC")
    t.check(len(manifest.get("mac", "")) == 64, "the manifest carries a MAC")
    with open(os.path.join(store, "config")) as fh:
        recipient = json.load(fh)["recipient"]
    path = os.path.join(store, "dev", first["id"] + ".json")
    saved_manifest = t.path("manifest.saved")
    shutil.copyfile(path, saved_manifest)
    forged = dict(manifest, revisions=["f0f0f0f0"])
    forged.pop("mac")
    subprocess.run(["age", "-r", recipient, "-o", path], input=json.dumps(forged, indent=2).encode(), check=True)
    rc, _ = age_decrypt(repo_key_file, path)
    t.check_eq(rc, 0, "the forged manifest is a valid age file of the repository")
    r = t.dbsnap(proj, "verify", first["id"], env=theirs)
    t.check_rc(r, EXIT_CORRUPT, "verify of the snapshot with the forged manifest")
    t.check("MAC" in r.errtext + r.text or "authenticate" in r.errtext + r.text, "it says why", r.errtext + r.text)
    t.dbsnap(proj, "catalog", "rebuild", env=theirs)
    t.check(first["id"] not in t.dbsnap_ok(proj, "list", "--json", env=theirs).text,
            "after a catalog rebuild the forged snapshot is not listed")
    state = db_state(db_file)
    r = t.dbsnap(proj, "restore", first["id"], "--yes", "--no-safety-snapshot", env=theirs)
    t.check(r.rc != 0, "nor restored (exit {})".format(r.rc), r.errtext)
    t.check_eq(db_state(db_file), state, "the database is unchanged")
    r = subprocess.run([RECOVER, "--identity", other_key, store, first["id"]], capture_output=True)
    t.check(r.returncode == 1 and b"authenticate" in r.stderr, "dbsnap-recover refuses it too",
            r.stderr.decode(errors="replace"))
    shutil.copyfile(saved_manifest, path)
    t.dbsnap_ok(proj, "catalog", "rebuild", env=theirs)
    t.dbsnap_ok(proj, "verify", "--all", env=theirs)

    t.section("delete and prune reclaim space in the encrypted store")
    before = sum(os.path.getsize(p) for p in glob.glob(os.path.join(store, "data", "*", "*")))
    # Every snapshot of the second state (the second backup, the pre-restore one) goes: its 1.2 MB of
    # random rows are unused then.
    for m in t.list_json(proj, env=theirs):
        if m["id"] != first["id"]:
            t.dbsnap_ok(proj, "delete", m["id"], "--yes", env=theirs)
    after = sum(os.path.getsize(p) for p in glob.glob(os.path.join(store, "data", "*", "*")))
    t.check(after < before - 1_000_000, "the packs shrank ({} -> {} bytes)".format(before, after))
    t.dbsnap_ok(proj, "verify", "--all", env=theirs)
    t.dbsnap_ok(proj, "verify", "--repository", env=theirs)

    t.section("a store with snapshots in the clear: a key given is refused, nothing written")
    plain_proj = t.path("plain")
    os.makedirs(plain_proj)
    shutil.copyfile(db_file, os.path.join(plain_proj, "app.db"))
    with open(os.path.join(plain_proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml)
    t.dbsnap_ok(plain_proj, "backup", "dev")
    files = store_files(os.path.join(plain_proj, "snapshots"))
    r = t.dbsnap(plain_proj, "backup", "dev", env=mine)
    t.check_error(r, EXIT_CONFIG, "backup with a key into a store in the clear", contains=["not encrypted"])
    t.check_eq(store_files(os.path.join(plain_proj, "snapshots")), files, "no file was added")
    r = t.dbsnap(plain_proj, "key", "list")
    t.check_error(r, EXIT_USAGE, "key list on a store in the clear", contains=["not encrypted"])
    r = t.dbsnap(proj, "key", "add", env=theirs)
    t.check_error(r, EXIT_USAGE, "key add with neither --recipient nor --passphrase-env", contains=["--recipient"])
    r = t.dbsnap(proj, "key", "add", "--recipient", "age1nonsense", env=theirs)
    t.check_error(r, EXIT_CONFIG, "key add with a malformed recipient", contains=["not an age recipient"])
    t.check_eq(sorted(t.dbsnap_ok(proj, "key", "list", env=theirs).text.split()), [other_id], "no key was added")


if __name__ == "__main__":
    Test("encrypted_store").run(body)
