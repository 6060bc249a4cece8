"""Restoring without following links: where root may restore, and the moves that put a
restored tree in place.

Root never writes through a path a non-root user controls (design.md section 7). A restore
goes into a fresh root-only directory and is moved from there with renames relative to
directory descriptors opened one component at a time from / with O_NOFOLLOW, each checked
with fstat: root-owned, and not writable by group or others. A root-owned directory with the
sticky bit (/tmp, /var/tmp) may be an ancestor: nobody but root can rename or remove what root
owns in it, and what is below must pass the same checks. It may not be the directory a
restore moves its files into (an existing target, or the parent of an in-place path).

Standard library only, python3.8.
"""

import collections
import contextlib
import errno
import os
import stat
import tempfile

from duplicity_process import OperationError, utcnow

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


_MAX_SHOWN = 100


def shown_value(value):
    value = str(value)
    return value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."


class UnsafePath(OperationError):
    """A restore location root must not write to; the message names the parameter."""


def path_parts(value, param):
    """An absolute path -> its components; no '..', NUL or newline (OperationError naming param)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise UnsafePath("{} {!r} must be an absolute path".format(param, shown_value(value)))
    if any(c in value for c in "\0\n\r"):
        raise UnsafePath("{} {!r} must not contain NUL or line breaks".format(
            param, shown_value(value)))
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath("{} {} must not contain '..'".format(param, shown_value(value)))
    return parts


def _check_dir(fd, shown, param, value, final):
    st = os.fstat(fd)
    why = None
    if st.st_uid != 0:
        why = "is owned by uid {}, not root".format(st.st_uid)
    elif st.st_mode & 0o022 and (final or not st.st_mode & stat.S_ISVTX):
        why = "is writable by group or others (mode {:04o})".format(stat.S_IMODE(st.st_mode))
    if why:
        raise UnsafePath("{} {}: {} {}; root restores only into directories that only root "
                         "can change".format(param, shown_value(value), shown_value(shown), why))
    return st


def _open_component(fd, name, shown, param, value, last):
    """fd of directory ``name`` in directory ``fd``, or None if it does not exist."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath("{} {}: cannot open {}: {}".format(
                param, shown_value(value), shown_value(shown), err.strerror))
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafePath("{} {}: {} is a symbolic link; give a path without symbolic links "
                         "(root never restores through one)".format(
                             param, shown_value(value), shown_value(shown)))
    if last:
        raise UnsafePath("{} {} exists and is not a directory: give a new or empty "
                         "directory".format(param, shown_value(value)))
    raise UnsafePath("{} {}: {} is not a directory".format(param, shown_value(value), shown_value(shown)))


def open_dir_nofollow(parts, param, value, create=False):
    """Walk ``parts`` from / -> (fd of the deepest existing directory, its depth).

    Every directory on the way is checked (root-owned, not writable by group or others; an
    ancestor may be a root-owned sticky directory). With ``create``, missing components are
    made (0700) and the depth is len(parts). The caller closes the fd.
    """
    fd = os.open("/", _DIR_FLAGS)
    try:
        _check_dir(fd, "/", param, value, final=not parts)
        for depth, name in enumerate(parts):
            shown = "/" + "/".join(parts[:depth + 1])
            last = depth == len(parts) - 1
            nfd = _open_component(fd, name, shown, param, value, last)
            if nfd is None and create:
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile: opened and checked like any other
                except OSError as err:
                    raise UnsafePath("{} {}: cannot create {}: {}".format(
                        param, shown_value(value), shown_value(shown), err.strerror))
                nfd = _open_component(fd, name, shown, param, value, last)
            if nfd is None:
                return fd, depth
            os.close(fd)
            fd = nfd
            _check_dir(fd, shown, param, value, final=last)
        return fd, len(parts)
    except BaseException:
        os.close(fd)
        raise


def check_restore_target(value, param="target"):
    """Refuse a restore target root must not write to; return it normalised.

    It must be new or an empty directory; it and every directory on its path root-owned and
    not writable by group or others (see above), with no symbolic link anywhere.
    """
    parts = path_parts(value, param)
    if not parts:
        raise UnsafePath("{} / is not a new or empty directory".format(param))
    fd, depth = open_dir_nofollow(parts, param, value)
    try:
        if depth == len(parts) and os.listdir(fd):
            raise UnsafePath("{} {} is not empty: give a new or empty directory (existing "
                             "files are never overwritten)".format(param, shown_value(value)))
    finally:
        os.close(fd)
    return "/" + "/".join(parts)


def check_in_place_path(path):
    """Refuse an in-place restore of ``path`` (inside the backup) whose parent directory, or
    any directory above it, is not root's alone or is reached through a symbolic link."""
    original = "/" + path.strip("/")
    parts = path_parts(original, "path")
    fd, depth = open_dir_nofollow(parts[:-1], "path", original)
    os.close(fd)
    if depth < len(parts) - 1:
        raise UnsafePath("path {}: in-place needs its parent directory {}, which does not "
                         "exist".format(shown_value(original), shown_value(os.path.dirname(original))))
    return original


def _make_stage(near_fd, near, restore_dir):
    """A fresh root-only directory on the filesystem of directory ``near_fd`` (path ``near``):
    in the unit's restore area when that is on it, else made in ``near_fd`` itself."""
    os.makedirs(restore_dir, mode=0o700, exist_ok=True)
    fd, _ = open_dir_nofollow(path_parts(restore_dir, "restore area"), "restore area",
                              restore_dir)
    try:
        if os.fstat(fd).st_dev == os.fstat(near_fd).st_dev:
            return tempfile.mkdtemp(prefix=".staging-", dir=restore_dir)
    finally:
        os.close(fd)
    for _ in range(100):
        name = ".duplicity-restore-" + os.urandom(6).hex()
        try:
            os.mkdir(name, 0o700, dir_fd=near_fd)
        except FileExistsError:
            continue
        return os.path.join(near, name)
    raise OperationError("cannot create a staging directory in {}".format(shown_value(near)))


def count_files(top):
    """Files in the tree ``top`` (1 when it is a file or a link)."""
    if not os.path.isdir(top) or os.path.islink(top):
        return 1
    return sum(len(f) for _, _, f in os.walk(top))


def _move_entries(src, dst_fd, allowed=()):
    """Rename every entry of directory ``src`` (root-only) into directory ``dst_fd``, which must
    hold nothing but ``allowed``; all or nothing."""
    src_fd = os.open(src, _DIR_FLAGS)
    moved = []
    try:
        if set(os.listdir(dst_fd)) - set(allowed):
            raise UnsafePath("target is not empty any more: nothing was moved into it")
        try:
            for name in os.listdir(src_fd):
                os.rename(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                moved.append(name)
        except OSError:
            for name in moved:
                with contextlib.suppress(OSError):
                    os.rename(name, name, src_dir_fd=dst_fd, dst_dir_fd=src_fd)
            raise
    finally:
        os.close(src_fd)


def _exists_at(name, dir_fd):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def swap_into_place(staged, original, set_id):
    """Rename ``original`` aside to ``<name>.pre-restore-<set_id>`` and ``staged`` into its
    place, relative to the parent's descriptor checked again now; -> the kept path or None."""
    parts = path_parts(original, "path")
    parent_parts, name = parts[:-1], parts[-1]
    pfd, depth = open_dir_nofollow(parent_parts, "path", original)
    try:
        if depth < len(parent_parts):
            raise OperationError("in-place: the parent directory of path {} is gone".format(
                shown_value(original)))
        sfd = os.open(os.path.dirname(staged), _DIR_FLAGS)
        try:
            kept = None
            if _exists_at(name, pfd):
                kept = "{}.pre-restore-{}".format(name, set_id)
                if _exists_at(kept, pfd):
                    kept += "-" + utcnow().strftime("%Y%m%dT%H%M%SZ")
                os.rename(name, kept, src_dir_fd=pfd, dst_dir_fd=pfd)
            try:
                os.rename(os.path.basename(staged), name, src_dir_fd=sfd, dst_dir_fd=pfd)
            except OSError:
                if kept:
                    os.rename(kept, name, src_dir_fd=pfd, dst_dir_fd=pfd)
                raise
        finally:
            os.close(sfd)
    finally:
        os.close(pfd)
    return os.path.join(os.path.dirname(original), kept) if kept else None


def _remove_made_dirs(parts, depth):
    """Remove the (empty) directories parts[depth:] that a failed restore made."""
    for end in range(len(parts), depth, -1):
        with contextlib.suppress(OSError):
            os.rmdir("/" + "/".join(parts[:end]))



Staged = collections.namedtuple("Staged", "target parts existing stage allowed")
Staged.__doc__ = """A checked restore target and the root-only staging directory for it:
``existing`` counts the target's leading components that existed, ``allowed`` names the
stage when it lies in the target itself (an existing empty target on another filesystem)."""


def new_target(restore_dir):
    """A new directory name in the unit's restore area (the default target)."""
    os.makedirs(restore_dir, mode=0o700, exist_ok=True)
    target = os.path.join(restore_dir, utcnow().strftime("%Y%m%dT%H%M%SZ"))
    while os.path.lexists(target):
        target += "-1"
    return target


def stage_for_target(target, restore_dir):
    """Check ``target`` (check_restore_target) and make its staging directory -> Staged."""
    target = check_restore_target(target)
    parts = path_parts(target, "target")
    fd, existing = open_dir_nofollow(parts, "target", target)
    try:
        stage = _make_stage(fd, "/" + "/".join(parts[:existing]), restore_dir)
    finally:
        os.close(fd)
    allowed = (os.path.basename(stage),) if os.path.dirname(stage) == target else ()
    return Staged(target, parts, existing, stage, allowed)


def deliver(staged, work):
    """Move everything in ``work`` into the staged target (made now where missing, by
    descriptor); on a failure the directories made are removed again."""
    try:
        fd, _ = open_dir_nofollow(staged.parts, "target", staged.target, create=True)
        try:
            _move_entries(work, fd, staged.allowed)
        finally:
            os.close(fd)
    except BaseException:
        _remove_made_dirs(staged.parts, staged.existing)
        raise


def stage_in_place(path, restore_dir):
    """Check an in-place restore of ``path`` and make a staging directory on its parent's
    filesystem -> (the original path, the stage)."""
    original = check_in_place_path(path)
    parts = path_parts(original, "path")
    fd, _ = open_dir_nofollow(parts[:-1], "path", original)
    try:
        stage = _make_stage(fd, "/" + "/".join(parts[:-1]), restore_dir)
    finally:
        os.close(fd)
    return original, stage
