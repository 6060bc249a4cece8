"""The Endpoint wrappers: flags, relation reads and writes (fake hook tools)."""

import pytest
from charms.reactive import relations
from charms.reactive.flags import clear_flag, is_flag_set

PG_CHARM = '/var/lib/juju/agents/unit-app-0/charm'


def flags(*names):
    return {name: is_flag_set('endpoint.backup.' + name) for name in names}


def hook(provides, rids):
    """One hook run of the provides side: a fresh Endpoint, flags managed."""
    ep = provides.BackupProvides('backup', rids)
    ep._manage_departed()
    ep._manage_flags()
    return ep


def test_each_module_has_exactly_one_endpoint_class(provides, requires):
    # charms.reactive refuses a relation module with several factories
    assert relations._find_relation_factory(provides) is provides.BackupProvides
    assert relations._find_relation_factory(requires) is requires.BackupRequires


# -------------------------------------------------------------- provides

def test_provides_flags_lifecycle(provides, juju, monkeypatch):
    juju.relate('backup:3', ['app/3'], {'fileset': '/srv,/etc'})
    ep = hook(provides, ['backup:3'])
    assert flags('joined', 'declared', 'invalid', 'spec-changed') == {
        'joined': True, 'declared': True, 'invalid': False,
        'spec-changed': True}
    assert ep.spec().paths == ['/etc', '/srv']

    # the charm handles the change; the same data again sets nothing
    clear_flag('endpoint.backup.spec-changed')
    hook(provides, ['backup:3'])
    assert not is_flag_set('endpoint.backup.spec-changed')

    # new app data: changed (the framework's changed flags would not see it)
    juju.app_data[('backup:3', 'app')]['fileset'] = '/srv,/etc,/opt'
    hook(provides, ['backup:3'])
    assert is_flag_set('endpoint.backup.spec-changed')
    assert not is_flag_set('endpoint.backup.changed')
    clear_flag('endpoint.backup.spec-changed')

    # garbage: invalid, still declared
    juju.app_data[('backup:3', 'app')]['fileset'] = '/srv,$(rm -rf /)'
    ep = hook(provides, ['backup:3'])
    assert flags('declared', 'invalid', 'spec-changed') == {
        'declared': True, 'invalid': True, 'spec-changed': True}
    assert ep.spec().problems == [
        "backup:3 (app): fileset entry '$(rm -rf /)' is not an absolute path"]
    clear_flag('endpoint.backup.spec-changed')

    # fixed: invalid cleared by the layer
    juju.app_data[('backup:3', 'app')]['fileset'] = '/srv'
    hook(provides, ['backup:3'])
    assert flags('invalid', 'spec-changed') == {
        'invalid': False, 'spec-changed': True}
    clear_flag('endpoint.backup.spec-changed')

    # the principal unit departs
    juju.units['backup:3'] = []
    monkeypatch.setenv('JUJU_HOOK_NAME', 'backup-relation-departed')
    monkeypatch.setenv('JUJU_RELATION_ID', 'backup:3')
    monkeypatch.setenv('JUJU_REMOTE_UNIT', 'app/3')
    ep = hook(provides, ['backup:3'])
    assert flags('joined', 'declared', 'invalid', 'departed', 'spec-changed') \
        == {'joined': False, 'declared': False, 'invalid': False,
            'departed': True, 'spec-changed': True}
    assert ep.spec().empty and ep.spec().sources == []


def test_provides_joined_before_data_is_pending(provides, juju):
    juju.relate('backup:3', ['app/3'])
    ep = hook(provides, ['backup:3'])
    assert flags('joined', 'declared', 'invalid') == {
        'joined': True, 'declared': False, 'invalid': False}
    assert ep.spec().pending == ['backup:3 (app)']


def test_provides_reads_no_app_data_without_remote_units(provides, juju):
    # e.g. relation-created/-broken: the remote application is not known,
    # and charms.reactive would read the LOCAL app's data instead
    juju.relate('backup:4', [])
    ep = hook(provides, ['backup:4'])
    assert ep.spec().empty
    assert all(app is None for _, _, app in juju.gets)


def test_provides_maps_leader_charm_dir_to_principal(provides, juju):
    juju.relate('backup:3', ['app/3'], {
        'fileset': '/srv',
        'run-before-backup': PG_CHARM + '/files/pre',
        'run-after-restore': '/usr/local/bin/post',
    })
    spec = hook(provides, ['backup:3']).spec()
    assert spec.hooks['run-before-backup'] == [
        ('backup:3 (app)', '/var/lib/juju/agents/unit-app-3/charm/files/pre')]
    assert spec.hooks['run-after-restore'] == [
        ('backup:3 (app)', '/usr/local/bin/post')]
    assert spec.mappings == [(
        'backup:3 (app)', 'run-before-backup', PG_CHARM + '/files/pre',
        '/var/lib/juju/agents/unit-app-3/charm/files/pre')]


def test_provides_maps_to_subordinate_requirer_unit(provides, juju):
    # a subordinate requirer (backup-integrator) next to principal app/3
    juju.relate('backup:9', ['integrator/5'], {
        'fileset': '/srv',
        'run-before-backup':
            '/var/lib/juju/agents/unit-integrator-0/charm/pre'})
    spec = hook(provides, ['backup:9']).spec()
    assert spec.hooks['run-before-backup'] == [(
        'backup:9 (integrator)',
        '/var/lib/juju/agents/unit-integrator-5/charm/pre')]


def test_provides_merges_several_relations(provides, juju):
    juju.relate('backup:3', ['app/3'], {'fileset': '/srv'})
    juju.relate('backup:8', ['other/1'], {
        'fileset': '/etc', 'run-before-backup': '/usr/bin/o'})
    spec = hook(provides, ['backup:3', 'backup:8']).spec()
    assert spec.paths == ['/etc', '/srv']
    assert spec.sources == ['backup:3 (app)', 'backup:8 (other)']
    assert spec.hooks['run-before-backup'] == [
        ('backup:8 (other)', '/usr/bin/o')]


def test_publish_status_writes_unit_data_only_when_changed(provides, juju):
    juju.relate('backup:3', ['app/3'], {'fileset': '/srv'})
    juju.relate('backup:8', ['other/1'], {'fileset': '/etc'})
    ep = hook(provides, ['backup:3', 'backup:8'])
    assert ep.publish_status('2024-05-01T05:04:05+02:00', 'ok', 'full')
    for relation in ep.relations:
        relation._flush_data()
    want = {'last-backup-time': '2024-05-01T03:04:05Z',
            'last-backup-status': 'ok', 'last-backup-type': 'full'}
    assert juju.sets == [('backup:3', want, False), ('backup:8', want, False)]

    juju.sets.clear()
    ep = hook(provides, ['backup:3', 'backup:8'])
    assert not ep.publish_status('2024-05-01T03:04:05Z', 'ok', 'full')
    for relation in ep.relations:
        relation._flush_data()
    assert juju.sets == []

    assert ep.publish_status('2024-05-02T03:04:05Z', 'failed', 'incremental')
    with pytest.raises(ValueError):
        ep.publish_status('2024-05-02T03:04:05Z', 'maybe', 'incremental')


# -------------------------------------------------------------- requires

@pytest.fixture
def principal(juju, monkeypatch):
    """The fake model seen from the principal unit app/3."""
    monkeypatch.setenv('JUJU_UNIT_NAME', 'app/3')
    monkeypatch.delenv('JUJU_PRINCIPAL_UNIT')
    juju.local_unit = 'app/3'
    juju.relate('backup:3', ['duplicity/0'])
    return juju


def requires_hook(requires, rids=('backup:3',)):
    ep = requires.BackupRequires('backup', list(rids))
    ep._manage_flags()
    return ep


def flush(ep):
    for relation in ep.relations:
        relation._flush_data()


def test_declare_on_leader_writes_sorted_app_data(requires, principal):
    ep = requires_hook(requires)
    assert ep.declare('/srv/b,/srv/a,/srv/a/',
                      run_before_backup=PG_CHARM + '/files/pre') is True
    flush(ep)
    assert principal.sets == [('backup:3', {
        'fileset': '/srv/a,/srv/b',
        'run-before-backup': PG_CHARM + '/files/pre'}, True)]
    assert principal.app_data[('backup:3', 'app')] == {
        'fileset': '/srv/a,/srv/b',
        'run-before-backup': PG_CHARM + '/files/pre'}

    # the same declaration again writes nothing
    principal.sets.clear()
    ep = requires_hook(requires)
    ep.declare(['/srv/a', '/srv/b'], run_before_backup=PG_CHARM + '/files/pre')
    flush(ep)
    assert principal.sets == []

    # a hook no longer declared is removed
    ep = requires_hook(requires)
    ep.declare(['/srv/a'])
    flush(ep)
    assert principal.app_data[('backup:3', 'app')] == {'fileset': '/srv/a'}


def test_declare_on_non_leader_does_nothing(requires, principal):
    principal.leader = False
    ep = requires_hook(requires)
    assert ep.declare('/srv') is False
    flush(ep)
    assert principal.sets == []
    # FakeJuju.relation_get raises if a non-leader reads its own app data


def test_declare_invalid_raises_and_writes_nothing(requires, principal):
    ep = requires_hook(requires)
    with pytest.raises(requires.InvalidDeclaration) as err:
        ep.declare('/srv,relative', run_after_backup='post.sh')
    assert err.value.problems == [
        "fileset entry 'relative' is not an absolute path",
        "run-after-backup 'post.sh' is not an absolute path"]
    assert isinstance(err.value, ValueError)
    flush(ep)
    assert principal.sets == []


def test_last_backup_and_status_flag(requires, principal):
    ep = requires_hook(requires)
    assert ep.last_backup() is None
    clear_flag('endpoint.backup.backup-status-changed')

    principal.unit_data[('backup:3', 'duplicity/0')] = {
        'last-backup-time': '2024-05-01T03:04:05Z',
        'last-backup-status': 'ok', 'last-backup-type': 'full'}
    ep = requires_hook(requires)
    assert is_flag_set('endpoint.backup.backup-status-changed')
    assert ep.last_backup() == {
        'unit': 'duplicity/0', 'time': '2024-05-01T03:04:05Z',
        'status': 'ok', 'type': 'full'}
    clear_flag('endpoint.backup.backup-status-changed')

    requires_hook(requires)
    assert not is_flag_set('endpoint.backup.backup-status-changed')

    # a second backup charm on another relation with a newer backup wins
    principal.relate('backup:4', ['other-backup/2'])
    principal.unit_data[('backup:4', 'other-backup/2')] = {
        'last-backup-time': '2024-05-02T00:00:00Z',
        'last-backup-status': 'failed', 'last-backup-type': 'incremental'}
    ep = requires_hook(requires, ['backup:3', 'backup:4'])
    assert is_flag_set('endpoint.backup.backup-status-changed')
    assert ep.last_backup()['unit'] == 'other-backup/2'
    assert ep.last_backup()['status'] == 'failed'
