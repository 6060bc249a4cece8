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
from typing import TYPE_CHECKING, Dict, Optional, Tuple

if TYPE_CHECKING:  # at run time from_json imports it: the NRPE plugin imports this module alone
    from duplicity_settings import DuplicitySettings


# ---------------------------------------------------------------------------------------------
# RunnerSpec (owned by the settings work: the non-secret part of Settings, explicitly)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunnerSpec:
    """Everything a run needs except the secrets: ``<state_dir>/spec.json``.

    It holds no secret value, by construction: ``settings`` is a DuplicitySettings, whose
    fields say whether a secret is set, never what it is; every other field is a path, a
    name or a version. A builder given a RunnerSpec therefore cannot read a secret: the
    runner reads those from the unit's root-only env file (duplicity_secrets names them).
    """
    unit: str
    settings: "DuplicitySettings"
    duplicity: str = "duplicity"       # the binary the hooks found
    version: tuple = ()                # its version
    encrypt_key: str = ""              # fingerprint of the imported gpg_public_key
    includes: tuple = ()               # absolute paths to back up
    excludes: tuple = ()               # exclude_paths patterns
    hooks: dict = dataclasses.field(default_factory=dict)      # run-* kind -> script paths
    proxy_env: dict = dataclasses.field(default_factory=dict)  # the model's proxy settings
    path_env: str = ""                 # the hooks' PATH
    root: str = "/"                    # unit tests only: where UnitPaths are rooted

    def to_json(self):
        data = {
            "unit": self.unit, "settings": self.settings.to_dict(),
            "duplicity": self.duplicity, "version": list(self.version),
            "encrypt_key": self.encrypt_key, "includes": list(self.includes),
            "excludes": list(self.excludes),
            "hooks": {kind: list(paths) for kind, paths in sorted(self.hooks.items())},
            "proxy_env": dict(self.proxy_env), "path_env": self.path_env,
        }
        if self.root != "/":
            data["root"] = self.root
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text):
        """The RunnerSpec of to_json's text; ValueError (or TypeError) when it is not one."""
        from duplicity_settings import DuplicitySettings  # see TYPE_CHECKING above
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("unit"), str):
            raise ValueError("not a runner spec (no unit)")
        hooks = data.get("hooks") or {}
        if not isinstance(hooks, dict) or not all(isinstance(v, list) for v in hooks.values()):
            raise ValueError("hooks is not a mapping of lists")
        return cls(unit=data["unit"], settings=DuplicitySettings.from_dict(data.get("settings")),
                   duplicity=str(data.get("duplicity") or "duplicity"),
                   version=tuple(int(x) for x in data.get("version") or ()),
                   encrypt_key=str(data.get("encrypt_key") or ""),
                   includes=tuple(str(p) for p in data.get("includes") or ()),
                   excludes=tuple(str(p) for p in data.get("excludes") or ()),
                   hooks={str(k): tuple(str(p) for p in v) for k, v in hooks.items()},
                   proxy_env={str(k): str(v) for k, v in (data.get("proxy_env") or {}).items()},
                   path_env=str(data.get("path_env") or ""), root=str(data.get("root") or "/"))



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
