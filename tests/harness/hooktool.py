"""The hook tools of the local Juju agent harness.

Every tool in a unit's tools directory is a tiny shell script that runs::

    <python> hooktool.py <state-file> <unit-name> <tool-name> ARGS...

The state file (JSON, shared by the whole model, guarded by ``flock`` on
``<state-file>.lock``) holds config, relation data, leadership, status, the
current hook context of each unit and the data a hook has written but that
is only committed when the hook exits 0 (relation data, ports). Every
invocation is appended to the unit's calls log (JSON lines).

Exit codes follow Juju: 0 ok, 1 runtime error ("ERROR ..." on stderr),
2 usage error (unknown flag, missing argument). Tools this harness does not
implement exit 1 and are recorded as misuse.

Only the standard library and PyYAML are used.
"""
import argparse
import fcntl
import json
import os
import re
import sys
import time

STATUS_VALUES = ('maintenance', 'blocked', 'waiting', 'active')
LOG_LEVELS = ('TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
ACTION_KEY_RE = re.compile(r'^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$')
RESERVED_ACTION_KEYS = ('stdout', 'stdout-encoding', 'stderr',
                        'stderr-encoding')

# Tools Juju has that this harness deliberately does not implement.
UNIMPLEMENTED = (
    'add-metric', 'credential-get', 'juju-reboot', 'payload-register',
    'payload-status-set', 'payload-unregister', 'pod-spec-get',
    'pod-spec-set', 'k8s-spec-set', 'k8s-raw-set', 'resource-get',
    'state-delete', 'state-get', 'state-set', 'storage-add', 'storage-get',
    'storage-list', 'secret-add', 'secret-set', 'secret-remove',
    'secret-grant', 'secret-revoke', 'secret-info-get', 'function-get',
    'function-set', 'function-fail', 'function-log', 'relation-model-get',
    'open-ports', 'juju-run', 'juju-exec',
)


class _LazyYaml:
    """PyYAML imported on first use: most tool calls only need JSON.

    The tools run with ``python -S`` (no site-packages: a hook makes ~20 tool calls and
    site's .pth processing was most of each one's start-up); site is loaded for PyYAML only.
    """

    def __getattr__(self, name):
        try:
            import yaml as real
        except ImportError:
            import site
            site.main()
            import yaml as real
        return getattr(real, name)


yaml = _LazyYaml()


class ToolError(Exception):
    """Runtime failure: 'ERROR <msg>' on stderr, exit 1."""


class UsageError(Exception):
    """Bad flags or arguments: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parser(tool, formats=True):
    p = _Parser(prog=tool, add_help=False, allow_abbrev=False)
    p.add_argument('-h', '--help', action='store_true')
    if formats:
        p.add_argument('--format', default='smart',
                       choices=('smart', 'json', 'yaml'))
        p.add_argument('-o', '--output', default=None)
    return p


def version_tuple(text):
    parts = re.findall(r'\d+', text or '0')
    return tuple(int(p) for p in parts[:3])


# --------------------------------------------------------------------------
# State access


class State:
    def __init__(self, path):
        self.path = path
        self._lock = None
        self.data = None

    def __enter__(self):
        self._lock = open(self.path + '.lock', 'a')
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        with open(self.path) as fp:
            self.data = json.load(fp)
        return self

    def save(self):
        tmp = f'{self.path}.tmp.{os.getpid()}'
        with open(tmp, 'w') as fp:
            json.dump(self.data, fp, sort_keys=True, separators=(',', ':'))
        os.replace(tmp, self.path)

    def __exit__(self, *exc):
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


class Tool:
    def __init__(self, state, unit, name, args, stdin_text, cwd=None, context_id=''):
        self.state = state
        self.cwd = cwd
        self.context_id = context_id
        self.data = state.data
        self.unit = unit
        self.name = name
        self.args = args
        self.stdin_text = stdin_text
        self.out = ''
        self.file_text = None
        self.dirty = False

    # helpers ---------------------------------------------------------------
    @property
    def unit_rec(self):
        return self.data['units'][self.unit]

    @property
    def app(self):
        return self.unit.split('/')[0]

    @property
    def app_rec(self):
        return self.data['apps'][self.app]

    @property
    def ctx(self):
        ctx = context_of(self.data, self.unit, self.context_id)
        if not ctx:
            raise ToolError('not running in a hook or action context')
        return ctx

    def is_leader(self):
        return self.app_rec.get('leader') == self.unit

    def juju3(self):
        return version_tuple(self.data['model']['juju_version']) >= (3,)

    def emit(self, value, fmt):
        if fmt == 'json':
            self.out += json.dumps(value) + '\n'
        elif fmt == 'yaml':
            self.out += yaml.safe_dump(value, default_flow_style=False)
        else:  # smart
            if value is None:
                return
            if isinstance(value, bool):
                self.out += ('True' if value else 'False') + '\n'
            elif isinstance(value, (str, int, float)):
                self.out += f'{value}\n'
            else:
                self.out += yaml.safe_dump(value, default_flow_style=False)

    def relation(self, rid):
        rec = self.unit_rec.get('relations', {}).get(rid)
        rel = self.data['relations'].get(str(rec['id'])) if rec else None
        if rel is None:
            raise ToolError(f'invalid value "{rid}" for option -r: relation not '
                            'found')
        return rel

    def resolve_rid(self, rid):
        if rid is None:
            rid = self.ctx.get('relation_id')
            if not rid:
                raise UsageError('no relation id specified')
        elif ':' not in rid:
            # Juju accepts a bare number too
            for known, rec in self.unit_rec.get('relations', {}).items():
                if str(rec['id']) == rid:
                    return known
        return rid

    def pending_rel(self, rid):
        pend = self.ctx.setdefault('pending', {}).setdefault('relations', {})
        return pend.setdefault(rid, {'unit': {}, 'app': {}})

    # tools -----------------------------------------------------------------
    def run(self):
        handler = getattr(self, 'tool_' + self.name.replace('-', '_'), None)
        if handler is None:
            raise ToolError(f'{self.name}: not implemented by the test harness'
                            )
        handler()

    def tool_config_get(self):
        p = parser(self.name)
        p.add_argument('-a', '--all', action='store_true')
        p.add_argument('key', nargs='?')
        a = p.parse_args(self.args)
        config = self.app_rec['config']
        if a.key is not None:
            if a.all:
                raise UsageError('cannot use argument --all together with '
                                 f'key "{a.key}"')
            self.emit(config.get(a.key), a.format)
        elif a.all:
            self.emit(config, a.format)
        else:
            self.emit({k: v for k, v in config.items() if v is not None},
                      a.format)

    def tool_juju_log(self):
        # Go-style flags: parsing stops at the first non-flag argument, so a
        # message may itself start with "-".
        args = list(self.args)
        level = 'INFO'
        while args and args[0].startswith('-'):
            flag = args.pop(0)
            if flag == '--':
                break
            if flag == '--debug':
                level = 'DEBUG'
            elif flag in ('-l', '--log-level'):
                if not args:
                    raise UsageError('flag needs an argument: ' + flag)
                level = args.pop(0)
            elif flag.startswith(('-l=', '--log-level=')):
                level = flag.split('=', 1)[1]
            else:
                raise UsageError('flag provided but not defined: ' + flag)
        if level.upper() not in LOG_LEVELS:
            raise UsageError(f'invalid log level "{level}"')
        if not args:
            raise UsageError('no message specified')
        self.add_log(level.upper(), ' '.join(args))

    def add_log(self, level, message):
        # appended to the unit's own log file (read by Unit.logs), not the state: the
        # state is read and rewritten by every tool call and would grow with every line
        with open(log_file(self.unit_rec['calls_file']), 'a') as fp:
            fp.write(json.dumps({'level': level, 'message': message,
                                 'hook': context_of(self.data, self.unit, self.context_id).get('hook')}) + '\n')

    def tool_status_set(self):
        p = parser(self.name, formats=False)
        p.add_argument('--application', action='store_true')
        p.add_argument('status')
        p.add_argument('message', nargs='?', default='')
        a = p.parse_args(self.args)
        if a.status not in STATUS_VALUES:
            raise ToolError(f'invalid status "{a.status}", expected one of {list(STATUS_VALUES)}')
        entry = {'status': a.status, 'message': a.message,
                 'hook': context_of(self.data, self.unit, self.context_id).get('hook'),
                 'time': time.time()}
        if a.application:
            if not self.is_leader():
                raise ToolError('this unit is not the leader')
            target = self.app_rec
        else:
            target = self.unit_rec
        target['status'] = {'status': a.status, 'message': a.message}
        target.setdefault('status_history', []).append(entry)
        self.dirty = True

    def tool_status_get(self):
        p = parser(self.name)
        p.add_argument('--include-data', action='store_true')
        p.add_argument('--application', action='store_true')
        a = p.parse_args(self.args)

        def view(rec):
            st = rec.get('status') or {'status': 'unknown', 'message': ''}
            if a.include_data:
                return {'status': st['status'], 'message': st['message'],
                        'status-data': {}}
            return st['status']
        if a.application:
            if not self.is_leader():
                raise ToolError('finding service status: this unit is not '
                                'the leader')
            units = {u: view(r) for u, r in self.data['units'].items()
                     if r['app'] == self.app}
            value = {'application-status': dict(
                view(self.app_rec) if a.include_data
                else {'status': view(self.app_rec)}, units=units)}
            self.emit(value, a.format)
        else:
            self.emit(view(self.unit_rec), a.format)

    def tool_is_leader(self):
        a = parser(self.name).parse_args(self.args)
        self.emit(self.is_leader(), a.format)

    def tool_leader_get(self):
        p = parser(self.name)
        p.add_argument('key', nargs='?', default='-')
        a = p.parse_args(self.args)
        settings = self.app_rec.setdefault('leader_settings', {})
        self.emit(settings if a.key == '-' else settings.get(a.key), a.format)

    def tool_leader_set(self):
        p = parser(self.name, formats=False)
        p.add_argument('settings', nargs='*')
        a = p.parse_args(self.args)
        if not self.is_leader():
            raise ToolError('cannot write leadership settings: cannot write '
                            'settings: not the leader')
        settings = self.app_rec.setdefault('leader_settings', {})
        for key, value in parse_kv(a.settings).items():
            if value == '':
                settings.pop(key, None)
            else:
                settings[key] = value
        self.dirty = True

    def tool_application_version_set(self):
        p = parser(self.name, formats=False)
        p.add_argument('version')
        a = p.parse_args(self.args)
        self.app_rec['workload_version'] = a.version
        self.dirty = True

    def tool_unit_get(self):
        p = parser(self.name)
        p.add_argument('key', choices=('private-address', 'public-address'))
        a = p.parse_args(self.args)
        self.emit(self.unit_rec['address'], a.format)

    def tool_open_port(self):
        self._port_op(True)

    def tool_close_port(self):
        self._port_op(False)

    def _port_op(self, opening):
        p = parser(self.name, formats=False)
        p.add_argument('--endpoints', default=None)
        p.add_argument('port')
        a = p.parse_args(self.args)
        spec = a.port.lower()
        if spec != 'icmp' and not re.match(
                r'^\d+(-\d+)?(/(tcp|udp))?$', spec):
            raise ToolError(f'invalid port "{a.port}"')
        if spec != 'icmp' and '/' not in spec:
            spec += '/tcp'
        ports = self.ctx.setdefault('pending', {}).setdefault('ports', [])
        ports.append(['open' if opening else 'close', spec])
        self.dirty = True

    def tool_opened_ports(self):
        p = parser(self.name)
        p.add_argument('--endpoints', action='store_true')
        a = p.parse_args(self.args)
        self.emit(list(self.unit_rec.get('ports', [])), a.format)

    def tool_network_get(self):
        p = parser(self.name)
        p.add_argument('-r', '--relation', dest='rid', default=None)
        p.add_argument('--primary-address', action='store_true')
        p.add_argument('--bind-address', action='store_true')
        p.add_argument('--ingress-address', action='store_true')
        p.add_argument('--egress-subnets', action='store_true')
        p.add_argument('binding')
        a = p.parse_args(self.args)
        endpoints = self.data['charms'].get(self.app, {}).get('endpoints', [])
        if endpoints and a.binding not in endpoints:
            raise ToolError(f'no network config found for binding "{a.binding}"'
                            )
        addr = self.unit_rec['address']
        if a.primary_address or a.bind_address or a.ingress_address:
            self.emit(addr, a.format)
            return
        if a.egress_subnets:
            self.emit(addr + '/32', a.format)
            return
        self.emit({
            'bind-addresses': [{
                'mac-address': '', 'interface-name': 'eth0',
                'addresses': [{'hostname': '', 'address': addr,
                               'cidr': addr.rsplit('.', 1)[0] + '.0/24'}]}],
            'egress-subnets': [addr + '/32'],
            'ingress-addresses': [addr]}, a.format)

    def tool_goal_state(self):
        a = parser(self.name).parse_args(self.args)
        units = {u: {'status': 'active', 'since': '2024-01-01 00:00:00Z'}
                 for u, r in self.data['units'].items()
                 if r['app'] == self.app}
        relations = {}
        for rec in self.unit_rec.get('relations', {}).values():
            rel = self.data['relations'][str(rec['id'])]
            endpoint = rel['endpoints'][self.app]
            entry = relations.setdefault(endpoint, {})
            for app in rel['endpoints']:
                if app == self.app:
                    continue
                entry[app] = {'status': 'joined',
                              'since': '2024-01-01 00:00:00Z'}
                for u, r in self.data['units'].items():
                    if r['app'] == app:
                        entry[u] = {'status': 'active',
                                    'since': '2024-01-01 00:00:00Z'}
        self.emit({'units': units, 'relations': relations}, a.format)

    # relations --------------------------------------------------------------
    def tool_relation_ids(self):
        p = parser(self.name)
        p.add_argument('name', nargs='?')
        a = p.parse_args(self.args)
        name = a.name
        if name is None:
            rid = self.ctx.get('relation_id')
            if not rid:
                raise UsageError('no endpoint name specified')
            name = rid.split(':')[0]
        # Juju lists nothing for a name the charm has no endpoint for (charmhelpers' NRPE
        # asks for local-monitors and nrpe-external-master whatever the charm declares).
        rids = [rid for rid in self.unit_rec.get('relations', {})
                if rid.split(':')[0] == name]
        self.emit(sorted(rids, key=lambda r: int(r.split(':')[1])), a.format)

    def tool_relation_list(self):
        p = parser(self.name)
        p.add_argument('-r', '--relation', dest='rid', default=None)
        p.add_argument('--app', action='store_true')
        a = p.parse_args(self.args)
        rid = self.resolve_rid(a.rid)
        self.relation(rid)
        if a.app:
            rel = self.relation(rid)
            remote = [app for app in rel['endpoints'] if app != self.app]
            self.emit(remote[0] if remote else self.app, a.format)
            return
        units = list(self.unit_rec['relations'][rid]['remote_units'])
        self.emit(units, a.format)

    def tool_relation_get(self):
        p = parser(self.name)
        p.add_argument('-r', '--relation', dest='rid', default=None)
        p.add_argument('--app', action='store_true')
        p.add_argument('key', nargs='?', default='-')
        p.add_argument('target', nargs='?', default=None)
        a = p.parse_args(self.args)
        rid = self.resolve_rid(a.rid)
        rel = self.relation(rid)
        ctx = self.ctx
        target = a.target
        if a.app:
            if target is None:
                target = ctx.get('remote_app')
            if not target:
                raise UsageError('no unit or application specified')
            target = target.split('/')[0]
            if target not in rel['endpoints']:
                raise ToolError('permission denied')
            if target == self.app and not self.is_leader():
                raise ToolError('permission denied')
            data = dict(rel['data'].get(target, {}))
            if target == self.app:
                data = apply_pending(data, self.pending_rel(rid)['app'])
        else:
            if target is None:
                target = ctx.get('remote_unit') if ctx.get(
                    'relation_id') == rid or a.rid is None else None
            if not target:
                raise UsageError('no unit id specified')
            if '/' not in target:
                raise UsageError(f'"{target}" is not a valid unit name'
                                 )
            if target != self.unit:
                visible = self.unit_rec['relations'][rid]['remote_units']
                departing = ctx.get('departing_unit')
                if target not in visible and target != departing and \
                        target not in rel['data']:
                    raise ToolError(f'cannot read settings for unit "{target}" in '
                                    f'relation "{rid}": unit "{target}": settings not '
                                    'found')
            data = dict(rel['data'].get(target, {}))
            if target == self.unit:
                data = apply_pending(data, self.pending_rel(rid)['unit'])
        if a.key == '-':
            self.emit(data, a.format)
        else:
            self.emit(data.get(a.key), a.format)

    def tool_relation_set(self):
        p = parser(self.name, formats=False)
        p.add_argument('-r', '--relation', dest='rid', default=None)
        p.add_argument('--app', action='store_true')
        p.add_argument('--file', default=None)
        p.add_argument('--format', default='')  # accepted, ignored by Juju
        p.add_argument('settings', nargs='*')
        if self.args in (['--help'], ['-h']):
            self.out = (
                'Usage: relation-set [options] key=value [key=value ...]\n'
                '    --app  (= false)\n    --file  (= )\n'
                '    -r, --relation  (= )\n')
            return
        a = p.parse_args(self.args)
        rid = self.resolve_rid(a.rid)
        self.relation(rid)
        settings = {}
        if a.file is not None:
            if a.file == '-':
                text = self.stdin_text
            else:
                with open(os.path.join(self.cwd or '', a.file)) as fp:
                    text = fp.read()
                self.file_text = text  # recorded: the file is deleted later
            loaded = yaml.safe_load(text) or {}
            if not isinstance(loaded, dict):
                raise ToolError('expected YAML map in --file')
            for key, value in loaded.items():
                if value is not None and not isinstance(value, str):
                    raise ToolError('cannot parse settings: value for key '
                                    f'"{key}" is not a string')
                settings[str(key)] = '' if value is None else value
        settings.update(parse_kv(a.settings))
        if a.app and not self.is_leader():
            raise ToolError('cannot write relation settings: permission '
                            'denied (unit is not the leader)')
        pend = self.pending_rel(rid)['app' if a.app else 'unit']
        for key, value in settings.items():
            pend[key] = None if value == '' else value
        self.dirty = True

    # actions -------------------------------------------------------------
    def action_ctx(self):
        action = self.ctx.get('action')
        if not action:
            raise ToolError('not running an action')
        return action

    def tool_action_get(self):
        p = parser(self.name)
        p.add_argument('key', nargs='?')
        a = p.parse_args(self.args)
        params = self.action_ctx()['params']
        if a.key is None:
            self.emit(params, a.format)
            return
        value = params
        for part in a.key.split('.'):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        self.emit(value, a.format)

    def tool_action_set(self):
        p = parser(self.name, formats=False)
        p.add_argument('settings', nargs='+')
        a = p.parse_args(self.args)
        action = self.action_ctx()
        results = action.setdefault('results', {})
        for arg in a.settings:
            if '=' not in arg:
                raise UsageError(f'argument "{arg}" must be of the form '
                                 'key...=value')
            key, value = arg.split('=', 1)
            parts = key.split('.')
            for part in parts:
                if not ACTION_KEY_RE.match(part):
                    raise UsageError(
                        f'key "{key}" must start and end with lowercase '
                        'alphanumeric, and contain only lowercase '
                        'alphanumeric, hyphens and periods')
            if parts[0] in RESERVED_ACTION_KEYS:
                raise UsageError(f'cannot set reserved action key "{key}"'
                                 )
            node = results
            for part in parts[:-1]:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = node[part] = {}
                node = nxt
            node[parts[-1]] = value
        self.dirty = True

    def tool_action_fail(self):
        p = parser(self.name, formats=False)
        p.add_argument('message', nargs='?', default=None)
        a = p.parse_args(self.args)
        action = self.action_ctx()
        action['failed'] = True
        action['message'] = (a.message if a.message is not None
                             else 'action failed without reason given, '
                                  'check action for errors')
        self.dirty = True

    def tool_action_log(self):
        p = parser(self.name, formats=False)
        p.add_argument('message', nargs='+')
        a = p.parse_args(self.args)
        self.action_ctx().setdefault('logs', []).append(' '.join(a.message))
        self.dirty = True

    # secrets ---------------------------------------------------------------
    def find_secret(self, uri=None, label=None):
        """(uri, record) of a secret by URI (``secret:<id>``, ``secret://<model>/<id>`` or a
        bare id) or label; Juju's errors otherwise."""
        secrets = self.data.setdefault('secrets', {})
        if uri:
            xid = secret_xid(uri)
            if xid is None:
                raise ToolError(f'secret URI "{uri}" not valid')
            key = 'secret:' + xid
            if key not in secrets:
                raise ToolError(f'secret "{xid}" not found')
            return key, secrets[key]
        for key, candidate in secrets.items():
            if label and candidate.get('label') == label:
                return key, candidate
        raise ToolError(f'secret "{label}" not found')

    def tool_secret_get(self):
        if version_tuple(self.data['model']['juju_version']) < (3, 0):
            raise ToolError('secret-get: command not found (Juju < 3.0)')
        p = parser(self.name)
        p.add_argument('--label', default=None)
        p.add_argument('--peek', action='store_true')
        p.add_argument('--refresh', action='store_true')
        p.add_argument('uri', nargs='?')
        p.add_argument('key', nargs='?')
        a = p.parse_args(self.args)
        if not a.uri and not a.label:
            raise UsageError('require either a secret URI or label')
        if a.peek and a.refresh:
            raise UsageError('specify one of --peek or --refresh but not both')
        uri, secret = self.find_secret(a.uri, a.label)
        owner = secret.get('owner')
        is_owner = owner == self.app
        if not is_owner and self.app not in secret.get('grants', []) \
                and self.unit not in secret.get('grants', []):
            raise ToolError('permission denied')
        if is_owner and a.refresh:
            raise ToolError('secret owner cannot use --refresh')
        latest = secret['latest']
        tracked = secret.setdefault('tracked', {})
        if is_owner or a.peek:
            revision = latest
        elif a.refresh or self.unit not in tracked:
            # a consumer unit's first read tracks the latest revision; --refresh moves it there
            revision = latest
            if tracked.get(self.unit) != latest:
                tracked[self.unit] = latest
                self.dirty = True
        else:
            revision = tracked[self.unit]
        content = secret['revisions'][str(revision)]
        if a.key:
            if a.key not in content:
                raise ToolError(f'secret key "{a.key}" not found')
            self.emit(content[a.key], a.format)
        else:
            self.emit(content, a.format)

    def tool_secret_ids(self):
        a = parser(self.name).parse_args(self.args)
        self.emit(sorted(u for u, s in self.data.get('secrets', {}).items()
                         if s.get('owner') == self.app), a.format)


SECRET_XID = re.compile(r'[0-9a-v]{20}')


def secret_xid(uri):
    """The secret's id in ``secret:<id>``, ``secret://<model uuid>/<id>`` or ``<id>``."""
    text = uri
    if text.startswith('secret://'):
        text = text[len('secret://'):].split('/', 1)[-1]
    elif text.startswith('secret:'):
        text = text[len('secret:'):]
    return text if SECRET_XID.fullmatch(text) else None


def parse_kv(items):
    out = {}
    for item in items:
        if '=' not in item:
            raise UsageError(f'expected "key=value", got "{item}"')
        key, value = item.split('=', 1)
        out[key] = value
    return out


def apply_pending(data, pending):
    for key, value in pending.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def log_file(calls_file):
    """The unit's juju-log file (JSON lines), next to its calls log."""
    return os.path.join(os.path.dirname(calls_file), 'juju-log.jsonl')


def context_of(data, unit, context_id):
    """The running hook's or action's context: actions run in parallel (Juju 3
    ``parallel: true``) are keyed by their JUJU_CONTEXT_ID, hooks by the unit."""
    contexts = data['contexts']
    return contexts.get(context_id or '') or contexts.get(unit) or {}


def needs_stdin(tool, args):
    """Whether the tool reads its standard input (relation-set --file -)."""
    return tool == 'relation-set' and ('-' in args or '--file=-' in args)


def call(state_path, unit, tool, args, stdin_text='', context_id='', cwd=None):
    """Run one tool call against the state file: (exit code, stdout, stderr). ``cwd``:
    the caller's directory, for relative file arguments; ``context_id``: its
    JUJU_CONTEXT_ID. The tool scripts reach this through main() or the tool server."""
    record = {'tool': tool, 'argv': [tool] + list(args), 'stdin': stdin_text,
              'time': time.time()}
    rc = 0
    out = ''
    err = ''
    with State(state_path) as state:
        record['hook'] = context_of(state.data, unit, context_id).get('hook')
        t = Tool(state, unit, tool, list(args), stdin_text, cwd, context_id)
        try:
            if tool in UNIMPLEMENTED:
                raise ToolError(f'{tool} is not implemented by the test harness'
                                )
            t.run()
            out = t.out
        except UsageError as e:
            rc, err = 2, f'ERROR {e}\n'
            record['misuse'] = True
        except ToolError as e:
            rc, err = 1, f'ERROR {e}\n'
            if tool in UNIMPLEMENTED:
                record['misuse'] = True
        record.update(rc=rc, stdout=out, stderr=err)
        if t.file_text is not None:
            record['file'] = t.file_text
        if rc == 0 and t.dirty:
            state.save()
        calls_file = state.data['units'][unit]['calls_file']
        with open(calls_file, 'a') as fp:
            fp.write(json.dumps(record) + '\n')
    return rc, out, err


def main(argv):
    state_path, unit, tool = argv[1], argv[2], argv[3]
    args = argv[4:]
    stdin_text = sys.stdin.read() if needs_stdin(tool, args) else ''
    rc, out, err = call(state_path, unit, tool, args, stdin_text,
                        os.environ.get('JUJU_CONTEXT_ID', ''), os.getcwd())
    if out:
        sys.stdout.write(out)
    if err:
        sys.stderr.write(err)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))
