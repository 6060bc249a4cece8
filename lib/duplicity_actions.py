"""The charm's actions: parameter validation, then one runner operation each.

``main(name)`` is what every ``actions/<name>`` script calls. Parameter problems fail the
action with a message naming the parameter; operation failures fail it with the runner's
secret-free reason. Nothing here changes a backup unless the action asks for it.
"""

import os
import re

from duplicity_runner import MAX_LISTED_FILES, OperationError, Runner, backups_table
import duplicity_charm

_UNIT = re.compile(r"^[a-z][a-z0-9-]*/\d+$")
_TIME_PATTERNS = [
    r"now",
    r"\d+",                                                    # seconds since the epoch
    r"(\d+[smhDWMY])+",                                        # an interval before now
    r"\d{4}-\d\d-\d\d",
    r"\d{4}/\d\d/\d\d",
    r"\d\d/\d\d/\d{4}",
    r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(Z|[+-]\d\d:\d\d)?",    # ISO 8601, backup-ids
]


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
            value < 0 or value != int(value))):
        raise ParamError("{} {!r} is not a time duplicity understands: a number is read as whole "
                         "seconds since the epoch (e.g. 1665058250)".format(name, value))
    if isinstance(value, (int, float)):
        value = str(int(value))
    if not any(re.fullmatch(p, value) for p in _TIME_PATTERNS):
        raise ParamError("{} {!r} is not a time duplicity understands: use a backup-id from "
                         "list-backups (2026-11-27T02:00:00Z), a date (2026-11-27), an interval "
                         "(3D, 12h, 2W) or now".format(name, value))
    return value


def check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError("{} must be a whole number of at least 1, not {!r}".format(name, value))
    return value


def check_unit(value):
    if not value:
        return None
    if not _UNIT.match(value):
        raise ParamError("source-unit {!r} is not a unit name such as duplicity/0".format(value))
    return value


def check_key_file(value):
    if not value:
        return None
    if not os.path.isabs(value) or not os.path.isfile(value):
        raise ParamError("private-key-file {!r} is not an existing file on the unit (give an "
                         "absolute path)".format(value))
    return value


def check_path(value):
    if not value:
        return None
    path = value.strip().strip("/")
    if not path or ".." in path.split("/") or "\n" in path:
        raise ParamError("path {!r} is not a path inside the backup (as list-current-files "
                         "shows it, e.g. srv/app/data.db)".format(value))
    return path


def check_target(value):
    if not value:
        return None
    if not os.path.isabs(value):
        raise ParamError("target {!r} must be an absolute path".format(value))
    if os.path.lexists(value) and not os.path.isdir(value):
        raise ParamError("target {} exists and is not a directory: give a new or empty "
                         "directory".format(value))
    if os.path.isdir(value) and os.listdir(value):
        raise ParamError("target {} is not empty: give a new or empty directory (existing "
                         "files are never overwritten)".format(value))
    return value


# duplicity's names for the statistics lines, for the upstream-compatible "output" result
STATISTICS = (("elapsed-time", "ElapsedTime"), ("source-files", "SourceFiles"),
              ("source-file-size", "SourceFileSize"), ("new-files", "NewFiles"),
              ("changed-files", "ChangedFiles"), ("deleted-files", "DeletedFiles"),
              ("destination-size-change", "TotalDestinationSizeChange"), ("errors", "Errors"))
MAX_OUTPUT = 2000


def backup_output(outcome):
    """The upstream charm's only do-backup result, "output": here a short summary and
    duplicity's statistics block (ids and numbers only: never a path, URL or secret)."""
    lines = ["{} backup {}".format(outcome["type"], outcome["backup-id"]),
             "--------------[ Backup Statistics ]--------------"]
    lines += ["{} {}".format(name, outcome[key]) for key, name in STATISTICS if key in outcome]
    lines.append("-------------------------------------------------")
    return "\n".join(lines)[:MAX_OUTPUT]


def do_backup(runner, params):
    outcome = runner.backup(full=bool(params.get("full")))
    results = {"backup-type": outcome["type"], "backup-id": outcome["backup-id"]}
    for key in ("elapsed-time", "source-files", "source-file-size", "new-files", "changed-files",
                "deleted-files", "destination-size-change", "errors", "warning"):
        if key in outcome:
            results[key] = outcome[key]
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
    """(results, failure message): exactly one of them is None."""
    try:
        runner = Runner.from_files(spec_file)
        return ACTIONS[name](runner, params), None
    except ParamError as err:
        return None, str(err)
    except OperationError as err:
        message = str(err)
        if not message.startswith(name + " failed"):  # the runner may have said so already
            message = "{} failed: {}".format(name, message)
        return None, message


def main(name):
    from charmhelpers.core import hookenv

    os.umask(0o077)
    results, failure = run(name, hookenv.action_get() or {},
                           duplicity_charm.unit_paths().spec_file)
    if failure:
        hookenv.action_fail(failure)
    else:
        hookenv.action_set({k: str(v) for k, v in results.items()})
    return 0
