"""The benchmark's data set: generated once per size into a cache, changed by about 1%.

Layout under the cache directory (about ``size`` bytes in all):

- ``large/random.bin``  20%  incompressible random bytes
- ``large/app.log``     15%  compressible text (log lines)
- ``large/db.img``      15%  1 MiB blocks: random, text and zeros mixed (a database file)
- ``small/dNN/eN/...``  50%  many small files of 512 B to 128 KiB, 60% text, 40% binary

Runs never change the cache: ``working_copy`` hard-links it into a run directory and
``change_fraction`` replaces files (write a new file, rename it over the old one) instead of
writing into them, so the hard-linked originals stay as generated.
"""

import json
import os
import random
import shutil
import subprocess

VERSION = 1
MANIFEST = ".bench-data.json"
BLOCK = 1 << 20
WORDS = ("backup restore volume chain manifest signature archive incremental full "
         "postgres replica checkpoint request response user session GET POST 200 404 "
         "error warning info debug started finished duration bytes rows table index "
         "commit rollback lock wait timeout retry connected closed").split()


def text_pool(rng, size=4 * BLOCK):
    """A few MiB of log-like lines; text files are slices of it (compresses ~4-6x)."""
    lines = []
    total = 0
    n = 0
    while total < size:
        n += 1
        line = "2026-03-{:02d}T{:02d}:{:02d}:{:02d}Z [{}] {} id={} {}\n".format(
            1 + n % 28, n % 24, n % 60, (n * 7) % 60, rng.choice(("INFO", "WARN", "DEBUG")),
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))),
            rng.getrandbits(32), rng.randint(0, 99999))
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def text_bytes(rng, pool, size):
    out = bytearray()
    while len(out) < size:
        start = rng.randrange(len(pool) - 1)
        out += pool[start:start + min(size - len(out), 256 * 1024)]
    return bytes(out[:size])


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def small_file_size(rng):
    return int(2 ** rng.uniform(9, 17))


def _generate(root, size, seed):
    rng = random.Random(seed)
    pool = text_pool(rng)
    stats = {"files": 0, "bytes": 0, "large": [], "small_files": 0}

    def add(path, data):
        write_file(os.path.join(root, path), data)
        stats["files"] += 1
        stats["bytes"] += len(data)

    big_random = int(size * 0.20)
    with open(_mk(root, "large/random.bin"), "wb") as f:
        left = big_random
        while left > 0:
            f.write(rng.randbytes(min(BLOCK, left)))
            left -= BLOCK
    stats["files"] += 1
    stats["bytes"] += big_random
    with open(_mk(root, "large/app.log"), "wb") as f:
        left = int(size * 0.15)
        while left > 0:
            chunk = text_bytes(rng, pool, min(BLOCK, left))
            f.write(chunk)
            left -= len(chunk)
            stats["bytes"] += len(chunk)
    stats["files"] += 1
    with open(_mk(root, "large/db.img"), "wb") as f:
        blocks = max(1, int(size * 0.15) // BLOCK)
        for i in range(blocks):
            kind = i % 3
            f.write(rng.randbytes(BLOCK) if kind == 0 else
                    text_bytes(rng, pool, BLOCK) if kind == 1 else bytes(BLOCK))
        stats["bytes"] += blocks * BLOCK
    stats["files"] += 1
    stats["large"] = ["large/random.bin", "large/app.log", "large/db.img"]

    small_budget = size - stats["bytes"]
    used = 0
    i = 0
    while used < small_budget:
        n = min(small_file_size(rng), small_budget - used)
        text = rng.random() < 0.6
        path = "small/d{:02d}/e{}/f{:05d}.{}".format(i % 64, (i // 64) % 4, i,
                                                    "txt" if text else "bin")
        add(path, text_bytes(rng, pool, n) if text else rng.randbytes(n))
        stats["small_files"] += 1
        used += n
        i += 1
    return stats


def _mk(root, rel):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def dataset(cache_dir, size, seed=8):
    """The cached data set of about ``size`` bytes: (path, manifest); generated if missing."""
    name = "{}mb-seed{}-v{}".format(max(1, size >> 20), seed, VERSION)
    root = os.path.join(cache_dir, name)
    manifest_path = os.path.join(root, MANIFEST)
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            return root, json.load(f)
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    stats = _generate(tmp, size, seed)
    stats.update(seed=seed, requested=size, version=VERSION)
    with open(os.path.join(tmp, MANIFEST), "w") as f:
        json.dump(stats, f)
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    return root, stats


def working_copy(source, dest):
    """Hard-link copy of the cached data set (cheap; change it only via replace_file)."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    subprocess.run(["cp", "-al", source, dest], check=True)
    os.unlink(os.path.join(dest, MANIFEST))


def replace_file(path, data):
    tmp = path + ".bench-new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def tree_bytes(root):
    total = 0
    files = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            total += os.lstat(os.path.join(dirpath, name)).st_size
            files += 1
    return total, files


def change_fraction(root, fraction=0.01, seed=99):
    """Change about ``fraction`` of the bytes under root, like a day of use.

    40% of the budget rewrites whole small files, 40% patches 64 KiB regions inside the
    large files (a database's pages), 20% is appended to the log; 20 small files are
    added and 20 deleted. Returns what was changed.
    """
    rng = random.Random(seed)
    pool = text_pool(rng, BLOCK)
    total, _ = tree_bytes(root)
    budget = int(total * fraction)
    small = sorted(os.path.join(d, n) for d, _, names in os.walk(os.path.join(root, "small"))
                   for n in names)
    rng.shuffle(small)
    changed = {"budget": budget, "rewritten_files": 0, "rewritten_bytes": 0,
               "patched_regions": 0, "patched_bytes": 0, "appended_bytes": 0,
               "added_files": 0, "deleted_files": 0}
    # whole small files
    while changed["rewritten_bytes"] < budget * 0.4 and small:
        path = small.pop()
        size = os.path.getsize(path)
        replace_file(path, text_bytes(rng, pool, size) if path.endswith(".txt")
                     else rng.randbytes(size))
        changed["rewritten_files"] += 1
        changed["rewritten_bytes"] += size
    # regions of the large files
    region = 64 * 1024
    targets = [os.path.join(root, "large", n) for n in ("db.img", "random.bin")]
    per_file = max(1, int(budget * 0.4) // region // len(targets))
    for path in targets:
        size = os.path.getsize(path)
        tmp = path + ".bench-new"
        shutil.copyfile(path, tmp)
        with open(tmp, "r+b") as f:
            for _ in range(per_file):
                f.seek(rng.randrange(0, max(1, size - region)))
                f.write(rng.randbytes(region))
                changed["patched_regions"] += 1
                changed["patched_bytes"] += region
        os.rename(tmp, path)
    # the log grows
    log = os.path.join(root, "large", "app.log")
    tmp = log + ".bench-new"
    shutil.copyfile(log, tmp)
    with open(tmp, "ab") as f:
        extra = text_bytes(rng, pool, int(budget * 0.2))
        f.write(extra)
        changed["appended_bytes"] = len(extra)
    os.rename(tmp, log)
    # added and deleted files
    for i in range(20):
        write_file(os.path.join(root, "small", "new", "n{:02d}.txt".format(i)),
                   text_bytes(rng, pool, 4096))
        changed["added_files"] += 1
    for path in small[:20]:
        os.unlink(path)
        changed["deleted_files"] += 1
    changed["changed_bytes"] = (changed["rewritten_bytes"] + changed["patched_bytes"] +
                                changed["appended_bytes"] + 20 * 4096)
    changed["fraction"] = changed["changed_bytes"] / total if total else 0
    return changed
