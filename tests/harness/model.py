"""A small Juju model run locally: applications, units, relations, hooks.

Each unit has ``<agents_root>/unit-<app>-<n>/`` with ``charm/`` (a copy of
the built charm), ``.venv/`` (copy of a template venv), ``tools/`` (hook
tool scripts) and ``calls.jsonl`` (every hook-tool invocation). The model's
state (config, relation data, status, leadership, ...) is one JSON file,
``<root>/state.json``, that the hook tools read and write under a lock.
"""
import json
import re
import shutil
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

import yaml

from . import toolserver
from . import venv as venvmod
from .hooktool import UNIMPLEMENTED, State

HOOKTOOL = Path(__file__).resolve().with_name('hooktool.py')
TOOLS = (
    'config-get', 'juju-log', 'status-set', 'status-get', 'is-leader',
    'leader-get', 'leader-set', 'application-version-set', 'unit-get',
    'open-port', 'close-port', 'opened-ports', 'network-get', 'goal-state',
    'relation-ids', 'relation-list', 'relation-get', 'relation-set',
    'action-get', 'action-set', 'action-fail', 'action-log', 'secret-get',
    'secret-ids') + UNIMPLEMENTED
SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


class HookFailed(AssertionError):
    def __init__(self, unit, hook, returncode, stdout, stderr):
        self.unit, self.hook, self.returncode = unit, hook, returncode
        self.stdout, self.stderr = stdout, stderr
        super().__init__(f'{unit} {hook} exited {returncode}\n--- stdout\n{stdout}\n--- stderr\n{stderr}'
                         )


class ToolMisuse(AssertionError):
    """A hook or action called a hook tool wrongly (unknown flag, unknown
    or unimplemented tool, missing argument)."""


class ActionInvalid(ValueError):
    """Parameters rejected the way Juju rejects them before running."""


class HookResult:
    def __init__(self, unit, hook, returncode, stdout, stderr, calls):
        self.unit, self.hook, self.returncode = unit, hook, returncode
        self.stdout, self.stderr, self.calls = stdout, stderr, calls

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return f'<HookResult {self.unit} {self.hook} rc={self.returncode}>'


class ActionResult:
    def __init__(self, name, uuid, status, results, message, stdout, stderr,
                 returncode, logs, calls):
        self.name, self.uuid, self.status = name, uuid, status
        self.results, self.message = results, message
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode
        self.logs, self.calls = logs, calls

    def __repr__(self):
        return f'<ActionResult {self.name} {self.status} {self.message!r}>'


# ---------------------------------------------------------------------------


class Model:
    def __init__(self, root, name='test-model', juju_version='3.4.0',
                 proxies=None, venv_cache=None, strict_tools=True,
                 auto_settle=True, timeout=600):
        self.root = Path(root).resolve()
        self.agents_root = self.root / 'agents'
        self.agents_root.mkdir(parents=True, exist_ok=True)
        self.state_path = str(self.root / 'state.json')
        self.name = name
        self.uuid = str(uuidlib.uuid4())
        self.proxies = dict(proxies or {})
        self.venv_cache = venv_cache
        self.strict_tools = strict_tools
        self.auto_settle = auto_settle
        self.timeout = timeout
        self.applications = {}
        self.relations = {}
        self._next_relation_id = 0
        self._next_machine = 0
        self._context_counter = 0
        self._queue = []
        self.hook_log = []  # (unit, hook, rid, remote_unit, returncode)
        with open(self.state_path, 'w') as fp:
            json.dump({'model': {'name': name, 'uuid': self.uuid,
                                 'juju_version': juju_version},
                       'apps': {}, 'units': {}, 'relations': {},
                       'contexts': {}, 'charms': {}, 'secrets': {}}, fp)

    # state ----------------------------------------------------------------
    def _state(self):
        return State(self.state_path)

    def read_state(self):
        with self._state() as st:
            return st.data

    def _update(self, fn):
        with self._state() as st:
            result = fn(st.data)
            st.save()
            return result

    @property
    def juju_version(self):
        return self.read_state()['model']['juju_version']

    @juju_version.setter
    def juju_version(self, value):
        self._update(lambda d: d['model'].__setitem__('juju_version', value))

    # building the model ---------------------------------------------------
    def add_application(self, name, charm=None, subordinate=None,
                        config=None):
        """``charm``: path of a built charm, or None for an application the
        test plays itself (no hooks run; set its relation data directly)."""
        app = Application(self, name, charm, subordinate)
        self.applications[name] = app
        if config:
            app.config.update(config)
            app._save_config()
        return app

    def relate(self, endpoint_a, endpoint_b, scope=None):
        """Relate ``'app:endpoint'`` to ``'app:endpoint'`` and run
        relation-created, then -joined/-changed on both sides."""
        (app_a, ep_a), (app_b, ep_b) = (e.split(':', 1) for e in
                                        (endpoint_a, endpoint_b))
        a, b = self.applications[app_a], self.applications[app_b]
        if scope is None:
            scope = 'container' if 'container' in (
                a.endpoint_scope(ep_a), b.endpoint_scope(ep_b)) else 'global'
        self._next_relation_id += 1
        rel = Relation(self, self._next_relation_id, {app_a: ep_a,
                                                      app_b: ep_b}, scope,
                       a.endpoint_interface(ep_a) or
                       b.endpoint_interface(ep_b))
        self.relations[rel.id] = rel
        self._update(lambda d: d['relations'].__setitem__(str(rel.id), {
            'id': rel.id, 'endpoints': rel.endpoints, 'scope': scope,
            'interface': rel.interface, 'data': {}}))
        deployed = [u for app in (a, b) for u in app.units if u.deployed]
        for unit in deployed:
            unit._enter_relation(rel)
            unit.run_hook(rel.endpoint_of(unit) + '-relation-created',
                          relation=rel, remote_app=rel.other_app(unit.app))
        for unit in deployed:
            self._join_visible(unit, rel)
        self.settle()
        return rel

    def _join_visible(self, unit, rel):
        """Make ``unit`` and the units it can see on ``rel`` know each other,
        running -joined/-changed on the charm-run side(s)."""
        for other in rel.visible_units(unit):
            if not other.deployed or rel.rid(other.app) not in \
                    self.read_state()['units'][other.name]['relations']:
                continue
            for me, them in ((unit, other), (other, unit)):
                if them.name in me._remote_units(rel):
                    continue
                me._add_remote(rel, them)
                if not me.app_obj.played:
                    endpoint = rel.endpoint_of(me)
                    me.run_hook(endpoint + '-relation-joined', relation=rel,
                                remote_unit=them.name)
                    me.run_hook(endpoint + '-relation-changed', relation=rel,
                                remote_unit=them.name)

    def depart(self, relation):
        """Remove a relation: -departed for every pair, then -broken."""
        rel = relation if isinstance(relation, Relation) else \
            self.relations[int(str(relation).split(':')[-1])]
        units = [u for app in rel.endpoints for u in
                 self.applications[app].units if rel in u.relations()]
        for unit in units:
            for other in list(unit._remote_units(rel)):
                unit._remove_remote(rel, other)
                unit.run_hook(rel.endpoint_of(unit) + '-relation-departed',
                              relation=rel, remote_unit=other,
                              departing_unit=other)
        for unit in units:
            unit.run_hook(rel.endpoint_of(unit) + '-relation-broken',
                          relation=rel)
            unit._leave_relation(rel)
        self._queue = [q for q in self._queue if q[2] is not rel]
        del self.relations[rel.id]
        self._update(lambda d: d['relations'].pop(str(rel.id)))

    def relation(self, rid):
        return self.relations[int(str(rid).split(':')[-1])]

    # event propagation ----------------------------------------------------
    def _queue_changed(self, writer, rel, unit_changed, app_changed):
        for app in rel.endpoints:
            if app == writer.app and len(rel.endpoints) > 1:
                continue
            for unit in self.applications[app].units:
                if not unit.deployed or rel not in unit.relations():
                    continue
                if unit_changed and writer.name in unit._remote_units(rel):
                    self._queue.append((unit, 'changed', rel, writer.name,
                                        writer.app))
                if app_changed:
                    self._queue.append((unit, 'changed', rel, '',
                                        writer.app))

    def settle(self, max_hooks=200):
        """Run the relation-changed hooks queued by committed data changes
        until nothing is left (like Juju reaching a steady state)."""
        count = 0
        while self._queue:
            unit, _, rel, remote_unit, remote_app = self._queue.pop(0)
            if unit.app_obj.played or rel.id not in self.relations:
                continue
            count += 1
            if count > max_hooks:
                raise RuntimeError('relation-changed hooks do not settle')
            unit.run_hook(rel.endpoint_of(unit) + '-relation-changed',
                          relation=rel, remote_unit=remote_unit,
                          remote_app=remote_app, settle=False)

    # secrets ----------------------------------------------------------------
    def add_secret(self, content, label=None, owner=None, grants=(), uri=None):
        """A secret (``juju add-secret`` when ``owner`` is None: a user secret; else owned
        by that application) with revision 1; ``grants``: applications or units that may
        read it (``juju grant-secret``). Keys must follow Juju's grammar. Returns the URI."""
        check_secret_content(content)
        uri = uri or 'secret:' + new_secret_id()
        self._update(lambda d: d['secrets'].__setitem__(uri, {
            'revisions': {'1': dict(content)}, 'latest': 1, 'label': label,
            'owner': owner, 'grants': list(grants), 'tracked': {}}))
        return uri

    def grant_secret(self, uri, app):
        """``juju grant-secret <uri> <app>``."""
        def grant(d):
            grants = d['secrets'][uri]['grants']
            if app not in grants:
                grants.append(app)
        self._update(grant)

    def revoke_secret(self, uri, app):
        """``juju revoke-secret <uri> <app>``."""
        self._update(lambda d: d['secrets'][uri]['grants'].remove(app))

    def secret_revision(self, uri, unit=None):
        """The latest revision, or the one ``unit`` tracks (None: it never read it)."""
        rec = self.read_state()['secrets'][uri]
        return rec['tracked'].get(unit.name) if unit is not None else rec['latest']

    def update_secret(self, uri, content, run_hooks=True):
        """``juju update-secret``: a new revision; then, like Juju, ``secret-changed`` on
        every unit that tracks an older revision (a unit that never read it is not told)."""
        check_secret_content(content)

        def update(d):
            rec = d['secrets'][uri]
            rec['latest'] += 1
            rec['revisions'][str(rec['latest'])] = dict(content)
            return rec['latest'], dict(rec['tracked'])
        revision, tracked = self._update(update)
        if run_hooks:
            for app in self.applications.values():
                for unit in app.units:
                    if unit.deployed and tracked.get(unit.name, revision) < revision:
                        self.secret_changed(unit, uri)
        return revision

    def secret_changed(self, unit, uri):
        """Run ``secret-changed`` on ``unit`` for ``uri`` (JUJU_SECRET_ID/_REVISION set)."""
        revision = self.read_state()['secrets'][uri]['latest']
        return unit.run_hook('secret-changed', env={
            'JUJU_SECRET_ID': uri, 'JUJU_SECRET_REVISION': str(revision)})

    # recorded output ------------------------------------------------------
    def captured_text(self):
        """Everything the model recorded as one string (tool argv/stdin/
        stdout/stderr, logs, statuses, relation data, action results, hook
        stdout/stderr): search it for leaked secrets."""
        parts = [json.dumps(self.read_state(), sort_keys=True)]
        for app in self.applications.values():
            for unit in app.units:
                parts.append(unit.captured_text())
        return '\n'.join(parts)


SECRET_KEY = re.compile(r'^([a-z](?:-?[a-z0-9]){2,})$')  # Juju's grammar of secret keys


def check_secret_content(content):
    """Refuse what ``juju add-secret`` refuses: no keys, a key of another grammar."""
    if not content:
        raise ValueError('a secret needs at least one key')
    for key, value in content.items():
        if not SECRET_KEY.match(key):
            raise ValueError(f'invalid secret key {key!r}: lowercase letters, digits and '
                             'single hyphens, at least 3 characters')
        if not isinstance(value, str):
            raise TypeError('secret values are strings')


def new_secret_id():
    """A 20-character id like the xids Juju uses (base32hex, lowercase)."""
    return ''.join('0123456789abcdefghijklmnopqrstuv'[b % 32]
                   for b in uuidlib.uuid4().bytes[:10] + uuidlib.uuid4().bytes[:10])


class Application:
    def __init__(self, model, name, charm, subordinate):
        self.model = model
        self.name = name
        self.charm = Path(charm).resolve() if charm else None
        self.played = charm is None
        self.units = []
        self.metadata = {}
        self.config_options = {}
        self.actions = {}
        if self.charm:
            self._load_charm(self.charm)
        self.subordinate = bool(self.metadata.get('subordinate')) \
            if subordinate is None else subordinate
        self.config = {k: v.get('default') for k, v in
                       self.config_options.items()}
        model._update(lambda d: (
            d['apps'].__setitem__(name, {
                'config': self.config, 'leader': None,
                'leader_settings': {}, 'status': None}),
            d['charms'].__setitem__(name, {
                'endpoints': self.endpoints() if self.charm else None})))

    def _load_charm(self, charm):
        def load(fname):
            path = Path(charm) / fname
            if path.exists():
                return yaml.safe_load(path.read_text()) or {}
            return {}
        self.metadata = load('metadata.yaml')
        self.config_options = load('config.yaml').get('options') or {}
        self.actions = load('actions.yaml')

    def endpoints(self):
        eps = {}
        for kind in ('provides', 'requires', 'peers'):
            for name, spec in (self.metadata.get(kind) or {}).items():
                eps[name] = spec or {}
        eps.setdefault('juju-info', {'interface': 'juju-info'})
        return sorted(eps)

    def _endpoint(self, endpoint):
        for kind in ('provides', 'requires', 'peers'):
            spec = (self.metadata.get(kind) or {}).get(endpoint)
            if spec is not None:
                return spec
        return {}

    def endpoint_scope(self, endpoint):
        return self._endpoint(endpoint).get('scope', 'global')

    def endpoint_interface(self, endpoint):
        return self._endpoint(endpoint).get('interface')

    def add_unit(self, principal=None, machine=None, deploy=True,
                 leader=None, extra_path=(), extra_env=None):
        """Add a unit; a subordinate gets its principal's machine. Runs the
        deploy hook sequence unless deploy=False or the app is played."""
        number = len(self.units)
        if principal is not None:
            machine = principal.machine
        elif machine is None:
            machine = self.model._next_machine
            self.model._next_machine += 1
        unit = Unit(self, number, machine, principal, extra_path, extra_env)
        self.units.append(unit)
        if leader or (leader is None and not self.leader):
            self.model._update(lambda d: d['apps'][self.name].__setitem__(
                'leader', unit.name))
        if self.played:
            unit.deployed = True
            for rel in self.model.relations.values():
                if self.name in rel.endpoints:
                    unit._enter_relation(rel)
                    self.model._join_visible(unit, rel)
            self.model.settle()
        elif deploy:
            unit.deploy()
        return unit

    @property
    def leader(self):
        name = self.model.read_state()['apps'][self.name]['leader']
        return next((u for u in self.units if u.name == name), None)

    def set_leader(self, unit):
        old = self.leader
        self.model._update(lambda d: d['apps'][self.name].__setitem__(
            'leader', unit.name))
        if not self.played and old is not unit:
            unit.run_hook('leader-elected')
            for other in self.units:
                if other is not unit and other.deployed:
                    other.run_hook('leader-settings-changed')

    def _save_config(self):
        self.model._update(lambda d: d['apps'][self.name].__setitem__(
            'config', self.config))

    def set_config(self, run_hooks=True, **values):
        """Set config keys (underscores in names are kept as given; pass a
        dict with ``**{'key-name': v}`` for dashed keys); None resets to the
        default. Runs config-changed on every deployed unit."""
        for key, value in values.items():
            if self.config_options and key not in self.config_options:
                raise KeyError(f'unknown config key {key!r} for {self.name}')
            if value is None:
                value = (self.config_options.get(key) or {}).get('default')
            self.config[key] = self._coerce(key, value)
        self._save_config()
        if run_hooks and not self.played:
            for unit in self.units:
                if unit.deployed:
                    unit.run_hook('config-changed')

    def _coerce(self, key, value):
        kind = (self.config_options.get(key) or {}).get('type', 'string')
        if value is None:
            return None
        if kind == 'int':
            if isinstance(value, bool) or not isinstance(value, int):
                value = int(value)
        elif kind == 'float':
            value = float(value)
        elif kind == 'boolean':
            if isinstance(value, str):
                if value.lower() not in ('true', 'false'):
                    raise ValueError(f'{key}: expected boolean')
                value = value.lower() == 'true'
        elif kind == 'string' and not isinstance(value, str):
            raise ValueError(f'{key}: expected string, got {value!r}')
        return value

    @property
    def status(self):
        st = self.model.read_state()['apps'][self.name].get('status')
        return (st['status'], st['message']) if st else ('unknown', '')

    @property
    def workload_version(self):
        return self.model.read_state()['apps'][self.name].get(
            'workload_version')

    def upgrade_charm(self, new_build):
        self.charm = Path(new_build).resolve()
        old_options = self.config_options
        self._load_charm(self.charm)
        for key, spec in self.config_options.items():
            if key not in old_options:
                self.config[key] = (spec or {}).get('default')
        for key in list(self.config):
            if key not in self.config_options:
                del self.config[key]
        self._save_config()
        for unit in self.units:
            if unit.deployed:
                unit.upgrade_charm(self.charm)


class Relation:
    def __init__(self, model, rel_id, endpoints, scope, interface):
        self.model = model
        self.id = rel_id
        self.endpoints = endpoints
        self.scope = scope
        self.interface = interface

    def __repr__(self):
        return f'<Relation {self.id} {self.endpoints}>'

    def rid(self, app):
        """The relation id as ``app`` sees it, e.g. ``backup:1``."""
        app = getattr(app, 'name', app)
        return '{}:{}'.format(self.endpoints[app.split('/')[0]], self.id)

    def endpoint_of(self, unit):
        return self.endpoints[unit.app]

    def other_app(self, app):
        others = [a for a in self.endpoints if a != app]
        return others[0] if others else app

    def visible_units(self, unit):
        other = self.model.applications[self.other_app(unit.app)]
        units = [u for u in other.units if u is not unit]
        if self.scope == 'container':
            units = [u for u in units if u.machine == unit.machine]
        return units

    def data(self, name):
        """Committed databag of a unit (``'app/0'``) or application."""
        name = getattr(name, 'name', name)
        rel = self.model.read_state()['relations'][str(self.id)]
        return dict(rel['data'].get(name, {}))

    def set_data(self, name, data, replace=False, run_hooks=True):
        """Write the databag of a *played* unit or application (values as
        strings; None deletes) and run relation-changed on the other side."""
        name = getattr(name, 'name', name)
        app = name.split('/')[0]

        def write(d):
            bag = d['relations'][str(self.id)]['data'].setdefault(name, {})
            if replace:
                bag.clear()
            for key, value in data.items():
                if value is None:
                    bag.pop(key, None)
                elif not isinstance(value, str):
                    raise TypeError('relation data values are strings')
                else:
                    bag[key] = value
        self.model._update(write)
        writer = (self.model.applications[app].units[int(name.split('/')[1])]
                  if '/' in name else _AppWriter(app))
        self.model._queue_changed(writer, self, '/' in name, '/' not in name)
        if run_hooks:
            self.model.settle()


class _AppWriter:
    def __init__(self, app):
        self.app = app
        self.name = None


class Unit:
    def __init__(self, app, number, machine, principal, extra_path=(),
                 extra_env=None):
        self.app_obj = app
        self.model = app.model
        self.app = app.name
        self.number = number
        self.name = f'{app.name}/{number}'
        self.machine = machine
        self.principal = principal
        self.extra_path = list(extra_path)
        self.extra_env = dict(extra_env or {})
        self.deployed = False
        self.dir = self.model.agents_root / f'unit-{app.name}-{number}'
        self.charm_dir = self.dir / 'charm'
        self.venv_dir = self.dir / '.venv'
        self.tools_dir = self.dir / 'tools'
        self.calls_file = self.dir / 'calls.jsonl'
        self.outputs = []  # (kind, name, stdout, stderr)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.calls_file.touch()
        self.address = f'10.1.{machine // 250}.{machine % 250 + 2}'
        self.model._update(lambda d: d['units'].__setitem__(self.name, {
            'app': self.app, 'machine': machine,
            'principal': principal.name if principal else '',
            'address': self.address, 'calls_file': str(self.calls_file),
            'relations': {}, 'status': None, 'status_history': [],
            'ports': []}))
        self._write_tools()

    def __repr__(self):
        return f'<Unit {self.name}>'

    # layout ---------------------------------------------------------------
    def _write_tools(self):
        self.tools_dir.mkdir(exist_ok=True)
        for tool in TOOLS:
            path = self.tools_dir / tool
            # bash, which asks this process's tool server (toolserver.py) and falls back
            # to running hooktool.py with -S (no site-packages: hooktool needs the
            # standard library only; PyYAML is loaded on demand)
            path.write_text(toolserver.script(sys.executable, HOOKTOOL.parent,
                                              self.model.state_path, self.name, tool))
            path.chmod(0o755)

    def _install_charm(self, build):
        build = Path(build)
        if self.charm_dir.exists():
            # Juju replaces the charm's files but keeps what the charm
            # created itself (.unit-state.db, .juju-persistent-config, ...).
            old = {p.relative_to(self.charm_dir) for p in
                   self.charm_dir.rglob('*')}
            old_manifest = self.dir / 'charm-files.json'
            shipped = set(json.loads(old_manifest.read_text())) \
                if old_manifest.exists() else set()
            for rel in sorted(old, reverse=True):
                if str(rel) in shipped:
                    target = self.charm_dir / rel
                    if target.is_dir() and not target.is_symlink():
                        if not any(target.iterdir()):
                            target.rmdir()
                    elif target.exists() or target.is_symlink():
                        target.unlink()
        shutil.copytree(str(build), str(self.charm_dir), symlinks=True,
                        dirs_exist_ok=True)
        files = [str(p.relative_to(build)) for p in build.rglob('*')]
        (self.dir / 'charm-files.json').write_text(json.dumps(files))

    def _prepare_venv(self):
        template = venvmod.template_venv(self.charm_dir,
                                         cache_dir=self.model.venv_cache)
        venvmod.copy_venv(template, self.venv_dir)

    # relations bookkeeping --------------------------------------------------
    def relations(self):
        rids = self.model.read_state()['units'][self.name]['relations']
        return [self.model.relations[v['id']] for v in rids.values()
                if v['id'] in self.model.relations]

    def _enter_relation(self, rel):
        rid = rel.rid(self.app)
        addr = self.address

        def enter(d):
            d['units'][self.name]['relations'][rid] = {'id': rel.id,
                                                       'remote_units': []}
            bag = d['relations'][str(rel.id)]['data'].setdefault(self.name,
                                                                 {})
            if not self.app_obj.played:
                bag.update({'private-address': addr,
                            'ingress-address': addr,
                            'egress-subnets': addr + '/32'})
        self.model._update(enter)

    def _leave_relation(self, rel):
        self.model._update(lambda d: d['units'][self.name]['relations'].pop(
            rel.rid(self.app), None))

    def _remote_units(self, rel):
        rec = self.model.read_state()['units'][self.name]['relations']
        return list(rec.get(rel.rid(self.app), {}).get('remote_units', []))

    def _add_remote(self, rel, other):
        def add(d):
            rec = d['units'][self.name]['relations'].get(rel.rid(self.app))
            if rec is not None and other.name not in rec['remote_units']:
                rec['remote_units'].append(other.name)
        self.model._update(add)

    def _remove_remote(self, rel, other_name):
        def rm(d):
            rec = d['units'][self.name]['relations'].get(rel.rid(self.app))
            if rec and other_name in rec['remote_units']:
                rec['remote_units'].remove(other_name)
        self.model._update(rm)

    # lifecycle ------------------------------------------------------------
    def deploy(self):
        """install → relation-created (existing relations) → leader-elected
        → config-changed → start, then -joined/-changed for relations."""
        self._install_charm(self.app_obj.charm)
        self._prepare_venv()
        self.deployed = True
        self.run_hook('install')
        rels = [r for r in self.model.relations.values()
                if self.app in r.endpoints]
        for rel in rels:
            self._enter_relation(rel)
            self.run_hook(rel.endpoint_of(self) + '-relation-created',
                          relation=rel, remote_app=rel.other_app(self.app))
        if self.is_leader:
            self.run_hook('leader-elected')
        else:
            self.run_hook('leader-settings-changed')
        self.run_hook('config-changed')
        self.run_hook('start')
        for rel in rels:
            self.model._join_visible(self, rel)
        self.model.settle()
        return self

    def adopt(self, flags=(), kv=None, previous_config=None):
        """Give this undeployed unit what another charm left behind, as if that charm had
        run it; ``upgrade_charm()`` then switches it to this application's charm
        (``juju refresh --switch``). No hook runs.

        - ``flags``: that charm's reactive flags, in the unit state DB where charms.reactive
          keeps them (unitdata key ``reactive.states.<flag>`` in ``<charm dir>/.unit-state.db``);
        - ``kv``: other unitdata keys and values;
        - ``previous_config``: the config that charm last saw (``.juju-persistent-config``,
          which charmhelpers' ``config().previous()`` reads);
        - the unit joins the relations its application is in, with no hook run.
        """
        import sqlite3
        assert not self.deployed, 'adopt() is for a unit no charm of this model ran'
        self.charm_dir.mkdir(parents=True, exist_ok=True)
        values = {'reactive.states.' + flag: None for flag in flags}
        values.update(kv or {})
        db = sqlite3.connect(str(self.charm_dir / '.unit-state.db'))
        try:
            with db:  # the table charmhelpers.core.unitdata.Storage creates
                db.execute('create table if not exists kv (key text, data text, '
                           'primary key (key))')
                db.executemany('insert or replace into kv (key, data) values (?, ?)',
                               [(k, json.dumps(v)) for k, v in values.items()])
        finally:
            db.close()
        if previous_config is not None:
            (self.charm_dir / '.juju-persistent-config').write_text(
                json.dumps(previous_config))
        self.deployed = True
        for rel in self.model.relations.values():
            if self.app not in rel.endpoints:
                continue
            self._enter_relation(rel)
            for other in rel.visible_units(self):
                if other.deployed:
                    self._add_remote(rel, other)
                    other._add_remote(rel, self)
        return self

    def unit_state(self):
        """The unit state DB's keys and values (what charmhelpers' unitdata holds)."""
        import sqlite3
        db = sqlite3.connect(str(self.charm_dir / '.unit-state.db'))
        try:
            return {k: json.loads(v) for k, v in db.execute('select key, data from kv')}
        finally:
            db.close()

    def flags(self):
        """The reactive flags set in the unit state DB."""
        prefix = 'reactive.states.'
        return sorted(k[len(prefix):] for k in self.unit_state() if k.startswith(prefix))

    def upgrade_charm(self, new_build):
        self._install_charm(new_build)
        if (Path(new_build) / 'wheelhouse').is_dir() or not self.venv_dir.exists():
            self._prepare_venv()
        self.run_hook('upgrade-charm')
        self.run_hook('config-changed')

    def remove(self):
        """Depart every relation this unit is in, then stop → remove."""
        for rel in self.relations():
            for other in list(self._remote_units(rel)):
                self._remove_remote(rel, other)
                self.run_hook(rel.endpoint_of(self) + '-relation-departed',
                              relation=rel, remote_unit=other,
                              departing_unit=self.name)
            self.run_hook(rel.endpoint_of(self) + '-relation-broken',
                          relation=rel)
            self._leave_relation(rel)
        self.run_hook('stop')
        self.run_hook('remove')
        self.deployed = False

    @property
    def is_leader(self):
        return self.model.read_state()['apps'][self.app]['leader'] == self.name

    # running --------------------------------------------------------------
    def _env(self, extra_path=(), env=None):
        state = self.model.read_state()
        self.model._context_counter += 1
        base = {
            'JUJU_UNIT_NAME': self.name,
            'JUJU_CHARM_DIR': str(self.charm_dir),
            'CHARM_DIR': str(self.charm_dir),
            'JUJU_MODEL_NAME': self.model.name,
            'JUJU_MODEL_UUID': self.model.uuid,
            'JUJU_MACHINE_ID': str(self.machine),
            'JUJU_PRINCIPAL_UNIT': self.principal.name if self.principal
            else '',
            'JUJU_AVAILABILITY_ZONE': '',
            'JUJU_VERSION': state['model']['juju_version'],
            'JUJU_CONTEXT_ID': '{}-{}-{}'.format(
                self.name.replace('/', '-'), self.model._context_counter,
                uuidlib.uuid4().int % 10 ** 8),
            'JUJU_AGENT_SOCKET_ADDRESS': f'@{self.dir}/agent.socket',
            'JUJU_AGENT_SOCKET_NETWORK': 'unix',
            'JUJU_API_ADDRESSES': '127.0.0.1:17070',
            'JUJU_SLA': 'unsupported',
            'JUJU_METER_STATUS': 'AMBER',
            'JUJU_METER_INFO': 'not set',
            'PATH': ':'.join([str(self.tools_dir)] + [str(p) for p in
                             list(self.extra_path) + list(extra_path)] +
                             [SYSTEM_PATH]),
            'LANG': 'C.UTF-8',
            'DEBIAN_FRONTEND': 'noninteractive',
            'APT_LISTCHANGES_FRONTEND': 'none',
            # the test-only layer:basic stand-in (tests/layers) runs only where this is set
            'CHARM_TEST_HARNESS': '1',
        }
        if sys.version_info < (3, 12):
            # charmhelpers.core.hookenv imports distutils; with setuptools' distutils shim
            # (Debian's python3-setuptools here) that import pulls in setuptools and
            # pkg_resources, 0.3 s of every hook and action. The stdlib's distutils (gone
            # in 3.12) is the same code, in 0.02 s.
            base['SETUPTOOLS_USE_DISTUTILS'] = 'stdlib'
        shim = venvmod.debian_shim_path(self.dir, self.charm_dir)
        if shim:  # a charm on the real layer:basic, on Debian (see venv.debian_shim_path)
            base['PYTHONPATH'] = shim
        base.update(self.model.proxies)
        base.update(self.extra_env)
        base.update(env or {})
        return base

    def _set_context(self, ctx, key=None):
        self.model._update(lambda d: d['contexts'].__setitem__(
            key or self.name, ctx))

    def _calls_since(self, offset):
        with open(self.calls_file) as fp:
            fp.seek(offset)
            return [json.loads(line) for line in fp if line.strip()]

    def _execute(self, argv, env, kind, name):
        offset = self.calls_file.stat().st_size
        proc = subprocess.run(argv, cwd=str(self.charm_dir), env=env,
                              stdin=subprocess.DEVNULL, check=False,
                              capture_output=True, text=True,
                              timeout=self.model.timeout)
        calls = self._calls_since(offset)
        self.outputs.append((kind, name, proc.stdout, proc.stderr))
        return proc, calls

    def run_hook(self, hook, relation=None, remote_unit=None,
                 remote_app=None, departing_unit=None, allow_failure=False,
                 extra_path=(), env=None, settle=None):
        """Run one hook; commits relation data/ports when it exits 0.
        Raises HookFailed on a non-zero exit unless allow_failure."""
        if self.app_obj.played:
            return None
        hook_path = self.charm_dir / 'hooks' / hook
        dispatch = self.charm_dir / 'dispatch'
        if dispatch.exists():
            argv = [str(dispatch)]
        elif hook_path.exists():
            argv = [str(hook_path)]
        else:
            self.model.hook_log.append((self.name, hook, None, None, None))
            return HookResult(self.name, hook, 0, '', '', [])
        rid = relation.rid(self.app) if relation else None
        if remote_unit:
            remote_app = remote_unit.split('/')[0]
        if relation and remote_app is None:
            remote_app = relation.other_app(self.app)
        ctx = {'hook': hook, 'relation_id': rid, 'remote_unit': remote_unit,
               'remote_app': remote_app, 'departing_unit': departing_unit,
               'action': None, 'pending': {}}
        self._set_context(ctx)
        extra = {'JUJU_HOOK_NAME': hook,
                 'JUJU_DISPATCH_PATH': 'hooks/' + hook}
        if relation:
            extra.update({'JUJU_RELATION': relation.endpoint_of(self),
                          'JUJU_RELATION_ID': rid,
                          'JUJU_REMOTE_UNIT': remote_unit or '',
                          'JUJU_REMOTE_APP': remote_app or ''})
            if departing_unit:
                extra['JUJU_DEPARTING_UNIT'] = departing_unit
        extra.update(env or {})
        proc, calls = self._execute(argv, self._env(extra_path, extra),
                                    'hook', hook)
        self.model.hook_log.append((self.name, hook, rid, remote_unit,
                                    proc.returncode))
        committed = self._finish_context(commit=proc.returncode == 0)
        self._check_misuse(hook, calls, proc)
        if proc.returncode != 0 and not allow_failure:
            raise HookFailed(self.name, hook, proc.returncode, proc.stdout,
                             proc.stderr)
        for rel, unit_changed, app_changed in committed:
            self.model._queue_changed(self, rel, unit_changed, app_changed)
        if settle if settle is not None else self.model.auto_settle:
            self.model.settle()
        return HookResult(self.name, hook, proc.returncode, proc.stdout,
                          proc.stderr, calls)

    def _check_misuse(self, what, calls, proc):
        bad = [c for c in calls if c.get('misuse')]
        if bad and self.model.strict_tools:
            raise ToolMisuse('{} {}: hook tool misuse:\n{}\n--- stderr\n{}'
                             .format(self.name, what, '\n'.join(
                                 '{} -> {}'.format(c['argv'],
                                                   c['stderr'].strip())
                                 for c in bad), proc.stderr))

    def _finish_context(self, commit, context_key=None):
        """Drop the hook context; on success commit pending relation data
        and ports. Returns [(relation, unit_changed, app_changed)]."""
        changes = []

        def finish(d):
            ctx = d['contexts'].pop(context_key or self.name, None) or {}
            if not commit:
                return ctx
            pending = ctx.get('pending', {})
            unit_rec = d['units'][self.name]
            for rid, writes in pending.get('relations', {}).items():
                rec = unit_rec['relations'].get(rid)
                if rec is None:
                    continue
                bags = d['relations'][str(rec['id'])]['data']
                flags = []
                for key, name in (('unit', self.name), ('app', self.app)):
                    bag = bags.setdefault(name, {})
                    before = dict(bag)
                    for k, v in writes.get(key, {}).items():
                        if v is None:
                            bag.pop(k, None)
                        else:
                            bag[k] = v
                    flags.append(bag != before)
                if any(flags):
                    changes.append((rec['id'], flags[0], flags[1]))
            ports = unit_rec.setdefault('ports', [])
            for op, spec in pending.get('ports', []):
                if op == 'open' and spec not in ports:
                    ports.append(spec)
                elif op == 'close' and spec in ports:
                    ports.remove(spec)
            return ctx
        self.model._update(finish)
        return [(self.model.relations[i], u, a) for i, u, a in changes
                if i in self.model.relations]

    # actions --------------------------------------------------------------
    def run_action(self, name, params=None, extra_path=(), env=None,
                   **kwparams):
        """Run an action like ``juju run``; returns ActionResult. Params
        (``params`` dict and/or keyword args, ``_`` kept as given) are
        validated against actions.yaml and defaults filled in; invalid
        params raise ActionInvalid (the action never runs)."""
        spec = (self.app_obj.actions or {}).get(name)
        if spec is None:
            raise ActionInvalid(f'no action named {name!r}')
        values = dict(params or {})
        values.update(kwparams)
        values = validate_action_params(name, spec or {}, values)
        path = self.charm_dir / 'actions' / name
        action_id = str(uuidlib.uuid4()) if self.model.juju_version.startswith(
            '2.') else str(len(self.outputs) + 1)
        ctx = {'hook': 'action:' + name, 'relation_id': None,
               'remote_unit': None, 'remote_app': None, 'pending': {},
               'action': {'name': name, 'params': values, 'results': {},
                          'failed': False, 'message': None, 'logs': []}}
        extra = {'JUJU_ACTION_NAME': name, 'JUJU_ACTION_UUID': action_id,
                 'JUJU_DISPATCH_PATH': 'actions/' + name}
        extra.update(env or {})
        argv = [str(self.charm_dir / 'dispatch')] if (
            self.charm_dir / 'dispatch').exists() else [str(path)]
        # keyed by context id: parallel actions on one unit keep their own results
        action_env = self._env(extra_path, extra)
        key = action_env['JUJU_CONTEXT_ID']
        self._set_context(ctx, key)
        proc, calls = self._execute(argv, action_env, 'action', name)
        state_ctx = self.model.read_state()['contexts'].get(key, {})
        action = state_ctx.get('action') or ctx['action']
        self._finish_context(commit=proc.returncode == 0, context_key=key)
        self._check_misuse('action ' + name, calls, proc)
        failed = action['failed'] or proc.returncode != 0
        message = action['message']
        if proc.returncode != 0 and not action['failed']:
            message = f'exit status {proc.returncode}'
        result = ActionResult(
            name, action_id, 'failed' if failed else 'completed',
            action['results'], message, proc.stdout, proc.stderr,
            proc.returncode, action['logs'], calls)
        self.model._update(lambda d: d['units'][self.name].setdefault(
            'actions', []).append({'name': name, 'id': action_id,
                                   'params': values,
                                   'status': result.status,
                                   'results': result.results,
                                   'message': message}))
        self.model.settle()
        return result

    # observations ---------------------------------------------------------
    def _rec(self):
        return self.model.read_state()['units'][self.name]

    @property
    def status(self):
        st = self._rec().get('status')
        return (st['status'], st['message']) if st else ('unknown', '')

    @property
    def status_history(self):
        return [(s['status'], s['message']) for s in
                self._rec().get('status_history', [])]

    @property
    def logs(self):
        path = self.dir / 'juju-log.jsonl'
        if not path.exists():
            return []
        with open(path) as fp:
            return [(e['level'], e['message']) for e in map(json.loads, filter(str.strip, fp))]

    @property
    def opened_ports(self):
        return list(self._rec().get('ports', []))

    @property
    def tool_calls(self):
        return self._calls_since(0)

    def calls_to(self, tool):
        return [c for c in self.tool_calls if c['tool'] == tool]

    def relation_data(self, relation, app=False):
        """This unit's (or its app's) committed databag on ``relation``."""
        return relation.data(self.app if app else self.name)

    def captured_text(self):
        parts = [json.dumps(self._rec(), sort_keys=True)]
        for call in self.tool_calls:
            parts.append(json.dumps(call, sort_keys=True))
            parts.extend([' '.join(call['argv']), call.get('stdin', ''),
                          call.get('file', ''),
                          call.get('stdout', ''), call.get('stderr', '')])
        parts.extend(message for _level, message in self.logs)
        for _kind, _name, out, err in self.outputs:
            parts.extend([out, err])
        return '\n'.join(parts)


# ---------------------------------------------------------------------------
# action parameter validation (the subset of JSON schema Juju users rely on)

_TYPES = {
    'string': lambda v: isinstance(v, str),
    'boolean': lambda v: isinstance(v, bool),
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'number': lambda v: isinstance(v, (int, float)) and
    not isinstance(v, bool),
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, list),
    'null': lambda v: v is None,
}


def _check(schema, value, where):
    kind = schema.get('type')
    if kind:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES[k](value) for k in kinds):
            raise ActionInvalid('{}: invalid type: expected {}, given {!r}'
                                .format(where, '/'.join(kinds), value))
    if 'enum' in schema and value not in schema['enum']:
        raise ActionInvalid('{}: must be one of {}'.format(where,
                                                           schema['enum']))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 'minimum' in schema and value < schema['minimum']:
            raise ActionInvalid('{}: must be >= {}'.format(
                where, schema['minimum']))
        if 'maximum' in schema and value > schema['maximum']:
            raise ActionInvalid('{}: must be <= {}'.format(
                where, schema['maximum']))
    if isinstance(value, str):
        if 'minLength' in schema and len(value) < schema['minLength']:
            raise ActionInvalid(f'{where}: too short')
        if 'pattern' in schema:
            import re
            if not re.search(schema['pattern'], value):
                raise ActionInvalid('{}: does not match {}'.format(
                    where, schema['pattern']))
    if isinstance(value, dict):
        _check_object(schema, value, where)


def _check_object(schema, value, where):
    props = schema.get('properties') or {}
    for key in schema.get('required') or []:
        if key not in value:
            raise ActionInvalid(f'{where}: {key} is required')
    if schema.get('additionalProperties', True) is False:
        extra = sorted(set(value) - set(props))
        if extra:
            raise ActionInvalid('{}: additional property {} is not allowed'
                                .format(where, ', '.join(extra)))
    for key, sub in props.items():
        if key in value:
            _check(sub or {}, value[key], f'{where}.{key}')


def validate_action_params(name, spec, values):
    """Validate like Juju (actions.yaml ``params`` as JSON schema
    properties, action-level ``required``/``additionalProperties``) and
    fill in top-level defaults."""
    schema = {'type': 'object', 'properties': spec.get('params') or {},
              'required': spec.get('required') or [],
              'additionalProperties': spec.get('additionalProperties', True)}
    out = dict(values)
    for key, sub in schema['properties'].items():
        if key not in out and isinstance(sub, dict) and 'default' in sub:
            out[key] = sub['default']
    _check_object(schema, out, name)
    return out
