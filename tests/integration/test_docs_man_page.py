#!/usr/bin/python3
"""The man page (man/dbsnap.1) against the binary: `groff -man -ww -z` prints nothing; every
command that `dbsnap --help` lists (and every subcommand, e.g. catalog rebuild) has its .SS
section under COMMANDS; every option each command's --help lists is a .TP item of that section
(-h/--help and the global options in OPTIONS), and no section documents an option the command
does not have; every exit code of the --help footer is in EXIT STATUS; the .TH version is the
binary's; the required sections are there. Commands and options are read from --help at run
time, so an option added later without a man page entry fails this test."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, clean_env  # noqa: E402

MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man", "dbsnap.1")
REQUIRED_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "CONFIGURATION", "EXIT STATUS",
                     "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"]


def plain(roff):
    """roff text with escapes and fonts removed: \\- -> -, \\fB/\\fI/\\fR/\\fP, \\&, \\%, \\(xx dropped."""
    text = roff.replace("\\-", "-").replace("\\e", "\\")
    text = re.sub(r"\\f[BIRP]|\\f\(\w\w|\\&|\\%|\\\(\w\w", "", text)
    return text


def unquote(args):
    return " ".join(w.strip('"') for w in re.findall(r'"[^"]*"|\S+', args))


def parse_man(source):
    """{section title: [lines]} and, for COMMANDS, {.SS title: [lines]}; comments dropped."""
    sections, subsections = {}, {}
    current, sub = None, None
    for line in source.splitlines():
        if line.startswith('.\\"'):
            continue
        if line.startswith(".SH "):
            current, sub = unquote(plain(line[4:])), None
            sections[current] = []
            continue
        if line.startswith(".SS ") and current == "COMMANDS":
            sub = unquote(plain(line[4:]))
            subsections[sub] = []
            continue
        if current is not None:
            sections[current].append(line)
        if sub is not None:
            subsections[sub].append(line)
    return sections, subsections


def tagged_options(lines):
    """The options named in the tags of .TP items (the line after each .TP)."""
    found = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = plain(lines[i + 1])
            found |= set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", tag))
    return found


def help_text(t, *command):
    r = t.dbsnap(t.tmp, *command, "--help", config=False)
    t.require_eq(r.rc, 0, "dbsnap {} --help".format(" ".join(command)).replace("  ", " "), r.describe())
    return r.text


def help_section(text, title):
    if title + ":" not in text:
        return ""
    return text.split(title + ":", 1)[1].split("\n\n", 1)[0]


def help_options(text):
    names = set()
    for spec in re.findall(r"^  (-[^\s]+)", help_section(text, "Options"), re.M):
        names |= set(n for n in spec.split(",") if n.startswith("-"))
    return names


def help_subcommands(text):
    return re.findall(r"^  (\S+)", help_section(text, "Subcommands"), re.M)


def body(t):
    t.section("groff -man -ww -z")
    p = subprocess.run(["groff", "-man", "-ww", "-z", MAN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=clean_env())
    t.check(p.returncode == 0 and not p.stdout and not p.stderr, "groff -man -ww -z reports nothing",
            "exit {}\n{}{}".format(p.returncode, p.stdout.decode(), p.stderr.decode()))

    with open(MAN, encoding="utf-8") as f:
        source = f.read()
    sections, subsections = parse_man(source)
    for title in REQUIRED_SECTIONS:
        t.check(title in sections, "the man page has a {} section".format(title), sorted(sections))

    t.section("the version in .TH is the binary's")
    r = t.dbsnap(t.tmp, "--version", config=False)
    t.require_eq(r.rc, 0, "dbsnap --version")
    version = re.match(r"dbsnap (\S+)", r.text).group(1)
    th = re.search(r'^\.TH DBSNAP 1 "[^"]*" "dbsnap ([^"]+)"', source, re.M)
    t.check(th is not None and th.group(1) == version, ".TH names dbsnap {}".format(version),
            th.group(0) if th else "no .TH line")

    t.section("global options")
    top = help_text(t)
    global_options = help_options(top)
    t.require("--config" in global_options and "--help" in global_options, "--help lists the global options",
              global_options)
    documented = tagged_options(sections.get("OPTIONS", []))
    for opt in sorted(global_options):
        t.check(opt in documented, "OPTIONS documents {}".format(opt), sorted(documented))
    for opt in sorted(documented - global_options):
        t.check(False, "OPTIONS documents only options dbsnap has: {} is not in dbsnap --help".format(opt))

    t.section("every command and its options")
    # Commands as word paths: ["backup"], ["catalog", "rebuild"], ...
    commands, queue = [], [[c] for c in help_subcommands(top)]
    t.require(len(queue) >= 10, "dbsnap --help lists the commands", top)
    helps = {}
    while queue:
        path = queue.pop(0)
        text = help_text(t, *path)
        helps[tuple(path)] = text
        subs = help_subcommands(text)
        commands.append(path)
        queue += [path + [s] for s in subs]
    leaves = [p for p in commands if not help_subcommands(helps[tuple(p)])]

    def sections_of(path):
        return [title for title in subsections if title.split()[:len(path)] == path]

    for path in commands:
        name = " ".join(path)
        t.check(len(sections_of(path)) >= 1, "COMMANDS has a section for '{}'".format(name), sorted(subsections))
    for path in leaves:
        name = " ".join(path)
        found = [title for title in sections_of(path)
                 if len(title.split()) == len(path) or not re.match(r"[a-z]", title.split()[len(path)])]
        t.check(len(found) == 1, "exactly one section documents '{}'".format(name), found)
        if len(found) != 1:
            continue
        documented = tagged_options(subsections[found[0]])
        # Options of the command and of its parents (catalog's own options, e.g.), --help excepted:
        # OPTIONS documents it once for every command.
        wanted = set()
        for n in range(1, len(path) + 1):
            wanted |= help_options(helps[tuple(path[:n])])
        wanted -= {"-h", "--help"}
        # Global options a command also accepts after its name (--json, --quiet, --verbose) are
        # documented once, in OPTIONS (checked above); a section may repeat them.
        wanted -= global_options
        for opt in sorted(wanted):
            t.check(opt in documented, "the '{}' section documents {}".format(name, opt), sorted(documented))
        for opt in sorted(documented - wanted - global_options):
            t.check(False, "the '{}' section documents {}, which dbsnap {} --help does not list".format(
                name, opt, name))
    listed = {" ".join(p) for p in commands}
    for title in subsections:
        t.check(any(title.startswith(c) and (len(title) == len(c) or title[len(c)] == " ") for c in listed),
                "the man page's section '{}' is a command dbsnap has".format(title), sorted(listed))

    t.section("exit codes")
    footer = top.split("Exit codes:", 1)
    t.require(len(footer) == 2, "dbsnap --help's footer lists the exit codes", top)
    codes = set(re.findall(r"(?<![\w-])(\d+) ", footer[1]))
    t.require("130" in codes and "9" in codes, "the footer's codes were read", codes)
    exit_lines = sections.get("EXIT STATUS", [])
    documented = {exit_lines[i + 1].split()[1] for i, line in enumerate(exit_lines[:-1])
                  if line.strip() == ".TP" and exit_lines[i + 1].startswith(".B ")}
    t.check_eq(sorted(documented, key=int), sorted(codes, key=int), "EXIT STATUS documents exactly the exit codes")


if __name__ == "__main__":
    Test("docs_man_page").run(body)
