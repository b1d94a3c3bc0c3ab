#!/usr/bin/python3
"""Scenario: a store in the clear but authenticated (key_file + encryption = "none"), and a snapshot
forged by someone who can write the store but holds no key.

- A key for a new store with encryption = "none" turns authentication on: `config` says so, one
  `keys/ID`; packs stay readable with `zstd -dc` (the database's marker string is in them); every
  manifest carries a "mac".
- Backup, list, verify, restore work; dbsnap-recover rebuilds the dump without the key (with a
  warning) and with it (checked).
- No key: one line, exit 3. Another key: exit 8.
- The forgery: another store's snapshot of an evil database (its packs, its chunk list, its manifest
  renamed to a snapshot of ours, every checksum matching, as anyone with write access could do).
  In a store without a key (the control) dbsnap restores the evil database. In the authenticated
  store restore and verify refuse it (exit 5), the database is unchanged, and dbsnap-recover with
  the key refuses it too.
- A manifest with one edited field (the revision) is refused as well.
- A store without keys copied into a new authenticated one (copy_encryption = "none"): every
  copied manifest carries a MAC.
- A store in the clear with snapshots and a key given: refused (exit 3).
"""
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_CONFIG, EXIT_CORRUPT, EXIT_REFUSED, RECOVER, Test, db_state, fill_items,  # noqa: E402
                         recover)

MARKER = "CLEAR-MARKER-51c2e"


def keygen(path):
    subprocess.run(["age-keygen", "-o", path], check=True, stderr=subprocess.DEVNULL)


def project(t, name, db_rows_prefix, header=""):
    proj = t.path(name)
    os.makedirs(proj)
    fill_items(os.path.join(proj, "app.db"), ["a1a1a1a1"], 300, prefix=db_rows_prefix)
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(header + '[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')
    return proj


def forge(victim_store, victim_id, evil_store):
    """Puts the evil store's only snapshot into the victim store as snapshot `victim_id`: its packs
    under data/, its chunk list as <victim_id>.chunks, its manifest renamed to that id; and removes
    the chunk index, so that the next run indexes the packs again (as an S3 store's cache does)."""
    for pack in glob.glob(os.path.join(evil_store, "data", "*", "*")):
        dest = os.path.join(victim_store, os.path.relpath(pack, evil_store))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(pack, dest)
    [manifest_path] = glob.glob(os.path.join(evil_store, "dev", "*.json"))
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    shutil.copyfile(os.path.join(evil_store, "dev", manifest["data"]["chunk_list"]),
                    os.path.join(victim_store, "dev", victim_id + ".chunks"))
    with open(os.path.join(victim_store, "dev", victim_id + ".json")) as fh:
        victim = json.load(fh)
    manifest.update(id=victim_id, created_at=victim["created_at"], revisions=victim["revisions"])
    manifest["data"]["chunk_list"] = victim_id + ".chunks"
    manifest.pop("mac", None)
    with open(os.path.join(victim_store, "dev", victim_id + ".json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    os.remove(os.path.join(victim_store, "index.db"))


def body(t):
    user_key, other_key = t.path("user.key"), t.path("other.key")
    keygen(user_key)
    keygen(other_key)
    proj = project(t, "proj", MARKER + " ", 'key_file = "{}"\nencryption = "none"\n'.format(user_key))
    db_file = os.path.join(proj, "app.db")
    store = os.path.join(proj, "snapshots")

    t.section("a key with encryption = \"none\" turns authentication on for a new store")
    state_1 = db_state(db_file)
    s1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    with open(os.path.join(store, "config")) as fh:
        config = json.load(fh)
    t.check_eq((config["encryption"], config["chunk_ids"], config["manifests"]), ("none", "sha256", "hmac-sha256"),
               "config: no encryption, plain chunk ids, authenticated manifests")
    t.check_eq(len(os.listdir(os.path.join(store, "keys"))), 1, "one key object")
    packs = glob.glob(os.path.join(store, "data", "*", "*"))
    clear = b"".join(subprocess.run(["zstd", "-dc", p], check=True, stdout=subprocess.PIPE).stdout for p in packs)
    t.check(MARKER.encode() in clear, "the packs open with zstd -dc: the data is in the clear")
    with open(os.path.join(store, "dev", s1["id"] + ".json")) as fh:
        t.check(len(json.load(fh).get("mac", "")) == 64, "the manifest carries a 64-hex MAC")

    t.section("list, verify, restore; dbsnap-recover with and without the key")
    fill_items(db_file, ["b2b2b2b2"], 20, prefix="later ")
    t.check_eq(len(t.dbsnap_ok(proj, "list", "--json").json()), 1, "list shows the snapshot")
    t.dbsnap_ok(proj, "verify", "--all")
    t.dbsnap_ok(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
    t.check_eq(db_state(db_file), state_1, "the restore brought back the snapshot's state")
    rc, dump_plain, err = recover(store, s1["id"])
    t.check(rc == 0 and "no key is given" in err, "dbsnap-recover without the key: the dump, with a warning", err)
    r = subprocess.run([RECOVER, "--identity", user_key, store, s1["id"]], capture_output=True)
    t.check(r.returncode == 0 and r.stdout == dump_plain, "dbsnap-recover with the key: the same dump, checked",
            r.stderr.decode(errors="replace"))

    t.section("no key, another key")
    with open(os.path.join(proj, "dbsnap.toml")) as fh:
        toml = fh.read()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml.replace('key_file = "{}"\n'.format(user_key), ""))
    t.check_error(t.dbsnap(proj, "list"), EXIT_CONFIG, "list without a key", ["authenticated", "key"])
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml.replace(user_key, other_key))
    t.check_error(t.dbsnap(proj, "list"), EXIT_REFUSED, "list with another key", ["none of the"])
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write(toml)

    t.section("the control: a forged snapshot in a store without a key is restored")
    evil = project(t, "evil", "EVIL ROW ")
    evil_state = db_state(os.path.join(evil, "app.db"))
    t.dbsnap_ok(evil, "backup", "dev")
    control = project(t, "control", MARKER + " ")
    c1 = t.dbsnap_ok(control, "backup", "dev", "--json").json()
    forge(os.path.join(control, "snapshots"), c1["id"], os.path.join(evil, "snapshots"))
    t.dbsnap_ok(control, "catalog", "rebuild")
    t.dbsnap_ok(control, "restore", c1["id"], "--yes", "--no-safety-snapshot")
    t.check_eq(db_state(os.path.join(control, "app.db")), evil_state,
               "without a key the forged snapshot's checksums all match, and its data is restored")

    t.section("the same forgery in the authenticated store is refused")
    forge(store, s1["id"], os.path.join(evil, "snapshots"))
    fill_items(db_file, ["c3c3c3c3"], 10, prefix="today ")
    state_now = db_state(db_file)
    r = t.dbsnap(proj, "restore", s1["id"], "--yes", "--no-safety-snapshot")
    t.check_rc(r, EXIT_CORRUPT, "restore of the forged snapshot")
    t.check("authenticate" in r.errtext or "MAC" in r.errtext, "it says the manifest does not authenticate",
            r.errtext)
    t.check_eq(db_state(db_file), state_now, "the database is unchanged")
    r = t.dbsnap(proj, "verify", "--all")
    t.check_rc(r, EXIT_CORRUPT, "verify --all finds the forged manifest")
    r = subprocess.run([RECOVER, "--identity", user_key, store, s1["id"]], capture_output=True)
    t.check(r.returncode == 1 and b"authenticate" in r.stderr, "dbsnap-recover with the key refuses it",
            r.stderr.decode(errors="replace"))

    t.section("an edited field of a genuine manifest is refused")
    s2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()
    path = os.path.join(store, "dev", s2["id"] + ".json")
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(text.replace('"c3c3c3c3"', '"a1a1a1a1"'))
    r = t.dbsnap(proj, "verify", s2["id"])
    t.check_rc(r, EXIT_CORRUPT, "verify of the snapshot whose revision was edited")
    t.check("authenticate" in r.errtext + r.text, "verify says its manifest does not authenticate",
            r.errtext + r.text)
    r = t.dbsnap(proj, "catalog", "rebuild")
    t.check(s2["id"] not in t.dbsnap_ok(proj, "list", "--json").text,
            "after a catalog rebuild the edited snapshot is not listed", r.errtext)
    r = t.dbsnap(proj, "restore", s2["id"], "--yes", "--no-safety-snapshot")
    t.check(r.rc != 0, "nor restored (exit {})".format(r.rc), r.errtext)
    t.check_eq(db_state(db_file), state_now, "the database is unchanged")

    t.section("a store without keys copied into a new authenticated one (copy_encryption = \"none\")")
    with open(os.path.join(control, "dbsnap.toml")) as fh:
        ctoml = fh.read()
    with open(os.path.join(control, "dbsnap.toml"), "w") as fh:
        fh.write('copy_encryption = "none"\n' + ctoml)
    dest = t.path("authcopy")
    t.dbsnap_ok(control, "copy", "--all", "--to", dest, "--to-key-file", user_key)
    with open(os.path.join(dest, "config")) as fh:
        t.check_eq(json.load(fh)["encryption"], "none", "the new destination is authenticated, in the clear")
    copied = glob.glob(os.path.join(dest, "dev", "*.json"))
    macs = []
    for path in copied:
        with open(path) as fh:
            macs.append(len(json.load(fh).get("mac", "")))
    t.check(copied and macs == [64] * len(copied), "every copied manifest carries a MAC ({})".format(macs))
    with open(os.path.join(control, "dbsnap.toml"), "w") as fh:
        fh.write(ctoml)

    t.section("a key given for a store in the clear that holds snapshots is refused")
    with open(os.path.join(control, "dbsnap.toml"), "w") as fh:
        fh.write('key_file = "{}"\nencryption = "none"\n'.format(user_key) + ctoml)
    before = sorted(os.listdir(os.path.join(control, "snapshots")))
    t.check_error(t.dbsnap(control, "list"), EXIT_CONFIG, "a key for a store with snapshots in the clear",
                  ["not encrypted"])
    t.check_eq(sorted(os.listdir(os.path.join(control, "snapshots"))), before, "nothing was written")


if __name__ == "__main__":
    Test("repo_authenticated_store").run(body)
