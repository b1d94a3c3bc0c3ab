#!/usr/bin/python3
"""Bash completion (packaging/completion/dbsnap.bash) for real: bash sources the script, the
scenario sets COMP_WORDS/COMP_CWORD as bash would, calls _dbsnap and reads COMPREPLY. With a
real dbsnap.toml and real snapshots: commands and options (compared with what --help lists, so
options added later are covered), target names, snapshot ids, latest and @REVISION, option
choices, --opt=value split and unsplit at '=', --config pointing elsewhere, and a broken
dbsnap.toml or a missing store (no candidates, no noise, nothing created)."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, clean_env, fill_items, unique_prefix  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging", "completion",
                      "dbsnap.bash")

DRIVER = r'''
source "$1" || exit 91
shift
complete -p dbsnap >/dev/null || exit 92
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_dbsnap dbsnap "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" || exit 93
printf '%s\n' "${COMPREPLY[@]}"
'''


def help_commands(t, cwd):
    r = t.dbsnap(cwd, "--help", config=False)
    t.require_eq(r.rc, 0, "dbsnap --help")
    section = r.text.split("Subcommands:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  (\S+)", section, re.M))


def help_options(t, cwd, *command):
    r = t.dbsnap(cwd, *command, "--help", config=False)
    t.require_eq(r.rc, 0, "dbsnap {} --help".format(" ".join(command)))
    section = r.text.split("Options:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  (?:-\w,)?(--[\w-]+)", section, re.M))


def body(t):
    bindir = t.path("bin")
    os.makedirs(bindir)
    os.symlink(t.binary, os.path.join(bindir, "dbsnap"))
    env = clean_env({"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})

    def complete(cwd, *words, what=None):
        """COMPREPLY for the command line `words` (the last one is the word being completed)."""
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "driver", SCRIPT, "dbsnap"] + list(words),
                           cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        label = what or "complete `dbsnap {}`".format(" ".join(words))
        t.check(p.returncode == 0 and not p.stderr, "{}: the function runs cleanly".format(label),
                "exit {}, stderr: {}".format(p.returncode, p.stderr.decode()))
        return sorted(line for line in p.stdout.decode().split("\n") if line)

    t.section("a project with two targets and three snapshots at two revisions")
    proj = t.project(targets={"dev": "app.db", "staging": "stage.db"})
    fill_items(os.path.join(proj, "app.db"), ["aaaa1111"], 5)
    fill_items(os.path.join(proj, "stage.db"), ["bbbb2222"], 5)
    dev1 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]
    fill_items(os.path.join(proj, "app.db"), ["bbbb2222"], 5)
    dev2 = t.dbsnap_ok(proj, "backup", "dev", "--json").json()["id"]
    stage = t.dbsnap_ok(proj, "backup", "staging", "--json").json()["id"]

    t.section("commands and options, as --help lists them")
    commands = help_commands(t, proj)
    t.require("restore" in commands and "catalog" in commands, "--help lists the commands", commands)
    t.check_eq(complete(proj, ""), sorted(commands), "an empty word completes every command (and no hidden one)")
    t.check_eq(complete(proj, "re"), ["restore", "revisions"], "`re` completes restore and revisions")
    t.check_eq(complete(proj, "catalog", ""), ["rebuild"], "catalog's subcommand")
    for command in sorted(commands - {"catalog"}) + ["catalog rebuild"]:
        words = command.split()
        expected = sorted(help_options(t, proj, *words))
        t.check_eq(complete(proj, *words, "--"), expected, "`{} --` completes every option --help lists".format(command))
    t.check_eq(complete(proj, "--"), sorted(help_options(t, proj)), "global options before the command")
    t.check_eq(complete(proj, "restore", "--no"), ["--no-safety-snapshot"], "an option prefix")

    t.section("targets from dbsnap.toml")
    t.check_eq(complete(proj, "backup", ""), ["dev", "staging"], "backup TARGET")
    t.check_eq(complete(proj, "backup", "st"), ["staging"], "backup st")
    t.check_eq(complete(proj, "list", ""), ["dev", "staging"], "list [TARGET]")
    t.check_eq(complete(proj, "backup", "dev", ""), [], "backup takes one target only")
    t.check_eq(complete(proj, "show", "x", "--target", ""), ["dev", "staging"], "--target VALUE")
    t.check_eq(complete(proj, "restore", "x", "--to", "d"), ["dev"], "restore --to VALUE")
    t.check_eq(complete(proj, "restore", "--target", "=", ""), ["dev", "staging"],
               "--target= split at '=' by bash, nothing typed after it")
    t.check_eq(complete(proj, "restore", "--target", "=", "st"), ["staging"], "--target=st split at '='")
    t.check_eq(complete(proj, "restore", "--target=st"), ["--target=staging"],
               "--target=st as one word (COMP_WORDBREAKS without '=')")

    t.section("snapshots from the store")
    revisions = ["@aaaa1111", "@bbbb2222"]
    t.check_eq(complete(proj, "restore", ""), sorted([dev1, dev2, stage, "latest"] + revisions),
               "restore SNAPSHOT: ids, latest and @REVISION")
    t.check_eq(complete(proj, "restore", "--target", "staging", ""), sorted([stage, "latest", "@bbbb2222"]),
               "restore --target staging: only staging's snapshots")
    prefix = unique_prefix(dev1, dev2)
    t.check_eq(complete(proj, "cat", prefix), sorted(i for i in (dev1, dev2, stage) if i.startswith(prefix)),
               "an id prefix completes the ids that start with it")
    t.check_eq(complete(proj, "show", "@b"), ["@bbbb2222"], "@REVISION prefix")
    t.check_eq(complete(proj, "delete", dev1, ""), sorted([dev1, dev2, stage, "latest"] + revisions),
               "delete takes several snapshots")
    t.check_eq(complete(proj, "verify", "--all", "--target", "dev", ""), sorted([dev1, dev2, "latest"] + revisions),
               "verify --target dev SNAPSHOT")

    t.section("option choices and revisions")
    t.check_eq(complete(proj, "rollback", "dev", "--via", ""),
               ["downgrade", "restore", "restore-downgrade", "restore-upgrade", "upgrade"], "rollback --via")
    t.check_eq(complete(proj, "rollback", "dev", "--to", ""), ["aaaa1111", "bbbb2222"], "rollback --to REVISION")
    t.check_eq(complete(proj, "rollback", "staging", "--to", ""), ["bbbb2222"], "rollback staging --to REVISION")
    t.check_eq(complete(proj, "list", "--revision", "a"), ["aaaa1111"], "list --revision")

    t.section("files, folders and commands")
    t.check("dbsnap.toml" in complete(proj, "--config", ""), "--config completes file names")
    os.makedirs(os.path.join(proj, "demo-here"))
    t.check_eq(complete(proj, "demo", "demo-"), ["demo-here"], "demo DIR completes folders")
    t.check_eq(complete(proj, "--store", "dem"), ["demo-here"], "--store completes folders")
    t.check("python3" in complete(proj, "upgrade", "dev", "--", "python"), "upgrade TARGET -- completes a command")

    t.section("--config chooses the project, from anywhere")
    other = t.project("other", targets={"other_db": "o.db"})
    elsewhere = t.path("elsewhere")
    os.makedirs(elsewhere)
    t.check_eq(complete(elsewhere, "--config", os.path.join(other, "dbsnap.toml"), "backup", ""), ["other_db"],
               "--config OTHER backup TARGET")
    t.check_eq(complete(elsewhere, "--config", os.path.join(proj, "dbsnap.toml"), "show", "@a"), ["@aaaa1111"],
               "--config PROJ show @REV")
    t.check_eq(complete(elsewhere, "--store", os.path.join(proj, "snapshots"), "show", "lat"), ["latest"],
               "--store DIR show SNAPSHOT")

    t.section("no config, a broken config, no store")
    t.check_eq(complete(elsewhere, "backup", ""), [], "no dbsnap.toml: no targets")
    t.check_eq(complete(elsewhere, "restore", ""), [], "no store: no snapshots")
    t.check_eq(sorted(os.listdir(elsewhere)), [], "completion created nothing (no snapshots/ folder)")
    broken = t.path("broken")
    os.makedirs(broken)
    with open(os.path.join(broken, "dbsnap.toml"), "w") as f:
        f.write("[targets.dev\nengine = \n")
    t.check_eq(complete(broken, "backup", ""), [], "a broken dbsnap.toml: no targets, no error on the terminal")
    t.check_eq(complete(broken, "re"), ["restore", "revisions"], "commands still complete beside a broken dbsnap.toml")


if __name__ == "__main__":
    Test("completion").run(body)
