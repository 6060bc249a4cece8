"""Running a child process for the runner: in a process group of its own, with a deadline,
stopped with everything it started when the deadline passes or the runner is told to stop.

Also the errors every part of the runner raises, and the one rule for a message that may
quote a secret (``redact``, ``unexpected_message``). Standard library only (the cron runner
uses the system python3, which may be 3.8).
"""

import collections
import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import duplicity_secrets

KILL_GRACE = 10                  # seconds between SIGTERM and SIGKILL of a run past its deadline
MAX_MESSAGE = 300                # cap of a failure message (status, action-fail, record)
ID_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEADLINE_MARK = "charm-duplicity: run stopped at its deadline"


class OperationError(Exception):
    """An operation failed; the message is safe to show (no secrets) and says why."""


class Busy(OperationError):
    """Another operation holds the unit's lock."""


class Unexpected(OperationError):
    """An error the runner did not foresee, turned into a recorded, secret-free failure."""


class Interrupted(OperationError):
    """The runner was told to stop (SIGTERM, SIGHUP, SIGINT) while a child ran."""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


redact = duplicity_secrets.redact


def unexpected_message(err, secrets=()):
    """'unexpected error (<type>: <first line of the message>)', redacted and capped."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = redact(text, secrets)[:200]
    return "unexpected error ({}{})".format(type(err).__name__, ": " + text if text else "")


@contextlib.contextmanager
def signals_interrupt():
    """While it lasts, SIGTERM, SIGHUP and SIGINT raise Interrupted in the runner (an action
    cancelled, cron or the machine stopping), so the caller can end the child's process
    group, which runs in a session of its own and would otherwise outlive the runner and its
    lock. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted("stopped: the runner received {}".format(signal.Signals(signum).name))
    previous = {sig: signal.signal(sig, interrupt)
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_group(proc):
    """SIGTERM proc's process group, SIGKILL it KILL_GRACE seconds later; its output."""
    out = b""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, sig)
        try:
            out, _ = proc.communicate(timeout=KILL_GRACE)
            break
        except subprocess.TimeoutExpired:
            continue
    else:   # a child outside the group holds the pipe open: stop reading it
        proc.stdout.close()
        proc.wait()
    # the group's stragglers, if the leader went first
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    return out


Result = collections.namedtuple("Result", "returncode output timed_out")
Result.__doc__ = """What a run ended with: exit code (127: could not start), merged output,
and whether it was stopped at its deadline (then the output ends with DEADLINE_MARK)."""


def run_with_deadline(argv, env, deadline, what="duplicity"):
    """Run argv in a process group of its own, output and errors merged; past ``deadline``
    seconds, or when the runner is told to stop (Interrupted, raised again), the whole
    group is stopped (stop_group). Returns a Result."""
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd="/", start_new_session=True)
    except OSError as err:
        return Result(127, "cannot run {}: {}".format(what, err.strerror or err), False)
    timed_out = False
    try:
        with signals_interrupt():
            out, _ = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        timed_out = True
        out = stop_group(proc)
    except Interrupted:
        stop_group(proc)
        raise
    output = (out or b"").decode(errors="replace")
    if timed_out:
        output += "\n{} ({}s)\n".format(DEADLINE_MARK, deadline)
    return Result(proc.returncode, output, timed_out)


class Process:
    """The runner's seam to duplicity: ``run(argv, env, deadline) -> Result``. A unit test
    gives the Runner another object with the same method."""

    def run(self, argv, env, deadline):
        return run_with_deadline(argv, env, deadline)


# gpg takes the S2K count of each symmetric encryption from its agent, which calibrates one
# when it starts (for ~100 ms of hashing): 1.1-1.4 s on these machines, paid by every run, as
# the runner ends the agent after each. OpenPGP stores at most 65011712; calibration gives
# 149 million here, which gpg rounds down to that. So the cap written down is the strength
# calibration gives on such a CPU, and more than it gives on a slower one, without the
# calibration. (The agent also uses the count for keys it holds: here only the private key
# of a restore, in a home deleted afterwards.)
AGENT_CONF = "s2k-count 65011712\n"
AGENT_CONF_NAME = "gpg-agent.conf"


def write_agent_conf(home):
    """Write AGENT_CONF into a new, empty GnuPG home (key_home's); the unit's own home gets
    it from duplicity_charm.ensure_dirs."""
    fd = os.open(os.path.join(home, AGENT_CONF_NAME), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(AGENT_CONF)


def stop_gpg_agent(home):
    """End the gpg-agent gpg started for the GnuPG home ``home``, if one runs.

    The agent outlives the gpg that started it (with the passphrase cached); left running, it
    also removes its sockets when it notices its directory going, racing the unit's removal.
    """
    if not os.path.isdir(home):
        return
    try:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        pass


@contextlib.contextmanager
def key_home(private_key_file, state_dir):
    """A temporary GnuPG home in ``state_dir`` holding the given private key (an absolute
    path on the unit), deleted afterwards; "" without a key."""
    if not private_key_file:
        yield ""
        return
    if not os.path.isabs(private_key_file) or not os.path.isfile(private_key_file):
        raise OperationError("private-key-file {} is not an existing file on the unit".format(
            private_key_file))
    home = tempfile.mkdtemp(prefix="gnupg-", dir=state_dir)
    try:
        os.chmod(home, 0o700)
        write_agent_conf(home)
        proc = subprocess.run(
            ["gpg", "--batch", "--homedir", home, "--import", private_key_file],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"})
        if proc.returncode != 0 or b"secret key imported" not in proc.stdout:
            raise OperationError("private-key-file {} holds no importable ASCII-armoured "
                                 "private key".format(private_key_file))
        yield home
    finally:
        stop_gpg_agent(home)
        shutil.rmtree(home, ignore_errors=True)
