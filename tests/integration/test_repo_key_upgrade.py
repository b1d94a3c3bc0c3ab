#!/usr/bin/python3
"""Scenario: an encrypted store made before manifests carried a MAC, upgraded in place (`dbsnap key upgrade`).

The old store is made as an older dbsnap left it, with Debian's age only: every key object
without the line "# manifests: hmac-sha256" and every manifest without its "mac" field.
- Before the upgrade: list, verify and restore read it as before; a backup written into it
  carries a MAC (writers always add one); a manifest whose MAC is there but wrong is refused
  even now; a manifest without a MAC planted by whoever can write the store is accepted (the
  hole the upgrade closes).
- `key upgrade` (mine): every manifest without a MAC is given one, its fields kept; the one
  with a MAC is counted; my key object is replaced by one with the line; the other user's is
  listed, left alone. Then a planted manifest without a MAC is refused (verify exit 5, left out
  by catalog rebuild, restore refused, dbsnap-recover refuses it), while the other user's key
  still accepts it until its holder upgrades too.
- A run killed between writing the new key object and removing the old one (made by hand):
  both open the store; the next run removes the old one. A second run: nothing to upgrade.
- A manifest that does not parse: the rest is upgraded, it is named, exit 5.
- A key object sealed to me and a colleague: refused (exit 8) before any manifest or key object
  changes (replacing it would lock the colleague out).
- A backup holding the repository lock: busy (exit 10), nothing changed. A store without
  keys: exit 2. An authenticated store in the clear: nothing to upgrade.
"""
import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import (EXIT_BUSY, EXIT_CORRUPT, EXIT_REFUSED, EXIT_USAGE, RECOVER, Test, db_state, fill_items,  # noqa: E402
                         write)

MANIFESTS_LINE = b"# manifests: hmac-sha256"


def keygen(path):
    subprocess.run(["age-keygen", "-o", path], check=True, stderr=subprocess.DEVNULL)
    return subprocess.run(["age-keygen", "-y", path], check=True, stdout=subprocess.PIPE).stdout.decode().strip()


def age_decrypt(identity, path):
    return subprocess.run(["age", "-d", "-i", identity, path], check=True, stdout=subprocess.PIPE).stdout


def age_encrypt(recipient, path, plain):
    tmp = path + ".tmp"
    subprocess.run(["age", "-r", recipient, "-o", tmp], input=plain, check=True)
    os.replace(tmp, path)


def manifests(store):
    return sorted(p for p in glob.glob(os.path.join(store, "*", "*.json")))


def body(t):
    proj = t.path("proj")
    os.makedirs(proj)
    db_file = os.path.join(proj, "app.db")
    fill_items(db_file, ["a1a1a1a1"], 200)
    mine, theirs = t.path("mine.key"), t.path("theirs.key")
    keygen(mine)
    their_recipient = keygen(theirs)
    my_recipient = subprocess.run(["age-keygen", "-y", mine], check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    with open(os.path.join(proj, "dbsnap.toml"), "w") as fh:
        fh.write('key_file = "{}"\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'.format(mine))
    store = os.path.join(proj, "snapshots")
    as_them = {"DBSNAP_KEY_FILE": theirs}

    t.section("an encrypted store as an older dbsnap left it")
    ids = [t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]]
    write(db_file, ("INSERT INTO item (v) VALUES (?)", [("row %d" % i,) for i in range(50)]))
    ids.append(t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"])
    their_id = t.dbsnap_ok(proj, "key", "add", "--recipient", their_recipient).text.split()[-1]
    with open(os.path.join(store, "config")) as fh:
        repo_recipient = json.load(fh)["recipient"]
    key_ids = sorted(os.listdir(os.path.join(store, "keys")))
    t.require_eq(len(key_ids), 2, "two key objects (mine and theirs)")
    my_id = [k for k in key_ids if k != their_id][0]
    plain_key = age_decrypt(mine, os.path.join(store, "keys", my_id))
    t.require(MANIFESTS_LINE in plain_key, "a new key object has the manifests line")
    old_key = b"\n".join(line for line in plain_key.split(b"\n") if line.strip() != MANIFESTS_LINE)
    age_encrypt(my_recipient, os.path.join(store, "keys", my_id), old_key)
    age_encrypt(their_recipient, os.path.join(store, "keys", their_id), old_key)
    repo_key = t.path("repo.key")
    with open(repo_key, "wb") as fh:
        fh.write(old_key)

    def strip_macs(paths):
        """The manifests as an older dbsnap wrote them: without "mac"; returns them by file name."""
        docs = {}
        for path in paths:
            doc = json.loads(age_decrypt(repo_key, path))
            t.require("mac" in doc, "dbsnap wrote {} with a MAC".format(os.path.basename(path)))
            doc.pop("mac")
            docs[os.path.basename(path)] = doc
            age_encrypt(repo_recipient, path, json.dumps(doc, indent=2).encode())
        return docs

    old_manifests = manifests(store)
    before = strip_macs(old_manifests)
    t.require_eq(len(before), 2, "two manifests, now without a MAC")

    t.section("the old store reads as before; a backup into it carries a MAC")
    t.check_eq(sorted(m["id"] for m in t.list_json(proj)), sorted(ids), "list")
    t.dbsnap_ok(proj, "catalog", "rebuild")
    t.dbsnap_ok(proj, "verify", "--all")
    t.check(all("mac" in json.loads(age_decrypt(repo_key, p)) for p in old_manifests),
            "verify rewrote them (status verified) with a MAC")
    before = strip_macs(old_manifests)
    state = db_state(db_file)
    write(db_file, "DELETE FROM item")
    t.dbsnap_ok(proj, "restore", ids[1], "--yes", "--no-safety-snapshot")
    t.check_eq(db_state(db_file), state, "restore from a manifest without a MAC")
    ids.append(t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"])
    newest = os.path.join(store, "dev", ids[2] + ".json")
    t.check("mac" in json.loads(age_decrypt(repo_key, newest)), "the new backup's manifest carries a MAC")
    t.check(MANIFESTS_LINE not in age_decrypt(mine, os.path.join(store, "keys", my_id)),
            "and the key object still lacks the line")

    t.section("before the upgrade: a wrong MAC is refused, a planted manifest without one is not")
    saved = t.path("newest.saved")
    shutil.copyfile(newest, saved)
    doc = json.loads(age_decrypt(repo_key, newest))
    doc["label"] = "edited"
    age_encrypt(repo_recipient, newest, json.dumps(doc, indent=2).encode())
    t.check_rc(t.dbsnap(proj, "verify", ids[2]), EXIT_CORRUPT, "verify of a manifest whose MAC does not match")
    shutil.copyfile(saved, newest)
    planted_path = os.path.join(store, "dev", ids[0] + ".json")
    original_first = t.path("first.saved")
    shutil.copyfile(planted_path, original_first)
    planted = dict(before[ids[0] + ".json"], revisions=["f0f0f0f0"])
    age_encrypt(repo_recipient, planted_path, json.dumps(planted, indent=2).encode())
    t.dbsnap_ok(proj, "catalog", "rebuild")
    first = [m for m in t.list_json(proj) if m["id"] == ids[0]]
    t.check(first and first[0]["revisions"] == ["f0f0f0f0"], "the planted manifest is believed (the old format's hole)")
    shutil.copyfile(original_first, planted_path)
    t.dbsnap_ok(proj, "catalog", "rebuild")

    t.section("a backup holding the repository lock: the upgrade is busy and changes nothing")
    files = {p: open(p, "rb").read() for p in glob.glob(os.path.join(store, "**", "*"), recursive=True)
             if os.path.isfile(p) and not p.endswith(("catalog.db", "index.db", "-wal", "-shm"))}
    with open(os.path.join(store, ".repository-lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        r = t.dbsnap(proj, "key", "upgrade")
    t.check_error(r, EXIT_BUSY, "key upgrade while the repository is in use", contains=["run the upgrade again"])
    t.check(all(open(p, "rb").read() == b for p, b in files.items()), "no object changed")

    t.section("key upgrade: every manifest given its MAC, my key object replaced, theirs listed")
    r = t.dbsnap_ok(proj, "key", "upgrade")
    t.check("gave a MAC to 2 manifest(s)" in r.text and ids[0] in r.text and ids[1] in r.text,
            "it names the two manifests it gave a MAC", r.text)
    t.check("1 manifest(s) carried a valid MAC already" in r.text, "and counts the one that had it", r.text)
    t.check(their_id in r.text and "do not open with your key" in r.text, "it lists their key", r.text)
    now = sorted(os.listdir(os.path.join(store, "keys")))
    t.check(my_id not in now and their_id in now and len(now) == 2, "my old key object replaced ({})".format(now))
    new_id = [k for k in now if k != their_id][0]
    t.check("key {} replaces key {}".format(new_id, my_id) in r.text, "it says which key replaced which", r.text)
    t.check(MANIFESTS_LINE in age_decrypt(mine, os.path.join(store, "keys", new_id)), "the new one has the line")
    t.check(MANIFESTS_LINE not in age_decrypt(theirs, os.path.join(store, "keys", their_id)), "theirs is as it was")
    for path in manifests(store):
        doc = json.loads(age_decrypt(repo_key, path))
        t.check(len(doc.get("mac", "")) == 64, "{} carries a MAC".format(os.path.basename(path)))
        doc.pop("mac", None)
        if os.path.basename(path) in before:
            t.check_eq(doc, before[os.path.basename(path)], "{}: every field kept".format(os.path.basename(path)))
    t.dbsnap_ok(proj, "verify", "--all")
    t.dbsnap_ok(proj, "verify", "--all", env=as_them)
    for key in (mine, theirs):
        r = subprocess.run([RECOVER, "--identity", key, store, ids[0]], capture_output=True)
        t.check_eq(r.returncode, 0, "dbsnap-recover with {}".format(os.path.basename(key)),
                   r.stderr.decode(errors="replace"))

    t.section("after the upgrade a planted manifest without a MAC is refused")
    upgraded_first = t.path("first.upgraded")
    shutil.copyfile(planted_path, upgraded_first)
    age_encrypt(repo_recipient, planted_path, json.dumps(planted, indent=2).encode())
    r = t.dbsnap(proj, "verify", ids[0])
    t.check_rc(r, EXIT_CORRUPT, "verify of the planted manifest")
    t.check("MAC" in r.errtext + r.text, "it says why", r.errtext + r.text)
    t.dbsnap(proj, "catalog", "rebuild")
    t.check(ids[0] not in [m["id"] for m in t.list_json(proj)], "a catalog rebuild leaves it out")
    state = db_state(db_file)
    r = t.dbsnap(proj, "restore", ids[0], "--yes", "--no-safety-snapshot")
    t.check(r.rc != 0, "restore refuses it (exit {})".format(r.rc), r.errtext)
    t.check_eq(db_state(db_file), state, "the database is unchanged")
    r = subprocess.run([RECOVER, "--identity", mine, store, ids[0]], capture_output=True)
    t.check(r.returncode == 1 and b"MAC" in r.stderr, "dbsnap-recover refuses it", r.stderr.decode(errors="replace"))
    t.dbsnap_ok(proj, "catalog", "rebuild", env=as_them)
    t.check(ids[0] in [m["id"] for m in t.list_json(proj, env=as_them)],
            "their key, not upgraded yet, still accepts it (the hole stays open for them)")
    shutil.copyfile(original_first, planted_path)
    t.check_rc(t.dbsnap(proj, "verify", ids[0]), EXIT_CORRUPT,
               "the genuine manifest as it was before the upgrade (no MAC) is refused too")
    shutil.copyfile(upgraded_first, planted_path)
    r = t.dbsnap_ok(proj, "key", "upgrade", env=as_them)
    t.check("gave a MAC" not in r.text and "3 manifest(s) carried a valid MAC already" in r.text,
            "their upgrade finds every manifest with its MAC", r.text)
    t.dbsnap_ok(proj, "catalog", "rebuild")
    t.dbsnap_ok(proj, "verify", "--all")
    t.dbsnap_ok(proj, "verify", "--all", env=as_them)
    now = sorted(os.listdir(os.path.join(store, "keys")))
    t.check(their_id not in now and len(now) == 2, "their old key object replaced too ({})".format(now))
    for k in now:
        for key in (mine, theirs):
            p = subprocess.run(["age", "-d", "-i", key, os.path.join(store, "keys", k)], capture_output=True)
            if p.returncode == 0:
                t.check(MANIFESTS_LINE in p.stdout, "key object {} has the line".format(k))

    t.section("a run killed between the new key object and the removal of the old one")
    age_encrypt(my_recipient, os.path.join(store, "keys", "00" + my_id[2:]), old_key)
    t.dbsnap_ok(proj, "verify", "--all")
    r = t.dbsnap_ok(proj, "key", "upgrade")
    t.check("removed key 00" + my_id[2:] in r.text, "the next run removes the old one", r.text)
    t.check(not os.path.exists(os.path.join(store, "keys", "00" + my_id[2:])), "it is gone")
    r = t.dbsnap_ok(proj, "key", "upgrade")
    t.check("nothing to upgrade" in r.text, "a further run has nothing to do", r.text)

    t.section("a manifest that does not parse: named, the rest done, exit 5")
    bad = os.path.join(store, "dev", "0000000000000.json")
    age_encrypt(repo_recipient, bad, b"{not json")
    r = t.dbsnap(proj, "key", "upgrade")
    t.check_rc(r, EXIT_CORRUPT, "key upgrade with a damaged manifest")
    t.check("0000000000000.json" in r.errtext, "it names it", r.errtext)
    os.remove(bad)

    t.section("a key object sealed to me and someone else: refused before anything changes")
    colleague = t.path("colleague.key")
    colleague_recipient = keygen(colleague)
    shared = os.path.join(store, "keys", "11" + my_id[2:])
    tmp = shared + ".tmp"
    subprocess.run(["age", "-r", my_recipient, "-r", colleague_recipient, "-o", tmp], input=old_key, check=True)
    os.replace(tmp, shared)
    strip_macs([newest])
    stripped = open(newest, "rb").read()
    keys_before = sorted(os.listdir(os.path.join(store, "keys")))
    r = t.dbsnap(proj, "key", "upgrade")
    t.check_error(r, EXIT_REFUSED, "key upgrade with a key object I share with a colleague",
                  contains=["lock the others out", "11" + my_id[2:]])
    t.check_eq(open(newest, "rb").read(), stripped, "the manifest without a MAC was not touched")
    t.check_eq(sorted(os.listdir(os.path.join(store, "keys"))), keys_before, "no key object changed")
    r = t.dbsnap(proj, "key", "upgrade", env={"DBSNAP_KEY_FILE": colleague})
    t.check_error(r, EXIT_REFUSED, "the colleague alone is refused too", contains=["lock the others out"])
    t.check_eq(open(newest, "rb").read(), stripped, "still nothing touched")
    os.remove(shared)
    t.dbsnap_ok(proj, "key", "upgrade")
    t.check("mac" in json.loads(age_decrypt(repo_key, newest)), "once it is gone, the upgrade goes through")

    t.section("stores without keys, and authenticated ones")
    plain = t.path("plain")
    os.makedirs(plain)
    shutil.copyfile(db_file, os.path.join(plain, "app.db"))
    with open(os.path.join(plain, "dbsnap.toml"), "w") as fh:
        fh.write('[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n')
    t.dbsnap_ok(plain, "backup", "dev")
    t.check_error(t.dbsnap(plain, "key", "upgrade"), EXIT_USAGE, "key upgrade on a store without keys",
                  contains=["no keys"])
    clear = t.path("clear")
    os.makedirs(clear)
    shutil.copyfile(db_file, os.path.join(clear, "app.db"))
    with open(os.path.join(clear, "dbsnap.toml"), "w") as fh:
        fh.write('key_file = "{}"\nencryption = "none"\n[targets.dev]\nengine = "sqlite"\nfile = "app.db"\n'
                 .format(mine))
    t.dbsnap_ok(clear, "backup", "dev")
    r = t.dbsnap_ok(clear, "key", "upgrade")
    t.check("1 manifest(s) carried a valid MAC already" in r.text and "gave a MAC" not in r.text,
            "an authenticated store has nothing to upgrade", r.text)


if __name__ == "__main__":
    Test("repo_key_upgrade").run(body)
