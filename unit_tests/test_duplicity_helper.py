"""Pure tests of lib/duplicity_helper.py: argv, child env and secret files per config."""
import base64
import os
import itertools
import shlex

import pytest

import duplicity_config as dc
import duplicity_helper as h
import duplicity_secrets
import keymaterial
from duplicity_secrets import Secrets
from duplicity_settings import Settings
from duplicity_paths import CHARM_SECRET_FILE_PATTERNS, UnitPaths

UNIT = 'duplicity/0'
PATHS = UnitPaths.for_unit(UNIT)
FPR = '0123456789ABCDEF0123456789ABCDEF01234567'
VERSIONS = {'0.8': (0, 8, 22), '2.1': (2, 1, 5), '3.x': (3, 2, 1)}
MODES = ('passphrase', 'public-key', 'disabled')

KEY_TEXT = keymaterial.openssh_private_key().strip()
KEY_B64 = base64.b64encode(KEY_TEXT.encode()).decode()
HOST_KEY = keymaterial.host_key()
CA = '-----BEGIN CERTIFICATE-----\nMIIBcertificatebody\n-----END CERTIFICATE-----\n'

DEFAULTS = {
    'backend': '', 'remote_backup_url': '', 'aux_backup_directory': '', 'exclude_paths': '',
    'remote_user': '', 'remote_password': '', 'private_ssh_key': '', 'known_host_key': '',
    'aws_access_key_id': '', 'aws_secret_access_key': '', 's3_endpoint_url': '',
    's3_region_name': '', 'azure_connection_string': '', 'ca_certificate': '',
    'encryption_passphrase': '', 'gpg_public_key': '', 'disable_encryption': False,
    'backup_frequency': 'manual', 'full_if_older_than': '1M', 'retention_period': 'manual',
    'deletion_frequency': 'daily', 'backup_max_age': '', 'volsize': 200, 'concurrency': 1,
    'install_sources': '', 'install_keys': '', 'nagios_context': 'juju',
    'nagios_servicegroups': '',
}

# Secrets start with '-' and contain shell/URL metacharacters on purpose.
SECRETS = {
    'encryption_passphrase': '-pass phrase;$(echo pwned)&x=1',
    'remote_password': '-remote:pass@word/with?chars',
    'private_ssh_key': KEY_B64,
    'aws_access_key_id': 'AKIAEXAMPLEKEYID0001',
    'aws_secret_access_key': '-aws/Secret+Key=Example0000000000000000',
    'azure_connection_string': ('DefaultEndpointsProtocol=https;AccountName=acct;'
                                'AccountKey=c2VjcmV0LWF6dXJlLWtleQ==;EndpointSuffix=core.windows.net'),
}

BACKEND_CONFIG = {
    'file': {'remote_backup_url': 'file:///srv/backups'},
    'sftp': {'remote_backup_url': 'backup.example.com:2222/backups', 'remote_user': 'bk',
             'remote_password': SECRETS['remote_password'],
             'private_ssh_key': SECRETS['private_ssh_key'], 'known_host_key': HOST_KEY},
    'scp': {'remote_backup_url': 'backup.example.com//srv/backups', 'remote_user': 'bk',
            'private_ssh_key': SECRETS['private_ssh_key'], 'known_host_key': HOST_KEY},
    'rsync': {'remote_backup_url': 'backup.example.com:2222//srv/backups', 'remote_user': 'bk',
              'private_ssh_key': SECRETS['private_ssh_key'], 'known_host_key': HOST_KEY},
    'ftp': {'remote_backup_url': 'ftp.example.com/backups', 'remote_user': 'bk',
            'remote_password': SECRETS['remote_password']},
    'ftps': {'remote_backup_url': 'ftp.example.com:2121/backups', 'remote_user': 'bk',
             'remote_password': SECRETS['remote_password'], 'ca_certificate': CA},
    's3': {'remote_backup_url': 's3://rgw.example.com:8443/bucket-1/prefix',
           'aws_access_key_id': SECRETS['aws_access_key_id'],
           'aws_secret_access_key': SECRETS['aws_secret_access_key'],
           's3_region_name': 'eu-west-1', 'ca_certificate': CA},
    'azure': {'remote_backup_url': 'azure://backups',
              'azure_connection_string': SECRETS['azure_connection_string']},
}

OP_KWARGS = {
    'backup': {},
    'collection-status': {},
    'list-current-files': {'time': '3D'},
    'restore': {'path': 'etc/hosts', 'target': '/srv/restore/x', 'time': '2024-01-31T12:00:00Z'},
    'verify': {'compare_data': True, 'time': 'now'},
    'remove-older-than': {'time': '30D'},
    'remove-all-but-n-full': {'count': 2},
    'remove-all-inc-of-but-n-full': {'count': 1},
    'cleanup': {},
}
FLAG_OPTIONS = {'--force', '--compare-data', '--no-encryption'}


def make_config(backend='file', mode='passphrase', **extra):
    config = dict(DEFAULTS, backend=backend)
    config.update(BACKEND_CONFIG[backend])
    if mode == 'passphrase':
        config['encryption_passphrase'] = SECRETS['encryption_passphrase']
    elif mode == 'public-key':
        config['gpg_public_key'] = '-----BEGIN PGP PUBLIC KEY BLOCK-----\nxx\n-----END PGP PUBLIC KEY BLOCK-----'
        config['encryption_passphrase'] = SECRETS['encryption_passphrase']
    else:
        config['disable_encryption'] = True
    config.update(extra)
    return config


def make_ctx(version='3.x', **kw):
    args = dict(unit=UNIT, paths=PATHS, version=VERSIONS.get(version, version), encrypt_key=FPR,
                includes=('/etc', '/srv/data'), excludes=('/srv/data/cache', '**/*.tmp'))
    args.update(kw)
    return h.Context(**args)


def argv_for(operation, backend='file', mode='passphrase', version='3.x', config=None, **kw):
    config = config or make_config(backend, mode)
    kwargs = dict(OP_KWARGS[operation])
    kwargs.update(kw)
    return h.build_argv(operation, S(config), make_ctx(version), **kwargs)


def parsed(config):
    """The Settings of a config the validators accept: what the builders take."""
    settings, problems = Settings.parse(config, ('/etc',), unit=UNIT)
    assert settings.duplicity is not None, problems
    return settings


def S(config):
    return parsed(config).duplicity


def secrets_of(config):
    return Secrets.from_config(config)


def env_of(config, ctx, base_env):
    return h.build_env(S(config), secrets_of(config), ctx, base_env)


def files_of(config, paths):
    return h.secret_files(parsed(config), secrets_of(config), paths)


def options(argv):
    return [a for a in argv if a.startswith('--')]


ALL_COMBOS = list(itertools.product(h.OPERATIONS, h.BACKENDS, MODES, VERSIONS))


# ----------------------------------------------------------------------------- versions

@pytest.mark.parametrize('text,expected', [
    ('duplicity 0.8.22', (0, 8, 22)),
    ('duplicity 0.8.22\n', (0, 8, 22)),
    ('duplicity 3.0.6.2', (3, 0, 6, 2)),
    ('duplicity 3.2.1 September 28, 2026', (3, 2, 1)),
    ('duplicity 2.1.5', (2, 1, 5)),
    ('duplicity 0.8.12.1612', (0, 8, 12, 1612)),
    ('duplicity 2.2.0rc1', (2, 2, 0)),
    ('3.0.1', (3, 0, 1)),
])
def test_parse_version_reads_the_version_duplicity_prints(text, expected):
    assert h.parse_version(text) == expected


@pytest.mark.parametrize('text', ['', 'duplicity', 'command not found', None])
def test_parse_version_rejects_text_without_a_version(text):
    with pytest.raises(ValueError):
        h.parse_version(text)


# ----------------------------------------------------------------------------- argv shape

@pytest.mark.parametrize('operation,backend,mode,version', ALL_COMBOS)
def test_every_operation_builds_a_well_formed_argv(operation, backend, mode, version):
    argv = argv_for(operation, backend, mode, version)
    assert argv[0] == 'duplicity'
    expected_cmd = {'backup': 'incremental' if version == '0.8' else 'incr'}.get(operation, operation)
    assert argv[1] == expected_cmd
    opts = options(argv)
    # every option with a value uses the --opt=value form
    for opt in opts:
        assert opt in FLAG_OPTIONS or '=' in opt, opt
    assert '--archive-dir=' + PATHS.archive_dir in opts
    assert '--name=duplicity-0' in opts
    assert '--tempdir=' + PATHS.temp_dir in opts
    assert '--verbosity=notice' in opts
    assert '--timeout=120' in opts       # duplicity's own network timeout, on every run
    url = h.target_url(S(make_config(backend, mode)), make_ctx(version))
    assert url in argv
    assert url.rstrip('/').endswith('duplicity-0')
    # encryption
    if mode == 'disabled':
        assert '--no-encryption' in opts
        assert not any(o.startswith('--encrypt-key') for o in opts)
    elif mode == 'public-key':
        assert '--encrypt-key=' + FPR in opts
        assert '--gpg-options=--trust-model=always' in opts
        assert '--no-encryption' not in opts
    else:
        assert '--gpg-options=--cipher-algo=AES256' in opts
        assert not any(o.startswith('--encrypt-key') for o in opts)
    # options that 2.x only accepts on some commands
    if operation != 'backup':
        assert not any(o.startswith(('--volsize', '--full-if-older-than', '--concurrency')) for o in opts)
    if operation not in h.SELECTION_OPERATIONS:
        assert not any(o.startswith(('--include', '--exclude')) for o in opts)
    if operation in h.DESTRUCTIVE:
        assert '--force' in opts
    else:
        assert '--force' not in opts


@pytest.mark.parametrize('version,command', [('0.8', 'incremental'), ('2.1', 'incr'), ('3.x', 'incr')])
def test_backup_is_incremental_with_full_if_older_than(version, command):
    argv = argv_for('backup', version=version)
    assert argv[1] == command
    assert '--full-if-older-than=1M' in argv
    assert '--volsize=200' in argv
    assert argv[-2:] == ['/', 'file:///srv/backups/duplicity-0']


@pytest.mark.parametrize('version', VERSIONS)
def test_backup_with_full_requested_is_a_full_backup(version):
    argv = argv_for('backup', version=version, full=True)
    assert argv[1] == 'full'
    assert not any(a.startswith('--full-if-older-than') for a in argv)


def test_backup_with_full_if_older_than_always_is_always_full():
    config = make_config(full_if_older_than='always')
    argv = h.build_argv('backup', S(config), make_ctx())
    assert argv[1] == 'full'
    assert h.backup_type(S(config)) == 'full'


@pytest.mark.parametrize('value', ['1 M', '-1M', 'M1', 'soon'])
def test_invalid_full_if_older_than_names_the_key(value):
    problems = Settings.parse(make_config(full_if_older_than=value), ('/etc',), unit=UNIT)[1]
    assert [p for p in problems['schedule'] if p.startswith('full_if_older_than ')]


def test_backup_selection_puts_excludes_first_then_includes_then_exclude_everything():
    argv = argv_for('backup')
    sel = [a for a in argv if a.startswith(('--include', '--exclude'))]
    assert sel == [
        '--exclude=/var/lib/charm-duplicity',
        '--exclude=/var/cache/charm-duplicity',
        '--exclude=/var/log/charm-duplicity',
        '--exclude=**/.juju-persistent-config',
        '--exclude=**/.unit-state.db',
        '--exclude=**/.unit-state.db-*',
        '--exclude=/var/lib/juju/agents/*/agent.conf',
        '--exclude=/srv/data/cache',
        '--exclude=**/*.tmp',
        '--include=/etc',
        '--include=/srv/data',
        '--exclude=**',
    ]


def test_backup_excludes_a_temporary_gnupg_home_outside_the_charm_dirs():
    ctx = make_ctx(gnupg_home='/root/tmp-gnupg-xyz')
    argv = h.build_argv('backup', S(make_config()), ctx)
    assert argv.index('--exclude=/root/tmp-gnupg-xyz') < argv.index('--include=/etc')


@pytest.mark.parametrize('operation', h.SELECTION_OPERATIONS)
def test_every_units_state_cache_and_the_charm_config_files_are_excluded_before_any_include(
        operation):
    """A unit backing up /var/lib or / never carries another unit's secrets or a charm
    directory's copy of the config: those excludes come before every include (duplicity's
    first match wins), whatever the includes are."""
    ctx = make_ctx(includes=('/', '/var/lib', '/var/lib/charm-duplicity/other-unit-3/secrets'),
                   excludes=())
    argv = h.build_argv(operation, S(make_config()), ctx)
    first_include = min(i for i, a in enumerate(argv) if a.startswith('--include='))
    for pattern in ('/var/lib/charm-duplicity', '/var/cache/charm-duplicity',
                    '/var/log/charm-duplicity', '**/.juju-persistent-config',
                    '**/.unit-state.db', '**/.unit-state.db-*',
                    '/var/lib/juju/agents/*/agent.conf'):
        assert argv.index('--exclude=' + pattern) < first_include, pattern


def test_always_excluded_follows_the_root_of_the_unit_paths(tmp_path):
    paths = UnitPaths.for_unit(UNIT, root=str(tmp_path))
    dirs = [d for d in h.always_excluded(paths) if d not in CHARM_SECRET_FILE_PATTERNS]
    assert dirs == [str(tmp_path / 'var/lib/charm-duplicity'),
                    str(tmp_path / 'var/cache/charm-duplicity'),
                    str(tmp_path / 'var/log/charm-duplicity')]
    for p in (paths.state_dir, paths.secrets_dir, paths.cache_dir, paths.restore_dir,
              paths.status_file, paths.log_file):
        assert any(p == d or p.startswith(d + '/') for d in dirs), p


def test_backup_without_any_path_is_refused():
    with pytest.raises(ValueError, match='aux_backup_directory'):
        h.build_argv('backup', S(make_config()), make_ctx(includes=()))


def test_log_file_is_passed_when_the_context_has_one():
    argv = h.build_argv('collection-status', S(make_config()), make_ctx(log_file='/var/log/x.log'))
    assert '--log-file=/var/log/x.log' in argv
    assert not any(a.startswith('--log-file') for a in argv_for('collection-status'))


def test_the_binary_comes_from_the_context():
    argv = h.build_argv('cleanup', S(make_config()), make_ctx(duplicity='/opt/dup/bin/duplicity'))
    assert argv[0] == '/opt/dup/bin/duplicity'


# ----------------------------------------------------------------------------- restore

def test_restore_uses_file_to_restore_on_duplicity_0_8():
    argv = argv_for('restore', version='0.8')
    assert '--file-to-restore=etc/hosts' in argv
    assert not any(a.startswith('--path-to-restore') for a in argv)


@pytest.mark.parametrize('version', ['2.1', '3.x'])
def test_restore_uses_path_to_restore_on_duplicity_2_and_later(version):
    argv = argv_for('restore', version=version)
    assert '--path-to-restore=etc/hosts' in argv
    assert not any(a.startswith('--file-to-restore') for a in argv)


def test_restore_recreates_the_path_under_the_target():
    argv = argv_for('restore', path='/var/lib/postgresql/', target='/srv/restore/r1')
    assert argv[-2:] == ['file:///srv/backups/duplicity-0', '/srv/restore/r1/var/lib/postgresql']
    assert '--path-to-restore=var/lib/postgresql' in argv
    assert h.restore_destination('/srv/restore/r1', 'var/lib/postgresql') == \
        '/srv/restore/r1/var/lib/postgresql'


def test_restore_without_a_path_restores_everything_into_the_target():
    argv = argv_for('restore', path=None, time=None, target='/srv/restore/all')
    assert argv[-1] == '/srv/restore/all'
    assert not any(a.startswith(('--path-to-restore', '--restore-time')) for a in argv)


def test_restore_passes_the_time_as_restore_time():
    assert '--restore-time=2024-01-31T12:00:00Z' in argv_for('restore')


@pytest.mark.parametrize('path', ['../etc', 'etc/../../root', './x'])
def test_restore_rejects_paths_leaving_the_backup(path):
    with pytest.raises(ValueError, match='path'):
        argv_for('restore', path=path)


@pytest.mark.parametrize('target', [None, '', 'relative/dir'])
def test_restore_requires_an_absolute_target(target):
    with pytest.raises(ValueError, match='target'):
        argv_for('restore', target=target)


def test_restore_never_gets_selection_or_backup_only_options():
    opts = options(argv_for('restore'))
    assert not any(o.startswith(('--include', '--exclude', '--volsize')) for o in opts)


# ----------------------------------------------------------------------------- other ops

def test_list_current_files_passes_the_time():
    argv = argv_for('list-current-files', time='2D')
    assert '--restore-time=2D' in argv and argv[-1] == 'file:///srv/backups/duplicity-0'


def test_verify_compares_data_against_root_with_the_backup_selection():
    argv = argv_for('verify')
    assert '--compare-data' in argv and '--restore-time=now' in argv
    assert argv[-2:] == ['file:///srv/backups/duplicity-0', '/']
    assert '--include=/etc' in argv and argv.index('--exclude=**') < len(argv) - 2
    assert '--compare-data' not in argv_for('verify', compare_data=False)


def test_remove_older_than_puts_the_time_right_after_the_command():
    argv = argv_for('remove-older-than', time='30D')
    assert argv[1:3] == ['remove-older-than', '30D'] and '--force' in argv


@pytest.mark.parametrize('op', ['remove-all-but-n-full', 'remove-all-inc-of-but-n-full'])
def test_remove_all_but_n_puts_the_count_right_after_the_command(op):
    argv = argv_for(op, count=3)
    assert argv[1:3] == [op, '3'] and '--force' in argv


@pytest.mark.parametrize('count', [0, -1, 'two', None, True, '1.5'])
def test_remove_counts_below_one_are_refused(count):
    with pytest.raises(ValueError, match='count'):
        argv_for('remove-all-but-n-full', count=count)


@pytest.mark.parametrize('time', ['-1D', '3 D', '', None, '1D;rm'])
def test_remove_older_than_refuses_a_missing_or_malformed_time(time):
    with pytest.raises(ValueError, match='time'):
        argv_for('remove-older-than', time=time)


def test_unknown_operations_are_refused():
    with pytest.raises(ValueError):
        h.build_argv("sync", S(make_config()), make_ctx())


# ----------------------------------------------------------------------------- values with '-'

def test_option_values_starting_with_a_dash_are_bound_with_equals():
    ctx = make_ctx(excludes=('-weird-name', '**/-x'), includes=('/-data',))
    argv = h.build_argv('backup', S(make_config('rsync')), ctx)
    for value in ('--exclude=-weird-name', '--exclude=**/-x', '--include=/-data',
                  '--gpg-options=--cipher-algo=AES256',
                  '--ssh-options=-oStrictHostKeyChecking=yes'):
        assert value in argv
    # no element is a bare value that starts with '-' but is not an option itself
    for a in argv[1:]:
        assert not a.startswith('-') or a.startswith('--'), a
    # no option is followed by a separate value argument
    positional = [a for a in argv[1:] if not a.startswith('--')]
    assert positional == ['incr', '/', h.target_url(S(make_config('rsync')), ctx)]


def test_time_values_starting_with_a_dash_stay_inside_the_option():
    argv = argv_for('list-current-files', time='2024-01-31')
    assert '--restore-time=2024-01-31' in argv


# ----------------------------------------------------------------------------- concurrency

def test_concurrency_is_passed_on_duplicity_3():
    config = make_config(concurrency=4)
    argv = h.build_argv('backup', S(config), make_ctx('3.x'))
    assert '--concurrency=4' in argv
    assert h.notes(S(config), make_ctx('3.x')) == []


@pytest.mark.parametrize('version', ['0.8', '2.1'])
def test_concurrency_is_dropped_with_a_note_before_duplicity_3(version):
    config = make_config(concurrency=4)
    argv = h.build_argv('backup', S(config), make_ctx(version))
    assert not any(a.startswith('--concurrency') for a in argv)
    notes = h.notes(S(config), make_ctx(version))
    assert len(notes) == 1 and 'concurrency=4 ignored' in notes[0] and '3.0' in notes[0]


def test_concurrency_of_one_is_neither_passed_nor_noted():
    config = make_config(concurrency=1)
    assert not any(a.startswith('--concurrency') for a in h.build_argv('backup', S(config), make_ctx('3.x')))
    assert h.notes(S(config), make_ctx('2.1')) == []


# ----------------------------------------------------------------------------- secrets

@pytest.mark.parametrize('operation,backend,mode,version', ALL_COMBOS)
def test_no_secret_ever_appears_in_an_argv(operation, backend, mode, version):
    config = make_config(backend, mode)
    # make every backend carry every secret, so a leak from any key would show
    for key, value in SECRETS.items():
        if key not in ('private_ssh_key',) or backend in h.SSH_BACKENDS:
            config[key] = value
    if mode == 'disabled':  # a passphrase with disable_encryption does not validate
        config['encryption_passphrase'] = ''
    argv = argv_for(operation, backend, mode, version, config=config)
    joined = '\0'.join(argv)
    secrets = duplicity_secrets.secret_values(config)
    assert SECRETS['remote_password'] in secrets
    for secret in secrets:
        assert secret not in joined, (secret, argv)


# ----------------------------------------------------------------------------- target URLs

@pytest.mark.parametrize('backend,url,version,expected', [
    ('file', 'file:///srv/backups', '3.x', 'file:///srv/backups/duplicity-0'),
    ('file', 'file:///srv/backups/', '0.8', 'file:///srv/backups/duplicity-0'),
    ('file', '/srv/backups', '2.1', 'file:///srv/backups/duplicity-0'),
    ('sftp', 'host.example.com/dir', '3.x', 'sftp://bk@host.example.com/dir/duplicity-0'),
    ('sftp', 'host.example.com:2222//abs/dir', '3.x', 'sftp://bk@host.example.com:2222//abs/dir/duplicity-0'),
    ('sftp', 'sftp://host.example.com/dir', '3.x', 'sftp://bk@host.example.com/dir/duplicity-0'),
    ('sftp', 'host.example.com', '3.x', 'sftp://bk@host.example.com/duplicity-0'),
    ('scp', 'scp://10.0.0.5:22/dir', '2.1', 'scp://bk@10.0.0.5:22/dir/duplicity-0'),
    ('rsync', 'host.example.com//srv/b', '3.x', 'rsync://bk@host.example.com//srv/b/duplicity-0'),
    ('rsync', 'host.example.com:2222/rel/b', '3.x', 'rsync://bk@host.example.com:2222/rel/b/duplicity-0'),
    ('rsync', 'host.example.com::mod/dir', '3.x', 'rsync://bk@host.example.com::/mod/dir/duplicity-0'),
    ('rsync', 'host.example.com:8873::mod', '0.8', 'rsync://bk@host.example.com:8873::/mod/duplicity-0'),
    ('rsync', 'rsync://host.example.com::/mod/dir', '2.1', 'rsync://bk@host.example.com::/mod/dir/duplicity-0'),
    ('ftp', 'ftp.example.com/backups', '3.x', 'ftp://bk@ftp.example.com/backups/duplicity-0'),
    ('ftps', 'ftp.example.com/backups', '3.x', 'ftpes://bk@ftp.example.com/backups/duplicity-0'),
    ('ftps', 'ftpes://ftp.example.com:2121/b', '3.x', 'ftpes://bk@ftp.example.com:2121/b/duplicity-0'),
    ('ftps', 'ftp.example.com:990/backups', '3.x', 'ftps://bk@ftp.example.com:990/backups/duplicity-0'),
    ('ftps', 'ftps://ftp.example.com/backups', '3.x', 'ftpes://bk@ftp.example.com/backups/duplicity-0'),
    ('s3', 's3:///bucket-1', '3.x', 's3:///bucket-1/duplicity-0'),
    ('s3', 's3:///bucket-1/a/b/', '0.8', 'boto3+s3:///bucket-1/a/b/duplicity-0'),
    ('s3', 's3:///bucket-1/a', (0, 8, 23), 's3:///bucket-1/a/duplicity-0'),
    ('s3', 's3://rgw.example.com/bucket-1/p', '2.1', 's3:///bucket-1/p/duplicity-0'),
    ('s3', 'boto3+s3://bucket-1/p', '3.x', 's3:///bucket-1/p/duplicity-0'),
    ('azure', 'azure://backups', '3.x', 'azure://backups-duplicity-0'),
])
def test_target_url_appends_the_unit_and_uses_the_right_scheme(backend, url, version, expected):
    config = make_config(backend, remote_backup_url=url, remote_user='bk')
    assert h.target_url(S(config), make_ctx(version)) == expected


def test_target_url_addresses_the_source_unit_for_cross_unit_restores():
    ctx = make_ctx(unit='duplicity/7')
    assert h.target_url(S(make_config()), ctx) == 'file:///srv/backups/duplicity-7'
    argv = h.build_argv('restore', S(make_config()), ctx, target='/srv/r')
    assert '--name=duplicity-7' in argv
    assert '--archive-dir=' + PATHS.archive_dir in argv  # this unit's cache


def test_user_in_the_url_is_used_when_remote_user_is_empty():
    config = make_config('rsync', remote_backup_url='alice@host.example.com//dir', remote_user='')
    assert h.target_url(S(config), make_ctx()) == 'rsync://alice@host.example.com//dir/duplicity-0'


def test_azure_container_too_long_with_the_unit_is_refused():
    config = make_config('azure', remote_backup_url='azure://' + 'a' * 57)
    problems = Settings.parse(config, ('/etc',), unit=UNIT)[1]['backend']
    assert [p for p in problems if p.startswith('remote_backup_url: the azure container')]
    # a cross-unit restore names a unit of its own: the builder refuses it too
    settings = Settings.parse(config, ('/etc',), unit='a/0')[0].duplicity
    with pytest.raises(ValueError, match='remote_backup_url'):
        h.target_url(settings, make_ctx())


# ----------------------------------------------------------------------------- upstream URLs

@pytest.mark.parametrize('backend,url,today', [
    ('s3', 's3:minio.local:9000/bucket-1/pre/fix', 's3://minio.local:9000/bucket-1/pre/fix'),
    ('s3', 's3:s3.amazonaws.com/bucket-1', 's3://s3.amazonaws.com/bucket-1'),
    ('s3', 's3+http://bucket-1', 's3:///bucket-1'),
    ('s3', 's3+http://bucket-1/pre', 's3:///bucket-1/pre'),
    ('azure', 'azure://', h.LEGACY_AZURE_URL),
    ('azure', 'azure:///', h.LEGACY_AZURE_URL),
])
def test_upstream_url_forms_are_translated_with_a_note(backend, url, today):
    translated, note = h.translate_legacy_url(backend, url)
    assert translated == today
    assert note.startswith('upstream form ')


@pytest.mark.parametrize('backend,url', [
    ('s3', 's3:///bucket-1'), ('s3', 's3://rgw.example.com/bucket-1'),
    ('azure', 'azure://backups'), ('file', 'file:///srv/b'), ('sftp', 'host/dir'),
    ('file', 's3+http://bucket-1'), ('azure', 's3:host/bucket-1'),
])
def test_todays_url_forms_are_left_alone(backend, url):
    assert h.translate_legacy_url(backend, url) == (url, '')


@pytest.mark.parametrize('url,target,endpoint', [
    ('s3:minio.local:9000/bucket-1/pre', 's3:///bucket-1/pre/duplicity-0', 'https://minio.local:9000'),
    ('s3+http://bucket-1/pre', 's3:///bucket-1/pre/duplicity-0', ''),
])
def test_upstream_s3_forms_back_up_below_the_same_bucket_and_prefix(url, target, endpoint):
    config = make_config('s3', remote_backup_url=url)
    assert h.target_url(S(config), make_ctx()) == target
    assert S(config).s3_endpoint == endpoint


def test_upstream_azure_form_uses_the_unit_name_as_its_container_like_upstream():
    config = make_config('azure', remote_backup_url='azure://')
    assert h.target_url(S(config), make_ctx()) == 'azure://duplicity-0'
    # another unit's backups (source-unit) are in that unit's container
    assert h.target_url(S(config), make_ctx(unit='duplicity/3')) == 'azure://duplicity-3'


def test_upstream_s3_form_with_credentials_in_it_is_still_refused():
    with pytest.raises(ValueError, match='remote_backup_url: credentials'):
        h.read_remote('s3', 's3:key:secret@host.example.com/bucket-1')


# ----------------------------------------------------------------------------- invalid URLs

@pytest.mark.parametrize('backend,url,fragments', [
    ('file', '', ['empty']),
    ('file', 'file://relative/dir', ['absolute', 'file:///']),
    ('file', 'relative/dir', ['absolute']),
    ('file', 'file:///', ['must not be /']),
    ('file', 'sftp://host/dir', ['scheme sftp://', 'does not match']),
    ('file', 'file:///srv/../etc', ['..']),
    ('sftp', 'user:secret@host/dir', ['user:password@', 'remote_user/remote_password']),
    ('sftp', 'sftp://user:secret@host/dir', ['user:password@', 'remote_password']),
    ('sftp', '/dir', ['host is missing']),
    ('sftp', 'host:99999/dir', ['invalid port']),
    ('sftp', 'host:abc/dir', ['invalid port']),
    ('sftp', 'host:/dir', ['empty port']),
    ('sftp', 'ho_st/dir', ['invalid host']),
    ('sftp', 'host/my dir', ['whitespace']),
    ('sftp', "host/it's", ['quotes']),
    ('sftp', 'ftp://host/dir', ['does not match backend sftp']),
    ('scp', 'host/a/../b', ['..']),
    ('rsync', 'host', ['directory is required']),
    ('rsync', 'host::', ['module is missing']),
    ('rsync', 'host/a::b', ['misplaced ::']),
    ('rsync', 'u:p@host::mod/dir', ['user:password@']),
    ('ftp', 'ftp://u:p@host/dir', ['user:password@', 'remote_password']),
    ('ftp', 'host/dir?x=1', ['?']),
    ('ftps', 'sftp://host/dir', ['does not match']),
    ('s3', 'bucket/prefix', ['s3:// scheme is required']),
    ('s3', 's3:///', ['bucket name is missing']),
    ('s3', 's3:///Bad_Bucket', ['invalid bucket']),
    ('s3', 's3://KEY:SECRET@host/bucket', ['user:password@', 'aws_access_key_id']),
    ('s3', 's3://user@host/bucket', ['aws_access_key_id']),
    ('azure', 'backups', ['azure:// scheme is required']),
    ('azure', 'azure://Backups', ['invalid container']),
    ('azure', 'azure://backups/prefix', ['no /prefix']),
    ('azure', 'azure://a--b', ['invalid container']),
])
def test_invalid_remote_urls_are_refused_with_a_helpful_message(backend, url, fragments):
    with pytest.raises(ValueError) as err:
        h.parse_remote(backend, url)
    message = str(err.value)
    assert message.startswith('remote_backup_url: ')
    assert 'expected for backend {}'.format(backend) in message
    for fragment in fragments:
        assert fragment in message


def test_embedded_credentials_never_echo_the_password():
    with pytest.raises(ValueError) as err:
        h.parse_remote('sftp', 'bk:hunter2@host/dir')
    assert 'hunter2' not in str(err.value)


def test_unknown_backend_is_refused_naming_the_backend_key():
    with pytest.raises(ValueError, match='^backend: '):
        h.parse_remote('dropbox', 'x')


@pytest.mark.parametrize('url,endpoint', [
    ('s3://rgw.example.com/bucket-1', 'https://rgw.example.com'),
    ('s3://minio.local:9000/bucket-1/p', 'https://minio.local:9000'),
    ('s3://s3.amazonaws.com/bucket-1', ''),
    ('s3://s3.eu-west-1.amazonaws.com/bucket-1', ''),
    ('s3:///bucket-1', ''),
])
def test_a_non_aws_s3_host_becomes_the_endpoint(url, endpoint):
    assert h.parse_remote('s3', url).endpoint == endpoint
    argv = h.build_argv('collection-status', S(make_config('s3', remote_backup_url=url)), make_ctx())
    if endpoint:
        assert '--s3-endpoint-url=' + endpoint in argv
    else:
        assert not any(a.startswith('--s3-endpoint-url') for a in argv)


def test_s3_endpoint_url_config_wins_over_the_url_host():
    config = make_config('s3', remote_backup_url='s3://rgw.example.com/bucket-1',
                         s3_endpoint_url='http://127.0.0.1:5000')
    argv = h.build_argv('backup', S(config), make_ctx())
    assert '--s3-endpoint-url=http://127.0.0.1:5000' in argv
    assert '--s3-region-name=eu-west-1' in argv


@pytest.mark.parametrize('backend,url', [
    ('sftp', 'bk:Pz9/Qx7@host/dir'),
    ('sftp', 'bk:Pz9/Qx7/Wv5@host:2222/dir'),
    ('scp', 'scp://bk:Pz9@Qx7/Wv5:Ty3@host/dir'),
    ('ftp', 'bk:12/Qx7@host/dir'),
    ('rsync', 'bk:Pz9/Qx7@host::module'),
    ('s3', 's3://AKIA:Pz9/Qx7@rgw.example.com/bucket-1'),
    ('azure', 'azure://acct:Pz9/Qx7@container'),
])
def test_credentials_whose_password_holds_a_slash_are_refused_before_splitting(backend, url):
    with pytest.raises(ValueError) as err:
        h.parse_remote(backend, url)
    message = str(err.value)
    assert 'user:password@' in message and 'invalid port' not in message
    for part in ('Pz9', 'Qx7', 'Wv5', 'Ty3'):
        assert part not in message


@pytest.mark.parametrize('backend,url', [
    ('sftp', 'host:pa55word/dir'),
    ('sftp', 'host:1a2b/dir'),
    ('sftp', 'h0st_secret/dir'),
    ('azure', 'azure://container?sv=2024&sig=SIGNATURE'),
    ('s3', 's3:///Bucket_SECRET'),
])
def test_url_errors_describe_the_part_without_showing_it(backend, url):
    with pytest.raises(ValueError) as err:
        h.parse_remote(backend, url)
    for fragment in ('pa55word', '1a2b', 'h0st_secret', 'SIGNATURE', 'SECRET'):
        assert fragment not in str(err.value)


@pytest.mark.parametrize('backend,user,ok', [
    ('sftp', 'bk', True), ('sftp', 'bk.user_1-x', True), ('sftp', 'bk@example.com', True),
    ('ftp', 'u1@example.com', True), ('rsync', 'bk.user_1-x', True),
    ('sftp', 'b' * 64, True), ('sftp', 'b' * 65, False),
    ('sftp', 'bk user', False), ('sftp', '-oProxyCommand=x', False), ('sftp', '@bk', False),
    ('sftp', 'bk\n', False), ('sftp', 'bk/x', False), ('sftp', 'bk:x', False),
    ('ftp', 'bk,x', False), ('ftp', "bk'x", False), ('rsync', 'bk@host', False),
    ('sftp', '\u00e9', False), ('sftp', '', False), ('sftp', None, False),
])
def test_user_names_follow_the_grammar_of_the_backends_consumer(backend, user, ok):
    assert (h.user_problem(backend, user) is None) is ok


@pytest.mark.parametrize('region,endpoint,ok', [
    ('eu-west-1', '', True), ('us-east-1', 'https://minio', True),
    ('RegionOne', 'https://rgw.example.com', True), ('default', 'https://rgw', True),
    ('EU-WEST-1', '', False), ('eu_west_1', '', False), ('eu-west-1\n', '', False),
    ('-eu', 'https://rgw', False), ('eu-', '', False), ('a' * 64, 'https://rgw', False),
])
def test_s3_region_names_follow_botocore_and_aws(region, endpoint, ok):
    assert (h.region_problem(region, endpoint) is None) is ok


@pytest.mark.parametrize('container,unit,ok', [
    ('backups', 'duplicity/0', True),
    ('a' * 50, 'duplicity/0', True),           # 50 + len('-duplicity-0') = 62
    ('a' * 51, 'duplicity/0', True),           # 63
    ('a' * 52, 'duplicity/0', False),          # 64
    ('backups', 'd' * 60 + '/0', False),
])
def test_the_azure_container_with_the_unit_suffix_must_be_a_valid_name(container, unit, ok):
    remote = h.parse_remote('azure', 'azure://' + container)
    if ok:
        assert h.azure_container(remote, unit) == container + '-' + unit.replace('/', '-')
    else:
        with pytest.raises(ValueError, match='^remote_backup_url: .*63'):
            h.azure_container(remote, unit)


# ----------------------------------------------------------------------------- backend options

@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync'])
def test_ssh_backends_use_only_our_key_and_known_hosts_strictly(backend):
    opts = [a for a in argv_for('backup', backend) if a.startswith('--ssh-options=')]
    assert opts == ['--ssh-options=' + o for o in (
        '-oIdentityFile=' + PATHS.ssh_key, '-oIdentitiesOnly=yes',
        '-oUserKnownHostsFile=' + PATHS.known_hosts, '-oGlobalKnownHostsFile=/dev/null',
        '-oStrictHostKeyChecking=yes')]


def test_ssh_without_a_private_key_does_not_name_a_missing_key_file():
    config = make_config('sftp', private_ssh_key='')
    argv = h.build_argv('backup', S(config), make_ctx())
    assert not any('IdentityFile' in a for a in argv)
    assert '--ssh-options=-oStrictHostKeyChecking=yes' in argv


def test_rsync_over_ssh_creates_the_remote_directory_first():
    argv = argv_for('backup', 'rsync')
    opt = [a for a in argv if a.startswith('--rsync-options=')]
    assert opt == [r'--rsync-options=--rsync-path=mkdir\ -p\ --\ /srv/backups/duplicity-0\ \&\&\ rsync']
    # what duplicity's rsync backend does with it: shlex.split of its command line
    value = opt[0].split('=', 1)[1]
    assert value.strip('"').strip("'") == value  # survives SplitOptionsAction (2.x/3.x)
    assert shlex.split('rsync ' + value) == [
        'rsync', '--rsync-path=mkdir -p -- /srv/backups/duplicity-0 && rsync']


def test_the_remote_shell_reads_the_rsync_directory_as_one_word():
    """What the server's shell does with --rsync-path: one mkdir of one directory, then rsync."""
    config = make_config('rsync', remote_backup_url='host.example.com/site_a+b,c=d.e-f')
    value = [a for a in h.build_argv('backup', S(config), make_ctx())
             if a.startswith('--rsync-options=')][0].split('=', 1)[1]
    rsync_path = shlex.split(value)[0].split('=', 1)[1]
    assert shlex.split(rsync_path) == ['mkdir', '-p', '--', 'site_a+b,c=d.e-f/duplicity-0', '&&',
                                       'rsync']


@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync', 'ftp', 'ftps'])
@pytest.mark.parametrize('path', [
    'dir;touch /tmp/pwned', 'a&b', 'a(b)', 'a$(id)', 'a`id`', 'a|b', 'a>b', 'a<b', 'a*b',
    'a~b', '~user/x', 'a!b', 'a{b,c}', 'a[b]', 'a:b', 'a^b', 'dir/-rf', '-x', 'caf\u00e9',
    'a\x1bb',
])
def test_remote_directories_a_remote_shell_would_interpret_are_refused(backend, path):
    url = 'host.example.com/' + path
    with pytest.raises(ValueError) as err:
        h.parse_remote(backend, url)
    message = str(err.value)
    assert message.startswith('remote_backup_url: ')
    assert url not in message and path not in message  # only the offending characters
    assert len(message) < 300


@pytest.mark.parametrize('url', ['host.example.com::mod;id/dir', 'host.example.com::mod/a&b'])
def test_rsync_daemon_modules_and_directories_follow_the_same_rule(url):
    with pytest.raises(ValueError, match='remote_backup_url: .*letters, digits'):
        h.parse_remote('rsync', url)


@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync', 'ftp', 'ftps'])
@pytest.mark.parametrize('path', ['site_a+b,c=d.e-f', 'Backups/2026/x.y', 'a=b/c,d+e',
                                  '/abs/dir_1'])
def test_unusual_remote_directories_needing_no_quoting_are_accepted(backend, path):
    remote = h.parse_remote(backend, 'host.example.com/' + path)
    assert remote.path.strip('/') == path.strip('/')
    assert h.remote_path_problem(remote.path) == ''


@pytest.mark.parametrize('url', ['file:///srv/a&b(c)', 's3:///bucket-1/a=b'])
def test_backends_without_a_remote_shell_keep_their_own_path_rules(url):
    backend = url.split(':')[0]
    h.parse_remote(backend, url)


def test_the_rsync_directory_is_checked_again_where_it_is_built():
    remote = h.Remote(backend='rsync', host='h', path='dir;id')
    with pytest.raises(ValueError, match='remote_backup_url'):
        h._rsync_mkdir_option(remote, UNIT)


def test_rsync_daemon_gets_no_ssh_options():
    config = make_config('rsync', remote_backup_url='host.example.com::mod/dir')
    argv = h.build_argv('backup', S(config), make_ctx())
    assert not any(a.startswith(('--ssh-options', '--rsync-options')) for a in argv)


def test_ftps_with_a_ca_certificate_passes_the_ca_file():
    assert '--ssl-cacert-file=' + PATHS.ca_file in argv_for('backup', 'ftps')
    config = make_config('ftps', ca_certificate='')
    assert not any(a.startswith('--ssl-cacert') for a in h.build_argv('backup', S(config), make_ctx()))


def test_ca_certificate_on_other_backends_is_ignored_with_a_note():
    config = make_config('sftp', ca_certificate=CA)
    assert not any('cacert' in a for a in h.build_argv('backup', S(config), make_ctx()))
    assert any('ca_certificate ignored' in n for n in h.notes(S(config), make_ctx()))


def test_public_key_mode_without_a_fingerprint_is_refused():
    with pytest.raises(ValueError, match='gpg_public_key'):
        h.build_argv('backup', S(make_config(mode='public-key')), make_ctx(encrypt_key=''))


def test_no_encryption_setting_at_all_is_refused():
    config = make_config(mode='disabled', disable_encryption=False)
    with pytest.raises(ValueError, match='encryption_passphrase'):
        h.build_argv('backup', S(config), make_ctx())


def test_public_key_takes_precedence_over_the_passphrase():
    assert dc.encryption_mode(make_config(mode='public-key')) == 'public-key'
    assert dc.encryption_mode(make_config(mode='disabled', encryption_passphrase='x')) == 'disabled'


# ----------------------------------------------------------------------------- environment

BASE_ENV = {'PATH': '/usr/bin:/bin', 'HOME': '/root', 'LANG': 'C.UTF-8',
            'PASSPHRASE': 'stale', 'FTP_PASSWORD': 'stale', 'AWS_PROFILE': 'x',
            'AWS_SECRET_ACCESS_KEY': 'stale', 'SSH_AUTH_SOCK': '/tmp/agent', 'RSYNC_RSH': 'rsh',
            'GNUPGHOME': '/root/.gnupg', 'AZURE_CONNECTION_STRING': 'stale'}


def test_build_env_keeps_the_base_and_drops_inherited_credentials():
    env = env_of(make_config('file', 'disabled'), make_ctx(), BASE_ENV)
    assert env['PATH'] == '/usr/bin:/bin' and env['HOME'] == '/root' and env['LANG'] == 'C.UTF-8'
    for key in ('PASSPHRASE', 'FTP_PASSWORD', 'AWS_PROFILE', 'AWS_SECRET_ACCESS_KEY',
                'SSH_AUTH_SOCK', 'RSYNC_RSH', 'AZURE_CONNECTION_STRING'):
        assert key not in env
    assert env['GNUPGHOME'] == PATHS.gnupg_home
    assert BASE_ENV['PASSPHRASE'] == 'stale'  # the caller's dict is untouched


@pytest.mark.parametrize('backend, version, home', [
    ('sftp', (0, 8, 11, 1612), PATHS.ssh_home),   # focal: paramiko reads ~/.ssh/known_hosts
    ('scp', (0, 8, 19), PATHS.ssh_home),
    ('sftp', (0, 8, 20), '/root'),                # reads -oUserKnownHostsFile= from here on
    ('scp', (0, 8, 22), '/root'),
    ('sftp', (3, 2, 1), '/root'),
    ('rsync', (0, 8, 11, 1612), '/root'),         # OpenSSH reads the option itself
    ('ftps', (0, 8, 11, 1612), '/root'),
])
def test_sftp_and_scp_before_0_8_20_run_with_the_home_whose_known_hosts_is_the_units(
        backend, version, home):
    env = env_of(make_config(backend), make_ctx(version), BASE_ENV)
    assert env['HOME'] == home
    assert PATHS.ssh_home == os.path.join(PATHS.secrets_dir, 'home')


def test_passphrase_mode_passes_the_passphrase_in_the_environment():
    env = env_of(make_config(), make_ctx(), {})
    assert env['PASSPHRASE'] == SECRETS['encryption_passphrase']


def test_public_key_mode_sets_a_passphrase_so_duplicity_never_prompts():
    config = make_config(mode='public-key', encryption_passphrase='')
    env = env_of(config, make_ctx(gnupg_home='/tmp/gpg-restore'), {})
    assert env['PASSPHRASE'] == ''
    assert env['GNUPGHOME'] == '/tmp/gpg-restore'
    assert 'SIGN_PASSPHRASE' not in env


@pytest.mark.parametrize('backend', ['sftp', 'ftp', 'ftps'])
def test_remote_password_goes_to_backend_and_ftp_password(backend):
    env = env_of(make_config(backend), make_ctx(), {})
    assert env['FTP_PASSWORD'] == env['BACKEND_PASSWORD'] == SECRETS['remote_password']


def test_s3_credentials_ca_bundle_and_checksum_settings_go_to_the_environment():
    env = env_of(make_config('s3'), make_ctx(), {})
    assert env['AWS_ACCESS_KEY_ID'] == SECRETS['aws_access_key_id']
    assert env['AWS_SECRET_ACCESS_KEY'] == SECRETS['aws_secret_access_key']
    assert env['AWS_CA_BUNDLE'] == PATHS.ca_file
    assert env['AWS_REQUEST_CHECKSUM_CALCULATION'] == 'when_required'
    assert env['AWS_RESPONSE_CHECKSUM_VALIDATION'] == 'when_required'


def test_s3_on_aws_keeps_the_default_checksum_behaviour():
    env = env_of(make_config('s3', remote_backup_url='s3:///bucket-1', ca_certificate=''), make_ctx(), {})
    assert 'AWS_REQUEST_CHECKSUM_CALCULATION' not in env and 'AWS_CA_BUNDLE' not in env


def test_azure_connection_string_goes_to_the_environment():
    env = env_of(make_config('azure'), make_ctx(), {})
    assert env['AZURE_CONNECTION_STRING'] == SECRETS['azure_connection_string']


def test_credentials_of_another_backend_are_not_exported():
    config = make_config('file', **SECRETS)
    env = env_of(config, make_ctx(), {})
    assert set(env) == {'GNUPGHOME', 'PASSPHRASE'}


# ----------------------------------------------------------------------------- secret files

def files_by_path(config):
    return {f.path: f for f in files_of(config, PATHS)}


def test_secret_files_for_sftp_are_key_and_known_hosts_all_root_only():
    files = files_by_path(make_config('sftp'))
    assert set(files) == {PATHS.ssh_key, PATHS.known_hosts}
    assert all(f.mode == 0o600 for f in files.values())
    assert files[PATHS.ssh_key].content == (KEY_TEXT + '\n').encode()
    assert files[PATHS.known_hosts].content == \
        ('[backup.example.com]:2222 ' + HOST_KEY + '\n').encode()


def test_the_env_file_variables_carry_the_secrets_duplicity_reads():
    config = make_config('sftp')
    env = h.env_vars(S(config), secrets_of(config), PATHS)
    assert env['FTP_PASSWORD'] == env['BACKEND_PASSWORD'] == SECRETS['remote_password']
    assert env['PASSPHRASE'] == SECRETS['encryption_passphrase']


def test_secret_file_repr_does_not_show_the_content():
    assert SECRETS['remote_password'] not in repr(files_of(make_config('sftp'), PATHS))


@pytest.mark.parametrize('given,port,expected', [
    ('host.example.com ' + HOST_KEY, 22, 'host.example.com ' + HOST_KEY),
    ('host.example.com ' + HOST_KEY, 2222, '[host.example.com]:2222 ' + HOST_KEY),
    ('[host.example.com]:2222 ' + HOST_KEY, 2222, '[host.example.com]:2222 ' + HOST_KEY),
    ('host.example.com,10.0.0.1 ' + HOST_KEY, 2222,
     '[host.example.com]:2222,[10.0.0.1]:2222 ' + HOST_KEY),
    (HOST_KEY, 2222, '[host.example.com]:2222 ' + HOST_KEY),
    (HOST_KEY, 22, 'host.example.com ' + HOST_KEY),
    ('|1|abc=|def= ' + HOST_KEY, 2222, '|1|abc=|def= ' + HOST_KEY),
    ('@cert-authority *.example.com ' + HOST_KEY, 22, '@cert-authority *.example.com ' + HOST_KEY),
])
def test_known_hosts_lines_are_normalised_for_the_port(given, port, expected):
    assert h.known_hosts_lines('# comment\n\n' + given + '\r\n', 'host.example.com', port) == [expected]


@pytest.mark.parametrize('given', ['', '# only a comment', 'host.example.com', 'host notakeytype AAAA',
                                   'host ssh-ed25519 not*base64'])
def test_bad_known_host_key_names_the_key(given):
    with pytest.raises(ValueError, match='^known_host_key: '):
        h.known_hosts_lines(given, 'host', 22)


@pytest.mark.parametrize('value,fragment', [
    ('not base64 !!!', 'not valid base64'),
    (base64.b64encode(b'just some text').decode(), 'not an OpenSSH or PEM private key'),
    (base64.b64encode(b'\xff\xfe\x00binary').decode(), 'not a text private key'),
    ('', 'empty'),
])
def test_bad_private_ssh_key_names_the_key(value, fragment):
    with pytest.raises(ValueError, match='^private_ssh_key: .*' + fragment):
        h.decode_private_key(value)


def test_pem_private_keys_are_accepted_and_get_a_final_newline():
    pem = keymaterial.pem_private_key().strip()
    wrapped = base64.encodebytes(pem.encode()).decode()  # with line breaks
    assert h.decode_private_key(wrapped) == (pem + '\n').encode()


PRIVATE_KEYS_ACCEPTED = [
    ('OPENSSH', keymaterial.openssh_private_key(), ('sftp', 'scp', 'rsync')),
    ('RSA', keymaterial.pem_private_key('RSA PRIVATE KEY'), ('sftp', 'scp', 'rsync')),
    ('EC', keymaterial.pem_private_key('EC PRIVATE KEY'), ('sftp', 'scp', 'rsync')),
    ('DSA', keymaterial.pem_private_key('DSA PRIVATE KEY'), ('sftp', 'scp', 'rsync')),
    ('PKCS#8', keymaterial.pem_private_key('PRIVATE KEY'), ('rsync',)),
]


@pytest.mark.parametrize('kind,key,backends', PRIVATE_KEYS_ACCEPTED)
@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync'])
def test_the_key_kinds_each_ssh_backend_can_use_are_accepted_and_no_other(kind, key, backends,
                                                                           backend):
    value = base64.b64encode(key.encode()).decode()
    if backend in backends:
        assert h.decode_private_key(value, backend) == key.encode()
    else:
        with pytest.raises(ValueError, match='^private_ssh_key: a PKCS#8 key'):
            h.decode_private_key(value, backend)


@pytest.mark.parametrize('key,fragment', [
    (keymaterial.openssh_private_key(cipher='aes256-ctr'), 'passphrase-protected'),
    (keymaterial.pem_private_key('ENCRYPTED PRIVATE KEY'), 'passphrase-protected'),
    (keymaterial.pem_private_key(headers=('Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,00')),
     'passphrase-protected'),
    (keymaterial.pem_private_key('PGP PRIVATE KEY BLOCK'), 'not an SSH private key'),
    (keymaterial.pem_private_key('CERTIFICATE'), 'not an SSH private key'),
    (KEY_TEXT.replace('END OPENSSH', 'END RSA'), 'do not match'),
    (KEY_TEXT + '\n' + KEY_TEXT, 'PEM blocks'),
    ('-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGFuIG9wZW5zc2gga2V5\n'
     '-----END OPENSSH PRIVATE KEY-----', 'not an OpenSSH private key'),
    ('-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----', 'not base64'),
    ('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n', 'PuTTY'),
    ('trailing text\n' + KEY_TEXT, 'not an OpenSSH or PEM private key'),
])
def test_private_keys_the_backends_cannot_use_are_refused_without_showing_them(key, fragment):
    value = base64.b64encode(key.encode()).decode()
    with pytest.raises(ValueError) as err:
        h.decode_private_key(value, 'sftp')
    message = str(err.value)
    assert message.startswith('private_ssh_key: ') and fragment in message
    for line in key.splitlines():
        if not line.startswith('-----') and len(line) >= 8:
            assert line[:8] not in message


def test_secret_files_and_the_validator_use_the_same_key_check():
    import duplicity_config
    value = base64.b64encode(keymaterial.pem_private_key('PRIVATE KEY').encode()).decode()
    config = make_config('sftp', private_ssh_key=value)
    with pytest.raises(ValueError) as err:
        files_of(config, PATHS)
    assert duplicity_config.validate_ssh(config) == [str(err.value)]


@pytest.mark.parametrize('text,fragment', [
    (HOST_KEY + '\n' + keymaterial.pem_private_key(seed='leak'), 'line 2 starts a private key'),
    (keymaterial.openssh_private_key(seed='leak'), 'line 1 starts a private key'),
    (keymaterial.pem_private_key('CERTIFICATE', seed='leak'), 'line 1 starts a PEM block'),
    ('host ssh-rsa ' + HOST_KEY.split()[1], 'line 1 is not a known_hosts entry'),
    ('host ssh-ed25519 ' + HOST_KEY.split()[1][:-4], 'line 1 is not'),
    ('host ' + HOST_KEY + '\nleak-one\n#c\nleak-two', 'lines 2, 4 are not'),
    ('\n'.join('leak{}'.format(n) for n in range(30)), 'lines 1-30 are not'),
    ('\n\n'.join('leak{}'.format(n) for n in range(30)), 'lines 1, 3, 5, 7, 9 and 25 more'),
])
def test_bad_known_host_key_lines_are_reported_by_number_never_by_content(text, fragment):
    with pytest.raises(ValueError) as err:
        h.known_hosts_lines(text, 'host', 22)
    message = str(err.value)
    assert message.startswith('known_host_key: ') and fragment in message
    assert 'leak' not in message
    for line in text.splitlines():
        if not line.startswith('-----') and len(line) >= 12:
            assert line[:12] not in message


def test_secret_files_refuse_a_bad_key_before_anything_is_written():
    config = make_config('sftp', private_ssh_key='@@@')
    with pytest.raises(ValueError, match='private_ssh_key'):
        files_of(config, PATHS)


def test_ca_file_is_written_for_s3_and_ftps_only():
    assert files_by_path(make_config('s3'))[PATHS.ca_file].content == CA.encode()
    assert PATHS.ca_file in files_by_path(make_config('ftps'))
    assert PATHS.ca_file not in files_by_path(make_config('sftp', ca_certificate=CA))
    problems = Settings.parse(make_config('s3', ca_certificate='garbage'), ('/etc',))[1]
    assert problems['backend'] == ['ca_certificate is not a PEM certificate '
                                   '(-----BEGIN CERTIFICATE----- ...)']


def test_rsync_daemon_needs_no_ssh_files():
    config = make_config('rsync', remote_backup_url='host::mod/dir', known_host_key='')
    assert files_by_path(config) == {}


def test_a_blank_private_key_is_unset_for_the_validator_the_argv_and_the_key_file():
    config = make_config('sftp', private_ssh_key=' \n ')
    assert not any(Settings.parse(config, ('/etc',), unit=UNIT)[1].values())
    assert not any('IdentityFile' in a for a in h.build_argv('backup', S(config), make_ctx()))
    assert PATHS.ssh_key not in files_by_path(config)


@pytest.mark.parametrize('mode,gnupg_home,kept', [
    ('passphrase', '', True),
    ('passphrase', '/tmp/key-home', True),
    ('public-key', '/tmp/key-home', True),    # private-key-file: the key's passphrase
    ('public-key', '', False),                # the unit's public-key-only home
])
def test_the_passphrase_reaches_duplicity_only_where_it_can_unlock_something(mode, gnupg_home,
                                                                              kept):
    config = make_config('file', mode, encryption_passphrase='a passphrase')
    env = h.run_env(S(config), {'PATH': '/bin'}, {'PASSPHRASE': 'a passphrase'}, gnupg_home)
    assert env['PASSPHRASE'] == ('a passphrase' if kept else '')  # '': no prompt either
