#!/usr/bin/env python3
"""Throughput and stored size of each ``compression`` mode (not a test: prints figures).

For the bench data mix (tests/bench/data.py, as one uncompressed tar stream, which is what
duplicity hands gpg) and for the same number of random bytes, runs every mode the charm
can choose the way duplicity runs it:

- encrypting: ``gpg --symmetric --cipher-algo=AES256 --force-mdc`` plus the mode's
  options from lib/duplicity_tuning.py (``compression_args``), the passphrase on a pipe;
- not encrypting: Python's gzip at level 6 (duplicity's ``GzipWriteFile``) or nothing.

Each figure is the median of ``--repeat`` runs; CPU seconds are the child's (gpg) or this
process's (gzip), the steadier figure on a loaded machine. Usage:

    .venv/bin/python tests/bench/compression.py [--size-mb 64] [--repeat 3]
"""

import argparse
import gzip
import io
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "lib"))

import data  # noqa: E402
import duplicity_tuning  # noqa: E402

PASSPHRASE = b"bench-passphrase-not-secret"
MODES = ("none", "fast", "default", "best")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tar_of(root, dest):
    with tarfile.open(dest, "w") as tar:
        for name in sorted(os.listdir(root)):
            if name != data.MANIFEST:
                tar.add(os.path.join(root, name), arcname=name)


def gpg_command(mode, home):
    argv = ["gpg", "--homedir", home, "--batch", "--no-tty", "--quiet", "--pinentry-mode",
            "loopback", "--passphrase-fd", "3", "--symmetric", "--cipher-algo=AES256",
            "--force-mdc", "--output", "-"]
    for arg in duplicity_tuning.compression_args(mode, True, (3, 2, 1)):
        argv += arg.split("=", 1)[1].split()
    return argv


def run_gpg(mode, source, home):
    argv = gpg_command(mode, home)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, PASSPHRASE + b"\n")
    os.close(write_fd)
    cpu0 = children_cpu()
    start = time.perf_counter()
    with open(source, "rb") as src, tempfile.TemporaryFile(dir=home) as out:
        subprocess.run(argv, stdin=src, stdout=out, check=True, pass_fds=(read_fd,),
                       preexec_fn=lambda: os.dup2(read_fd, 3))
        size = out.seek(0, io.SEEK_END)
    os.close(read_fd)
    return time.perf_counter() - start, children_cpu() - cpu0, size, argv


def run_gzip(mode, source):
    cpu0 = time.process_time()
    start = time.perf_counter()
    size = 0
    with open(source, "rb") as src:
        if mode == "none":
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
        else:
            sink = io.BytesIO()
            with gzip.GzipFile(None, "wb", 6, sink) as gz:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    gz.write(chunk)
            size = sink.tell()
    return time.perf_counter() - start, time.process_time() - cpu0, size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=os.path.join(ROOT, "tests", ".work", "bench-data"))
    args = parser.parse_args(argv)
    size = args.size_mb << 20
    print("load average: {:.2f} {:.2f} {:.2f} on {} CPUs".format(*os.getloadavg(),
                                                                  os.cpu_count()))
    with tempfile.TemporaryDirectory(prefix="bench-compression-") as work:
        home = os.path.join(work, "gnupg")
        os.mkdir(home, 0o700)
        root, _ = data.dataset(args.cache, size)
        inputs = [("mix", os.path.join(work, "mix.tar")), ("random", os.path.join(work, "random"))]
        tar_of(root, inputs[0][1])
        with open(inputs[1][1], "wb") as f:
            f.write(os.urandom(os.path.getsize(inputs[0][1])))
        work_random = os.path.join(work, "random-dir")
        os.mkdir(work_random)
        os.link(inputs[1][1], os.path.join(work_random, "random"))
        print("{:<7} {:<12} {:>9} {:>9} {:>10} {:>7}  command".format(
            "data", "mode", "MB/s wall", "MB/s CPU", "stored MB", "ratio"))
        for name, path in inputs:
            mb = os.path.getsize(path) / 1e6
            for mode in MODES:
                runs = [run_gpg(mode, path, home) for _ in range(args.repeat)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                stored = runs[0][2] / 1e6
                print("{:<7} {:<12} {:>9.1f} {:>9.1f} {:>10.1f} {:>7.3f}  {} < {}".format(
                    name, "gpg " + mode, mb / wall, mb / cpu, stored, stored / mb,
                    " ".join(shlex.quote(a) for a in runs[0][3]), os.path.basename(path)))
            for mode in ("none", "default"):
                runs = [run_gzip(mode, path) for _ in range(args.repeat)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs) or 1e-9
                stored = runs[0][2] / 1e6
                print("{:<7} {:<12} {:>9.1f} {:>9.1f} {:>10.1f} {:>7.3f}  {}".format(
                    name, "plain " + ("none" if mode == "none" else "gzip6"), mb / wall,
                    mb / cpu, stored, stored / mb,
                    "read only" if mode == "none" else "gzip.GzipFile(None, 'wb', 6, out)"))
        for name, path in ((n, p) for n, p in (("mix", root), ("random", work_random))):
            ratio, raw, count = duplicity_tuning.sample_ratio([path])
            print("auto on {}: a sample of {} KiB from {} files deflates to {:.0%} -> {} "
                  "(duplicity_tuning.sample_ratio, choose_auto)".format(
                      name, raw >> 10, count, ratio, duplicity_tuning.choose_auto(ratio)))


if __name__ == "__main__":
    main()
