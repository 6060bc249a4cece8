"""The machine's test lock: tests that deploy units share it, tests that must have the
machine to themselves (a cron daemon runs every unit's schedule, NRPE is one daemon per
machine) hold it alone. One lock per machine, not per checkout: a second checkout's units
share cron and NRPE too."""
import contextlib
import fcntl
import os

PATH = "/run/lock/charm-duplicity-tests.lock"


@contextlib.contextmanager
def held(exclusive, path=PATH):
    """Wait for the lock at ``path``, exclusive or shared, and hold it for the block."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
