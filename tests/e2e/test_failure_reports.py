"""How the built charm reports runs that do not simply succeed: a backup that could not read
some files (partial), a backend that hangs (the run's deadline), and a destination holding
another source directory's chain (duplicity's exit 42, as after switching from the upstream
charm). Real duplicity, real files; every backup made is restored and compared byte for byte.
"""

import os
import socket
import subprocess
import threading
import time

import pytest

from .helpers import make_tree, read_outcome, require_duplicity, snapshot

PASSPHRASE = "failure-reports-passphrase-7c1d"
VERSION = "dup3"
# write-only sysctls: procfs refuses to open them for reading even to root, and os.access
# says so too, which is what duplicity counts as an error ("cannot read")
WRITE_ONLY = ("/proc/sys/vm/compact_memory", "/proc/sys/vm/drop_caches")


def restored(d, tmp_path, src, name, **params):
    target = tmp_path / name
    d.ok("restore", target=str(target), **params)
    return snapshot(target / str(src).lstrip("/"))


@pytest.fixture
def tree_with_an_unreadable_file(tmp_path):
    """A tree whose d0/unreadable.conf root cannot read: a write-only sysctl bind-mounted
    over it. Yields (tree, snapshot of what can be read, the unreadable file)."""
    src = tmp_path / "srv-partial"
    make_tree(src, seed=9, files=6)
    bad = src / "d0" / "unreadable.conf"
    bad.touch()
    readable = snapshot(src)
    del readable["d0/unreadable.conf"]
    origin = next(p for p in WRITE_ONLY if os.path.exists(p))
    subprocess.run(["mount", "--bind", origin, str(bad)], check=True)
    try:
        with pytest.raises(PermissionError):
            open(bad, "rb").close()
        yield src, readable, bad
    finally:
        subprocess.run(["umount", str(bad)], check=True)


def test_a_backup_that_cannot_read_a_file_is_partial_in_results_status_nrpe_and_relation(
        deploy, tmp_path, tree_with_an_unreadable_file):
    src, readable, bad = tree_with_an_unreadable_file
    d = deploy(VERSION)
    d.declare(fileset=str(src))
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                encryption_passphrase=PASSPHRASE)

    results = d.ok("do-backup")
    assert results["status"] == "partial", results
    assert results["errors"] == "1"
    assert results["unreadable"] == str(bad)
    assert results["warning"].startswith("1 file(s) could not be read and are not in this "
                                         "backup (e.g. {})".format(bad))
    outcome = read_outcome(d.unit_name)
    assert outcome["backup"]["status"] == "partial"

    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "active"
    assert message.startswith("WARNING: last backup {} (full) is partial: 1 file(s) could "
                              "not be read".format(results["backup-id"])), message
    assert d.relation.data(d.unit_name)["last-backup-status"] == "failed"

    plugin = os.path.join(str(d.unit.charm_dir), "files", "check_duplicity_backup")
    status_file = "/var/lib/charm-duplicity/status/{}.json".format(
        d.unit_name.replace("/", "-"))
    check = subprocess.run([plugin, status_file, "86400"], capture_output=True, text=True)
    assert check.returncode == 1, check
    assert check.stdout.startswith("WARNING: last backup {} at ".format(results["backup-id"]))
    assert "is partial: 1 file(s) could not be read" in check.stdout

    # everything else is in the backup
    assert restored(d, tmp_path, src, "restored") == readable


class SilentServer:
    """A TCP server on loopback that accepts connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def all_closed_by_the_client(self, timeout=10):
        """True when every accepted connection has been closed from the other end."""
        give_up = time.monotonic() + timeout
        for conn in list(self.conns):
            conn.settimeout(max(0.1, give_up - time.monotonic()))
            try:
                while conn.recv(4096):
                    pass
            except (socket.timeout, OSError):
                return False
        return True

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_a_hung_backend_is_stopped_at_the_deadline_recorded_and_the_next_run_works(
        deploy, tmp_path, silent_server):
    src = tmp_path / "srv-data"
    make_tree(src, seed=4, files=8)
    d = deploy(VERSION)
    d.declare(fileset=str(src))
    d.configure(backend="ftp", remote_backup_url="127.0.0.1:{}/backups".format(
        silent_server.port), remote_user="backup", remote_password="ftp-password-9d2e1",
        encryption_passphrase=PASSPHRASE, run_timeout=8)
    assert d.unit.status == ("active", "ready; no backup yet"), d.unit.status

    started = time.monotonic()
    failed = d.action("do-backup")
    elapsed = time.monotonic() - started
    assert failed.status == "failed"
    assert "deadline: duplicity ran longer than run_timeout (8s) and was stopped" in \
        failed.message, failed.message
    assert elapsed < 8 + 20 + 15, elapsed       # deadline, TERM/KILL grace, hooks
    assert silent_server.conns, "duplicity never reached the server"
    # lftp and duplicity are gone: the server saw every connection closed by them
    assert silent_server.all_closed_by_the_client()
    outcome = read_outcome(d.unit_name)["backup"]
    assert outcome["status"] == "failed" and "run_timeout (8s)" in outcome["error"]
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "blocked" and "deadline" in message, message

    # the lock was released: the next run, to a working destination, completes
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                remote_user="", remote_password="", run_timeout=0)
    done = d.ok("do-backup")
    assert done["backup-type"] == "full" and done["status"] == "ok"
    assert restored(d, tmp_path, src, "restored") == snapshot(src)
    d.unit.run_hook("update-status")
    assert d.unit.status[0] == "active", d.unit.status


def test_a_destination_with_another_source_directory_says_to_run_a_full_backup(
        deploy, tmp_path):
    src = tmp_path / "srv-app"
    make_tree(src, seed=6, files=8)
    d = deploy(VERSION)
    d.declare(fileset=str(src))
    backups = tmp_path / "backups"
    d.configure(backend="file", remote_backup_url="file://{}".format(backups),
                encryption_passphrase=PASSPHRASE)
    # a chain made the upstream charm's way: source directory the data itself, not /
    foreign = subprocess.run(
        [os.path.join(require_duplicity(VERSION), "duplicity"), "full",
         "--archive-dir={}".format(tmp_path / "foreign-cache"), "--name=upstream",
         str(src), "file://{}/{}".format(backups, d.unit_name.replace("/", "-"))],
        env={"PATH": "/usr/bin:/bin", "PASSPHRASE": PASSPHRASE, "HOME": str(tmp_path)},
        capture_output=True, text=True)
    subprocess.run(["gpgconf", "--homedir", str(tmp_path / ".gnupg"), "--kill", "all"],
                   capture_output=True)            # the agent its gpg started: not left running
    assert foreign.returncode == 0, foreign.stdout + foreign.stderr

    failed = d.action("do-backup")
    assert failed.status == "failed"
    assert "made from another source directory" in failed.message, failed.message
    assert "run do-backup full=true" in failed.message
    assert "Backup source directory has changed" in failed.message
    assert "Duplicity backup complete" not in failed.message
    assert PASSPHRASE not in failed.message
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "blocked" and "do-backup full=true" in message, message

    done = d.ok("do-backup", full=True)
    assert done["backup-type"] == "full"
    assert restored(d, tmp_path, src, "restored") == snapshot(src)
