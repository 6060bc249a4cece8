#!/usr/bin/env python3
"""Run one duplicity operation for a unit: lock, principal hooks, duplicity, outcome record.

Used by the actions (through ``duplicity_actions``) and by the scheduled cron entries, which
call this file directly with the system python3::

    /usr/bin/python3 <charm>/lib/duplicity_runner.py \
        --spec /var/lib/charm-duplicity/<unit>/spec.json backup

Standard library only, no hook tools, no unitdata: it reads the spec and the secret
environment file the hooks rendered, so it keeps working while upgrade-charm rebuilds the
charm's virtualenv.
"""

import argparse
import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import duplicity_helper  # noqa: E402
import duplicity_secrets  # noqa: E402
from duplicity_paths import UnitPaths, unit_slug  # noqa: E402
from duplicity_records import RunnerSpec  # noqa: E402

HOOK_TIMEOUT = 3600
KILL_GRACE = 10                  # seconds between SIGTERM and SIGKILL of a run past its deadline
RETENTION_LOCK_WAIT = 6 * 3600   # how long a scheduled retention run waits for a busy lock
MAX_MESSAGE = 300                # cap of a failure message (status, action-fail, record)
ID_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_LISTED_FILES = 200
_STAT_KEYS = {
    "ElapsedTime": "elapsed-time",
    "SourceFiles": "source-files",
    "SourceFileSize": "source-file-size",
    "NewFiles": "new-files",
    "ChangedFiles": "changed-files",
    "DeletedFiles": "deleted-files",
    "TotalDestinationSizeChange": "destination-size-change",
    "Errors": "errors",
}


class OperationError(Exception):
    """An operation failed; the message is safe to show (no secrets) and says why."""


class Busy(OperationError):
    pass


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def backup_id(dup_time):
    """duplicity's 20261127T071232Z -> 2026-11-27T07:12:32Z."""
    return datetime.datetime.strptime(dup_time, "%Y%m%dT%H%M%SZ").strftime(ID_FORMAT)


class Unexpected(OperationError):
    """An error the runner did not foresee, turned into a recorded, secret-free failure."""


def write_json_atomic(path, data, mode):
    """Write ``data`` as JSON to ``path`` atomically: a temp file of a unique name in the same
    directory (so concurrent writers never share one), mode set before the content, renamed
    over ``path``; the temp file never outlives a failure."""
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               dir=os.path.dirname(path) or ".")
    try:
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


# ---------------------------------------------------------------- parsing duplicity output

def parse_statistics(text):
    """The 'Backup Statistics' block -> result keys (numbers as strings, sizes in bytes)."""
    stats = {}
    for line in text.splitlines():
        line = line.lstrip(". ").strip()
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in _STAT_KEYS:
            stats[_STAT_KEYS[parts[0]]] = parts[1]
    return stats


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


def parse_collection_status(log_text):
    """The machine-readable 'INFO 3' block of collection-status -> backup sets, oldest first.

    Each set: {'backup-id', 'backup-type' (full|incremental), 'volumes', 'chain'} where chain
    is the backup-id of the full backup starting its chain.
    """
    sets = []
    lines = log_text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "INFO 3":
            i += 1
            chain = None
            while i < len(lines) and not lines[i].startswith(". ") and lines[i].strip() != "":
                line = lines[i]
                if line.startswith("chain-"):
                    chain = None
                elif line.startswith(" full ") or line.startswith(" inc "):
                    fields = line.split()
                    kind, stamp, volumes = fields[0], fields[1], fields[2]
                    bid = backup_id(stamp)
                    if kind == "full":
                        chain = bid
                    sets.append({"backup-id": bid,
                                 "backup-type": "full" if kind == "full" else "incremental",
                                 "volumes": int(volumes), "chain": chain or "?"})
                i += 1
        else:
            i += 1
    uniq = {s["backup-id"]: s for s in sets}
    return sorted(uniq.values(), key=lambda s: s["backup-id"])


def backups_table(sets):
    header = "backup-id | backup-type | volumes | chain"
    rows = ["{} | {} | {} | {}".format(s["backup-id"], s["backup-type"], s["volumes"], s["chain"])
            for s in sets]
    return "\n".join([header, "-" * len(header)] + rows)


# duplicity's exit codes / ERROR record codes (log.ErrorCode, the same in 0.8, 2.x and 3.x)
# that name their fault by themselves -> what the failure message says, fault and fix
_ERROR_CODES = {
    3: "the backups at the destination were made on another host (hostname mismatch): "
       "use source-unit to read another unit's backups",
    8: "the destination URL is not valid for duplicity: check remote_backup_url",
    21: "a backup volume at the destination is corrupt (hash mismatch): run verify, "
        "then do-backup full=true to start a sound chain",
    35: "not enough free space in the unit's temp dir (/var/cache/charm-duplicity): free "
        "some, or lower volsize",
    38: "backend unreachable: the backup server refused or dropped the connection",
    42: "the backups at the destination were made from another source directory (as after "
        "switching from the upstream duplicity charm): run do-backup full=true to start a "
        "new chain there",
    44: "a backup volume at the destination has the wrong size (corrupt or cut short): run "
        "verify, then do-backup full=true to start a sound chain",
    45: "the backups at the destination were encrypted another way (passphrase vs public "
        "key): restore the encryption settings they were made with, or start a new chain "
        "with do-backup full=true",
    51: "permission denied by the backup server: check the credentials and the remote "
        "directory's permissions",
    52: "not found at the destination: check remote_backup_url (bucket, container or "
        "directory)",
    53: "no space left on the destination",
}
_BACKEND_CODES = {38, 51, 52}
DEADLINE_MARK = "charm-duplicity: run stopped at its deadline"

_TEXT_CHECKS = [
    (DEADLINE_MARK, None),   # replaced by the deadline message
    (r"Another duplicity instance is already running",
     "another duplicity run holds this unit's archive directory (a run outside the charm, or "
     "one left from a killed run): wait for it to end, or end it"),
    (r"Connection refused|Name or service not known|No route to host|timed out|"
     r"Could not connect|Unable to connect|getaddrinfo|Network is unreachable|"
     r"EndpointConnectionError|Max retries exceeded|Connection reset",
     "backend unreachable"),
    (r"Authentication failed|Permission denied \(publickey|Login incorrect|530 |"
     r"InvalidAccessKeyId|SignatureDoesNotMatch|AuthenticationFailed|AccessDenied|"
     r"Access Denied|AuthorizationFailure",
     "authentication refused by the backup server"),
    (r"[Hh]ost key|REMOTE HOST IDENTIFICATION|not found in known_hosts|"
     r"Host key verification failed|BadHostKey",
     "SSH host key verification failed (check known_host_key)"),
    (r"Bad session key|decryption failed|bad passphrase|BAD PASSPHRASE|"
     r"No secret key|GPGError|gpg: decryption",
     "decryption failed: wrong passphrase or private key"),
    (r"No space left on device|ENOSPC|Disk quota exceeded",
     "no space left on the destination or in the temp dir"),
    (r"No backup chains with active signatures found|No such file or directory.*manifest|"
     r"Found 0 backup chains|No backup chains found|No signature chains found",
     "no backup found at the destination"),
    (r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|Certificate verification",
     "TLS certificate verification failed (check ca_certificate)"),
]


def log_records(machine_log, level):
    """The records of one level (ERROR, WARNING) in duplicity's --log-file output, as
    (code, extra, message) tuples; the message is the record's '. '-prefixed lines."""
    records = []
    lines = machine_log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^" + level + r" (\d+)(?: (.*))?$", line)
        if m:
            body = []
            for follow in lines[i + 1:]:
                if not follow.startswith("."):
                    break
                body.append(follow[2:])
            records.append((int(m.group(1)), m.group(2) or "", "\n".join(body).strip()))
    return records


def _meaningful_line(text, prefer_fatal=False):
    lines = [line.strip().lstrip(". ").strip() for line in text.splitlines()]
    if prefer_fatal:
        for line in lines:
            if line.startswith(("Fatal Error:", "Fatal error:")):
                return line
    for line in reversed(lines):
        if line and not line.startswith(("Traceback", "File ", "^", "=====")):
            return line
    return ""


def classify_failure(text, secrets=(), returncode=None, machine_log="", deadline=None):
    """A short, secret-free reason for a failed duplicity run: what went wrong and, where
    known, what to do.

    By precedence: a run the runner stopped at its deadline; duplicity's exit code and the
    codes of the ERROR records it wrote to its --log-file (``machine_log``); patterns in the
    error records and the output. The quoted detail is the fatal error's own line, not
    whatever duplicity printed last.
    """
    errors = log_records(machine_log or "", "ERROR")
    if deadline is not None or DEADLINE_MARK in text:
        return ("deadline: duplicity ran longer than run_timeout ({}) and was stopped; the "
                "backend may hang: check it, or raise run_timeout".format(
                    "{}s".format(deadline) if deadline is not None else "see the log"))
    codes = [code for code, _, _ in errors] + ([returncode] if returncode else [])
    error_text = "\n".join(message for _, _, message in errors)
    # codes a backend may use for any failure (azure: 38 or 52 for a refused key too) yield
    # to what the error says; the others name their fault whatever the text
    by_code = [_ERROR_CODES[code] for code in reversed(codes) if code in _ERROR_CODES]
    definite = [_ERROR_CODES[code] for code in reversed(codes)
                if code in _ERROR_CODES and code not in _BACKEND_CODES]
    by_text = [label for pattern, label in _TEXT_CHECKS[1:]
               if re.search(pattern, error_text) or re.search(pattern, text)]
    reason = (definite or by_text or by_code or [None])[0]
    if errors and errors[-1][2]:
        detail = _meaningful_line(errors[-1][2].splitlines()[0])
    else:
        detail = _meaningful_line(text, prefer_fatal=True)
    detail = redact(detail, secrets)[:200]
    if reason and detail:
        message = "{} ({})".format(reason, detail)
    else:
        message = reason or detail or "duplicity failed{}".format(
            " with exit code {}".format(returncode) if returncode else "")
    return message[:MAX_MESSAGE]


redact = duplicity_secrets.redact


class Interrupted(OperationError):
    """The runner was told to stop (SIGTERM, SIGHUP, SIGINT) while duplicity ran."""


@contextlib.contextmanager
def signals_interrupt():
    """While it lasts, SIGTERM, SIGHUP and SIGINT raise Interrupted in the runner (an action
    cancelled, cron or the machine stopping), so the caller can end duplicity's process
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
    # the group's stragglers, if duplicity went first
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    return out


def run_with_deadline(argv, env, deadline):
    """Run argv in a process group of its own, output and errors merged; past ``deadline``
    seconds, or when the runner is told to stop (Interrupted, raised again), the whole
    group is stopped (stop_group). Returns (returncode, output, timed_out)."""
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd="/", start_new_session=True)
    except OSError as err:
        return 127, "cannot run duplicity: {}".format(err.strerror or err), False
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
    return proc.returncode, output, timed_out


def unexpected_message(err, secrets=()):
    """'unexpected error (<type>: <first line of the message>)', redacted and capped."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = redact(text, secrets)[:200]
    return "unexpected error ({}{})".format(type(err).__name__, ": " + text if text else "")


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


MAX_UNREADABLE = 10


def unreadable_files(machine_log):
    """The files duplicity could not read (its 'cannot read' warnings, code 10), first few."""
    files = []
    for code, extra, message in log_records(machine_log or "", "WARNING"):
        if code == 10:
            path = extra.strip()
            if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
                path = path[1:-1]
            files.append((path or message)[:200])
    return files[:MAX_UNREADABLE]


def partial_warning(errors, unreadable):
    return ("{} file(s) could not be read and are not in this backup{}; see the unit's log"
            .format(errors, " (e.g. {})".format(unreadable[0]) if unreadable else ""))


# ---------------------------------------------------------------- the runner

class Runner:
    """Runs operations for the unit described by ``spec`` (written by the hooks)."""

    def __init__(self, spec, secret_env):
        self.spec = spec                  # a RunnerSpec: no secret value (see its docstring)
        self.settings = spec.settings
        self.secret_env = dict(secret_env or {})
        self.paths = UnitPaths.for_unit(spec.unit, root=spec.root)
        self.version = spec.version

    @classmethod
    def from_files(cls, spec_file):
        try:
            with open(spec_file) as f:
                text = f.read()
        except OSError:
            raise OperationError("the unit is not configured (no {}): see juju status".format(
                spec_file)) from None
        try:
            spec = RunnerSpec.from_json(text)
            paths = UnitPaths.for_unit(spec.unit, root=spec.root)
            if not os.path.isfile(paths.env_file):
                raise OperationError("the unit's environment file {} is missing: see juju "
                                     "status (the next hook rewrites it)".format(paths.env_file))
            secret_env = read_json(paths.env_file)
            if not isinstance(secret_env, dict):
                raise OperationError("the unit's environment file {} is unreadable: see juju "
                                     "status (the next hook rewrites it)".format(paths.env_file))
            runner = cls(spec, secret_env)
        except OperationError:
            raise
        except Exception as err:
            raise OperationError("the unit's spec {} is unreadable ({}): see juju status (the "
                                 "next hook rewrites it)".format(spec_file,
                                                                 unexpected_message(err)))
        return runner

    @property
    def force_full_marker(self):
        """Written by upgrade-charm after the upstream charm: the next backup is full."""
        return os.path.join(self.paths.state_dir, "force-full")

    # ------------------------------------------------------------ infrastructure
    def secrets(self):
        """Every secret value in the environment file, for redaction."""
        return duplicity_secrets.env_secret_values(self.secret_env)

    def log(self, message):
        stamp = utcnow().strftime(ID_FORMAT)
        line = "{} {}\n".format(stamp, redact(message, self.secrets()))
        fd = os.open(self.paths.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lock(self, operation, wait=0):
        """The unit's operation lock; Busy when another operation still holds it after
        ``wait`` seconds. A flock: the kernel drops it when its holder dies, so a dead
        holder never blocks. On release, the gpg-agent the operation's gpg started is ended."""
        fd = os.open(self.paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        locked = False
        give_up = time.monotonic() + wait
        try:
            while not locked:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                except OSError as err:
                    if err.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= give_up:
                        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                        raise Busy("another duplicity operation is already running for {} "
                                   "({})".format(self.spec.unit, holder or "unknown"))
                    time.sleep(min(1.0, max(0.05, give_up - time.monotonic())))
            os.ftruncate(fd, 0)
            os.pwrite(fd, "{} pid {} since {}".format(
                operation, os.getpid(), utcnow().strftime(ID_FORMAT)).encode(), 0)
            self.sweep_leftovers()
            yield
        finally:
            if locked:
                stop_gpg_agent(self.paths.gnupg_home)
            os.close(fd)

    def sweep_leftovers(self):
        """Remove what a run killed outright (SIGKILL, a reboot) left: duplicity's temp
        files and log-fd files in the temp dir, temporary GnuPG homes. Only the lock holder
        creates them, so with the lock held, any there are leftovers."""
        for directory, keep in ((self.paths.temp_dir, lambda name: False),
                                (self.paths.state_dir,
                                 lambda name: not name.startswith("gnupg-"))):
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

    def context(self, unit=None, gnupg_home="", log_file="", with_selection=False):
        return duplicity_helper.Context(
            unit=unit or self.spec.unit,
            paths=self.paths,
            version=self.version,
            duplicity=self.spec.duplicity,
            encrypt_key=self.spec.encrypt_key,
            gnupg_home=gnupg_home,
            includes=self.spec.includes if with_selection else (),
            excludes=self.spec.excludes if with_selection else (),
            log_file=log_file,
        )

    def base_env(self):
        env = {
            "PATH": self.spec.path_env or "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                 "/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": "/root",
        }
        env.update(self.spec.proxy_env)
        return env

    def run_timeout(self):
        """The deadline of one duplicity run, in seconds (config run_timeout)."""
        return self.settings.run_timeout

    def duplicity(self, operation, ctx, timeout=None, **params):
        """Run duplicity; return (returncode, output, machine_log).

        The run has a deadline (``timeout``, else run_timeout): past it, duplicity's whole
        process group (gpg, ssh, lftp ... it started) is stopped, the output ends with
        DEADLINE_MARK and ``self.last_run`` says so. duplicity's machine-readable log goes to
        a temp file that never outlives the call.
        """
        deadline = timeout or self.run_timeout()
        self.last_run = {"returncode": None, "machine_log": "", "deadline": None}
        fd, log_file = tempfile.mkstemp(prefix="duplicity-log-", dir=self.paths.temp_dir)
        os.close(fd)
        try:
            ctx = ctx.__class__(**{**ctx.__dict__, "log_file": log_file})
            argv = duplicity_helper.build_argv(operation, self.settings, ctx, **params)
            env = duplicity_helper.merge_env(self.base_env(), self.secret_env, ctx.gnupg_home)
            self.log("run: " + " ".join(argv))
            returncode, output, timed_out = run_with_deadline(argv, env, deadline)
            with open(log_file, errors="replace") as f:
                machine_log = f.read()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(log_file)
        for line in output.splitlines():
            self.log("  " + line)
        if timed_out:
            self.log("stopped: the run passed its deadline of {}s (run_timeout)".format(
                deadline))
        self.log("exit {}".format(returncode))
        self.last_run = {"returncode": returncode, "machine_log": machine_log,
                         "deadline": deadline if timed_out else None}
        return returncode, output, machine_log

    def failure_reason(self, output):
        """classify_failure for the last duplicity run: its exit code, log and deadline."""
        last = getattr(self, "last_run", None) or {}
        return classify_failure(output, self.secrets(), last.get("returncode"),
                                last.get("machine_log", ""), last.get("deadline"))

    def check(self, operation, ctx, **params):
        returncode, output, machine_log = self.duplicity(operation, ctx, **params)
        if returncode != 0:
            raise OperationError("{} failed: {}".format(operation, self.failure_reason(output)))
        return output, machine_log

    # ------------------------------------------------------------ principal hooks
    def run_hooks(self, kind, result=None):
        """Run the principal's hook scripts of one kind; raise on the first failure."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "HOME": "/root",
               "JUJU_UNIT_NAME": self.spec.unit,
               "BACKUP_PATHS": ",".join(self.spec.includes)}
        if result is not None:
            env["BACKUP_RESULT"] = result
        for script in self.spec.hooks.get(kind, ()):
            if not os.path.isfile(script) or not os.access(script, os.X_OK):
                raise OperationError("{} script {} is missing or not executable".format(
                    kind, script))
            self.log("{}: {}".format(kind, script))
            try:
                proc = subprocess.run([script], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      timeout=HOOK_TIMEOUT, cwd="/")
            except subprocess.TimeoutExpired:
                raise OperationError("{} script {} timed out after {}s".format(
                    kind, script, HOOK_TIMEOUT))
            for line in proc.stdout.decode(errors="replace").splitlines():
                self.log("  " + line)
            if proc.returncode != 0:
                raise OperationError("{} script {} failed with exit code {}".format(
                    kind, script, proc.returncode))

    def run_after_hooks(self, kind, result):
        try:
            self.run_hooks(kind, result)
            return None
        except OperationError as err:
            return str(err)

    # ------------------------------------------------------------ outcome record
    def record(self, key, outcome):
        """Store one outcome in the unit's outcome record. Read-modify-write under a lock of
        its own (not the operation lock: an action refused as busy, or an operation's end,
        may record while another operation runs), written atomically."""
        fd = os.open(os.path.join(self.paths.state_dir, "record.lock"),
                     os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prefix = "." + os.path.basename(self.paths.status_file) + "."
            for name in os.listdir(self.paths.status_dir):   # a killed writer's temp file
                if name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self.paths.status_dir, name))
            status = read_json(self.paths.status_file, {}) or {}
            status[key] = outcome
            if key == "backup" and outcome.get("status") == "ok":
                status["last-success"] = outcome
            write_json_atomic(self.paths.status_file, status, 0o644)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ operations
    def newest_set(self, unit=None):
        """(backup-id, type) of the newest set in the local archive cache."""
        name_dir = os.path.join(self.paths.archive_dir, unit_slug(unit or self.spec.unit))
        newest = None
        try:
            names = os.listdir(name_dir)
        except OSError:
            return None
        for name in names:
            m = re.match(r"^duplicity-(full|inc)\.(?:\w+\.to\.)?(\d{8}T\d{6}Z)\.manifest$", name)
            if m and (newest is None or m.group(2) > newest[0]):
                newest = (m.group(2), "full" if m.group(1) == "full" else "incremental")
        return newest and (backup_id(newest[0]), newest[1])

    def interrupted_set(self, unit=None):
        """backup-id of the set whose backup was interrupted (its partial manifest is kept in
        the archive dir, so the next backup resumes it), or None."""
        name_dir = os.path.join(self.paths.archive_dir, unit_slug(unit or self.spec.unit))
        try:
            names = os.listdir(name_dir)
        except OSError:
            return None
        for name in sorted(names, reverse=True):
            m = re.match(r"^duplicity-(?:full|inc)\.(?:\w+\.to\.)?(\d{8}T\d{6}Z)\.manifest\.part$", name)
            if m:
                return backup_id(m.group(1))
        return None

    def complete_time(self, time, unit=None):
        """The time to read backups at: as given, else the newest complete set when the last
        backup was interrupted. duplicity counts the interrupted set as the newest backup, and
        would restore or verify what of it was uploaded, the file being uploaded truncated."""
        newest = self.newest_set(unit) if not time and self.interrupted_set(unit) else None
        return newest[0] if newest else time

    @contextlib.contextmanager
    def unexpected_as_failure(self, operation):
        """Turn an error nobody foresaw (a bad spec value, an OSError, a ValueError from a
        builder) into an OperationError with a short, redacted message; the traceback goes
        to the unit's root-only log, never to the caller's output."""
        try:
            yield
        except OperationError:
            raise
        except Exception as err:
            with contextlib.suppress(Exception):
                self.log("{}: unexpected error\n{}".format(operation, traceback.format_exc()))
            raise Unexpected("{} failed: {}".format(operation, unexpected_message(
                err, self.secrets())))

    def backup(self, full=False, scheduled=False):
        """Back up; the outcome's status is "ok", "partial" (a set was written, but duplicity
        could not read some files: ``errors`` counts them, ``unreadable`` names a few) or
        "failed". A busy lock is refused (Busy) and not recorded."""
        started = utcnow()
        outcome = {"operation": "backup", "time": started.strftime(ID_FORMAT),
                   "trigger": "schedule" if scheduled else "action"}
        try:
            with self.unexpected_as_failure("backup"), self.lock("backup"):
                before = self.newest_set()
                force_full = os.path.exists(self.force_full_marker)
                try:
                    with self.unexpected_as_failure("backup"):
                        self.run_hooks("run-before-backup")
                        output, machine_log = self.check(
                            "backup", self.context(with_selection=True),
                            full=full or force_full or self.settings.full_if_older_than == "always")
                except OperationError as err:
                    after_error = self.run_after_hooks("run-after-backup", "failed")
                    raise err.__class__(str(err) + (
                        "; " + after_error if after_error else ""))
                outcome.update(parse_statistics(output))
                errors = _int(outcome.get("errors"))
                after_error = self.run_after_hooks("run-after-backup", "ok")
                newest = self.newest_set()
                if newest is None or newest == before:
                    raise OperationError("backup finished but no new backup set was recorded")
                if force_full:
                    os.unlink(self.force_full_marker)
                outcome.update({"status": "ok", "backup-id": newest[0], "type": newest[1],
                                "end": utcnow().strftime(ID_FORMAT)})
                warnings = []
                if errors:
                    unreadable = unreadable_files(machine_log)
                    outcome.update({"status": "partial", "unreadable": unreadable})
                    warnings.append(partial_warning(errors, unreadable))
                if after_error:
                    warnings.append(after_error)
                if warnings:
                    outcome["warning"] = "; ".join(warnings)[:MAX_MESSAGE]
                self.record("backup", outcome)
                return outcome
        except OperationError as err:
            outcome.update({"status": "failed", "error": str(err)[:MAX_MESSAGE], "type":
                            "full" if full else "incremental",
                            "end": utcnow().strftime(ID_FORMAT)})
            if not isinstance(err, Busy):
                self.record("backup", outcome)
            raise

    def retention(self, wait=None):
        """Remove chains older than retention_period. Waits up to ``wait`` seconds
        (RETENTION_LOCK_WAIT) for a busy lock (a long backup); still busy then, it is skipped
        (Busy), not recorded as failed."""
        wait = RETENTION_LOCK_WAIT if wait is None else wait
        older_than = self.settings.retention
        if not older_than:
            return {"status": "ok", "skipped": "retention_period is manual"}
        outcome = {"operation": "retention", "time": utcnow().strftime(ID_FORMAT),
                   "older-than": older_than}
        try:
            with self.unexpected_as_failure("retention"), self.lock("retention", wait=wait):
                self.check("remove-older-than", self.context(), time=older_than)
        except Busy:
            raise
        except OperationError as err:
            outcome.update({"status": "failed", "error": str(err)[:MAX_MESSAGE]})
            self.record("retention", outcome)
            raise
        outcome["status"] = "ok"
        self.record("retention", outcome)
        return outcome

    def recorded(self, operation, fn):
        """Run fn under the lock and record the outcome of this action."""
        outcome = {"operation": operation, "time": utcnow().strftime(ID_FORMAT)}
        try:
            with self.unexpected_as_failure(operation), self.lock(operation):
                result = fn()
        except OperationError as err:
            if not isinstance(err, Busy):
                outcome.update({"status": "failed", "error": str(err)[:MAX_MESSAGE]})
                self.record("last-action", outcome)
            raise
        outcome["status"] = "ok"
        self.record("last-action", outcome)
        return result

    @contextlib.contextmanager
    def gnupg_home(self, private_key_file):
        """A temporary GnuPG home holding the given private key (deleted afterwards)."""
        if not private_key_file:
            yield ""
            return
        if not os.path.isabs(private_key_file) or not os.path.isfile(private_key_file):
            raise OperationError("private-key-file {} is not an existing file on the unit".format(
                private_key_file))
        home = tempfile.mkdtemp(prefix="gnupg-", dir=self.paths.state_dir)
        try:
            os.chmod(home, 0o700)
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

    def list_backups(self, source_unit=None):
        """The backup sets, oldest first; an interrupted one (duplicity lists it like any
        other) carries "interrupted": True."""
        def run():
            _, log = self.check("collection-status", self.context(unit=source_unit))
            sets = parse_collection_status(log)
            interrupted = self.interrupted_set(source_unit)
            for s in sets:
                if s["backup-id"] == interrupted:
                    s["interrupted"] = True
            return sets
        return self.recorded("list-backups", run)

    def list_files(self, time=None, source_unit=None, private_key_file=None):
        def run():
            with self.gnupg_home(private_key_file) as home:
                output, _ = self.check("list-current-files",
                                       self.context(unit=source_unit, gnupg_home=home),
                                       time=self.complete_time(time, source_unit))
            return parse_file_list(output)
        return self.recorded("list-current-files", run)

    def verify(self, time=None, compare_data=False, source_unit=None, private_key_file=None):
        def run():
            with self.gnupg_home(private_key_file) as home:
                ctx = self.context(unit=source_unit, gnupg_home=home, with_selection=True)
                returncode, output, _ = self.duplicity(
                    "verify", ctx, time=self.complete_time(time, source_unit),
                    compare_data=compare_data)
            # 0.8: "3 files compared, 0 differences found"; 2.x/3.x: "file(s)", "difference(s)"
            m = re.search(r"Verify complete: (\d+) file(?:s|\(s\))? compared, "
                          r"(\d+) difference(?:s|\(s\))? found", output)
            if m is None:
                raise OperationError("verify failed: " + self.failure_reason(output))
            differences = real_differences(output, self.spec.includes)
            return {"files-compared": int(m.group(1)), "differences": len(differences),
                    "result": "ok" if not differences else "differences found",
                    "difference-list": "\n".join(differences[:MAX_LISTED_FILES])}
        return self.recorded("verify", run)

    def remove(self, operation, **params):
        def run():
            output, _ = self.check(operation, self.context(), **params)
            deleted = len(re.findall(r"^Deleting |^\. Deleting ", output, re.M))
            return {"result": "ok", "output-lines": str(len(output.splitlines())),
                    "deleted": str(deleted)}
        return self.recorded(operation, run)

    def cleanup(self):
        def run():
            self.check("cleanup", self.context())
            return {"result": "ok"}
        return self.recorded("cleanup", run)

    def restore(self, path=None, time=None, target=None, in_place=False, source_unit=None,
                private_key_file=None):
        def run():
            with self.gnupg_home(private_key_file) as home:
                ctx = self.context(unit=source_unit, gnupg_home=home)
                when = self.complete_time(time, source_unit)
                try:
                    if in_place:
                        return self._restore_in_place(ctx, path, when)
                    return self._restore_to(ctx, path, when, target)
                except OSError as err:
                    raise OperationError("restore failed: {}".format(_shown(err)))
        return self.recorded("restore", run)

    def _restore_to(self, ctx, path, time, target):
        """Restore into a fresh root-only staging directory, then move what was restored into
        ``target`` (new or empty; default: a new directory in the unit's restore area) by
        renames relative to its checked directory descriptor."""
        if not target:
            os.makedirs(self.paths.restore_dir, mode=0o700, exist_ok=True)
            target = os.path.join(self.paths.restore_dir, utcnow().strftime("%Y%m%dT%H%M%SZ"))
            while os.path.lexists(target):
                target += "-1"
        target = check_restore_target(target)
        parts = path_parts(target, "target")
        fd, existing = open_dir_nofollow(parts, "target", target)
        try:
            stage = _make_stage(fd, "/" + "/".join(parts[:existing]), self.paths.restore_dir)
        finally:
            os.close(fd)
        allowed = (os.path.basename(stage),) if os.path.dirname(stage) == target else ()
        try:
            work, _ = self._restore_into(ctx, stage, path, time)
            files = sum(len(f) for _, _, f in os.walk(work))
            try:
                fd, _ = open_dir_nofollow(parts, "target", target, create=True)
                try:
                    _move_entries(work, fd, allowed)
                finally:
                    os.close(fd)
            except BaseException:
                _remove_made_dirs(parts, existing)
                raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return {"target": target, "files": files}

    def _restore_into(self, ctx, stage, path, time):
        """duplicity's restore of ``path`` (everything when empty) at ``time`` into a new
        root-only ``<stage>/restore``; returns (that directory, where ``path`` landed in it).
        A failed or empty restore raises OperationError saying why."""
        work = os.path.join(stage, "restore")
        os.mkdir(work, 0o700)
        dest = duplicity_helper.restore_destination(work, path)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        returncode, output, _ = self.duplicity("restore", ctx, path=path or None, time=time,
                                               target=work)
        if returncode != 0 or not os.path.lexists(dest):
            if re.search(r"not found in archive", output):
                raise OperationError("path {} is not in the backup{}".format(
                    path, " at " + time if time else ""))
            raise OperationError("restore failed: " + self.failure_reason(output))
        return work, dest

    def _restore_in_place(self, ctx, path, time):
        """Restore ``path`` to its original place: into a root-only staging directory on the
        same filesystem, then rename the original to ``<path>.pre-restore-<backup-id>`` and
        the staged copy into place, both relative to the checked parent's descriptor."""
        original = "/" + path.strip("/")
        parts = path_parts(original, "path")
        parent_parts, name = parts[:-1], parts[-1]
        parent = "/" + "/".join(parent_parts)
        check_in_place_path(path)
        fd, _ = open_dir_nofollow(parent_parts, "path", original)
        try:
            stage = _make_stage(fd, parent, self.paths.restore_dir)
        finally:
            os.close(fd)
        try:
            self.run_hooks("run-before-restore")
        except OperationError:
            shutil.rmtree(stage, ignore_errors=True)
            after_error = self.run_after_hooks("run-after-restore", "failed")
            if after_error:
                self.log(after_error)
            raise
        result = "failed"
        try:
            _, staged = self._restore_into(ctx, stage, path, time)
            set_id = time_to_id(time) or (self.newest_set(ctx.unit) or ("latest",))[0]
            files = _count_files(staged)
            kept = _swap_into_place(staged, parent_parts, name, original, set_id)
            result = "ok"
            out = {"target": original, "files": files}
            if kept:
                out["previous"] = kept
            return out
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            after_error = self.run_after_hooks("run-after-restore", result)
            if after_error:
                self.log(after_error)


# ---------------------------------------------------------------- restoring without following links
#
# Root never writes through a path a non-root user controls (design.md section 7). A restore
# goes into a fresh root-only directory and is moved from there with renames relative to
# directory descriptors opened one component at a time from / with O_NOFOLLOW, each checked
# with fstat: root-owned, and not writable by group or others. A root-owned directory with the
# sticky bit (/tmp, /var/tmp) may be an ancestor: nobody but root can rename or remove what root
# owns in it, and what is below must pass the same checks. It may not be the directory a
# restore moves its files into (an existing target, or the parent of an in-place path).

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_MAX_SHOWN = 100


def _shown(value):
    value = str(value)
    return value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."


class UnsafePath(OperationError):
    """A restore location root must not write to; the message names the parameter."""


def path_parts(value, param):
    """An absolute path -> its components; no '..', NUL or newline (OperationError naming param)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise UnsafePath("{} {!r} must be an absolute path".format(param, _shown(value)))
    if any(c in value for c in "\0\n\r"):
        raise UnsafePath("{} {!r} must not contain NUL or line breaks".format(
            param, _shown(value)))
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath("{} {} must not contain '..'".format(param, _shown(value)))
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
                         "can change".format(param, _shown(value), _shown(shown), why))
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
                param, _shown(value), _shown(shown), err.strerror))
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafePath("{} {}: {} is a symbolic link; give a path without symbolic links "
                         "(root never restores through one)".format(
                             param, _shown(value), _shown(shown)))
    if last:
        raise UnsafePath("{} {} exists and is not a directory: give a new or empty "
                         "directory".format(param, _shown(value)))
    raise UnsafePath("{} {}: {} is not a directory".format(param, _shown(value), _shown(shown)))


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
                        param, _shown(value), _shown(shown), err.strerror))
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
                             "files are never overwritten)".format(param, _shown(value)))
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
                         "exist".format(_shown(original), _shown(os.path.dirname(original))))
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
    raise OperationError("cannot create a staging directory in {}".format(_shown(near)))


def _count_files(top):
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


def _swap_into_place(staged, parent_parts, name, original, set_id):
    """Rename ``original`` aside to ``<name>.pre-restore-<set_id>`` and ``staged`` into its
    place, relative to the parent's descriptor checked again now; -> the kept path or None."""
    pfd, depth = open_dir_nofollow(parent_parts, "path", original)
    try:
        if depth < len(parent_parts):
            raise OperationError("in-place: the parent directory of path {} is gone".format(
                _shown(original)))
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


def real_differences(output, includes):
    """verify's 'Difference found' lines, less those about the parent directories of the
    backed-up paths: duplicity stores them only to hold the tree, their mtimes move with
    every file created beside them."""
    ancestors = set()
    for include in includes:
        parts = include.strip("/").split("/")
        ancestors.update("/".join(parts[:i]) for i in range(1, len(parts)))
    found = []
    for line in output.splitlines():
        m = re.match(r"^Difference found: (?:File|Directory) (.+?) has (mtime|metadata)", line)
        if m and m.group(1) in ancestors and m.group(2) == "mtime":
            continue
        if line.startswith("Difference found: "):
            found.append(line[len("Difference found: "):])
    return found


def time_to_id(time):
    return time if duplicity_helper.is_backup_id(time) else None


def parse_file_list(output):
    """list-current-files output -> paths (relative to /), as restore's path takes them.

    The root itself (``.``) is not listed: it is not something to restore by path.
    """
    files = []
    for line in output.splitlines():
        m = re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} (.*)$", line)
        if m and m.group(1) != ".":
            files.append(m.group(1))
    return files


def main(argv=None):
    """The cron entry point. Exit 0: done; 75: skipped, another operation held the lock;
    1: failed (recorded in the outcome record when the unit's files allow it). Nothing it
    prints carries a traceback or a secret."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("operation", choices=("backup", "retention"))
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        runner = Runner.from_files(args.spec)
    except OperationError as err:
        print(str(err)[:MAX_MESSAGE], file=sys.stderr)
        return 1
    try:
        if args.operation == "backup":
            outcome = runner.backup(scheduled=True)
        else:
            outcome = runner.retention()
        runner.log("scheduled {} done: {}".format(args.operation,
                                                  json.dumps(outcome, sort_keys=True)))
    except Busy as err:
        return _report(runner, "scheduled {} skipped: {}".format(args.operation, err), 75)
    except OperationError as err:
        return _report(runner, "scheduled {} failed: {}".format(args.operation, err), 1)
    except Exception as err:  # e.g. the log or the outcome record cannot be written
        return _report(runner, "scheduled {} failed: {}".format(
            args.operation, unexpected_message(err, runner.secrets())), 1)
    return 0


def _report(runner, message, code):
    try:
        runner.log(message)
    except Exception:
        print(redact(message, runner.secrets())[:MAX_MESSAGE], file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
