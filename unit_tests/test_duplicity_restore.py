"""Where root may restore to (lib/duplicity_restore.py: check_restore_target,
check_in_place_path and the descriptor walk under them), on a real filesystem with a real
unprivileged user owning what a user would own.

The restore itself (staging, moves, races) runs on the built charm in
tests/e2e/test_restore_safety.py.
"""
import os
import shutil
import sys
import tempfile

import pytest

import duplicity_restore as r

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from servers.ssh import DEFAULT_USER, _accounts_lock, ensure_user  # noqa: E402


@pytest.fixture(scope="module")
def user():
    with _accounts_lock():
        return ensure_user(DEFAULT_USER)


@pytest.fixture
def base(tmp_path):
    """A root-owned 0755 directory on a root-only path (pytest's own tmp dirs)."""
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o755)
    return base


def mkdir(path, mode=0o755, owner=0):
    path.mkdir()
    path.chmod(mode)
    os.chown(path, owner, owner)
    return path


def build(kind, base, uid):
    """Lay out case ``kind`` under base; -> the target to check."""
    if kind == "new":
        return base / "new"
    if kind == "new-under-missing-parents":
        return base / "a" / "b" / "new"
    if kind == "empty-root-dir":
        return mkdir(base / "empty", 0o700)
    if kind == "non-empty":
        t = mkdir(base / "full")
        (t / "keep.txt").write_text("precious")
        return t
    if kind == "file":
        (base / "file").write_text("precious")
        return base / "file"
    if kind == "symlink-to-root-dir":
        mkdir(base / "real")
        (base / "link").symlink_to(base / "real")
        return base / "link"
    if kind == "symlink-in-path":
        mkdir(base / "real")
        (base / "link").symlink_to(base / "real")
        return base / "link" / "new"
    if kind == "dangling-symlink":
        (base / "link").symlink_to(base / "nowhere")
        return base / "link"
    if kind == "user-owned-empty-target":
        return mkdir(base / "users", 0o755, uid)
    if kind == "user-owned-component":
        return mkdir(base / "users", 0o755, uid) / "new"
    if kind == "user-owned-component-higher-up":
        return mkdir(mkdir(base / "users", 0o755, uid) / "roots") / "new"
    if kind == "group-writable-component":
        return mkdir(base / "shared", 0o775) / "new"
    if kind == "other-writable-target":
        return mkdir(base / "open", 0o757)
    if kind == "sticky-world-writable-target":
        return mkdir(base / "tmp", 0o1777)
    if kind == "sticky-ancestor":
        return mkdir(mkdir(base / "tmp", 0o1777) / "roots", 0o700) / "new"
    if kind == "new-in-sticky-dir":
        return mkdir(base / "tmp", 0o1777) / "new"
    if kind == "sticky-but-user-owned-component":
        return mkdir(base / "tmp", 0o1777, uid) / "new"
    if kind == "file-in-path":
        (base / "file").write_text("precious")
        return base / "file" / "new"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "new", "new-under-missing-parents", "empty-root-dir", "sticky-ancestor",
    "new-in-sticky-dir",
])
def test_check_restore_target_accepts_a_new_or_empty_directory_only_root_controls(
        kind, base, user):
    target = build(kind, base, user.pw_uid)
    assert r.check_restore_target(str(target)) == str(target)
    assert r.check_restore_target(str(target) + "/") == str(target)
    assert not (target.exists() and os.listdir(target))  # the check made nothing


@pytest.mark.parametrize("kind, message", [
    ("non-empty", "is not empty"),
    ("file", "exists and is not a directory"),
    ("file-in-path", "is not a directory"),
    ("symlink-to-root-dir", "is a symbolic link"),
    ("symlink-in-path", "is a symbolic link"),
    ("dangling-symlink", "is a symbolic link"),
    ("user-owned-empty-target", "is owned by uid {uid}, not root"),
    ("user-owned-component", "is owned by uid {uid}, not root"),
    ("user-owned-component-higher-up", "is owned by uid {uid}, not root"),
    ("sticky-but-user-owned-component", "is owned by uid {uid}, not root"),
    ("group-writable-component", "is writable by group or others (mode 0775)"),
    ("other-writable-target", "is writable by group or others (mode 0757)"),
    ("sticky-world-writable-target", "is writable by group or others (mode 1777)"),
])
def test_check_restore_target_refuses_a_target_a_user_could_redirect_naming_the_parameter(
        kind, message, base, user):
    target = build(kind, base, user.pw_uid)
    before = sorted(str(p) for p in base.rglob("*"))
    with pytest.raises(r.OperationError) as err:
        r.check_restore_target(str(target))
    assert str(err.value).startswith("target " + str(target)), err.value
    assert message.format(uid=user.pw_uid) in str(err.value)
    assert sorted(str(p) for p in base.rglob("*")) == before  # nothing made, nothing moved


@pytest.mark.parametrize("value, message", [
    ("relative/dir", "must be an absolute path"),
    ("/srv/../etc", "must not contain '..'"),
    ("/srv/a\nb", "must not contain NUL or line breaks"),
    ("/srv/a\0b", "must not contain NUL or line breaks"),
    ("/", "is not a new or empty directory"),
    pytest.param("/" + "x" * 5000, "...", id="very-long"),
])
def test_check_restore_target_refuses_malformed_paths_with_a_short_message(value, message):
    with pytest.raises(r.OperationError) as err:
        r.check_restore_target(value)
    assert str(err.value).startswith("target "), err.value
    assert message in str(err.value)
    assert len(str(err.value)) < 400


@pytest.mark.parametrize("kind, message", [
    ("root-parent", None),
    ("root-parent-under-sticky-ancestor", None),
    ("user-owned-parent", "is owned by uid {uid}, not root"),
    ("user-owned-grandparent", "is owned by uid {uid}, not root"),
    ("symlinked-parent", "is a symbolic link"),
    ("group-writable-parent", "is writable by group or others (mode 0775)"),
    ("sticky-parent", "is writable by group or others (mode 1777)"),
    ("missing-parent", "which does not exist"),
])
def test_check_in_place_path_refuses_a_parent_a_user_controls_naming_path(
        kind, message, base, user):
    uid = user.pw_uid
    if kind == "root-parent":
        parent = mkdir(base / "srv")
    elif kind == "root-parent-under-sticky-ancestor":
        parent = mkdir(mkdir(base / "tmp", 0o1777) / "srv")
    elif kind == "user-owned-parent":
        parent = mkdir(base / "home", 0o755, uid)
    elif kind == "user-owned-grandparent":
        parent = mkdir(mkdir(base / "home", 0o755, uid) / "app")
    elif kind == "symlinked-parent":
        mkdir(base / "real")
        (base / "srv").symlink_to(base / "real")
        parent = base / "srv"
    elif kind == "group-writable-parent":
        parent = mkdir(base / "srv", 0o775)
    elif kind == "sticky-parent":
        parent = mkdir(base / "tmp", 0o1777)
    else:
        parent = base / "gone"
    original = parent / "data"
    if kind != "missing-parent":
        (parent / "data").write_text("live")
    path = str(original).lstrip("/")
    if message is None:
        assert r.check_in_place_path(path) == str(original)
        return
    with pytest.raises(r.OperationError) as err:
        r.check_in_place_path(path)
    assert str(err.value).startswith("path " + str(original)), err.value
    assert message.format(uid=uid) in str(err.value)
    if kind != "missing-parent":
        assert (parent / "data").read_text() == "live"


def test_a_stage_is_a_fresh_root_only_directory_on_the_targets_filesystem(base):
    area = base / "restore-area"
    near = mkdir(base / "near")
    fd = os.open(str(near), os.O_RDONLY | os.O_DIRECTORY)
    try:
        stage = r._make_stage(fd, str(near), str(area))
    finally:
        os.close(fd)
    st = os.lstat(stage)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o700
    assert os.path.dirname(stage) == str(area)  # same filesystem: in the restore area
    assert os.stat(stage).st_dev == os.stat(str(near)).st_dev
    assert os.listdir(stage) == []


def test_moving_into_a_target_that_got_an_entry_meanwhile_moves_nothing(base):
    work = mkdir(base / "work", 0o700)
    (work / "srv").mkdir()
    (work / "srv" / "f").write_text("restored")
    target = mkdir(base / "target", 0o700)
    (target / "planted").write_text("someone's")
    fd = os.open(str(target), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(r.OperationError, match=r"^target is not empty any more"):
            r._move_entries(str(work), fd)
        assert sorted(os.listdir(target)) == ["planted"]
        r._move_entries(str(work), fd, allowed=("planted",))
    finally:
        os.close(fd)
    assert (target / "srv" / "f").read_text() == "restored" and os.listdir(work) == []


def test_a_stage_for_a_target_on_another_filesystem_is_made_root_only_beside_it(base):
    if os.stat("/dev/shm").st_dev == os.stat(str(base)).st_dev:
        pytest.skip("/dev/shm is not another filesystem here")
    near = tempfile.mkdtemp(dir="/dev/shm")
    try:
        fd = os.open(near, os.O_RDONLY | os.O_DIRECTORY)
        try:
            stage = r._make_stage(fd, near, str(base / "restore-area"))
        finally:
            os.close(fd)
        assert os.path.dirname(stage) == near
        assert os.path.basename(stage).startswith(".duplicity-restore-")
        st = os.lstat(stage)
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o700
        assert st.st_dev == os.stat(near).st_dev
    finally:
        shutil.rmtree(near)
