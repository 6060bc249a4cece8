"""Helpers for end-to-end tests of the built duplicity charm."""

import hashlib
import json
import os
import random
import shutil
import stat
import subprocess

from servers.duplicity_versions import CANDIDATES, duplicity_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(REPO, "tests", ".work")
NRPE_CONFDIR = "/etc/nagios/nrpe.d"


def letters(number):
    """0 -> a, 25 -> z, 26 -> ba: Juju application names allow no all-digit segments."""
    out = ""
    while True:
        number, digit = divmod(number, 26)
        out = chr(ord("a") + digit) + out
        if not number:
            return out


def duplicity_bin_dir(version_id):
    """A directory holding only a ``duplicity`` for that version, to put first on PATH.

    (A venv's bin dir would also shadow python3 for the hooks.)
    """
    path = duplicity_path(version_id)
    if path is None:
        return None
    bin_dir = os.path.join(WORK, "bin-" + version_id)
    os.makedirs(bin_dir, exist_ok=True)
    link = os.path.join(bin_dir, "duplicity")
    if not os.path.islink(link) or os.readlink(link) != path:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)
    return bin_dir


def require_duplicity(version_id):
    """The bin dir for a version; in CI a missing version fails instead of skipping."""
    import pytest

    bin_dir = duplicity_bin_dir(version_id)
    if bin_dir is None:
        message = "duplicity {} is not installed ({}): run tests/setup/install-duplicity-versions.sh".format(
            version_id, CANDIDATES[version_id])
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


def make_tree(root, seed=1, files=20, size=4096):
    """A reproducible tree of text and binary files under root."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        sub = os.path.join(root, "d{}".format(i % 4))
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, "f{}.{}".format(i, "txt" if i % 2 else "bin"))
        if i % 2:
            data = ("line {} of file {}\n".format(n, i) for n in range(size // 20))
            content = "".join(data).encode()
        else:
            content = bytes(rng.getrandbits(8) for _ in range(size))
        with open(path, "wb") as f:
            f.write(content)


def snapshot(root):
    """{relative path: sha256 (files) or 'dir' / 'link:target'} of a tree."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            result[rel] = "link:" + os.readlink(full) if os.path.islink(full) else "dir"
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(full):
                result[rel] = "link:" + os.readlink(full)
            else:
                with open(full, "rb") as f:
                    result[rel] = hashlib.sha256(f.read()).hexdigest()
    return result


def unit_files(unit_name):
    """Every file the charm keeps for a unit on this machine (outside the backups)."""
    slug = unit_name.replace("/", "-")
    return [
        "/var/lib/charm-duplicity/" + slug,
        "/var/cache/charm-duplicity/" + slug,
        "/etc/cron.d/charm-duplicity-" + slug,
        "/etc/logrotate.d/charm-duplicity-" + slug,
    ]


def remove_unit(unit):
    """Remove a harness unit (stop, remove), then whatever of its files is left, also when
    the removal fails: teardown of a deployed duplicity unit."""
    try:
        if unit.deployed:
            unit.remove()
    finally:
        for path in unit_files(unit.name):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)


def read_outcome(unit_name):
    path = "/var/lib/charm-duplicity/status/{}.json".format(unit_name.replace("/", "-"))
    with open(path) as f:
        return json.load(f)


def non_root_only_files(paths):
    """Files under paths that someone other than root can read."""
    found = []
    for top in paths:
        for dirpath, _, filenames in os.walk(top):
            for name in filenames:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode) and (st.st_uid != 0 or st.st_mode & 0o077):
                    found.append(full)
    return found


def list_gpg_packets(path, passphrase=None):
    argv = ["gpg", "--batch", "--list-packets"]
    if passphrase is not None:
        argv += ["--pinentry-mode", "loopback", "--passphrase-fd", "0"]
    proc = subprocess.run(argv + [path], input=(passphrase or "").encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc.stdout.decode(errors="replace")
