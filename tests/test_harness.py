"""Tests of the local Juju agent harness itself, with a throwaway charm."""
import json
import os
import subprocess
import textwrap

import pytest

from harness import (ActionInvalid, HookFailed, Model, ToolMisuse, machinelock, toolserver,
                     validate_action_params)

TINY = {
    'metadata.yaml': """
        name: tiny
        summary: throwaway charm for the harness tests
        description: throwaway charm for the harness tests
        maintainer: Harness Tests <harness@example.invalid>
        subordinate: true
        series: [jammy]
        provides:
          data:
            interface: tiny-data
            scope: container
        requires:
          host:
            interface: juju-info
            scope: container
        """,
    'layer.yaml': """
        includes: ['layer:basic']
        options:
          basic:
            use_venv: true
        """,
    'config.yaml': """
        options:
          message:
            type: string
            default: ""
            description: status message
          secret-word:
            type: string
            default: ""
            description: a secret
          size:
            type: int
            default: 3
            description: a number
        """,
    'actions.yaml': """
        report:
          description: report things
          params:
            mode:
              type: string
              enum: [ok, fail]
              default: ok
            count:
              type: integer
              minimum: 1
          additionalProperties: false
        """,
    'reactive/tiny.py': """
        import json
        import os

        from charmhelpers.core import hookenv
        from charms.layer import options
        from charms.reactive import hook, set_flag, when, when_not


        @hook('install')
        def install():
            with open('env-install.json', 'w') as fp:
                json.dump(dict(os.environ), fp)
            hookenv.log('use_venv={}'.format(
                options.get('basic', 'use_venv')), level='DEBUG')


        @when('config.changed')
        def configure():
            message = hookenv.config('message')
            if message:
                hookenv.status_set('active', message)
            else:
                hookenv.status_set('blocked', 'message not set')
            if hookenv.config('secret-word'):
                hookenv.log('careless: ' + hookenv.config('secret-word'))
            set_flag('tiny.configured')


        @when('config.set.message')
        def message_set():
            hookenv.log('config.set.message is set')


        @when('config.default.size')
        def size_default():
            hookenv.log('size is default')


        @hook('data-relation-changed')
        def publish():
            rid = hookenv.relation_id()
            remote_app = os.environ['JUJU_REMOTE_APP']
            remote = hookenv.relation_get(app=remote_app, rid=rid) or {}
            hookenv.relation_set(rid, {'echo': remote.get('fileset', '')})
            if hookenv.is_leader():
                hookenv.relation_set(rid, {'app-echo': remote.get('fileset',
                                                                  '')},
                                     app=True)
            if remote.get('fail') == 'yes':
                raise RuntimeError('asked to fail')
        """,
    'actions/report': """
        #!/usr/bin/env python3
        import sys
        sys.path.append('lib')
        from charms.layer.basic import activate_venv  # noqa: E402
        activate_venv()
        from charmhelpers.core import hookenv  # noqa: E402
        params = hookenv.action_get()
        hookenv.action_set({'result.mode': params['mode'],
                            'result.count': params.get('count', 0),
                            'python': sys.prefix})
        if params['mode'] == 'fail':
            hookenv.action_fail('asked to fail')
        """,
}


@pytest.fixture(scope='module')
def tiny_src(tmp_path_factory):
    src = tmp_path_factory.mktemp('tiny-src')
    for name, text in TINY.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        if name.startswith('actions/'):
            path.chmod(0o755)
    return src


@pytest.fixture(scope='module')
def tiny(tiny_src, tmp_path_factory):
    from harness import build_charm, find_charm_build
    return build_charm(tiny_src, tmp_path_factory.mktemp('tiny-build'),
                       charm_build=find_charm_build())


def deploy(model, tiny, **config):
    host = model.add_application('host')  # played by the test
    host0 = host.add_unit()
    app = model.add_application('tiny', charm=tiny, config=config)
    unit = app.add_unit(principal=host0)
    return host, host0, app, unit


def test_build_uses_stand_in(tiny):
    assert (tiny / 'hooks' / 'install').exists()
    assert (tiny / 'hooks' / 'data-relation-changed').exists()
    assert (tiny / 'lib' / 'charms' / 'layer' / 'basic.py').exists()
    assert 'test-only' in (tiny / 'lib/charms/layer/basic.py').read_text() \
        or 'stand-in' in (tiny / 'lib/charms/layer/basic.py').read_text()
    assert os.access(tiny / 'actions' / 'report', os.X_OK)


def test_deploy_order_env_and_status(juju_model, tiny):
    _host, _host0, app, unit = deploy(juju_model, tiny)
    hooks = [h for u, h, *_ in juju_model.hook_log if u == 'tiny/0']
    assert hooks == ['install', 'leader-elected', 'config-changed', 'start']
    assert unit.status == ('blocked', 'message not set')
    assert ('DEBUG', 'use_venv=True') in unit.logs
    assert ('INFO', 'size is default') in unit.logs
    assert (unit.venv_dir / 'bin' / 'python').exists()
    assert unit.charm_dir == juju_model.agents_root / 'unit-tiny-0' / 'charm'

    env = json.loads((unit.charm_dir / 'env-install.json').read_text())
    assert env['JUJU_UNIT_NAME'] == 'tiny/0'
    assert env['JUJU_PRINCIPAL_UNIT'] == 'host/0'
    assert env['JUJU_HOOK_NAME'] == 'install'
    assert env['JUJU_VERSION'] == '3.4.0'
    assert env['CHARM_DIR'] == env['JUJU_CHARM_DIR'] == str(unit.charm_dir)
    assert env['PATH'].split(':')[1] == str(unit.tools_dir)  # venv/bin first
    assert env['VIRTUAL_ENV'] == str(unit.venv_dir)
    assert 'HOME' not in env and 'PYTEST_CURRENT_TEST' not in env
    assert env['LANG'] == 'C.UTF-8'

    app.set_config(message='hello world')
    assert unit.status == ('active', 'hello world')
    assert unit.status_history[-2:] == [('blocked', 'message not set'),
                                        ('active', 'hello world')]
    assert ('INFO', 'config.set.message is set') in unit.logs
    calls = unit.calls_to('config-get')
    assert calls and calls[0]['argv'] == ['config-get', '--all',
                                          '--format=json']


def test_relation_data_flows_and_failed_hook_is_not_committed(juju_model,
                                                                tiny):
    _host, _host0, _app, unit = deploy(juju_model, tiny, message='x')
    rel = juju_model.relate('tiny:data', 'host:juju-info')
    assert rel.rid('tiny') == 'data:1' and rel.rid('host') == 'juju-info:1'
    assert rel.scope == 'container'
    hooks = [h for u, h, *_ in juju_model.hook_log if u == 'tiny/0'][4:]
    assert hooks == ['data-relation-created', 'data-relation-joined',
                     'data-relation-changed']

    rel.set_data('host', {'fileset': '/srv,/etc'})
    assert rel.data('tiny/0')['echo'] == '/srv,/etc'
    assert rel.data('tiny/0')['private-address'] == unit.address
    assert rel.data('tiny') == {'app-echo': '/srv,/etc'}
    changed = [c for c in unit.calls_to('relation-set')]
    assert any('--app' in c['argv'] for c in changed)
    assert any('/srv,/etc' in c.get('file', '') for c in changed)

    with pytest.raises(HookFailed) as err:
        rel.set_data('host', {'fileset': '/other', 'fail': 'yes'})
    assert 'asked to fail' in err.value.stderr
    assert rel.data('tiny/0')['echo'] == '/srv,/etc'
    assert rel.data('tiny') == {'app-echo': '/srv,/etc'}

    juju_model.depart(rel)
    hooks = [h for u, h, *_ in juju_model.hook_log if u == 'tiny/0'][-2:]
    assert hooks == ['data-relation-departed', 'data-relation-broken']


def test_actions(juju_model, tiny):
    _host, _host0, _app, unit = deploy(juju_model, tiny)
    ok = unit.run_action('report', count=2)
    assert ok.status == 'completed'
    assert ok.results['result'] == {'mode': 'ok', 'count': '2'}
    assert ok.results['python'] == str(unit.venv_dir)
    failed = unit.run_action('report', mode='fail')
    assert failed.status == 'failed' and failed.message == 'asked to fail'
    assert failed.results['result']['mode'] == 'fail'  # kept, as in Juju
    with pytest.raises(ActionInvalid):
        unit.run_action('report', bogus=1)
    with pytest.raises(ActionInvalid):
        unit.run_action('report', count='2')
    with pytest.raises(ActionInvalid):
        unit.run_action('report', count=0)
    with pytest.raises(ActionInvalid):
        unit.run_action('nope')


def test_validate_action_params_defaults():
    spec = {'params': {'full': {'type': 'boolean', 'default': False},
                       'time': {'type': 'string'}},
            'required': ['time']}
    assert validate_action_params('x', spec, {'time': 'now'}) == {
        'full': False, 'time': 'now'}
    with pytest.raises(ActionInvalid):
        validate_action_params('x', spec, {})
    # additionalProperties defaults to true, as in Juju
    assert validate_action_params('x', spec, {'time': 'a', 'y': 1})['y'] == 1


def test_captured_text_finds_leaks(juju_model, tiny):
    _host, _host0, app, unit = deploy(juju_model, tiny)
    app.set_config(**{'secret-word': 'hunter2'})
    assert 'hunter2' in juju_model.captured_text()
    assert ('INFO', 'careless: hunter2') in unit.logs


def tool(unit, *argv, stdin=None):
    return subprocess.run([str(unit.tools_dir / argv[0])] + list(argv[1:]),
                          input=stdin, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize('via', ['server', 'fallback'])
def test_tools_directly(tmp_path, via):
    model = Model(tmp_path / 'm', juju_version='2.9.49')
    host = model.add_application('host')
    h0 = host.add_unit()
    other = model.add_application('other')
    o0 = other.add_unit(principal=h0)
    rel = model.relate('other:info', 'host:info', scope='container')
    if via == 'fallback':       # the scripts find no server on their port: hooktool.py runs
        toolserver.stop()
    served = toolserver.served()
    o0._set_context({'hook': 'info-relation-changed', 'relation_id': 'info:1',
                     'remote_unit': 'host/0', 'remote_app': 'host',
                     'pending': {}, 'action': None})
    rel.set_data('host/0', {'k': 'v'}, run_hooks=False)
    assert json.loads(tool(o0, 'relation-get', '--format=json', '-',
                           'host/0').stdout) == {'k': 'v'}
    assert json.loads(tool(o0, 'relation-ids', '--format=json',
                           'info').stdout) == ['info:1']
    assert json.loads(tool(o0, 'relation-list', '--format=json', '-r',
                           'info:1').stdout) == ['host/0']
    assert tool(o0, 'relation-list', '--app').stdout == 'host\n'
    assert tool(o0, 'relation-set', '--file', '-',
                stdin='a: b\n').returncode == 0
    assert json.loads(tool(o0, 'relation-get', '--format=json', '-',
                           'other/0').stdout) == {'a': 'b'}
    assert rel.data('other/0') == {}  # not committed while the hook runs
    assert '--file' in tool(o0, 'relation-set', '--help').stdout
    bad = tool(o0, 'relation-get', '--bogus')
    assert bad.returncode == 2 and 'ERROR' in bad.stderr
    assert tool(o0, 'state-get').returncode == 1
    assert tool(o0, 'secret-get', 'secret:abc').returncode == 1  # 2.9
    assert tool(o0, 'status-set', 'fine', 'x').returncode == 1
    assert tool(o0, 'juju-log', '-l', 'WARNING', '--', '-dash').returncode \
        == 0
    assert ('WARNING', '-dash') in o0.logs
    assert json.loads(tool(o0, 'is-leader', '--format=json').stdout) is True
    model.juju_version = '3.4.0'
    uri = model.add_secret({'password': 's3cret'}, grants=['other'])
    assert tool(o0, 'secret-get', uri, 'password').stdout == 's3cret\n'
    # the server ran every call but relation-set --file - (stdin: always hooktool.py)
    assert toolserver.served() - served == (13 if via == 'server' else 0)


def test_secret_get_follows_juju_grants_revisions_and_tracking(tmp_path):
    model = Model(tmp_path / 'm', juju_version='3.4.0')
    host = model.add_application('host')
    h0 = host.add_unit()
    o0 = model.add_application('other').add_unit(principal=h0)
    o0._set_context({'hook': 'config-changed', 'relation_id': None, 'remote_unit': None,
                     'remote_app': None, 'pending': {}, 'action': None})
    uri = model.add_secret({'pass-word': 'one'})

    def get(*args):
        proc = tool(o0, 'secret-get', *args)
        return proc.returncode, proc.stdout, proc.stderr

    # Juju's answers: not granted, unknown id, malformed URI, unknown key
    assert get(uri) == (1, '', 'ERROR permission denied\n')
    assert get('secret:' + '0' * 20) == (1, '', 'ERROR secret "{}" not found\n'.format('0' * 20))
    assert get('secret:nope')[0] == 1 and 'not valid' in get('secret:nope')[2]
    model.grant_secret(uri, 'other')
    assert get(uri, 'nope')[0] == 1
    # the first read tracks the latest revision; later reads stay on it until --refresh
    assert json.loads(get(uri, '--format=json')[1]) == {'pass-word': 'one'}
    assert model.secret_revision(uri, o0) == 1
    model.update_secret(uri, {'pass-word': 'two'}, run_hooks=False)
    assert get(uri, 'pass-word')[1] == 'one\n'
    assert get(uri, 'pass-word', '--peek')[1] == 'two\n'
    assert model.secret_revision(uri, o0) == 1
    assert get(uri, 'pass-word', '--refresh')[1] == 'two\n'
    assert model.secret_revision(uri, o0) == 2
    assert get(uri, '--peek', '--refresh')[0] == 2
    # secret://<model>/<id> names the same secret; revoking takes the access away
    assert get('secret://{}/{}'.format(model.uuid, uri[len('secret:'):]), 'pass-word')[1] == \
        'two\n'
    model.revoke_secret(uri, 'other')
    assert get(uri)[2] == 'ERROR permission denied\n'
    with pytest.raises(ValueError):
        model.add_secret({'pass_word': 'x'})  # juju add-secret refuses "_" in keys
    model.juju_version = '2.9.49'
    assert get(uri)[0] == 1


def test_tool_misuse_fails_the_hook(juju_model, tiny, tmp_path):
    _host, _host0, _app, unit = deploy(juju_model, tiny)
    hook = unit.charm_dir / 'hooks' / 'update-status'
    hook.write_text('#!/bin/sh\nconfig-get --bogus >/dev/null\nexit 0\n')
    with pytest.raises(ToolMisuse):
        unit.run_hook('update-status')


def test_upgrade_and_remove(juju_model, tiny):
    _host, _host0, app, unit = deploy(juju_model, tiny, message='m')
    (unit.charm_dir / 'made-by-charm').write_text('x')
    app.upgrade_charm(tiny)
    assert (unit.charm_dir / 'made-by-charm').exists()
    assert (unit.charm_dir / '.unit-state.db').exists()
    unit.remove()
    hooks = [h for u, h, *_ in juju_model.hook_log if u == 'tiny/0']
    assert hooks[-4:] == ['upgrade-charm', 'config-changed', 'stop',
                          'remove']
    assert unit.status == ('active', 'm')


def test_make_build_builds_into_the_build_directory_inside_the_source_tree():
    # charm build itself refuses an output directory under its source (./build): make charm
    # and the harness run tests/harness/build.py, which builds from a staged copy
    import shutil
    import sys
    from harness.build import REPO_ROOT
    out = REPO_ROOT / 'build' / 'test-harness-{}'.format(os.getpid())
    try:
        proc = subprocess.run([sys.executable, str(REPO_ROOT / 'tests' / 'harness' / 'build.py'),
                               '.', str(out)], cwd=str(REPO_ROOT), capture_output=True, text=True,
                              env=dict(os.environ, PATH=os.path.dirname(sys.executable) + ':'
                                       + os.environ.get('PATH', '')))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == 'built {}'.format(out / 'duplicity')
        assert os.access(str(out / 'duplicity' / 'hooks' / 'install'), os.X_OK)
        assert (out / 'duplicity' / 'lib' / 'duplicity_runner.py').exists()
    finally:
        shutil.rmtree(str(out), ignore_errors=True)


# ---------------------------------------------------------------- local wheels (make wheels)

@pytest.mark.parametrize('manifest, environ, requirements, offline', [
    (['croniter', 'pip<23.1'], {}, ['croniter', 'pip<23.1'], True),
    (['croniter', 'pip<23.1', 'Jinja2'], {}, ['croniter'], True),
    (['croniter'], {}, ['croniter', 'croniter>=1.3,<8'], False),  # a requirement added since
    (None, {}, ['croniter'], False),  # no download yet (or an unfinished one)
    (['croniter'], {'HARNESS_WHEELS': ''}, ['croniter'], False),  # turned off
])
def test_pip_runs_offline_only_when_the_local_wheels_cover_every_requirement(
        tmp_path, manifest, environ, requirements, offline):
    from harness import wheels
    directory = tmp_path / 'wheels'
    directory.mkdir()
    if manifest is not None:
        wheels.write_manifest(directory, manifest)
    environ = dict({'HARNESS_WHEELS': str(directory)}, **environ)
    expected = {'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(directory)} if offline else {}
    assert wheels.pip_env(requirements, environ) == expected


def test_the_wheelhouse_requirements_are_every_layers_lines_without_comments(tmp_path):
    from harness import wheels
    (tmp_path / 'charm').mkdir()
    (tmp_path / 'charm' / 'wheelhouse.txt').write_text('# a comment\n\ncroniter>=1.3,<8  # why\n')
    for name, text in (('basic', 'pip\nsetuptools<42\n'), ('empty', '')):
        (tmp_path / 'layers' / name).mkdir(parents=True)
        (tmp_path / 'layers' / name / 'wheelhouse.txt').write_text(text)
    (tmp_path / 'layers' / 'options').mkdir()  # no wheelhouse.txt
    assert wheels.wheelhouse_requirements(
        [tmp_path / 'charm'], [tmp_path / 'layers', tmp_path / 'missing']) == \
        ['croniter>=1.3,<8', 'pip', 'setuptools<42']


def test_the_machine_lock_is_shared_by_deploying_tests_and_held_alone_by_exclusive_ones(tmp_path):
    path = str(tmp_path / "lock")

    def others_may(flag):  # another process asks without waiting: flock(1) -n
        return subprocess.run(["flock", "-n", flag, path, "true"]).returncode == 0

    with machinelock.held(exclusive=False, path=path):
        assert others_may("--shared") and not others_may("--exclusive")
    with machinelock.held(exclusive=True, path=path):
        assert not others_may("--shared") and not others_may("--exclusive")
    assert others_may("--exclusive")


def machine_lock_modes_held_here():
    """The modes ("READ": shared, "WRITE": alone) in which this process holds the machine's
    test lock, from /proc/locks (lines "N: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ...";
    a waiter's line has "->" after "N:")."""
    st = os.stat(machinelock.PATH)
    file_id = "{:02x}:{:02x}:{}".format(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    with open("/proc/locks") as f:
        return {fields[3] for fields in (line.split() for line in f)
                if fields[1] == "FLOCK" and fields[4] == str(os.getpid())
                and fields[5] == file_id}


def test_an_end_to_end_test_holds_the_machine_lock_shared_while_it_runs():
    assert machine_lock_modes_held_here() == {"READ"}


@pytest.mark.exclusive
def test_an_exclusive_test_holds_the_machine_lock_alone_while_it_runs():
    assert machine_lock_modes_held_here() == {"WRITE"}
