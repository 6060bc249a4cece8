"""restore on the built charm never writes through a path a local user controls (design.md
§7, issue 13 class 1): symbolic links and user-owned directories in the target's path, or
in an in-place path's parent, are refused naming the parameter; a real unprivileged user
swapping a path component while restores run never gets root's files; what is allowed is
restored byte for byte through a root-only staging directory that never stays behind."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from servers.ssh import DEFAULT_USER, _accounts_lock, ensure_user

from .helpers import make_tree, snapshot

VERSION = "dup3"
PASSPHRASE = "restore-safety-passphrase-7d41"

# Run as the unprivileged user: swap ``comp`` between a directory and a symbolic link to
# ``mine`` (a directory the user owns) until ``stop`` appears, or 300 s pass.
SWAPPER = r"""
import os, sys, time
comp, mine, stop = sys.argv[1:4]
real, link = comp + ".real", comp + ".link"
for p in (real, link):
    try:
        os.unlink(p) if os.path.islink(p) else os.rmdir(p)
    except OSError:
        pass
os.symlink(mine, link)
end = time.time() + 300
swaps = 0
while not os.path.exists(stop) and time.time() < end:
    try:
        if os.path.islink(comp) or not os.path.lexists(comp):
            if os.path.lexists(comp):
                os.rename(comp, link)
            if not os.path.lexists(real):
                os.mkdir(real)
            os.rename(real, comp)
        else:
            os.rename(comp, real)
            os.rename(link, comp)
        swaps += 1
    except OSError:
        pass
print(swaps)
"""


def rel(path):
    return str(path).lstrip("/")


@pytest.fixture
def user():
    with _accounts_lock():
        return ensure_user(DEFAULT_USER)


@pytest.fixture
def user_dir(user):
    """A directory in /tmp the test user owns (0755), removed afterwards."""
    path = tempfile.mkdtemp(prefix="dup-restore-safety-", dir="/tmp")
    os.chmod(path, 0o755)
    os.chown(path, user.pw_uid, user.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)
    if os.path.islink(path + ".link"):
        os.unlink(path + ".link")
    shutil.rmtree(path + ".empty", ignore_errors=True)


def as_user(user, path, mode=0o755):
    os.makedirs(path)
    os.chmod(path, mode)
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def everything_under(path):
    return sorted(os.path.relpath(os.path.join(d, n), path)
                  for d, dirs, files in os.walk(path) for n in dirs + files)


def file_backed(d, tmp_path, *paths, **declared):
    d.declare(fileset=",".join(str(p) for p in paths), **declared)
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                encryption_passphrase=PASSPHRASE)
    assert d.unit.status[0] == "active", d.unit.status


def assert_refused(d, param, *expected, **params):
    result = d.action("restore", **params)
    assert result.status == "failed", result.results
    assert result.message.startswith("{} ".format(param)) or \
        result.message.startswith("restore failed: {} ".format(param)), result.message
    for text in expected:
        assert text in result.message, result.message
    assert "Traceback" not in (result.stdout or "") + (result.stderr or "")
    return result.message


def no_staging_left(d, *dirs):
    restore_area = "/var/lib/charm-duplicity/{}/restore".format(d.unit_name.replace("/", "-"))
    left = [n for n in os.listdir(restore_area) if n.startswith(".")]
    for top in dirs:
        left += [n for n in os.listdir(top) if n.startswith(".duplicity-restore-")]
    return not left


def test_restore_refuses_links_and_user_owned_places_and_restores_into_a_root_owned_target(
        deploy, tmp_path, user, user_dir):
    uid = user.pw_uid
    data = tmp_path / "srv" / "app"
    make_tree(data, seed=13, files=8, size=1024)
    home = as_user(user, str(tmp_path / "home"))  # a user-owned parent ...
    theirs = os.path.join(home, "app")  # ... of root's data, also backed up
    make_tree(theirs, seed=14, files=2, size=256)
    hooks_log = tmp_path / "hooks.log"
    hook = tmp_path / "before.sh"
    hook.write_text("#!/bin/sh\necho before >> {}\n".format(hooks_log))
    hook.chmod(0o755)
    d = deploy(VERSION)
    file_backed(d, tmp_path, data, theirs, **{"run-before-restore": str(hook)})
    d.ok("do-backup")
    mine = as_user(user, os.path.join(user_dir, "mine"))

    # a symbolic link the user planted in /tmp as the target, or one in the target's path
    # (even root's own), into the user's directory
    planted = user_dir + ".link"
    os.symlink(mine, planted)
    os.lchown(planted, user.pw_uid, user.pw_gid)
    root_link = tmp_path / "link"
    root_link.symlink_to(mine)
    for target in (planted, planted + "/sub", str(root_link), str(root_link / "sub")):
        assert_refused(d, "target", "is a symbolic link", target=target)
    # an empty directory the user made in /tmp, and a new target below one the user owns
    empty = as_user(user, user_dir + ".empty")
    assert_refused(d, "target", "{} is owned by uid {}".format(empty, uid), target=empty)
    assert_refused(d, "target", "{} is owned by uid {}".format(user_dir, uid),
                   target=os.path.join(user_dir, "new", "deeper"))
    # in place, under a user-owned parent: refused before any hook ran, nothing moved
    before = snapshot(home)
    assert_refused(d, "path", "{} is owned by uid {}".format(home, uid),
                   path=rel(theirs), **{"in-place": True})
    assert snapshot(home) == before and not hooks_log.exists()
    # nothing was ever written where the links point or the user owns
    assert everything_under(mine) == [] and everything_under(empty) == []
    assert sorted(os.listdir(user_dir)) == ["mine"]

    # a new root-owned target, with missing parents: byte for byte, root's alone
    target = tmp_path / "restores" / "deeper" / "all"
    result = d.ok("restore", target=str(target))
    assert result["target"] == str(target)
    assert snapshot(target / rel(data)) == snapshot(data)
    assert snapshot(target / rel(theirs)) == snapshot(theirs)
    st = os.lstat(target)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0
    # one path into an existing empty root-owned directory
    one = tmp_path / "one"
    one.mkdir()
    d.ok("restore", target=str(one), path=rel(data / "d1"))
    assert os.listdir(one) == [rel(data).split("/")[0]]
    assert snapshot(one / rel(data / "d1")) == snapshot(data / "d1")
    # a target on another filesystem (tmpfs): staged root-only beside it, then moved
    other_fs = tempfile.mkdtemp(prefix="dup-restore-safety-", dir="/dev/shm")
    try:
        shm_target = os.path.join(other_fs, "restored")
        d.ok("restore", target=shm_target, path=rel(data))
        assert snapshot(os.path.join(shm_target, rel(data))) == snapshot(data)
        assert os.listdir(other_fs) == ["restored"]  # no staging left beside it
    finally:
        shutil.rmtree(other_fs, ignore_errors=True)
    # the default target: a new directory in the unit's restore area
    default = d.ok("restore", path=rel(data))["target"]
    assert default.startswith("/var/lib/charm-duplicity/{}/restore/".format(
        d.unit_name.replace("/", "-")))
    assert snapshot(os.path.join(default, rel(data))) == snapshot(data)
    # a failed restore leaves no target and no staging directory behind
    missing = tmp_path / "never"
    assert_refused(d, "path", "is not in the backup", target=str(missing),
                   path=rel(data / "not-there"))
    assert not missing.exists()
    assert no_staging_left(d, tmp_path, "/tmp")


def test_a_user_swapping_a_path_component_during_restores_never_receives_roots_files(
        deploy, tmp_path, user, user_dir):
    data = tmp_path / "srv"
    make_tree(data, seed=15, files=40, size=512)
    d = deploy(VERSION)
    file_backed(d, tmp_path, data)
    d.ok("do-backup")
    mine = as_user(user, os.path.join(user_dir, "mine"))
    stop = os.path.join(user_dir, "stop")
    # below a directory the user owns, and directly in the sticky /tmp
    comp_below = os.path.join(user_dir, "comp")
    comp_in_tmp = os.path.join("/tmp", "dup-race-" + os.urandom(6).hex())
    swappers = [subprocess.Popen(
        ["runuser", "-u", user.pw_name, "--", "/usr/bin/python3", "-c", SWAPPER, comp, mine, stop],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
        for comp in (comp_below, comp_in_tmp)]
    try:
        deadline = time.time() + 10
        while not all(os.path.lexists(c) for c in (comp_below, comp_in_tmp)):
            assert time.time() < deadline, "the swappers did not start"
            time.sleep(0.05)
        outcomes = []
        for target in (os.path.join(comp_below, "target"), comp_in_tmp,
                       os.path.join(comp_below, "target2"), comp_in_tmp + "/t"):
            result = d.action("restore", target=target)
            outcomes.append((target, result.status, result.message))
            assert everything_under(mine) == [], (target, result.message)
            if result.status == "completed":
                # only where root made the directory in /tmp itself first: root's alone
                assert target.startswith(comp_in_tmp) and result.results["target"] == target
                for p in (comp_in_tmp, target):
                    assert not os.path.islink(p) and os.lstat(p).st_uid == 0, p
                assert snapshot(os.path.join(target, rel(data))) == snapshot(data)
            else:  # refused by the action's check, or by the runner's checks at the move
                assert result.message.startswith(("target ", "restore failed: target ")), \
                    result.message
    finally:
        with open(stop, "w"):
            pass
        counts = [p.communicate(timeout=30)[0].decode().strip() for p in swappers]
        if os.path.isdir(comp_in_tmp) and os.lstat(comp_in_tmp).st_uid == 0:
            shutil.rmtree(comp_in_tmp, ignore_errors=True)
        for p in (comp_in_tmp, comp_in_tmp + ".real", comp_in_tmp + ".link"):
            if os.path.islink(p):
                os.unlink(p)
            elif os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
    assert all(int(c) > 100 for c in counts), counts  # the components really were swapping
    assert everything_under(mine) == []
    assert any(status == "failed" for _, status, _ in outcomes), outcomes
    assert no_staging_left(d, tmp_path, "/tmp")
