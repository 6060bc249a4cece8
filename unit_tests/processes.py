"""What the unit tests ask of a process they did not start themselves."""

import time


def ended(pid, within=5.0):
    """True when pid has exited, or is a zombie waiting for its parent, within ``within``
    seconds. A process sent SIGKILL still shows as running until the kernel schedules it
    to exit, which on a loaded machine takes a moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            with open('/proc/{}/stat'.format(pid)) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
