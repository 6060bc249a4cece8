"""The unit's operation lock (``<state_dir>/lock``): one duplicity operation at a time.

A flock: the kernel drops it when its holder dies, so a dead holder never blocks. The holder
sweeps what a run killed outright left behind, and on release ends the gpg-agent its gpg
started. Standard library only, python3.8.
"""

import contextlib
import errno
import fcntl
import os
import shutil
import time

from duplicity_process import ID_FORMAT, Busy, stop_gpg_agent, utcnow


@contextlib.contextmanager
def operation_lock(paths, unit, operation, wait=0):
    """Hold the lock of ``paths`` (a UnitPaths) for ``operation``; Busy when another operation
    still holds it after ``wait`` seconds. The lock file says who holds it."""
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    locked = False
    try:
        _take(fd, time.monotonic() + wait, unit)
        locked = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, "{} pid {} since {}".format(
            operation, os.getpid(), utcnow().strftime(ID_FORMAT)).encode(), 0)
        sweep_leftovers(paths)
        yield
    finally:
        if locked:
            stop_gpg_agent(paths.gnupg_home)
        os.close(fd)


def _take(fd, give_up, unit):
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= give_up:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise Busy("another duplicity operation is already running for {} "
                       "({})".format(unit, holder or "unknown"))
        time.sleep(min(1.0, max(0.05, give_up - time.monotonic())))


def sweep_leftovers(paths):
    """Remove what a run killed outright (SIGKILL, a reboot) left: duplicity's temp files and
    log files in the temp dir, temporary GnuPG homes. Only the lock holder creates them, so
    with the lock held, any there are leftovers."""
    for directory, keep in ((paths.temp_dir, lambda name: False),
                            (paths.state_dir, lambda name: not name.startswith("gnupg-"))):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if keep(name):
                continue
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                stop_gpg_agent(path)
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
