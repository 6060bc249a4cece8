"""Requires side of the ``backup`` interface: the principal charm's view.

A charm with files to back up requires ``backup`` and declares what to back
up and which scripts to run around backups and restores.  The declaration
goes into this charm's *application* databag, as plain strings (compatible
with the ``backup`` relation of Canonical's backup charms, bacula-fd and
backup-integrator), so only the **leader** writes it:

``fileset``
    comma-separated absolute paths to back up (required; written sorted
    and deduplicated).
``run-before-backup``, ``run-after-backup``, ``run-before-restore``, ``run-after-restore``
    absolute paths of executables on this charm's machines (optional).  A
    failing ``run-before-*`` cancels the backup or restore; ``run-after-*``
    runs whether it succeeded or not.  A path inside the leader's charm
    directory (``/var/lib/juju/agents/unit-<app>-<n>/charm/...``) is mapped
    by the backup charm to the unit on its own machine, so scripts shipped
    with the charm can be named with ``hookenv.charm_dir()``.

The backup charm may publish in its unit databag ``last-backup-time`` (ISO
8601 UTC), ``last-backup-status`` (``ok`` or ``failed``) and
``last-backup-type``; see :meth:`BackupRequires.last_backup`.

Flags (``{endpoint_name}`` is the name of the relation in metadata.yaml,
normally ``backup``):

* ``endpoint.{endpoint_name}.joined``
  Set by charms.reactive while a backup unit is related (for a
  container-scoped relation: the one on this machine); cleared by
  charms.reactive when it departs.  Never clear it yourself.  React to it
  by calling :meth:`BackupRequires.declare` (it is idempotent, writes only
  on the leader and only what changed, so it can run in every hook).

* ``endpoint.{endpoint_name}.backup-status-changed``
  Set by this layer when what :meth:`BackupRequires.last_backup` returns
  changed since the last time the layer evaluated it (also on the very
  first evaluation).  Cleared by the **charm** when handled::

      clear_flag('endpoint.backup.backup-status-changed')

* ``endpoint.{endpoint_name}.departed``
  Set by charms.reactive when a backup unit departs; cleared by the
  **charm** when handled.

The framework's ``endpoint.{endpoint_name}.changed`` and
``endpoint.{endpoint_name}.changed.<key>`` (remote unit data) are not part
of this interface's API; use ``backup-status-changed``.

The flags are evaluated in the hooks of this endpoint's relations (and in
the first hook of a unit).
"""

from charmhelpers.core import hookenv
from charms.reactive import Endpoint
from charms.reactive.flags import set_flag
from charms.reactive.helpers import data_changed

from .provides import (
    FILESET_KEY,
    HOOK_KEYS,
    STATUS_KEYS,
    normalize_path,
    parse_fileset,
    parse_hook_path,
    path_problem,
)

__all__ = [
    'BackupRequires',
    'InvalidDeclaration',
    'build_app_data',
    'parse_status',
]


class InvalidDeclaration(ValueError):
    """Raised by :meth:`BackupRequires.declare` on invalid input.

    ``problems`` lists every message.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__('; '.join(self.problems))


def _fileset_paths(fileset):
    """``(paths, problems)`` for a comma-separated string or an iterable."""
    if fileset is None or isinstance(fileset, str):
        return parse_fileset(fileset)
    paths, problems = set(), []
    for item in fileset:
        item = str(item) if hasattr(item, '__fspath__') else item
        problem = path_problem(item)
        if problem:
            problems.append(f'fileset entry {item!r} {problem}')
        else:
            paths.add(normalize_path(item))
    if not paths and not problems:
        problems.append('fileset is empty')
    return sorted(paths), problems


def build_app_data(fileset, run_before_backup=None, run_after_backup=None,
                   run_before_restore=None, run_after_restore=None):
    """The application databag for a declaration, and its problems.

    Args:
        fileset: comma-separated string, or iterable of path strings
            (``pathlib.Path`` accepted).
        run_*: absolute path (str or ``pathlib.Path``) or ``None``.

    Returns:
        ``(data, problems)``: ``data`` has ``fileset`` (sorted, unique,
        comma-joined) and each hook key that is set; all values are strings.
    """
    paths, problems = _fileset_paths(fileset)
    data = {FILESET_KEY: ','.join(paths)} if paths else {}
    hooks = (run_before_backup, run_after_backup,
             run_before_restore, run_after_restore)
    for key, value in zip(HOOK_KEYS, hooks):
        if value is not None and hasattr(value, '__fspath__'):
            value = str(value)
        path, problem = parse_hook_path(key, value)
        if problem:
            problems.append(problem)
        elif path:
            data[key] = path
    return data, problems


def parse_status(unit_data):
    """The last-backup status published in one backup unit's databag.

    Returns:
        ``{'time': ..., 'status': ..., 'type': ...}`` (values as published,
        missing ones ``None``), or ``None`` if none of the keys is set.
    """
    unit_data = unit_data or {}
    values = [unit_data.get(key) or None for key in STATUS_KEYS]
    if not any(values):
        return None
    return dict(zip(('time', 'status', 'type'), values))


class BackupRequires(Endpoint):
    """The principal charm's endpoint (see the module docstring for flags)."""

    def manage_flags(self):
        """Toggle this layer's flags (called by charms.reactive)."""
        if data_changed(self.expand_name('last-backup'), self.last_backup()):
            set_flag(self.expand_name('backup-status-changed'))

    def declare(self, fileset, run_before_backup=None, run_after_backup=None,
                run_before_restore=None, run_after_restore=None):
        """Declare what to back up, on every relation of this endpoint.

        Only the leader writes (the data is application data); on other
        units this does nothing.  Keys already holding the wanted value are
        not rewritten; hook keys no longer declared are removed.  Call it
        again whenever a relation joins or the declaration changes.

        Returns:
            True on the leader (the declaration is in place on every current
            relation), False on a non-leader (nothing written).

        Raises:
            InvalidDeclaration: when a path is not absolute and sane (see
                ``provides.path_problem``) or the fileset is empty; nothing
                is written then.
        """
        data, problems = build_app_data(
            fileset, run_before_backup, run_after_backup,
            run_before_restore, run_after_restore)
        if problems:
            raise InvalidDeclaration(problems)
        if not hookenv.is_leader():
            return False
        for relation in self.relations:
            published = relation.to_publish_app_raw
            for key in (FILESET_KEY,) + HOOK_KEYS:
                wanted = data.get(key, '')
                if (published.get(key) or '') != wanted:
                    # an empty string removes the key
                    published[key] = wanted
        return True

    def last_backup(self):
        """The latest backup outcome published by a related backup unit.

        Returns:
            ``None`` when no backup unit published anything, otherwise
            ``{'unit': 'duplicity/0', 'time': '2024-05-01T03:04:05Z',
            'status': 'ok' | 'failed', 'type': 'full' | ...}`` (all strings,
            a missing one ``None``).  With several backup units (e.g. two
            backup charms), the one with the latest ``time``.
        """
        found = []
        for unit in self.all_joined_units:
            status = parse_status(unit.received_raw)
            if status is not None:
                status['unit'] = unit.unit_name
                found.append(status)
        if not found:
            return None
        return max(found, key=lambda s: (s['time'] or '', s['unit']))
