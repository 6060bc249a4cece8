"""Timing helpers: timed steps with a deadline, hook-tool call timing, target sizes."""

import os
import resource
import shlex
import signal
import statistics
import subprocess
import time


class StepTimeout(Exception):
    pass


class deadline:
    """Raise StepTimeout in the main thread when a step runs longer than ``seconds``.

    Child processes get their own timeouts (the harness Model's ``timeout``, the bare
    duplicity run's ``timeout``); this bounds whatever is left (data generation, hashing).
    """

    def __init__(self, seconds, what):
        self.seconds, self.what = int(seconds), what

    def _fire(self, signum, frame):
        raise StepTimeout("{} took longer than {} s".format(self.what, self.seconds))

    def __enter__(self):
        self._old = signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._old)
        return False


def children_cpu():
    """CPU seconds (user + system) of every waited-for child process so far.

    Less sensitive than wall time to other load on the machine: the figure to trust when
    the load average (recorded next to every figure) is above the number of CPUs.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def median(values):
    return statistics.median(values) if values else None


# ----------------------------------------------------------------- hook tool timing

class ToolTimer:
    """Wraps a harness unit's hook tools so every call's wall time is logged.

    Each tool script (tests/harness/toolserver.py) moves to ``.<tool>.untimed`` and a
    wrapper in its place runs it between two ``date +%s%N`` and appends ``tool start end``
    (ns) to a timing file. The wrapper adds a shell and two ``date`` processes (~2-3 ms)
    per call.
    """

    MARK = "# timed by tests/bench/measure.py"

    def __init__(self, unit, timing_file):
        self.unit = unit
        self.timing_file = str(timing_file)
        open(self.timing_file, "a").close()
        for name in os.listdir(unit.tools_dir):
            path = os.path.join(unit.tools_dir, name)
            if name.startswith("."):
                continue
            with open(path) as f:
                if self.MARK in f.read():
                    continue  # already wrapped
            untimed = os.path.join(unit.tools_dir, ".{}.untimed".format(name))
            os.rename(path, untimed)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n{}\ns=$(date +%s%N)\n{} \"$@\"\nrc=$?\n"
                        "echo \"{} $s $(date +%s%N)\" >> {}\nexit $rc\n".format(
                            self.MARK, shlex.quote(untimed), name,
                            shlex.quote(self.timing_file)))
            os.chmod(path, 0o755)

    def mark(self):
        return os.path.getsize(self.timing_file)

    def since(self, mark):
        """[(tool, seconds)] of the calls logged after ``mark``."""
        return [(name, end - start) for name, start, end in self.calls(mark)]

    def calls(self, mark):
        """[(tool, start, end)] (epoch seconds) of the calls logged after ``mark``."""
        with open(self.timing_file) as f:
            f.seek(mark)
            out = []
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    out.append((parts[0], int(parts[1]) / 1e9, int(parts[2]) / 1e9))
        return out

    def measure(self, fn, *args, **kwargs):
        """Run fn; return {'wall', 'tool_calls', 'tool_time', 'tools': {name: count}}."""
        mark = self.mark()
        self.last_mark = mark
        hooks_before = len(self.unit.model.hook_log)
        cpu = children_cpu()
        wall, value = timed(fn, *args, **kwargs)
        cpu = children_cpu() - cpu
        calls = self.since(mark)
        tools = {}
        for name, _ in calls:
            tools[name] = tools.get(name, 0) + 1
        hooks = [h for u, h, *_ in self.unit.model.hook_log[hooks_before:]
                 if u == self.unit.name]
        return {"wall": wall, "cpu": cpu, "load": os.getloadavg()[0], "tool_calls": len(calls),
                "tool_time": sum(t for _, t in calls), "tools": tools, "hooks": hooks,
                "value": value}


# ----------------------------------------------------------------- targets

def dir_bytes(path):
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                pass
    return total


def s3_bytes(client, bucket, prefix):
    total = 0
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        resp = client.list_objects_v2(**kwargs)
        total += sum(o["Size"] for o in resp.get("Contents", []))
        if not resp.get("IsTruncated"):
            return total
        token = resp["NextContinuationToken"]


def run_bare(argv, env, timeout):
    """Run duplicity as the runner does (no stdin, output captured, cwd /); time it."""
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, cwd="/", timeout=timeout)
    wall = time.perf_counter() - start
    return wall, children_cpu() - cpu, proc.returncode, proc.stdout.decode(errors="replace")


def read_ahead(root):
    """Read every file once so the first timed run does not pay for a cold page cache."""
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass
