"""When duplicity starts and ends inside a charm run: a timestamping duplicity wrapper.

The bench deploys the unit with a bin directory holding only ``duplicity``: a bash script
that appends ``<pid> start <epoch seconds> <first argument>`` and ``<pid> end <epoch
seconds> <exit code>`` to a log and runs the real duplicity in between (bash's
$EPOCHREALTIME: no extra process). The charm finds it first on PATH and records it as its
duplicity, so every duplicity the charm runs (actions, cron runner, hooks' --version probe)
is logged. It costs the charm one bash start (a few ms) per run: counted against the charm.

From the wrapper's times and the bench's own clock around an action (time.time()), a
charm run splits into: before duplicity (harness, python, imports, hook tools, lock,
principal hooks), duplicity itself (its own start-up included: bare pays it too), after.
"""

import os
import re
import shlex
import subprocess
import sys
import time

import measure

WRAPPER = """#!/bin/bash
# duplicity bench wrapper: times each run of the real duplicity
echo "$$ start $EPOCHREALTIME ${{1:0:40}}" >> {log}
{real} "$@"
rc=$?
echo "$$ end $EPOCHREALTIME $rc" >> {log}
exit $rc
"""


class DuplicityClock:
    def __init__(self, real_bin_dir, workdir):
        self.real = os.path.join(real_bin_dir, "duplicity")
        self.bin_dir = os.path.join(workdir, "wrapped-bin")
        os.makedirs(self.bin_dir, exist_ok=True)
        self.log = os.path.join(workdir, "duplicity-times.txt")
        open(self.log, "a").close()
        path = os.path.join(self.bin_dir, "duplicity")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        with os.fdopen(fd, "w") as f:
            f.write(WRAPPER.format(log=shlex.quote(self.log), real=shlex.quote(self.real)))

    def mark(self):
        return os.path.getsize(self.log)

    def runs(self, mark):
        """[{"pid", "start", "end", "op", "rc"}] of the runs logged after ``mark``."""
        starts, out = {}, []
        with open(self.log) as f:
            f.seek(mark)
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                pid, what, stamp = parts[0], parts[1], float(parts[2].replace(",", "."))
                if what == "start":
                    starts[pid] = {"pid": pid, "start": stamp,
                                   "op": parts[3] if len(parts) > 3 else ""}
                elif what == "end" and pid in starts:
                    run = starts.pop(pid)
                    run.update(end=stamp, rc=parts[3] if len(parts) > 3 else "")
                    out.append(run)
        return out

    def split(self, t0, t1, mark, ops=("full", "incr", "incremental", "restore")):
        """before / duplicity / after of the one main duplicity run between t0 and t1."""
        runs = self.runs(mark)
        main = [r for r in runs if r["op"] in ops]
        if not main:
            return None
        r = main[-1]
        return {"start": r["start"], "before": r["start"] - t0, "duplicity": r["end"] - r["start"],
                "after": t1 - r["end"], "total": t1 - t0, "op": r["op"],
                "other_duplicity_runs": [
                    {"op": x["op"], "wall": x["end"] - x["start"]} for x in runs if x is not r]}


def import_times(python, setup, modules, cwd=None, env=None):
    """``python -X importtime``: cumulative microseconds of each top-level import."""
    code = setup + "; " + "; ".join("import " + m for m in modules)
    argv = [python, "-X", "importtime", "-c", code]
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          cwd=cwd, env=env, timeout=120)
    top, nested = [], []
    for line in proc.stderr.decode(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        depth = (len(m.group(3)) - 1) // 2      # 0: imported by the -c code itself
        if depth == 0:
            top.append((m.group(4), int(m.group(2)) / 1e6))
        elif depth <= 2:
            nested.append((m.group(4), int(m.group(2)) / 1e6))
    top.sort(key=lambda x: -x[1])
    nested.sort(key=lambda x: -x[1])
    return {"total": sum(t for _, t in top), "top": top[:8], "nested": nested[:10],
            "command": shlex.join(argv), "returncode": proc.returncode}


def interpreter_start(python, repeats=5):
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=False)
        walls.append(time.perf_counter() - start)
    return {"median": measure.median(walls), "command": shlex.join([python, "-c", "pass"])}


def cron_runner_command(cron_file):
    """argv of the backup command of the unit's cron file (without the >>log redirection)."""
    with open(cron_file) as f:
        text = f.read()
    m = re.search(r"(/usr/bin/python3 \S+ --spec \S+ backup)", text)
    if not m:
        raise RuntimeError("no backup command in {}".format(cron_file))
    return shlex.split(m.group(1))


def time_cron_runner(clock, cron_file):
    """Run the cron line's backup command as cron would (its env: the cron file's PATH and
    SHELL, HOME, LOGNAME) and split its wall time around duplicity."""
    argv = cron_runner_command(cron_file)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "SHELL": "/bin/sh", "HOME": "/root", "LOGNAME": "root"}
    mark = clock.mark()
    t0 = time.time()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, cwd="/", timeout=3600)
    t1 = time.time()
    split = clock.split(t0, t1, mark)
    return {"returncode": proc.returncode, "split": split,
            "output": proc.stdout.decode(errors="replace")[-500:],
            "command": "env -i " + " ".join("{}={}".format(k, v) for k, v in env.items()) +
                       " " + shlex.join(argv)}


def system_python():
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
