#!/usr/bin/python3
"""Runs a command on a pseudo-terminal, typing PASSPHRASE at each "passphrase" prompt: `age -p`
and `age -d` read passphrases from a terminal only. Usage: age_tty.py PASSPHRASE CMD [ARGS...];
exits with the command's status (its terminal output goes to stderr)."""
import os, pty, sys, time
passphrase, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""
sent = 0
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
    while out.lower().count(b"passphrase") > sent:
        time.sleep(0.05)
        os.write(fd, passphrase.encode() + b"\r")
        sent += 1
_, status = os.waitpid(pid, 0)
sys.stderr.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
