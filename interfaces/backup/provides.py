"""Provides side of the ``backup`` interface: the backup charm's view.

This side is used by the backup charm (duplicity), a subordinate related to
the principal application whose files it backs up.  The relation is
container-scoped, so each backup unit sees only the requirer unit(s) on its
own machine.  The requirer's leader publishes, in the requirer's
*application* databag, plain strings (no JSON):

``fileset``
    comma-separated absolute paths to back up (required).
``run-before-backup``, ``run-after-backup``, ``run-before-restore``, ``run-after-restore``
    absolute paths of executables on the requirer's machine (optional).

This side publishes in its own *unit* databag, on every relation, the
outcome of the last backup (requirers may ignore it):

``last-backup-time``
    ISO 8601 UTC, e.g. ``2024-05-01T03:04:05Z``.
``last-backup-status``
    ``ok`` or ``failed``.
``last-backup-type``
    e.g. ``full`` or ``incremental``.

Flags (``{endpoint_name}`` is the name of the relation in metadata.yaml,
normally ``backup``):

* ``endpoint.{endpoint_name}.joined``
  Set by charms.reactive while at least one remote unit is joined on any
  relation of this endpoint; cleared by charms.reactive when the last one
  departs.  Never clear it yourself.

* ``endpoint.{endpoint_name}.declared``
  Set by this layer while at least one related application has published
  backup data (a ``fileset`` or a hook script) in its application databag;
  cleared by this layer when none has.  Never clear it yourself.

* ``endpoint.{endpoint_name}.invalid``
  Set by this layer while the merged specification has problems (see
  :attr:`Spec.problems`); cleared by this layer once the requirers publish
  valid data or depart.  Never clear it yourself.  The charm is expected to
  block, showing the problems.

* ``endpoint.{endpoint_name}.spec-changed``
  Set by this layer when the merged specification (:meth:`spec`) differs
  from the one seen the previous time the layer evaluated it (change of app
  data, relation joined or departed; also on the very first evaluation).
  "Changed" is derived with ``charms.reactive.data_changed()`` because the
  framework's ``changed`` flags cover unit data only.  Cleared by the
  **charm** once it has acted on the new spec::

      clear_flag('endpoint.backup.spec-changed')

* ``endpoint.{endpoint_name}.departed``
  Set by charms.reactive when a remote unit departs; cleared by the
  **charm** when handled.  The layer already reflects the departure in
  :meth:`spec` and ``spec-changed``; most charms only need to clear it.

The framework also sets ``endpoint.{endpoint_name}.changed`` and
``endpoint.{endpoint_name}.changed.<key>`` for remote *unit* data.  Requirers
of this interface publish no unit data, so these flags are not part of this
interface's API.

The flags are evaluated in the hooks of this endpoint's relations (and in
the first hook of a unit), which is when the remote data can change; the
charm may call :meth:`BackupProvides.spec` in any hook.

Hook script paths: only the requirer's leader writes the application
databag, so a script may be named by a path inside the *leader's* charm
directory, ``/var/lib/juju/agents/unit-<app>-<n>/charm/...``.  Such a path
is mapped to the requirer unit on this machine (the remote unit of the
container-scoped relation, normally ``JUJU_PRINCIPAL_UNIT``); every mapping
is listed in :attr:`Spec.mappings` so the charm can log it.  Whether a
script exists and is executable is for the charm to check when it runs it.

Everything except :class:`BackupProvides` is a pure function of its
arguments and can be used (and tested) without Juju.
"""

import datetime
import os
import re
from collections import namedtuple

from charms.reactive import Endpoint
from charms.reactive.flags import set_flag, toggle_flag
from charms.reactive.helpers import data_changed

__all__ = [
    'BACKUP_STATUSES',
    'FILESET_KEY',
    'HOOK_KEYS',
    'STATUS_KEYS',
    'BackupProvides',
    'Hook',
    'Mapping',
    'RequirerData',
    'Spec',
    'is_sane_path',
    'map_hook_path',
    'merge_specs',
    'normalize_path',
    'parse_fileset',
    'parse_hook_path',
    'path_problem',
    'shown',
    'status_data',
]

FILESET_KEY = 'fileset'
HOOK_KEYS = (
    'run-before-backup',
    'run-after-backup',
    'run-before-restore',
    'run-after-restore',
)
STATUS_KEYS = ('last-backup-time', 'last-backup-status', 'last-backup-type')
BACKUP_STATUSES = ('ok', 'failed')

MAX_PATH_LENGTH = 4096
#: Longest echo of a declared value in a problem message.
MAX_SHOWN = 40
#: Problems reported per fileset; the rest are counted (a principal may publish
#: thousands of entries, and the problems end up in the unit's status).
MAX_FILESET_PROBLEMS = 3

# datetime.UTC needs Python 3.11; Ubuntu 22.04 has 3.10.
UTC = datetime.timezone.utc  # noqa: UP017

# Characters that mean something to duplicity's file selection (globbing,
# escaping) or to a shell.  Paths are always passed as argv items, never
# through a shell, but a declared path containing one of these is far more
# likely garbage than a real directory name, so it is refused.
_UNSAFE_CHARS = frozenset('*?[]\\$`;|&<>"\'')

_AGENT_CHARM_DIR = re.compile(
    r'^/var/lib/juju/agents/unit-(?P<app>[a-z][a-z0-9-]*)-(?P<num>[0-9]+)'
    r'(?P<rest>/charm(?:/.*)?)\Z')

#: A hook script to run: ``source`` names the relation and application that
#: declared it (e.g. ``backup:3 (postgresql)``), ``path`` is the (mapped)
#: absolute path to execute.
Hook = namedtuple('Hook', 'source path')

#: A hook path rewritten from the requirer leader's charm dir to the
#: requirer unit on this machine.
Mapping = namedtuple('Mapping', 'source key declared path')

#: One related application's published data.  ``unit`` is the requirer
#: unit on this machine that hook paths are mapped to (``None``: no mapping).
RequirerData = namedtuple('RequirerData', 'relation_id application data unit')
RequirerData.__new__.__defaults__ = (None,)


class Spec:
    """The merged, validated backup specification of every related requirer.

    Attributes:
        paths: sorted list of unique, normalised absolute paths to back up.
        hooks: dict mapping each of :data:`HOOK_KEYS` to a list of
            :class:`Hook` (in relation-id order; empty when none declared).
        problems: list of human-readable messages, each naming the relation,
            the application and the offending value.  Non-empty means the
            charm must not trust this spec (it blocks); ``paths`` and
            ``hooks`` then hold the valid entries only.
        mappings: list of :class:`Mapping` applied to hook paths.
        sources: labels (``backup:3 (postgresql)``) of the relations that
            published data.
        pending: labels of the relations joined whose application has not
            published anything yet.
    """

    def __init__(self, paths=(), hooks=None, problems=(), mappings=(),
                 sources=(), pending=()):
        self.paths = list(paths)
        self.hooks = {key: list((hooks or {}).get(key, ())) for key in HOOK_KEYS}
        self.problems = list(problems)
        self.mappings = list(mappings)
        self.sources = list(sources)
        self.pending = list(pending)

    @property
    def ok(self):
        """True when there are no problems."""
        return not self.problems

    @property
    def empty(self):
        """True when no path and no hook script is declared."""
        return not self.paths and not any(self.hooks.values())

    def to_dict(self):
        """A JSON-serialisable dict (stable, for ``data_changed`` and files)."""
        return {
            'paths': list(self.paths),
            'hooks': {key: [list(hook) for hook in hooks]
                      for key, hooks in self.hooks.items()},
            'problems': list(self.problems),
            'mappings': [list(m) for m in self.mappings],
            'sources': list(self.sources),
            'pending': list(self.pending),
        }

    def __eq__(self, other):
        if not isinstance(other, Spec):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self):
        return f'Spec({self.to_dict()!r})'


def shown(value, limit=MAX_SHOWN):
    """``repr(value)`` capped at ``limit`` characters, ending with '…' when cut."""
    text = repr(value)
    if len(text) > limit:
        text = text[:limit - 1] + '\u2026'
    return text


def _label(relation_id, application):
    return '{} ({})'.format(relation_id, application or '?')


def path_problem(path):
    """Why ``path`` is not an acceptable absolute path, or ``None`` if it is.

    Acceptable: a string starting with ``/``, without leading or trailing
    whitespace, control characters (newlines, tabs, ...), commas, ``.`` or
    ``..`` components, or characters special to duplicity's file selection
    or a shell (``* ? [ ] \\ $ ` ; | & < > " '``).  Repeated and trailing
    slashes are tolerated (see :func:`normalize_path`).  Nothing is checked
    on the filesystem.
    """
    if not isinstance(path, str):
        return 'is not a string'
    if not path:
        return 'is empty'
    if len(path) > MAX_PATH_LENGTH:
        return f'is longer than {MAX_PATH_LENGTH} characters'
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return 'contains a control character (newline, tab, ...)'
    if path != path.strip():
        return 'has leading or trailing whitespace'
    if not path.startswith('/'):
        return 'is not an absolute path'
    if ',' in path:
        return 'contains a comma'
    bad = sorted(set(path) & _UNSAFE_CHARS)
    if bad:
        return 'contains characters not allowed in a backup path: {}'.format(
            ' '.join(bad))
    if any(part in ('.', '..') for part in path.split('/')):
        return "contains a '.' or '..' component"
    return None


def is_sane_path(path):
    """True when :func:`path_problem` finds nothing wrong with ``path``."""
    return path_problem(path) is None


def normalize_path(path):
    """Collapse repeated slashes and drop a trailing slash (``/`` stays ``/``).

    ``path`` must already be acceptable to :func:`path_problem`.
    """
    path = re.sub('/+', '/', path)
    if len(path) > 1:
        path = path.rstrip('/')
    return path


def parse_fileset(text):
    """Parse a ``fileset`` value.

    Items are separated by commas; whitespace around an item and empty items
    are ignored (as the other implementations of this interface do).

    Returns:
        ``(paths, problems)``: the sorted list of unique normalised valid
        paths, and a list of messages about the invalid items (an empty or
        missing fileset is a problem too).
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return [], ['fileset is empty']
    if not isinstance(text, str):
        return [], [f'fileset is not a string: {shown(text)}']
    paths = set()
    problems = []
    for raw in text.split(','):
        item = raw.strip()
        if not item:
            continue
        problem = path_problem(item)
        if problem is None and re.search(r'\s/', item):
            problem = ('looks like several paths separated by whitespace '
                       '(separate paths with commas)')
        if problem:
            problems.append(f'fileset entry {shown(item)} {problem}')
        else:
            paths.add(normalize_path(item))
    if not paths and not problems:
        problems.append('fileset is empty')
    if len(problems) > MAX_FILESET_PROBLEMS:
        more = len(problems) - MAX_FILESET_PROBLEMS
        problems = problems[:MAX_FILESET_PROBLEMS] + [
            f'fileset has {more} more invalid entr{"y" if more == 1 else "ies"}']
    return sorted(paths), problems


def parse_hook_path(key, value):
    """Validate one hook script value.

    Returns:
        ``(path, problem)``: ``(None, None)`` when the value is unset or
        empty; ``(normalised path, None)`` when valid; ``(None, message)``
        otherwise.
    """
    if value is None or value == '':
        return None, None
    problem = path_problem(value)
    if problem:
        return None, f'{key} {shown(value)} {problem}'
    return normalize_path(value), None


def map_hook_path(path, unit_name):
    """Map a path inside a unit's charm dir to ``unit_name``'s charm dir.

    ``/var/lib/juju/agents/unit-app-0/charm/hooks/x`` becomes
    ``/var/lib/juju/agents/unit-app-3/charm/hooks/x`` for ``unit_name``
    ``app/3``.  Paths outside an agent's charm directory, paths of another
    application's units, and calls without ``unit_name`` return ``path``
    unchanged.
    """
    if not unit_name or '/' not in unit_name:
        return path
    match = _AGENT_CHARM_DIR.match(path)
    if not match:
        return path
    app, num = unit_name.split('/', 1)
    if match.group('app') != app:
        return path
    return '/var/lib/juju/agents/unit-{}-{}{}'.format(
        app, num, match.group('rest'))


def merge_specs(entries):
    """Merge the data published by several requirers into one :class:`Spec`.

    Args:
        entries: iterable of :class:`RequirerData` (or 3- or 4-tuples
            ``(relation_id, application, data[, unit])``), ``data`` being the
            application databag as a dict of strings.

    Relations are processed in relation-id order; hook scripts of every
    requirer are kept (a path declared twice for one kind runs once).
    Unknown keys are ignored.  A relation whose databag has none of the
    known keys is *pending*, not a problem.
    """
    def order(entry):
        rid = entry.relation_id
        name, _, num = rid.rpartition(':')
        return (name, int(num) if num.isdigit() else -1, rid)

    entries = sorted((RequirerData(*e) for e in entries), key=order)
    paths = set()
    hooks = {key: [] for key in HOOK_KEYS}
    problems, mappings, sources, pending = [], [], [], []
    for entry in entries:
        label = _label(entry.relation_id, entry.application)
        data = dict(entry.data or {})
        if not any(data.get(k) for k in (FILESET_KEY,) + HOOK_KEYS):
            pending.append(label)
            continue
        sources.append(label)
        found, bad = parse_fileset(data.get(FILESET_KEY))
        paths.update(found)
        problems.extend(f'{label}: {msg}' for msg in bad)
        for key in HOOK_KEYS:
            path, problem = parse_hook_path(key, data.get(key))
            if problem:
                problems.append(f'{label}: {problem}')
            if path is None:
                continue
            mapped = map_hook_path(path, entry.unit)
            if mapped != path:
                mappings.append(Mapping(label, key, path, mapped))
            if all(hook.path != mapped for hook in hooks[key]):
                hooks[key].append(Hook(label, mapped))
    return Spec(sorted(paths), hooks, problems, mappings, sources, pending)


def _format_time(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f'not an ISO 8601 time: {value!r}')
    if not isinstance(value, datetime.datetime):
        # documented: every bad value raises ValueError
        raise ValueError(f'not a time: {value!r}')  # noqa: TRY004
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


def status_data(time, status, backup_type):
    """The unit data published for the last backup, as a dict of strings.

    Args:
        time: when the backup finished: an aware or naive-UTC
            ``datetime``, a POSIX timestamp, or an ISO 8601 string.
        status: ``'ok'`` or ``'failed'``.
        backup_type: e.g. ``'full'`` or ``'incremental'``.

    Raises:
        ValueError: on a bad value.
    """
    if status not in BACKUP_STATUSES:
        raise ValueError('status must be one of {}, not {!r}'.format(
            ', '.join(BACKUP_STATUSES), status))
    if (not isinstance(backup_type, str) or not backup_type.strip()
            or any(ord(c) < 32 for c in backup_type)):
        raise ValueError(f'bad backup type: {backup_type!r}')
    return {
        'last-backup-time': _format_time(time),
        'last-backup-status': status,
        'last-backup-type': backup_type.strip(),
    }


class BackupProvides(Endpoint):
    """The backup charm's endpoint (see the module docstring for the flags)."""

    def manage_flags(self):
        """Toggle this layer's flags (called by charms.reactive)."""
        spec = self.spec()
        toggle_flag(self.expand_name('declared'), bool(spec.sources))
        toggle_flag(self.expand_name('invalid'), bool(spec.problems))
        if data_changed(self.expand_name('spec'), spec.to_dict()):
            set_flag(self.expand_name('spec-changed'))

    def _hook_unit(self, relation):
        """The requirer unit on this machine that hook paths map to."""
        names = [unit.unit_name for unit in relation.joined_units]
        principal = os.environ.get('JUJU_PRINCIPAL_UNIT') or None
        if principal in names:
            return principal
        if len(names) == 1:
            return names[0]
        return principal

    def requirer_data(self):
        """:class:`RequirerData` of every relation whose remote app is known.

        A relation with no joined unit (being set up or torn down) is
        skipped: its remote application name, needed to read its databag,
        is not known.
        """
        entries = []
        for relation in self.relations:
            if not relation.joined_units:
                continue
            raw = relation.received_app_raw
            entries.append(RequirerData(
                relation.relation_id,
                relation.application_name,
                dict(raw.data or {}),
                self._hook_unit(relation)))
        return entries

    def spec(self):
        """The merged, validated :class:`Spec` of every related requirer."""
        return merge_specs(self.requirer_data())

    def publish_status(self, time, status, backup_type):
        """Publish the last backup's outcome on every relation.

        Writes ``last-backup-time`` (ISO 8601 UTC), ``last-backup-status``
        (``ok``/``failed``) and ``last-backup-type`` into this unit's
        databag, only where a value differs.  Returns True if anything was
        written.  Raises ValueError on bad values (see :func:`status_data`).
        """
        values = status_data(time, status, backup_type)
        changed = False
        for relation in self.relations:
            published = relation.to_publish_raw
            for key, value in values.items():
                if published.get(key) != value:
                    published[key] = value
                    changed = True
        return changed
