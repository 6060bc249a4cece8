"""Faults the charm must survive: the backup server going away mid-backup, two backups
started together, and a destination that runs out of space.

Each test runs the built charm (duplicity 3.x) through the harness and restores what it
backed up, compared byte for byte. In the outage and disk-full tests a wrapper makes
duplicity retry a failed transfer twice, one second apart, instead of five times 30 s apart
(argv_recorder.fast_retry_duplicity), so the failure arrives in seconds; the charm's own
arguments are unchanged.
"""

import base64
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from .argv_recorder import fast_retry_duplicity
from .helpers import make_tree, read_outcome, require_duplicity, snapshot

PASSPHRASE = "faults-passphrase-3b8e1"
VERSION = "dup3"


def with_fast_retries(d, tmp_path):
    wrappers = fast_retry_duplicity(tmp_path / "wrappers",
                                    os.path.join(require_duplicity(VERSION), "duplicity"))
    d.unit.extra_path.insert(0, wrappers)
    return d


def restored_equal(d, tmp_path, src, name, expected=None, **params):
    target = tmp_path / name
    d.ok("restore", target=str(target), **params)
    return snapshot(target / str(src).lstrip("/")) == (expected or snapshot(src))


def descendants(pid):
    """Every process below pid (sshd forks a session per connection, in a session of its own)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/{}/stat".format(entry)) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def in_thread(fn, *args, **kwargs):
    box = {}

    def run():
        box["result"] = fn(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_a_backup_whose_server_stops_midway_fails_clearly_and_the_next_one_completes_the_set(
        deploy, tmp_path, ssh_server):
    src = tmp_path / "srv-big"
    make_tree(src, seed=3, files=8)
    big = src / "blobs"
    big.mkdir()
    for n in range(24):
        (big / "blob{:02d}.bin".format(n)).write_bytes(os.urandom(1024 * 1024))
    d = with_fast_retries(deploy(VERSION), tmp_path)
    d.declare(fileset=str(src))
    d.configure(backend="sftp", remote_user=ssh_server.user,
                remote_backup_url="127.0.0.1:{}/{}".format(ssh_server.port, ssh_server.remote_dir),
                private_ssh_key=base64.b64encode(ssh_server.ed25519_key).decode(),
                known_host_key=ssh_server.known_hosts_line(), encryption_passphrase=PASSPHRASE,
                volsize=1)
    assert d.unit.status == ("active", "ready; no backup yet"), d.unit.status
    remote = os.path.join(ssh_server.remote_dir, d.unit_name.replace("/", "-"))

    def volumes():
        try:
            return [n for n in os.listdir(remote) if re.search(r"\.vol\d+\.difftar", n)]
        except OSError:
            return []

    thread, box = in_thread(d.action, "do-backup")
    deadline = time.monotonic() + 300
    while len(volumes()) < 3 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not thread.is_alive():
        pytest.fail("the backup ended before the server could be stopped: {}".format(box))
    sessions = descendants(ssh_server._proc.pid)
    ssh_server.stop()
    for pid in sessions:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    thread.join(300)
    failed = box["result"]
    assert failed.status == "failed"
    assert "backend unreachable" in failed.message, failed.message
    assert 3 <= len(volumes()) < 24
    outcome = read_outcome(d.unit_name)["backup"]
    assert outcome["status"] == "failed" and "backend unreachable" in outcome["error"]
    d.unit.run_hook("update-status")
    state, message = d.unit.status
    assert state == "blocked" and message.startswith("last backup failed"), message

    ssh_server.start()  # same port, same host key
    # duplicity itself lists the cut-off set like a complete one: the charm does not
    listing = d.ok("list-backups")
    assert listing["count"] == "0", listing
    assert listing["backups"].count("\n") == 1, listing["backups"]   # header and rule only
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(full, \d+ volumes uploaded\): "
                    r"interrupted", listing["interrupted"]), listing
    done = d.ok("do-backup")
    assert done["backup-type"] == "full"
    assert read_outcome(d.unit_name)["backup"]["status"] == "ok"
    listing = d.ok("list-backups")
    assert listing["count"] == "1", listing["backups"]
    assert "interrupted" not in listing, listing
    assert listing["backups"].splitlines()[2].startswith(done["backup-id"] + " | full | ")
    assert restored_equal(d, tmp_path, src, "restored")
    d.unit.run_hook("update-status")
    assert d.unit.status[0] == "active", d.unit.status


def test_two_backups_started_together_run_one_at_a_time_and_the_second_says_so(deploy, tmp_path):
    src = tmp_path / "srv-data"
    make_tree(src, seed=5, files=10)
    gate = tmp_path / "gate"
    hook = tmp_path / "before-backup"
    # the principal's run-before-backup runs under the unit's lock: hold it until the other
    # do-backup has answered, so the two certainly overlap
    hook.write_text("#!/bin/sh\ni=0\nwhile [ ! -e {} ] && [ $i -lt 1200 ]; do\n"
                    "  sleep 0.1; i=$((i+1))\ndone\n".format(gate))
    hook.chmod(0o755)
    d = deploy(VERSION)
    d.declare(fileset=str(src), **{"run-before-backup": str(hook)})
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                encryption_passphrase=PASSPHRASE)
    assert d.unit.status == ("active", "ready; no backup yet"), d.unit.status

    first = in_thread(d.action, "do-backup")
    second = in_thread(d.action, "do-backup")
    deadline = time.monotonic() + 300
    while not (first[1] or second[1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    gate.touch()
    for thread, _ in (first, second):
        thread.join(300)
    results = [first[1]["result"], second[1]["result"]]
    done = [r for r in results if r.status == "completed"]
    busy = [r for r in results if r.status == "failed"]
    assert len(done) == 1 and len(busy) == 1, results
    assert "already running" in busy[0].message, busy[0].message
    assert done[0].results["backup-type"] == "full"
    # the refused one is not a failed backup
    assert read_outcome(d.unit_name)["backup"]["status"] == "ok"

    listing = d.ok("list-backups")
    assert listing["count"] == "1", listing["backups"]
    assert listing["backups"].splitlines()[2].startswith(
        "{} | full | ".format(done[0].results["backup-id"]))
    assert restored_equal(d, tmp_path, src, "restored")

    # the lock is free again: the next backup continues the chain
    time.sleep(1.1)  # backup-ids have a resolution of one second
    (src / "added.txt").write_text("after the concurrent backups\n")
    assert d.ok("do-backup")["backup-type"] == "incremental"
    assert d.ok("list-backups")["count"] == "2"
    assert restored_equal(d, tmp_path, src, "restored-2")


@pytest.fixture
def small_filesystem(tmp_path):
    """An 8 MB tmpfs, unmounted at teardown."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount_point)],
                   check=True)
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_destination_fails_the_backup_clearly_and_the_earlier_backup_still_restores(
        deploy, tmp_path, small_filesystem):
    src = tmp_path / "srv-data"
    make_tree(src, seed=9, files=12)
    d = with_fast_retries(deploy(VERSION), tmp_path)
    d.declare(fileset=str(src))
    d.configure(backend="file", remote_backup_url="file://{}".format(small_filesystem),
                encryption_passphrase=PASSPHRASE, volsize=1)
    first = d.ok("do-backup")
    before = snapshot(src)
    time.sleep(1.1)  # backup-ids have a resolution of one second

    for n in range(12):
        (src / "grown{:02d}.bin".format(n)).write_bytes(os.urandom(1024 * 1024))
    failed = d.action("do-backup")
    assert failed.status == "failed"
    assert "no space left" in failed.message, failed.message
    assert read_outcome(d.unit_name)["backup"]["status"] == "failed"
    assert d.unit.status[0] != "error"

    listing = d.ok("list-backups")
    assert listing["backups"].splitlines()[2].startswith("{} | full | ".format(first["backup-id"]))
    assert restored_equal(d, tmp_path, src, "restored", expected=before)
    assert restored_equal(d, tmp_path, src, "restored-at", expected=before,
                          time=first["backup-id"])
