#!/usr/bin/env python3
"""A stand-in for duplicity in the runner's unit tests: it does what ``behaviour.json``
beside it says, and nothing else.

Keys (all optional): ``output`` (printed), ``log`` (written to the --log-file, as duplicity
writes its machine-readable records), ``manifest`` (true: leave a full-backup manifest in
the archive dir, as a completed backup does), ``child_pidfile`` (start a grandchild that
sleeps, in duplicity's process group, and write its pid there), ``sleep`` (seconds, after
everything else), ``ignore_term`` (true: survive SIGTERM, so only SIGKILL ends it),
``exit`` (the exit code, default 0).
"""
import json
import os
import signal
import subprocess
import sys
import time


def option(name):
    for arg in sys.argv[1:]:
        if arg.startswith("--" + name + "="):
            return arg.split("=", 1)[1]
    return None


def main():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "behaviour.json")) as f:
        behaviour = json.load(f)
    if behaviour.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if behaviour.get("log") and option("log-file"):
        with open(option("log-file"), "a") as f:
            f.write(behaviour["log"])
    if behaviour.get("manifest"):
        name_dir = os.path.join(option("archive-dir"), option("name"))
        os.makedirs(name_dir, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        open(os.path.join(name_dir, "duplicity-full.{}.manifest".format(stamp)), "w").close()
    if behaviour.get("child_pidfile"):
        child = subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL)
        with open(behaviour["child_pidfile"], "w") as f:
            f.write(str(child.pid))
    sys.stdout.write(behaviour.get("output", ""))
    sys.stdout.flush()
    time.sleep(behaviour.get("sleep", 0))
    return behaviour.get("exit", 0)


if __name__ == "__main__":
    sys.exit(main())
