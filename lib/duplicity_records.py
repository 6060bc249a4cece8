"""The typed files that cross process boundaries (stdlib only: the cron runner and the NRPE
plugin use the system python3, which may be 3.8).

- ``RunnerSpec``: ``<state_dir>/spec.json``, written by the hooks, read by the runner and the
  actions: everything a run needs except the secrets.
- ``Outcome``: one entry of ``/var/lib/charm-duplicity/status/<slug>.json``, written by the
  runner, read by the hooks (status, relation data) and the NRPE plugin.

Each class has ``to_json()`` and ``from_json()``; nothing else reads or writes these files' keys.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
from typing import Dict, Optional, Tuple


# ---------------------------------------------------------------------------------------------
# RunnerSpec (owned by the settings work: the non-secret part of Settings, explicitly)
# ---------------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------------
# Outcome (owned by the runner work: the record of one operation's result)
# ---------------------------------------------------------------------------------------------

# a backup's statistics: (record key, duplicity's name in its 'Backup Statistics' block)
STATISTICS = (("elapsed-time", "ElapsedTime"), ("source-files", "SourceFiles"),
              ("source-file-size", "SourceFileSize"), ("new-files", "NewFiles"),
              ("changed-files", "ChangedFiles"), ("deleted-files", "DeletedFiles"),
              ("destination-size-change", "TotalDestinationSizeChange"), ("errors", "Errors"))
_STATISTIC_KEYS = tuple(key for key, _ in STATISTICS)

# Outcome field -> record key, where they differ (the record's keys are hyphenated)
_KEYS = {"backup_id": "backup-id", "older_than": "older-than"}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The record of one operation: what ran, when, and how it ended.

    ``status`` is "ok", "partial" (a backup set was written without some files duplicity
    could not read) or "failed"; ``error`` says why a failed one failed, ``warning`` what an
    ok or partial one should tell. Every text in it is secret-free and capped by the runner.
    """
    operation: str
    time: str
    status: str = ""
    trigger: str = ""          # backup: "schedule" or "action"
    type: str = ""             # backup: "full" or "incremental"
    backup_id: str = ""
    end: str = ""
    error: str = ""
    warning: str = ""
    unreadable: Tuple[str, ...] = ()
    older_than: str = ""       # retention: duplicity's interval
    skipped: str = ""          # why nothing ran (not recorded)
    statistics: Dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def failed(self):
        """Neither ok nor partial (an outcome without a status counts as failed)."""
        return self.status not in ("ok", "partial")

    @property
    def partial(self):
        return self.status == "partial"

    @property
    def finished(self):
        """When it ended (its start when the end was not recorded)."""
        return self.end or self.time

    @property
    def errors(self):
        """The number of files duplicity could not read (0 when it did not say)."""
        try:
            return int(self.statistics.get("errors") or 0)
        except ValueError:
            return 0

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self):
        """The record's JSON object: hyphenated keys, empty fields left out, the statistics
        beside the other keys."""
        data = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "statistics":
                data.update({k: v for k, v in value.items() if k in _STATISTIC_KEYS})
            elif field.name == "unreadable":
                if value or self.partial:
                    data["unreadable"] = list(value)
            elif value:
                data[_KEYS.get(field.name, field.name)] = value
        return data

    @classmethod
    def from_json(cls, data):
        """The outcome a record entry holds; None when it is not a JSON object. Unknown keys
        are ignored and a value of the wrong type reads as empty, so an older or damaged
        record never breaks a reader."""
        if not isinstance(data, dict):
            return None
        values = {}
        for field in dataclasses.fields(cls):
            key = _KEYS.get(field.name, field.name)
            if field.name == "statistics":
                values[field.name] = {k: _text(data[k]) for k in _STATISTIC_KEYS if k in data}
            elif field.name == "unreadable":
                value = data.get(key)
                values[field.name] = tuple(_text(v) for v in value) if isinstance(
                    value, list) else ()
            else:
                values[field.name] = _text(data.get(key, ""))
        return cls(**values)


def _text(value):
    return value if isinstance(value, str) else "" if value is None else str(value)


# the status file's keys, one per kind of outcome
BACKUP, RETENTION, LAST_ACTION, LAST_SUCCESS = "backup", "retention", "last-action", "last-success"
_RECORD_KEYS = {"backup": BACKUP, "retention": RETENTION, "last_action": LAST_ACTION,
                "last_success": LAST_SUCCESS}


@dataclasses.dataclass(frozen=True)
class StatusRecord:
    """``/var/lib/charm-duplicity/status/<slug>.json``: the unit's last backup, the last
    successful one (ok only: a partial backup is not a success), the last retention run and
    the last action's outcome."""
    backup: Optional[Outcome] = None
    retention: Optional[Outcome] = None
    last_action: Optional[Outcome] = None
    last_success: Optional[Outcome] = None

    def with_outcome(self, kind, outcome):
        """This record with ``outcome`` as the latest of ``kind`` (BACKUP, RETENTION or
        LAST_ACTION); an ok backup becomes the last success too."""
        field = {v: k for k, v in _RECORD_KEYS.items()}[kind]
        changes = {field: outcome}
        if kind == BACKUP and outcome.status == "ok":
            changes["last_success"] = outcome
        return dataclasses.replace(self, **changes)

    def to_json(self):
        return {key: getattr(self, field).to_json() for field, key in _RECORD_KEYS.items()
                if getattr(self, field) is not None}

    @classmethod
    def from_json(cls, data):
        data = data if isinstance(data, dict) else {}
        return cls(**{field: Outcome.from_json(data.get(key))
                      for field, key in _RECORD_KEYS.items()})

    @classmethod
    def read(cls, path):
        """The record in ``path``; empty when there is none. OSError and ValueError (an
        unreadable or damaged file) are raised: the caller says what that means."""
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        return cls.from_json(data)


def record_outcome(status_file, lock_file, kind, outcome):
    """Store ``outcome`` as the latest of ``kind`` in the StatusRecord at ``status_file``.
    Read-modify-write under a lock of its own (``lock_file``, not the operation lock: an
    action refused as busy, or an operation's end, may record while another operation runs),
    written atomically (0644: the NRPE plugin reads it as nagios). A record that cannot be
    read is replaced."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        directory = os.path.dirname(status_file)
        prefix = "." + os.path.basename(status_file) + "."
        for name in os.listdir(directory):   # a killed writer's temp file
            if name.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
        try:
            status = StatusRecord.read(status_file)
        except (OSError, ValueError):
            status = StatusRecord()
        write_json_atomic(status_file, status.with_outcome(kind, outcome).to_json(), 0o644)
    finally:
        os.close(fd)


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
