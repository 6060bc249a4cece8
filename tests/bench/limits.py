"""The limits a backup cannot beat on this machine: disk read, gpg AES256, the shaped link.

Each figure carries the command (or code) that produced it, the wall and CPU time and the
load average at the time.
"""

import os
import shlex
import subprocess
import tempfile
import time

import measure

GPG = "gpg"


def _files(root):
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            yield os.path.join(dirpath, name)


def evict(root):
    """posix_fadvise(DONTNEED) on every file under root: drops this data's clean pages from
    the page cache (only this data's: nothing machine-wide such as drop_caches)."""
    for path in _files(root):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_all(root):
    total = 0
    for path in _files(root):
        with open(path, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
    return total


def disk_read(root):
    """Read the data once after evicting it (cold-ish), then again (warm); MB/s of each."""
    out = {}
    evict(root)
    for state, note in (
            ("cold-ish", "after posix_fadvise(POSIX_FADV_DONTNEED) on each file: this data's "
                         "pages were dropped from the guest's page cache; the virtual disk's "
                         "host-side cache may still hold them, so this is an upper bound of a "
                         "truly cold read"),
            ("warm", "read again right after: from the page cache (what the backups below "
                     "read: every run is preceded by a read-through)")):
        cpu = measure.children_cpu()
        start = time.perf_counter()
        proc_cpu = time.process_time()
        nbytes = read_all(root)
        wall = time.perf_counter() - start
        out[state] = {"bytes": nbytes, "wall": wall, "MBps": nbytes / wall / 1e6,
                      "cpu": time.process_time() - proc_cpu + measure.children_cpu() - cpu,
                      "load": os.getloadavg()[0], "cache": note,
                      "command": "python: os.walk({}) + read(1 MiB) of every file{}".format(
                          root, "; posix_fadvise(DONTNEED) on each file first"
                          if state == "cold-ish" else "")}
    return out


def _gpg_argv(home, passfile, compress):
    argv = [GPG, "--batch", "--yes", "--no-tty", "--quiet", "--homedir", home,
            "--pinentry-mode", "loopback", "--passphrase-file", passfile,
            "--symmetric", "--cipher-algo", "AES256"]
    if not compress:
        argv += ["--compress-algo", "none"]
    return argv + ["-o", "-"]


def gpg_throughput(inputs, passphrase, workdir):
    """gpg --symmetric AES256 with and without compression over each input.

    inputs: {label: ("file", path) | ("tar", directory)}. Output is counted through a pipe
    (nothing written to disk). Returns {label: {"none": {...}, "default": {...}}}.
    """
    out = {}
    home = tempfile.mkdtemp(prefix="gpg-bench-", dir=workdir)
    os.chmod(home, 0o700)
    passfile = os.path.join(home, "pass")
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(passphrase + "\n")
    try:
        # one tiny run first: starts gpg-agent and calibrates its S2K count, once
        subprocess.run(_gpg_argv(home, passfile, False), input=b"warm-up",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        for label, (kind, path) in inputs.items():
            out[label] = {}
            for compress in (False, True):
                argv = _gpg_argv(home, passfile, compress)
                cpu = measure.children_cpu()
                start = time.perf_counter()
                tar = None
                if kind == "tar":
                    tar = subprocess.Popen(["tar", "-C", path, "-cf", "-", "."],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    src = tar.stdout
                    in_bytes = measure.dir_bytes(path)
                    shown = "tar -C {} -cf - . | ".format(shlex.quote(path))
                else:
                    src = open(path, "rb")
                    in_bytes = os.path.getsize(path)
                    shown = ""
                gpg = subprocess.Popen(argv, stdin=src, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
                src.close()
                out_bytes = 0
                while True:
                    chunk = gpg.stdout.read(1 << 20)
                    if not chunk:
                        break
                    out_bytes += len(chunk)
                err = gpg.stderr.read()
                rc = gpg.wait()
                if tar is not None:
                    tar.wait()
                wall = time.perf_counter() - start
                if rc != 0:
                    raise RuntimeError("gpg exited {}: {}".format(rc, err.decode()[-500:]))
                cmd = shown + shlex.join(argv[:-2] + ["-o", "-"]) + (
                    "" if kind == "tar" else " < " + shlex.quote(path)) + " | wc -c"
                out[label]["default" if compress else "none"] = {
                    "in_bytes": in_bytes, "out_bytes": out_bytes, "wall": wall,
                    "MBps": in_bytes / wall / 1e6, "cpu": measure.children_cpu() - cpu,
                    "ratio": out_bytes / in_bytes if in_bytes else None,
                    "load": os.getloadavg()[0],
                    "command": cmd.replace(passfile, "<0600 passphrase file>")}
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["rm", "-rf", home], check=False)
    return out


def link_bandwidth(delay_ms, rate_mbit, size=64 << 20):
    """The shaped link's bandwidth, measured by pushing ``size`` bytes each way."""
    from servers.shaper import measure_bandwidth

    out = {}
    for direction in ("up", "down"):
        r = measure_bandwidth(size, direction, delay_ms=delay_ms, rate_mbit=rate_mbit)
        r["load"] = os.getloadavg()[0]
        r["command"] = ("tests/servers/shaper.py measure_bandwidth({} MiB, {!r}, delay_ms={}, "
                        "rate_mbit={}): a fresh proxy, bulk transfer to/from a loopback "
                        "socket".format(size >> 20, direction, delay_ms, rate_mbit))
        out[direction] = r
    return out
