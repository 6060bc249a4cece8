#!/usr/bin/env python3
"""Run one duplicity operation for a unit: lock, principal hooks, duplicity, outcome record.

Used by the actions (through ``duplicity_actions``) and by the scheduled cron entries, which
call this file directly with the system python3::

    /usr/bin/python3 <charm>/lib/duplicity_runner.py \
        --spec /var/lib/charm-duplicity/<unit>/spec.json backup

Standard library only, no hook tools, no unitdata: it reads the spec and the secret
environment file the hooks rendered, so it keeps working while upgrade-charm rebuilds the
charm's virtualenv. The ``Runner`` only sequences operations; its parts are
``duplicity_process`` (running a child), ``duplicity_output`` (reading what duplicity said),
``duplicity_hooks`` (the principal's scripts), ``duplicity_archive`` (the archive cache),
``duplicity_restore`` (where root may restore) and ``duplicity_records`` (the outcome record).
"""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import duplicity_archive  # noqa: E402
import duplicity_helper  # noqa: E402
import duplicity_lock  # noqa: E402
import duplicity_restore  # noqa: E402
from duplicity_hooks import PrincipalHooks  # noqa: E402
from duplicity_output import (  # noqa: E402,F401  (the actions import these from here)
    MAX_LISTED_FILES, backups_table, classify_failure, deleted_count,
    parse_collection_status, parse_file_list, parse_statistics, partial_warning,
    real_differences, time_to_id, unreadable_files, verify_compared)
from duplicity_paths import UnitPaths, unit_slug  # noqa: E402
from duplicity_process import (  # noqa: E402,F401
    ID_FORMAT, MAX_MESSAGE, Busy, OperationError, Process, Unexpected, key_home, redact,
    stop_gpg_agent, unexpected_message, utcnow)
import duplicity_secrets  # noqa: E402
from duplicity_records import (  # noqa: E402
    BACKUP, LAST_ACTION, RETENTION, Outcome, RunnerSpec, record_outcome)
from duplicity_restore import check_in_place_path, check_restore_target  # noqa: E402,F401

RETENTION_LOCK_WAIT = 6 * 3600   # how long a scheduled retention run waits for a busy lock


def now():
    return utcnow().strftime(ID_FORMAT)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class Runner:
    """Runs operations for the unit described by ``spec`` (written by the hooks).

    ``process`` runs duplicity (``run(argv, env, deadline) -> Result``, duplicity_process):
    a unit test passes a fake one.
    """

    def __init__(self, spec, secret_env, *, process=None):
        self.spec = spec                  # a RunnerSpec: no secret value (see its docstring)
        self.settings = spec.settings
        self.secret_env = dict(secret_env or {})
        self.paths = UnitPaths.for_unit(spec.unit, root=spec.root)
        self.version = spec.version
        self.process = process or Process()
        self.hooks = PrincipalHooks(spec.hooks, spec.unit, spec.includes, self.log)
        self.last_run = {"returncode": None, "machine_log": "", "deadline": None}

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
        line = "{} {}\n".format(now(), redact(message, self.secrets()))
        fd = os.open(self.paths.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def lock(self, operation, wait=0):
        """The unit's operation lock (duplicity_lock.operation_lock); Busy when another
        operation still holds it after ``wait`` seconds."""
        return duplicity_lock.operation_lock(self.paths, self.spec.unit, operation, wait)

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
            "PATH": self.spec.path_env or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": "/root",
        }
        env.update(self.spec.proxy_env)
        return env

    def run_timeout(self):
        """The deadline of one duplicity run, in seconds (config run_timeout)."""
        return self.settings.run_timeout

    # ------------------------------------------------------------ running duplicity
    def argv(self, operation, ctx, **params):
        """duplicity's argv for one operation: the one place the runner builds it."""
        return duplicity_helper.build_argv(operation, self.settings, ctx, **params)

    def env(self, ctx):
        """duplicity's environment: the base, the secrets, the GnuPG home, the HOME."""
        return duplicity_helper.run_env(self.settings, self.base_env(), self.secret_env,
                                        ctx.gnupg_home, duplicity_helper.home_dir(self.settings, ctx))

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
            argv = self.argv(operation, ctx, **params)
            env = self.env(ctx)
            self.log("run: " + " ".join(argv))
            result = self.process.run(argv, env, deadline)
            with open(log_file, errors="replace") as f:
                machine_log = f.read()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(log_file)
        for line in result.output.splitlines():
            self.log("  " + line)
        if result.timed_out:
            self.log("stopped: the run passed its deadline of {}s (run_timeout)".format(
                deadline))
        self.log("exit {}".format(result.returncode))
        self.last_run = {"returncode": result.returncode, "machine_log": machine_log,
                         "deadline": deadline if result.timed_out else None}
        return result.returncode, result.output, machine_log

    def failure_reason(self, output):
        """classify_failure for the last duplicity run: its exit code, log and deadline."""
        last = self.last_run
        return classify_failure(output, self.secrets(), last["returncode"],
                                last["machine_log"], last["deadline"])

    def check(self, operation, ctx, **params):
        returncode, output, machine_log = self.duplicity(operation, ctx, **params)
        if returncode != 0:
            raise OperationError("{} failed: {}".format(operation, self.failure_reason(output)))
        return output, machine_log

    # ------------------------------------------------------------ outcome record
    def record(self, kind, outcome):
        """Store one Outcome as the latest of ``kind`` (duplicity_records.BACKUP, RETENTION,
        LAST_ACTION) in the unit's outcome record (duplicity_records.record_outcome)."""
        record_outcome(self.paths.status_file,
                       os.path.join(self.paths.state_dir, "record.lock"), kind, outcome)

    # ------------------------------------------------------------ the archive cache
    def _cache(self, unit=None):
        return duplicity_archive.cache_names(self.paths.archive_dir,
                                             unit_slug(unit or self.spec.unit))

    def newest_set(self, unit=None):
        """(backup-id, type) of the newest set in the local archive cache."""
        return duplicity_archive.newest_set(self._cache(unit))

    def interrupted_set(self, unit=None):
        """backup-id of the set whose backup was interrupted (its partial manifest is kept in
        the archive dir, so the next backup resumes it), or None."""
        return duplicity_archive.interrupted_set(self._cache(unit))

    def complete_time(self, time, unit=None):
        """The time to read backups at: as given, else the newest complete set when the last
        backup was interrupted. duplicity counts the interrupted set as the newest backup, and
        would restore or verify what of it was uploaded, the file being uploaded truncated."""
        newest = self.newest_set(unit) if not time and self.interrupted_set(unit) else None
        return newest[0] if newest else time

    # ------------------------------------------------------------ operations
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
        """Back up -> its Outcome, status "ok", "partial" (a set was written, but duplicity
        could not read some files: ``errors`` counts them, ``unreadable`` names a few) or
        "failed" (raised). A busy lock is refused (Busy) and not recorded."""
        outcome = Outcome("backup", now(), trigger="schedule" if scheduled else "action")
        try:
            with self.unexpected_as_failure("backup"), self.lock("backup"):
                outcome = self._backup(outcome, full)
                self.record(BACKUP, outcome)
                return outcome
        except OperationError as err:
            outcome = outcome.replace(status="failed", error=str(err)[:MAX_MESSAGE],
                                      type="full" if full else "incremental", end=now())
            if not isinstance(err, Busy):
                self.record(BACKUP, outcome)
            raise

    def _backup(self, outcome, full):
        """The backup itself, under the lock: hooks around duplicity, then the new set."""
        before = self.newest_set()
        force_full = os.path.exists(self.force_full_marker)
        full = full or force_full or self.settings.full_if_older_than == "always"
        with self.hooks.around("backup") as hooks, self.unexpected_as_failure("backup"):
            output, machine_log = self.check("backup", self.context(with_selection=True),
                                             full=full)
        newest = self.newest_set()
        if newest is None or newest == before:
            raise OperationError("backup finished but no new backup set was recorded")
        if force_full:
            os.unlink(self.force_full_marker)
        outcome = outcome.replace(status="ok", backup_id=newest[0], type=newest[1], end=now(),
                                  statistics=parse_statistics(output))
        warnings = []
        if outcome.errors:
            unreadable = unreadable_files(machine_log)
            outcome = outcome.replace(status="partial", unreadable=tuple(unreadable))
            warnings.append(partial_warning(outcome.errors, unreadable))
        if hooks.after_error:
            warnings.append(hooks.after_error)
        return outcome.replace(warning="; ".join(warnings)[:MAX_MESSAGE])

    def retention(self, wait=None):
        """Remove chains older than retention_period -> its Outcome. Waits up to ``wait``
        seconds (RETENTION_LOCK_WAIT) for a busy lock (a long backup); still busy then, it is
        skipped (Busy), not recorded as failed."""
        wait = RETENTION_LOCK_WAIT if wait is None else wait
        older_than = self.settings.retention
        if not older_than:
            return Outcome("retention", now(), status="ok",
                           skipped="retention_period is manual")
        outcome = Outcome("retention", now(), older_than=older_than)
        try:
            with self.unexpected_as_failure("retention"), self.lock("retention", wait=wait):
                self.check("remove-older-than", self.context(), time=outcome.older_than)
        except Busy:
            raise
        except OperationError as err:
            self.record(RETENTION, outcome.replace(status="failed",
                                                   error=str(err)[:MAX_MESSAGE]))
            raise
        outcome = outcome.replace(status="ok")
        self.record(RETENTION, outcome)
        return outcome

    def recorded(self, operation, fn):
        """Run fn under the lock and record the outcome of this action."""
        outcome = Outcome(operation, now())
        try:
            with self.unexpected_as_failure(operation), self.lock(operation):
                result = fn()
        except OperationError as err:
            if not isinstance(err, Busy):
                self.record(LAST_ACTION, outcome.replace(status="failed",
                                                         error=str(err)[:MAX_MESSAGE]))
            raise
        self.record(LAST_ACTION, outcome.replace(status="ok"))
        return result

    def gnupg_home(self, private_key_file):
        """A temporary GnuPG home holding the given private key (duplicity_process.key_home)."""
        return key_home(private_key_file, self.paths.state_dir)

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
                _, output, _ = self.duplicity(
                    "verify", ctx, time=self.complete_time(time, source_unit),
                    compare_data=compare_data)
            compared = verify_compared(output)
            if compared is None:
                raise OperationError("verify failed: " + self.failure_reason(output))
            differences = real_differences(output, self.spec.includes)
            return {"files-compared": compared, "differences": len(differences),
                    "result": "ok" if not differences else "differences found",
                    "difference-list": "\n".join(differences[:MAX_LISTED_FILES])}
        return self.recorded("verify", run)

    def remove(self, operation, **params):
        def run():
            output, _ = self.check(operation, self.context(), **params)
            return {"result": "ok", "output-lines": str(len(output.splitlines())),
                    "deleted": str(deleted_count(output))}
        return self.recorded(operation, run)

    def cleanup(self):
        def run():
            self.check("cleanup", self.context())
            return {"result": "ok"}
        return self.recorded("cleanup", run)

    # ------------------------------------------------------------ restore
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
                    raise OperationError("restore failed: {}".format(
                        duplicity_restore.shown_value(err)))
        return self.recorded("restore", run)

    def _restore_to(self, ctx, path, time, target):
        """Restore into a fresh root-only staging directory, then move what was restored into
        ``target`` (new or empty; default: a new directory in the unit's restore area) by
        renames relative to its checked directory descriptor."""
        staged = duplicity_restore.stage_for_target(
            target or duplicity_restore.new_target(self.paths.restore_dir),
            self.paths.restore_dir)
        try:
            work, _ = self._restore_into(ctx, staged.stage, path, time)
            files = duplicity_restore.count_files(work)
            duplicity_restore.deliver(staged, work)
        finally:
            shutil.rmtree(staged.stage, ignore_errors=True)
        return {"target": staged.target, "files": files}

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
            if "not found in archive" in output:
                raise OperationError("path {} is not in the backup{}".format(
                    path, " at " + time if time else ""))
            raise OperationError("restore failed: " + self.failure_reason(output))
        return work, dest

    def _restore_in_place(self, ctx, path, time):
        """Restore ``path`` to its original place, the principal's restore hooks around it:
        into a root-only staging directory on the same filesystem, then rename the original
        to ``<path>.pre-restore-<backup-id>`` and the staged copy into place, both relative
        to the checked parent's descriptor."""
        original, stage = duplicity_restore.stage_in_place(path, self.paths.restore_dir)
        try:
            with self.hooks.around("restore") as hooks:
                _, staged = self._restore_into(ctx, stage, path, time)
                set_id = time_to_id(time) or (self.newest_set(ctx.unit) or ("latest",))[0]
                files = duplicity_restore.count_files(staged)
                kept = duplicity_restore.swap_into_place(staged, original, set_id)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if hooks.after_error:
            self.log(hooks.after_error)
        out = {"target": original, "files": files}
        if kept:
            out["previous"] = kept
        return out


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
                                                  json.dumps(outcome.to_json(), sort_keys=True)))
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
