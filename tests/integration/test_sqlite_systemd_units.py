#!/usr/bin/python3
"""Scenario: the packaged systemd units (packaging/systemd/), run the way systemd runs them.

dbsnap-backup@.service's ExecStart is taken from the unit file and run as systemd would for
dbsnap-backup@dev.service (%i -> dev, WorkingDirectory, UMask=0077, stdin /dev/null), with
/usr/bin/dbsnap and /etc/dbsnap pointed at the build and a test folder: it backs up, applies the
target's keep_last, prints its summary and nothing on stderr (--quiet), and fails (non-zero, so the unit fails)
for a target that does not exist. The schedule generator (dbsnap-schedule-generator) run as
systemd runs it: a drop-in with the target's `schedule` as OnCalendar and a timers.target.wants
link for each target that has one, nothing for the others, a bad schedule said and skipped (exit
0), no config: nothing. Where systemd-analyze is installed, `verify` accepts both units and the
timers' OnCalendar values parse.
"""
import configparser
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbsnap_test import Test, clean_env, fill_items  # noqa: E402

UNITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging", "systemd")


def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(os.path.join(UNITS, name))
    return parser


def body(t):
    etc = t.path("etc-dbsnap")
    os.makedirs(etc)
    with open(os.path.join(etc, "dbsnap.toml"), "w") as f:
        f.write('[targets.dev]\nengine = "sqlite"\nfile = "/{}/dev.db"\nkeep_last = 1\n'.format(etc.strip("/")))
    fill_items(os.path.join(etc, "dev.db"), ["r1"], 20)

    service = unit("dbsnap-backup@.service")["Service"]
    t.check_eq(service.get("Type"), "oneshot", "the service is a oneshot")

    def run_as_systemd(instance):
        argv = [a.replace("%i", instance).replace("/etc/dbsnap", etc) for a in service["ExecStart"].split()]
        t.require_eq(argv[0], "/usr/bin/dbsnap", "ExecStart runs the installed dbsnap")
        argv[0] = t.binary
        old = os.umask(0o077)
        try:
            p = subprocess.run(argv, cwd=service["WorkingDirectory"].replace("/etc/dbsnap", etc),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=clean_env(), timeout=120)
        finally:
            os.umask(old)
        return p

    t.section("the service's command, twice: a backup each time, keep_last = 1 applied")
    for n in (1, 2):
        p = run_as_systemd("dev")
        t.check_eq(p.returncode, 0, "run {} exits 0".format(n), p.stderr.decode())
        t.check(p.stdout.startswith(b"snapshot  ") and p.stderr == b"",
                "its summary goes to the journal, nothing on stderr (--quiet)", p.stdout.decode() + p.stderr.decode())
        fill_items(os.path.join(etc, "dev.db"), ["r1"], 5, prefix="more-")
    listing = t.list_json(etc, "dev")
    t.check_eq(len(listing), 1, "one snapshot is left (keep_last = 1)", listing)
    store = os.path.join(etc, "snapshots")
    t.check_eq(os.stat(store).st_mode & 0o777, 0o700, "the store is private")

    t.section("a target that does not exist fails the unit")
    p = run_as_systemd("nosuch")
    t.check_eq(p.returncode, 3, "exit 3 (systemd marks the unit failed)", p.stderr.decode())
    t.check(b"nosuch" in p.stderr, "and says which target", p.stderr.decode())

    t.section("the timer")
    timer = unit("dbsnap-backup@.timer")
    t.check_eq(timer["Timer"].get("OnCalendar"), "daily", "daily by default")
    t.check_eq(timer["Install"].get("WantedBy"), "timers.target", "enabled under timers.target")

    t.section("the schedule generator: a target's schedule enables its timer")
    generator = os.path.join(UNITS, "dbsnap-schedule-generator")
    conf = os.path.join(etc, "scheduled.toml")
    with open(conf, "w") as f:
        f.write('[targets.dev]\nengine = "sqlite"\nfile = "dev.db"\nschedule = "*-*-* 00/6:00:00"\n\n'
                '[targets.other]\nengine = "sqlite"\nfile = "other.db"\n')

    def generate(config_file):
        out = t.path("generated-{}".format(len(os.listdir(t.path()))))
        os.makedirs(out)
        env = dict(clean_env(), DBSNAP_CONFIG_FILE=config_file, DBSNAP_BIN=t.binary)
        p = subprocess.run([generator, out, out + "-early", out + "-late"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        return p, out

    p, out = generate(conf)
    t.check_eq(p.returncode, 0, "the generator exits 0", p.stderr.decode())
    drop_in = os.path.join(out, "dbsnap-backup@dev.timer.d", "schedule.conf")
    t.require(os.path.isfile(drop_in), "a drop-in for the target with a schedule")
    dropped = unit(drop_in)
    t.check_eq(dropped["Timer"].get("OnCalendar"), "*-*-* 00/6:00:00", "with its OnCalendar (after a reset)")
    with open(drop_in) as f:
        t.check("OnCalendar=\nOnCalendar=*-*-* 00/6:00:00" in f.read(), "the daily default is reset first")
    link = os.path.join(out, "timers.target.wants", "dbsnap-backup@dev.timer")
    t.check(os.path.islink(link) and os.readlink(link) == "/usr/lib/systemd/system/dbsnap-backup@.timer",
            "the timer is enabled (a timers.target.wants link to the packaged template)")
    t.check_eq(sorted(os.listdir(out)), ["dbsnap-backup@dev.timer.d", "timers.target.wants"],
               "nothing for the target without a schedule")
    with open(conf, "a") as f:
        f.write('\n[targets.bad]\nengine = "sqlite"\nfile = "bad.db"\nschedule = ""\n')
    p, out = generate(conf)
    t.check_eq(p.returncode, 0, "a bad schedule never fails the generator (nor the boot)")
    t.check(b"bad" in p.stderr and b"schedule" in p.stderr, "it is said in the journal", p.stderr.decode())
    t.check(os.path.isfile(os.path.join(out, "dbsnap-backup@dev.timer.d", "schedule.conf")) and
            not os.path.exists(os.path.join(out, "dbsnap-backup@bad.timer.d")), "the good target's timer is still written")
    p, out = generate(os.path.join(etc, "missing.toml"))
    t.check(p.returncode == 0 and os.listdir(out) == [] and p.stderr == b"", "no config: nothing, silently")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("(systemd-analyze is not installed: unit verification left out)", flush=True)
        return
    t.section("systemd-analyze verify")
    units = t.path("units")
    os.makedirs(units)
    for name in ("dbsnap-backup@.service", "dbsnap-backup@.timer"):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("/usr/bin/dbsnap", t.binary)
        with open(os.path.join(units, name.replace("@.", "@dev.")), "w") as f:
            f.write(text)
    r = subprocess.run([analyze, "verify", "--man=no", os.path.join(units, "dbsnap-backup@dev.service"),
                        os.path.join(units, "dbsnap-backup@dev.timer")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    problems = [ln for ln in r.stdout.decode().splitlines() if "dbsnap-backup" in ln]
    t.check(r.returncode == 0 and not problems, "systemd-analyze verify accepts both units", r.stdout.decode())
    r = subprocess.run([analyze, "calendar", "daily"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    t.check_eq(r.returncode, 0, "OnCalendar=daily parses", r.stdout.decode())
    r = subprocess.run([analyze, "calendar", dropped["Timer"].get("OnCalendar")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    t.check_eq(r.returncode, 0, "the generated OnCalendar parses", r.stdout.decode())


if __name__ == "__main__":
    Test("systemd_units").run(body)
