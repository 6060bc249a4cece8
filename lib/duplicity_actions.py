"""The charm's actions: parameter validation, then one runner operation each.

``main(name)`` is what every ``actions/<name>`` script calls. Parameter problems fail the
action with a message naming the parameter; operation failures fail it with the runner's
secret-free reason. Nothing here changes a backup unless the action asks for it.
"""

import os
import re
import traceback

from duplicity_runner import (MAX_LISTED_FILES, MAX_MESSAGE, ID_FORMAT, OperationError, Runner,
                              backups_table, check_in_place_path, check_restore_target,
                              unexpected_message, utcnow)
import duplicity_charm
import duplicity_helper
from duplicity_secrets import shown  # parameters here are never secrets
from duplicity_records import LAST_ACTION, STATISTICS, Outcome  # STATISTICS: duplicity's names

# Used with re.fullmatch (a trailing newline never passes), ASCII digits only.
_UNIT = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*/[0-9]{1,9}")  # Juju names


class ParamError(Exception):
    pass


def check_time(name, value):
    """A duplicity time string (or a backup-id); returns it or raises ParamError.

    A number (upstream's remove-older-than took one and handed it to duplicity, which reads a
    bare number as seconds since the epoch) is accepted as a whole number of seconds.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, (int, float)) and (
            value != value or value in (float("inf"), float("-inf")) or value < 0
            or value != int(value))):
        raise ParamError("{} {} is not a time duplicity understands: a number is read as whole "
                         "seconds since the epoch (e.g. 1665058250)".format(name, shown(value)))
    if isinstance(value, (int, float)):
        value = str(int(value))
    if not duplicity_helper.is_time(value):
        raise ParamError("{} {} is not a time duplicity understands: use a backup-id from "
                         "list-backups (2026-11-27T02:00:00Z), a date (2026-11-27), an interval "
                         "(3D, 12h, 2W) or now".format(name, shown(value)))
    return value


def check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError("{} must be a whole number of at least 1, not {}".format(
            name, shown(value)))
    return value


def check_unit(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _UNIT.fullmatch(value):
        raise ParamError("source-unit {} is not a unit name such as duplicity/0".format(
            shown(value)))
    return value


def check_key_file(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\0" in value or not os.path.isabs(value) or \
            not os.path.isfile(value):
        raise ParamError("private-key-file {} is not an existing file on the unit (give an "
                         "absolute path)".format(shown(value, 80)))
    return value


def check_path(value):
    """A path inside the backup, relative to its root: no '..', NUL or line breaks, so that
    ``target/<path>`` stays inside the target."""
    if not value:
        return None
    value = str(value)
    bad = ParamError("path {} is not a path inside the backup (as list-current-files "
                     "shows it, e.g. srv/app/data.db)".format(shown(value)))
    if any(c in value for c in "\0\n\r"):
        raise bad
    path = value.strip().strip("/")
    parts = path.split("/")
    if not path or ".." in parts or "." in parts:
        raise bad
    inside = os.path.normpath(os.path.join("/target", path))
    if not inside.startswith("/target/"):
        raise bad
    return path


def check_target(value):
    """A new or empty directory root may restore into (duplicity_runner.check_restore_target:
    no symbolic link on its path, it and every directory above it root's alone)."""
    if not value:
        return None
    try:
        return check_restore_target(value)
    except OperationError as err:
        raise ParamError(str(err))


MAX_OUTPUT = 2000


def backup_output(outcome):
    """The upstream charm's only do-backup result, "output": here a short summary and
    duplicity's statistics block (ids and numbers only: never a path, URL or secret)."""
    lines = ["{} backup {}".format(outcome.type, outcome.backup_id),
             "--------------[ Backup Statistics ]--------------"]
    lines += ["{} {}".format(name, outcome.statistics[key]) for key, name in STATISTICS
              if key in outcome.statistics]
    lines.append("-------------------------------------------------")
    return "\n".join(lines)[:MAX_OUTPUT]


def do_backup(runner, params):
    outcome = runner.backup(full=bool(params.get("full")))
    results = dict(outcome.statistics, **{"backup-type": outcome.type,
                                          "backup-id": outcome.backup_id,
                                          "status": outcome.status})
    if outcome.warning:
        results["warning"] = outcome.warning
    if outcome.unreadable:
        results["unreadable"] = "\n".join(outcome.unreadable)
    results["output"] = backup_output(outcome)
    return results


def list_backups(runner, params):
    sets = runner.list_backups(check_unit(params.get("source-unit")))
    complete = [s for s in sets if not s.get("interrupted")]
    results = {"backups": backups_table(complete), "count": len(complete)}
    for s in sets:
        if s.get("interrupted"):
            results["interrupted"] = (
                "{} ({}, {} volumes uploaded): interrupted before it completed, so not "
                "listed and not restorable; the next do-backup or scheduled backup resumes "
                "it".format(s["backup-id"], s["backup-type"], s["volumes"]))
    return results


def list_current_files(runner, params):
    time = check_time("time", params.get("time"))
    unit = check_unit(params.get("source-unit"))
    key = check_key_file(params.get("private-key-file"))
    files = runner.list_files(time, unit, key)
    listing = os.path.join(runner.paths.state_dir, "list-current-files.txt")
    duplicity_charm.write_atomic(listing, "\n".join(files) + "\n", 0o600)
    results = {"files": "\n".join(files[:MAX_LISTED_FILES]), "count": len(files),
               "full-list": listing}
    if len(files) > MAX_LISTED_FILES:
        results["truncated"] = "first {} of {} shown; all in {}".format(
            MAX_LISTED_FILES, len(files), listing)
    return results


def restore(runner, params):
    path = check_path(params.get("path"))
    time = check_time("time", params.get("time"))
    in_place = bool(params.get("in-place"))
    target = check_target(params.get("target"))
    unit = check_unit(params.get("source-unit"))
    key = check_key_file(params.get("private-key-file"))
    if in_place and not path:
        raise ParamError("in-place needs path: name what to put back (one path inside the "
                         "backup); nothing was changed")
    if in_place and target:
        raise ParamError("target and in-place exclude each other: in-place restores to the "
                         "original location")
    if in_place:
        try:
            check_in_place_path(path)
        except OperationError as err:
            raise ParamError(str(err))
    return runner.restore(path=path, time=time, target=target, in_place=in_place,
                          source_unit=unit, private_key_file=key)


def verify(runner, params):
    time = check_time("time", params.get("time"))
    unit = check_unit(params.get("source-unit"))
    key = check_key_file(params.get("private-key-file"))
    return runner.verify(time, bool(params.get("compare-data")), unit, key)


def remove_older_than(runner, params):
    if not params.get("time"):
        raise ParamError("time is required, e.g. 30D")
    return runner.remove("remove-older-than", time=check_time("time", params["time"]))


def remove_all_but_n_full(runner, params):
    return runner.remove("remove-all-but-n-full", count=check_count("count", params.get("count")))


def remove_all_inc_of_but_n_full(runner, params):
    return runner.remove("remove-all-inc-of-but-n-full",
                         count=check_count("count", params.get("count")))


def cleanup(runner, params):
    return runner.cleanup()


ACTIONS = {
    "do-backup": do_backup,
    "list-backups": list_backups,
    "list-current-files": list_current_files,
    "restore": restore,
    "verify": verify,
    "remove-older-than": remove_older_than,
    "remove-all-but-n-full": remove_all_but_n_full,
    "remove-all-inc-of-but-n-full": remove_all_inc_of_but_n_full,
    "cleanup": cleanup,
}


def run(name, params, spec_file):
    """(results, failure message): exactly one of them is None. Never raises: an error
    nobody foresaw fails the action with a short, secret-free message (the traceback goes to
    the unit's root-only log) and is recorded as the last action's outcome."""
    runner = None
    try:
        runner = Runner.from_files(spec_file)
        return ACTIONS[name](runner, params), None
    except ParamError as err:
        return None, str(err)[:MAX_MESSAGE]
    except OperationError as err:
        message = str(err)
        if not message.startswith(name + " failed"):  # the runner may have said so already
            message = "{} failed: {}".format(name, message)
        return None, message[:MAX_MESSAGE]
    except Exception as err:
        secrets = runner.secrets() if runner is not None else ()
        message = "{} failed: {}".format(name, unexpected_message(err, secrets))[:MAX_MESSAGE]
        if runner is not None:
            try:
                runner.log("{}: unexpected error\n{}".format(name, traceback.format_exc()))
                runner.record(LAST_ACTION, Outcome(name, utcnow().strftime(ID_FORMAT),
                                                   status="failed", error=message))
            except Exception:
                pass
        return None, message


def main(name):
    from charmhelpers.core import hookenv

    os.umask(0o077)
    try:
        params = hookenv.action_get() or {}
        spec_file = duplicity_charm.unit_paths().spec_file
    except Exception as err:
        hookenv.action_fail("{} failed: {}".format(name, unexpected_message(err))[:MAX_MESSAGE])
        return 0
    results, failure = run(name, params, spec_file)
    if failure:
        hookenv.action_fail(failure)
    else:
        hookenv.action_set({k: str(v) for k, v in results.items()})
    return 0
