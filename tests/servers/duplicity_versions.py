"""The duplicity binaries under test: Debian's 0.8.x and the venvs of install-duplicity-versions.sh."""

import os
import re
import subprocess

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENVS_DIR = os.environ.get("DUP_VENVS_DIR", os.path.join(TESTS_DIR, ".venvs"))

# id -> path of the duplicity executable
CANDIDATES = {
    "dup3": os.path.join(VENVS_DIR, "dup3", "bin", "duplicity"),
    "dup21": os.path.join(VENVS_DIR, "dup21", "bin", "duplicity"),
    "dup08": "/usr/bin/duplicity",
}


def duplicity_path(version_id):
    """Path of the binary for ``version_id`` or None when it is not installed."""
    path = CANDIDATES[version_id]
    return path if os.access(path, os.X_OK) else None


def duplicity_version(path):
    """(major, minor, patch) of the duplicity at ``path``."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups())
