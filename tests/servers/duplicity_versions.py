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
    # focal's 0.8.11 (tests/setup/install-duplicity-versions.sh explains the sdist)
    "dup0811": os.path.join(VENVS_DIR, "dup0811", "bin", "duplicity"),
}

# What a version cannot do against the loopback servers (tests/servers/test_servers.py marks
# these tests xfail(strict=True) for it: they fail, and must, until the reason goes away).
UNSUPPORTED = {
    "dup0811": {
        "test_sftp_absolute_path": "0.8.11's paramiko backend ignores -oUserKnownHostsFile= "
                                   "(reads ~/.ssh/known_hosts only): unknown host key",
        "test_sftp_relative_path": "0.8.11's paramiko backend ignores -oUserKnownHostsFile=",
        "test_sftp_key_from_private_key_bytes": "0.8.11's paramiko backend ignores "
                                                "-oUserKnownHostsFile=",
        "test_scp": "0.8.11's paramiko backend ignores -oUserKnownHostsFile=",
        "test_s3": "0.8.11 has no --s3-endpoint-url (S3-compatible endpoints)",
        "test_azure": "0.8.11's azure backend needs the legacy azure-storage SDK "
                      "(BlockBlobService), not azure-storage-blob 12",
        "test_azure_path_prefix_is_rejected": "0.8.11's azure backend needs the legacy SDK",
    },
}


def unsupported_reason(version_id, test_name):
    """Why ``test_name`` (a test function's name) cannot pass with ``version_id``, or None."""
    return UNSUPPORTED.get(version_id, {}).get(test_name.split("[")[0])


def duplicity_path(version_id):
    """Path of the binary for ``version_id`` or None when it is not installed."""
    path = CANDIDATES[version_id]
    return path if os.access(path, os.X_OK) else None


def duplicity_version(path):
    """(major, minor, patch) of the duplicity at ``path``."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups())
