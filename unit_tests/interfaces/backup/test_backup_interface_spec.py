"""Pure parsing, validation and merging of the backup interface data."""

import datetime

import pytest

# ---------------------------------------------------------------- paths

@pytest.mark.parametrize('path', [
    '/',
    '/srv',
    '/var/lib/postgresql/14/main',
    '/srv/My Files',
    '/opt/app-1.2_x+y@z:~=%',
    '/srv//data/',
])
def test_sane_paths(provides, path):
    assert provides.path_problem(path) is None
    assert provides.is_sane_path(path)


@pytest.mark.parametrize('path, reason', [
    ('', 'is empty'),
    (None, 'is not a string'),
    (b'/srv', 'is not a string'),
    ('srv/data', 'is not an absolute path'),
    ('./srv', 'is not an absolute path'),
    ('~/data', 'is not an absolute path'),
    ('$(rm -rf /)', 'is not an absolute path'),
    (' /srv', 'leading or trailing whitespace'),
    ('/srv ', 'leading or trailing whitespace'),
    ('/srv\n/etc', 'control character'),
    ('/srv\t', 'control character'),
    ('/srv\x00', 'control character'),
    ('/srv,/etc', 'contains a comma'),
    ('/srv/$(rm -rf /)', 'not allowed in a backup path: $'),
    ('/srv/`id`', 'not allowed in a backup path: `'),
    ('/srv/*.log', 'not allowed in a backup path: *'),
    ('/srv/[ab]', 'not allowed in a backup path: [ ]'),
    ('/srv;reboot', 'not allowed in a backup path: ;'),
    ('/srv/../etc', "'..' component"),
    ('/srv/./x', "'..' component"),
    ('/' + 'a' * 5000, 'longer than'),
])
def test_insane_paths(provides, path, reason):
    problem = provides.path_problem(path)
    assert problem is not None and reason in problem
    assert not provides.is_sane_path(path)


@pytest.mark.parametrize('path, normal', [
    ('/', '/'),
    ('//', '/'),
    ('/srv/', '/srv'),
    ('/srv//data///', '/srv/data'),
    ('/srv/data', '/srv/data'),
])
def test_normalize_path(provides, path, normal):
    assert provides.normalize_path(path) == normal


# -------------------------------------------------------------- fileset

@pytest.mark.parametrize('text, paths', [
    ('/srv', ['/srv']),
    ('/srv,/etc', ['/etc', '/srv']),
    (' /srv , /etc ', ['/etc', '/srv']),
    ('/srv,,/etc,', ['/etc', '/srv']),
    ('/srv,\n/etc', ['/etc', '/srv']),
    ('/srv,/srv/,//srv', ['/srv']),
    ('/b,/a,/c,/a', ['/a', '/b', '/c']),
    ('/srv/My Files', ['/srv/My Files']),
])
def test_parse_fileset_valid(provides, text, paths):
    assert provides.parse_fileset(text) == (paths, [])


@pytest.mark.parametrize('text, paths, needles', [
    (None, [], ['fileset is empty']),
    ('', [], ['fileset is empty']),
    ('  ', [], ['fileset is empty']),
    (',,', [], ['fileset is empty']),
    ('var/lib', [], ["'var/lib' is not an absolute path"]),
    ('/srv,var/lib', ['/srv'], ["'var/lib' is not an absolute path"]),
    ('$(rm -rf /)', [], ["'$(rm -rf /)' is not an absolute path"]),
    ('/srv\n/etc', [], ["'/srv\\n/etc' contains a control character"]),
    ('/srv /etc', [], ['separated by whitespace']),
    ('/srv,../x,/tmp/*', ['/srv'],
     ["'../x' is not an absolute path", "'/tmp/*' contains characters"]),
    (42, [], ['not a string']),
])
def test_parse_fileset_invalid(provides, text, paths, needles):
    got_paths, problems = provides.parse_fileset(text)
    assert got_paths == paths
    assert len(problems) == len(needles)
    for problem, needle in zip(problems, needles):
        assert needle in problem


@pytest.mark.parametrize('key, value, expected', [
    ('run-before-backup', None, (None, None)),
    ('run-before-backup', '', (None, None)),
    ('run-before-backup', '/usr/local/bin/dump', ('/usr/local/bin/dump', None)),
    ('run-after-restore', '/opt//x/', ('/opt/x', None)),
])
def test_parse_hook_path_valid(provides, key, value, expected):
    assert provides.parse_hook_path(key, value) == expected


@pytest.mark.parametrize('value, needle', [
    ('scripts/dump', 'is not an absolute path'),
    ('/bin/sh -c "rm -rf /"', 'not allowed in a backup path'),
    ('/usr/bin/dump\n', 'control character'),
    ('/a,/b', 'contains a comma'),
])
def test_parse_hook_path_invalid(provides, value, needle):
    path, problem = provides.parse_hook_path('run-before-backup', value)
    assert path is None
    assert problem.startswith(f'run-before-backup {value!r} ')
    assert needle in problem


# ----------------------------------------------------------- hook paths

@pytest.mark.parametrize('path, unit, mapped', [
    ('/var/lib/juju/agents/unit-app-0/charm/hooks/pre',
     'app/3', '/var/lib/juju/agents/unit-app-3/charm/hooks/pre'),
    ('/var/lib/juju/agents/unit-my-app-12/charm/x',
     'my-app/7', '/var/lib/juju/agents/unit-my-app-7/charm/x'),
    ('/var/lib/juju/agents/unit-app-0/charm',
     'app/3', '/var/lib/juju/agents/unit-app-3/charm'),
    # already this machine's unit
    ('/var/lib/juju/agents/unit-app-3/charm/x',
     'app/3', '/var/lib/juju/agents/unit-app-3/charm/x'),
    # another application's unit: untouched
    ('/var/lib/juju/agents/unit-other-0/charm/x',
     'app/3', '/var/lib/juju/agents/unit-other-0/charm/x'),
    # a prefix of the name is not the same application
    ('/var/lib/juju/agents/unit-app-x-0/charm/x',
     'app/3', '/var/lib/juju/agents/unit-app-x-0/charm/x'),
    # outside the charm dir: untouched
    ('/var/lib/juju/agents/unit-app-0/state/x',
     'app/3', '/var/lib/juju/agents/unit-app-0/state/x'),
    ('/var/lib/juju/agents/unit-app-0/charmx',
     'app/3', '/var/lib/juju/agents/unit-app-0/charmx'),
    ('/usr/local/bin/pre', 'app/3', '/usr/local/bin/pre'),
    # no unit known: untouched
    ('/var/lib/juju/agents/unit-app-0/charm/x',
     None, '/var/lib/juju/agents/unit-app-0/charm/x'),
])
def test_map_hook_path(provides, path, unit, mapped):
    assert provides.map_hook_path(path, unit) == mapped


# ---------------------------------------------------------------- merge

def test_merge_nothing(provides):
    spec = provides.merge_specs([])
    assert spec.paths == [] and spec.problems == [] and spec.sources == []
    assert spec.hooks == {key: [] for key in provides.HOOK_KEYS}
    assert spec.ok and spec.empty


def test_merge_several_requirers(provides):
    charm0 = '/var/lib/juju/agents/unit-pg-0/charm'
    spec = provides.merge_specs([
        provides.RequirerData('backup:12', 'web', {
            'fileset': '/srv/www,/etc/nginx',
            'run-before-backup': '/usr/local/bin/web-pre',
        }, 'web/1'),
        ('backup:3', 'pg', {
            'fileset': '/var/lib/postgresql,/etc/nginx',
            'run-before-backup': charm0 + '/files/dump',
            'run-after-backup': charm0 + '/files/cleanup',
            'run-after-restore': '',
            'some-future-key': 'ignored',
        }, 'pg/3'),
        ('backup:5', 'idle', {}),
    ])
    assert spec.ok and not spec.empty
    assert spec.paths == ['/etc/nginx', '/srv/www', '/var/lib/postgresql']
    # relation-id order, numerically: backup:3 before backup:12
    assert spec.sources == ['backup:3 (pg)', 'backup:12 (web)']
    assert spec.pending == ['backup:5 (idle)']
    charm3 = '/var/lib/juju/agents/unit-pg-3/charm'
    assert spec.hooks['run-before-backup'] == [
        ('backup:3 (pg)', charm3 + '/files/dump'),
        ('backup:12 (web)', '/usr/local/bin/web-pre'),
    ]
    assert spec.hooks['run-after-backup'] == [
        ('backup:3 (pg)', charm3 + '/files/cleanup')]
    assert spec.hooks['run-before-restore'] == []
    assert spec.hooks['run-after-restore'] == []
    assert spec.mappings == [
        ('backup:3 (pg)', 'run-before-backup',
         charm0 + '/files/dump', charm3 + '/files/dump'),
        ('backup:3 (pg)', 'run-after-backup',
         charm0 + '/files/cleanup', charm3 + '/files/cleanup'),
    ]


def test_merge_same_hook_twice_runs_once(provides):
    data = {'fileset': '/srv', 'run-before-backup': '/usr/bin/pre'}
    spec = provides.merge_specs([('backup:1', 'a', data),
                                 ('backup:2', 'b', data)])
    assert spec.hooks['run-before-backup'] == [('backup:1 (a)', '/usr/bin/pre')]


@pytest.mark.parametrize('data, needles', [
    ({'fileset': 'var/lib/x'},
     ["backup:7 (app): fileset entry 'var/lib/x' is not an absolute path"]),
    ({'fileset': '/srv', 'run-before-backup': 'hooks/pre'},
     ["backup:7 (app): run-before-backup 'hooks/pre' is not an absolute path"]),
    ({'run-after-backup': '/usr/bin/post'},
     ['backup:7 (app): fileset is empty']),
    ({'fileset': '/srv\n/etc;reboot'},
     ["backup:7 (app): fileset entry '/srv\\n/etc;reboot' contains a control"]),
    ({'fileset': '/srv,$(rm -rf /)'},
     ["backup:7 (app): fileset entry '$(rm -rf /)' is not an absolute path"]),
])
def test_merge_problems_name_relation_and_value(provides, data, needles):
    spec = provides.merge_specs([('backup:7', 'app', data, 'app/0')])
    assert not spec.ok
    assert len(spec.problems) == len(needles)
    for problem, needle in zip(spec.problems, needles):
        assert problem.startswith(needle)
    assert spec.sources == ['backup:7 (app)']


@pytest.mark.parametrize('data, key', [
    ({'fileset': 'relative/' + 'x' * 300000}, 'fileset'),
    ({'fileset': '/' + 'x' * 300000}, 'fileset'),
    ({'fileset': ','.join('bad{}'.format(n) for n in range(20000))}, 'fileset'),
    ({'fileset': '/srv', 'run-before-backup': 'relative/' + 'y' * 300000}, 'run-before-backup'),
    ({'fileset': '/srv', 'run-after-restore': '/srv/' + '\n' * 300000}, 'run-after-restore'),
])
def test_huge_relation_values_give_few_short_problems_naming_the_key(provides, data, key):
    spec = provides.merge_specs([('backup:7', 'app', data, 'app/0')])
    assert spec.problems
    assert len(spec.problems) <= provides.MAX_FILESET_PROBLEMS + 1
    assert key in spec.problems[0] and 'backup:7 (app)' in spec.problems[0]
    assert all(len(problem) < 200 for problem in spec.problems), spec.problems


def test_many_bad_fileset_entries_are_counted_not_listed(provides):
    spec = provides.merge_specs([('backup:7', 'app', {'fileset': 'a,b,c,d,e,/ok'})])
    assert spec.paths == ['/ok']
    assert len(spec.problems) == 4
    assert spec.problems[-1].endswith('fileset has 2 more invalid entries')


def test_merge_keeps_valid_entries_next_to_problems(provides):
    spec = provides.merge_specs([
        ('backup:1', 'good', {'fileset': '/srv'}),
        ('backup:2', 'bad', {'fileset': '/etc,relative',
                             'run-before-backup': '/usr/bin/ok'}),
    ])
    assert spec.paths == ['/etc', '/srv']
    assert spec.hooks['run-before-backup'] == [('backup:2 (bad)', '/usr/bin/ok')]
    assert spec.problems == [
        "backup:2 (bad): fileset entry 'relative' is not an absolute path"]


def test_spec_to_dict_roundtrip_and_equality(provides):
    entries = [('backup:1', 'a', {'fileset': '/srv,/etc',
                                  'run-after-restore': '/usr/bin/x'})]
    one, two = provides.merge_specs(entries), provides.merge_specs(entries)
    assert one == two
    assert one.to_dict() == {
        'paths': ['/etc', '/srv'],
        'hooks': {'run-before-backup': [], 'run-after-backup': [],
                  'run-before-restore': [],
                  'run-after-restore': [['backup:1 (a)', '/usr/bin/x']]},
        'problems': [], 'mappings': [],
        'sources': ['backup:1 (a)'], 'pending': [],
    }
    assert one != provides.merge_specs([])


# --------------------------------------------------------------- status

@pytest.mark.parametrize('time, iso', [
    (datetime.datetime(2024, 5, 1, 3, 4, 5), '2024-05-01T03:04:05Z'),
    (datetime.datetime(2024, 5, 1, 5, 4, 5, 123,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     '2024-05-01T03:04:05Z'),
    (0, '1970-01-01T00:00:00Z'),
    (1714532645.9, '2024-05-01T03:04:05Z'),
    ('2024-05-01T03:04:05Z', '2024-05-01T03:04:05Z'),
    ('2024-05-01T05:04:05+02:00', '2024-05-01T03:04:05Z'),
])
def test_status_data(provides, time, iso):
    assert provides.status_data(time, 'ok', 'incremental') == {
        'last-backup-time': iso,
        'last-backup-status': 'ok',
        'last-backup-type': 'incremental',
    }


@pytest.mark.parametrize('args', [
    ('yesterday', 'ok', 'full'),
    (None, 'ok', 'full'),
    (True, 'ok', 'full'),
    (0, 'success', 'full'),
    (0, 'OK', 'full'),
    (0, 'ok', ''),
    (0, 'ok', 'full\nx'),
    (0, 'ok', None),
])
def test_status_data_invalid(provides, args):
    with pytest.raises(ValueError):
        provides.status_data(*args)


# ------------------------------------------------------ requirer's data

@pytest.mark.parametrize('kwargs, data', [
    ({'fileset': '/srv'}, {'fileset': '/srv'}),
    ({'fileset': '/srv, /etc,/srv/'}, {'fileset': '/etc,/srv'}),
    ({'fileset': ['/srv', '/etc', '/etc']}, {'fileset': '/etc,/srv'}),
    ({'fileset': ('/b/', '/a')}, {'fileset': '/a,/b'}),
    ({'fileset': '/srv', 'run_before_backup': '/usr/bin/pre',
      'run_after_backup': '/usr/bin/post', 'run_before_restore': '/usr/bin/a',
      'run_after_restore': '/usr/bin/b'},
     {'fileset': '/srv', 'run-before-backup': '/usr/bin/pre',
      'run-after-backup': '/usr/bin/post', 'run-before-restore': '/usr/bin/a',
      'run-after-restore': '/usr/bin/b'}),
])
def test_build_app_data(requires, kwargs, data):
    assert requires.build_app_data(**kwargs) == (data, [])


def test_build_app_data_accepts_pathlib(requires):
    import pathlib
    data, problems = requires.build_app_data(
        [pathlib.Path('/srv')], run_before_backup=pathlib.Path('/usr/bin/x'))
    assert (data, problems) == (
        {'fileset': '/srv', 'run-before-backup': '/usr/bin/x'}, [])


@pytest.mark.parametrize('kwargs, needle', [
    ({'fileset': ''}, 'fileset is empty'),
    ({'fileset': []}, 'fileset is empty'),
    ({'fileset': 'srv'}, 'is not an absolute path'),
    ({'fileset': ['/a,/b']}, 'contains a comma'),
    ({'fileset': ['/srv', 'rel']}, "'rel' is not an absolute path"),
    ({'fileset': '/srv', 'run_after_restore': 'x.sh'},
     "run-after-restore 'x.sh' is not an absolute path"),
])
def test_build_app_data_invalid(requires, kwargs, needle):
    _, problems = requires.build_app_data(**kwargs)
    assert len(problems) == 1 and needle in problems[0]


@pytest.mark.parametrize('unit_data, status', [
    ({}, None),
    (None, None),
    ({'private-address': '10.0.0.1'}, None),
    ({'last-backup-time': '2024-05-01T03:04:05Z', 'last-backup-status': 'ok',
      'last-backup-type': 'full'},
     {'time': '2024-05-01T03:04:05Z', 'status': 'ok', 'type': 'full'}),
    ({'last-backup-status': 'failed'},
     {'time': None, 'status': 'failed', 'type': None}),
])
def test_parse_status(requires, unit_data, status):
    assert requires.parse_status(unit_data) == status
