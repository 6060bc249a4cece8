"""Tables of valid and invalid values for every validator of lib/duplicity_config.py."""
import base64

import pytest

import duplicity_config as dc
import keymaterial
from duplicity_records import Outcome
from duplicity_secrets import Secrets
from duplicity_settings import Settings

KEY_TEXT = keymaterial.openssh_private_key()


def b64(text):
    return base64.b64encode(text.encode()).decode()


KEY_B64 = b64(KEY_TEXT)
HOST_KEY = 'backup.example.com ' + keymaterial.host_key()
CA = '-----BEGIN CERTIFICATE-----\nMIIBcertificatebody\n-----END CERTIFICATE-----\n'
PUBLIC_KEY = ('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGabc\n=abcd\n'
              '-----END PGP PUBLIC KEY BLOCK-----\n')

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

# The smallest complete, valid setting of each backend.
BACKENDS = {
    'file': {'remote_backup_url': 'file:///srv/backups'},
    'sftp': {'remote_backup_url': 'backup.example.com:2222/backups', 'remote_user': 'bk',
             'private_ssh_key': KEY_B64, 'known_host_key': HOST_KEY},
    'scp': {'remote_backup_url': 'backup.example.com//srv/backups', 'remote_user': 'bk',
            'remote_password': 'pw-secret', 'known_host_key': HOST_KEY},
    'rsync': {'remote_backup_url': 'backup.example.com:2222//srv/backups',
              'private_ssh_key': KEY_B64, 'known_host_key': HOST_KEY},
    'ftp': {'remote_backup_url': 'ftp.example.com/backups', 'remote_user': 'bk',
            'remote_password': 'pw-secret'},
    'ftps': {'remote_backup_url': 'ftp.example.com:2121/backups', 'remote_user': 'bk',
             'remote_password': 'pw-secret', 'ca_certificate': CA},
    's3': {'remote_backup_url': 's3:///bucket-1/prefix', 'aws_access_key_id': 'AKIA0001',
           'aws_secret_access_key': 'secret'},
    'azure': {'remote_backup_url': 'azure://backups',
              'azure_connection_string': 'AccountName=a;AccountKey=c2VjcmV0'},
}


def config(backend='file', **extra):
    c = dict(DEFAULTS, backend=backend, encryption_passphrase='pass',
             aux_backup_directory='/etc')
    if backend:
        c.update(BACKENDS[backend])
    c.update(extra)
    return c


def assert_names(problems, key):
    assert problems, 'expected a problem naming {}'.format(key)
    for problem in problems:
        assert key in problem, problem


# ----------------------------------------------------------------------------- helpers

@pytest.mark.parametrize('value,expected', [
    ('', []),
    (None, []),
    ('/a', ['/a']),
    ('/a,/b', ['/a', '/b']),
    ('/a, /b\n/c\t/d', ['/a', '/b', '/c', '/d']),
    (',,/a,, ,', ['/a']),
])
def test_split_list_splits_on_commas_and_whitespace_and_drops_empty_items(value, expected):
    assert dc.split_list(value) == expected


@pytest.mark.parametrize('backend,url,needed', [
    ('sftp', 'h/d', True),
    ('scp', 'h/d', True),
    ('rsync', 'h//srv/d', True),
    ('rsync', 'h:2222/rel', True),
    ('rsync', 'h::module/dir', False),
    ('file', 'file:///srv', False),
    ('ftp', 'h/d', False),
    ('ftps', 'h/d', False),
    ('s3', 's3:///b', False),
    ('azure', 'azure://c', False),
    ('', '', False),
])
def test_ssh_is_needed_only_for_sftp_scp_and_rsync_over_ssh(backend, url, needed):
    assert dc.ssh_needed({'backend': backend, 'remote_backup_url': url}) is needed


def test_backup_paths_are_absolute_deduplicated_sorted_and_without_trailing_slashes():
    c = config(aux_backup_directory='/srv/b/, /etc /srv/b relative /etc/')
    assert dc.backup_paths(c, ['/var/lib/app', '/etc', '/']) == [
        '/', '/etc', '/srv/b', '/var/lib/app']


def test_backup_paths_are_empty_when_nothing_is_declared():
    assert dc.backup_paths(config(aux_backup_directory='')) == []


# ----------------------------------------------------------------------------- backend

@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_each_backend_with_its_credentials_is_valid(backend):
    assert dc.validate_backend(config(backend)) == []


@pytest.mark.parametrize('backend,url', [
    ('sftp', 'user-less.example.com/dir'),
    ('scp', 'h.example.com:22//abs/dir'),
    ('rsync', 'h.example.com/rel/dir'),
    ('rsync', 'h.example.com::module/dir'),
    ('rsync', 'h.example.com:873::module'),
    ('ftps', 'h.example.com:990/implicit'),
    ('s3', 's3://rgw.example.com:8443/bucket-1/prefix'),
    ('s3', 's3://s3.eu-west-1.amazonaws.com/bucket-1'),
    ('file', '/srv/backups'),
])
def test_other_url_forms_are_accepted(backend, url):
    assert dc.validate_backend(config(backend, remote_backup_url=url)) == []


def test_rsync_daemon_needs_no_user_password_or_key():
    c = config('rsync', remote_backup_url='h.example.com::module/dir', private_ssh_key='',
               known_host_key='')
    assert dc.validate_backend(c) == []
    assert dc.validate_ssh(c) == []


@pytest.mark.parametrize('backend,missing', [
    ('sftp', 'remote_user'),
    ('scp', 'remote_user'),
    ('ftp', 'remote_user'),
    ('ftp', 'remote_password'),
    ('ftps', 'remote_user'),
    ('ftps', 'remote_password'),
    ('s3', 'aws_access_key_id'),
    ('s3', 'aws_secret_access_key'),
    ('azure', 'azure_connection_string'),
    ('file', 'remote_backup_url'),
    ('s3', 'remote_backup_url'),
])
def test_a_backend_without_a_credential_it_needs_names_the_missing_key(backend, missing):
    assert_names(dc.validate_backend(config(backend, **{missing: ''})), missing)


@pytest.mark.parametrize('backend,url', [
    ('file', 'relative/dir'),
    ('file', 'file://relative'),
    ('file', 'file:///'),
    ('file', 's3:///bucket'),
    ('sftp', '/no/host'),
    ('sftp', 'host:99999/dir'),
    ('sftp', 'user:secret@host/dir'),
    ('ftp', 'host/dir with space'),
    ('rsync', 'host.example.com'),
    ('rsync', 'host::'),
    ('s3', 'bucket-1/prefix'),
    ('s3', 's3:///Bad_Bucket'),
    ('azure', 'container'),
    ('azure', 'azure://UPPER'),
    ('azure', 'azure://c--x'),
    ('azure', 'azure://container/prefix'),
])
def test_a_malformed_remote_backup_url_is_named(backend, url):
    assert_names(dc.validate_backend(config(backend, remote_backup_url=url)),
                 'remote_backup_url')


@pytest.mark.parametrize('backend', ['', 'tape', 'S3', 'gdrive'])
def test_an_empty_or_unknown_backend_is_named_and_lists_the_choices(backend):
    problems = dc.validate_backend(dict(config(''), backend=backend))
    assert_names(problems, 'backend')
    assert 'file' in problems[0] and 'azure' in problems[0]


@pytest.mark.parametrize('value,ok', [
    ('', True),
    ('https://rgw.example.com', True),
    ('http://127.0.0.1:9000', True),
    ('https://rgw.example.com/path', True),
    ('rgw.example.com', False),
    ('ftp://rgw.example.com', False),
    ('https://', False),
    ('https://host name', False),
])
def test_s3_endpoint_url_must_be_an_http_url(value, ok):
    problems = dc.validate_backend(config('s3', s3_endpoint_url=value))
    if ok:
        assert problems == []
    else:
        assert_names(problems, 's3_endpoint_url')


@pytest.mark.parametrize('value', ['garbage', '-----BEGIN CERTIFICATE-----\nabc\n',
                                   '-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n'
                                   '-----END PGP PUBLIC KEY BLOCK-----'])
def test_ca_certificate_must_be_pem(value):
    assert_names(dc.validate_backend(config('ftps', ca_certificate=value)), 'ca_certificate')


@pytest.mark.parametrize('key', ['volsize', 'concurrency'])
@pytest.mark.parametrize('value', [0, -1, '200', None, True, 1.5])
def test_volsize_and_concurrency_must_be_whole_numbers_of_at_least_one(key, value):
    assert_names(dc.validate_backend(config('file', **{key: value})), key)


@pytest.mark.parametrize('value, deadline', [(None, 86400), (0, 86400), (-5, 86400), (1, 1),
                                             (3600, 3600), (1814400, 1814400)])
def test_run_timeout_up_to_21_days_is_the_deadline_and_0_or_less_the_default(value, deadline):
    settings, problems = Settings.parse(config('file', run_timeout=value))
    assert not any(problems.values()), problems
    assert settings.duplicity.run_timeout == deadline


@pytest.mark.parametrize('value', [1814401, 2 ** 31, 10 ** 20, '3600', 1.5, True])
def test_run_timeout_past_21_days_or_not_a_whole_number_blocks_naming_it(value):
    assert_names(dc.validate_backend(config('file', run_timeout=value)), 'run_timeout')


FOCAL, BEFORE_S3_OPTIONS, S3_OPTIONS = (0, 8, 11, 1612), (0, 8, 14), (0, 8, 15)


@pytest.mark.parametrize('extra, version, keys', [
    ({'s3_endpoint_url': 'http://127.0.0.1:9000'}, FOCAL, ['s3_endpoint_url']),
    ({'remote_backup_url': 's3://minio.example.com/bucket-1'}, FOCAL, ['s3_endpoint_url']),
    ({'s3_region_name': 'eu-west-1'}, BEFORE_S3_OPTIONS, ['s3_region_name']),
    ({'s3_endpoint_url': 'https://rgw.example.com', 's3_region_name': 'default'}, FOCAL,
     ['s3_endpoint_url', 's3_region_name']),
    ({'s3_endpoint_url': 'https://rgw.example.com', 's3_region_name': 'default'}, S3_OPTIONS, []),
    ({}, FOCAL, []),                      # AWS's own endpoint, no region: 0.8.11 can
    ({'s3_endpoint_url': 'https://rgw.example.com'}, None, []),  # not installed yet: unknown
])
def test_s3_options_the_installed_duplicity_lacks_block_naming_their_key(extra, version, keys):
    _, problems = Settings.parse(config('s3', **extra), version=version)
    found = [p for group in problems.values() for p in group]
    assert [p.split(':', 1)[0] for p in found] == keys, found
    assert all(p in problems['backend'] for p in found)
    assert all('0.8.15' in p and '0.8.11.1612' in p for p in found if version == FOCAL)


# ----------------------------------------------------------------------------- ssh

@pytest.mark.parametrize('backend', ['file', 'ftp', 'ftps', 's3', 'azure'])
def test_backends_without_ssh_need_no_ssh_material(backend):
    assert dc.validate_ssh(config(backend, private_ssh_key='garbage',
                                  known_host_key='garbage')) == []


@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync'])
def test_ssh_backends_with_key_and_host_key_are_valid(backend):
    assert dc.validate_ssh(config(backend, private_ssh_key=KEY_B64)) == []


@pytest.mark.parametrize('backend', ['sftp', 'scp'])
def test_sftp_and_scp_accept_a_password_instead_of_a_key(backend):
    assert dc.validate_ssh(config(backend, private_ssh_key='', remote_password='pw-secret')) == []


@pytest.mark.parametrize('backend', ['sftp', 'scp'])
def test_sftp_and_scp_without_key_or_password_name_both_keys(backend):
    problems = dc.validate_ssh(config(backend, private_ssh_key='', remote_password=''))
    assert_names(problems, 'private_ssh_key')
    assert 'remote_password' in problems[0]


def test_rsync_over_ssh_needs_a_key_even_with_a_password():
    problems = dc.validate_ssh(config('rsync', private_ssh_key='', remote_password='pw-secret'))
    assert_names(problems, 'private_ssh_key')


@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync'])
@pytest.mark.parametrize('value', ['', '\n  \n'])
def test_ssh_backends_need_known_host_key(backend, value):
    assert_names(dc.validate_ssh(config(backend, private_ssh_key=KEY_B64, known_host_key=value)),
                 'known_host_key')


@pytest.mark.parametrize('key', [
    KEY_TEXT,  # not base64-encoded
    'not base64 !!!',
    b64('just some text'),
    b64('-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n-----END PGP PRIVATE KEY BLOCK-----\n'),
    b64(KEY_TEXT.split('-----END')[0]),  # truncated paste: no END line
    base64.b64encode(b'\xff\xfe binary').decode(),
])
def test_a_private_ssh_key_that_is_not_a_base64_private_key_is_named(key):
    assert_names(dc.validate_ssh(config('sftp', private_ssh_key=key)), 'private_ssh_key')


@pytest.mark.parametrize('backend,kind', [
    (backend, kind) for backend in ('sftp', 'scp', 'rsync') for kind in ('RSA', 'EC', 'DSA')
] + [('rsync', '')])
def test_openssh_and_pem_private_keys_are_accepted(backend, kind):
    label = (kind + ' ' if kind else '') + 'PRIVATE KEY'
    text = keymaterial.pem_private_key(label)
    assert dc.validate_ssh(config(backend, private_ssh_key=b64(text))) == []


def test_a_base64_key_wrapped_over_lines_is_accepted():
    wrapped = '\n'.join(KEY_B64[i:i + 64] for i in range(0, len(KEY_B64), 64))
    assert dc.validate_ssh(config('rsync', private_ssh_key=wrapped)) == []


RSA_HOST_KEY = keymaterial.host_key('ssh-rsa', 'rsa')
ECDSA_HOST_KEY = keymaterial.host_key('ecdsa-sha2-nistp256', 'ecdsa')


@pytest.mark.parametrize('lines', [
    HOST_KEY,
    'backup.example.com,10.0.0.5 ' + RSA_HOST_KEY + ' comment here',
    '[backup.example.com]:2222 ' + ECDSA_HOST_KEY,
    '|1|c2FsdA==|aGFzaA== ' + keymaterial.host_key(),
    '@cert-authority *.example.com ' + keymaterial.host_key(),
    '# comment from ssh-keyscan\n' + HOST_KEY + '\n\n',
    HOST_KEY + '\r\n[h]:2222 ' + RSA_HOST_KEY + '\r\n',
    keymaterial.host_key(),  # key only: the host is added when written
])
def test_known_hosts_lines_are_accepted(lines):
    assert dc.validate_ssh(config('sftp', known_host_key=lines)) == []


@pytest.mark.parametrize('lines', [
    'garbage',
    'backup.example.com',
    'backup.example.com ssh-ed25519',
    'backup.example.com not-a-keytype AAAA',
    'backup.example.com ssh-ed25519 not*base64',
    HOST_KEY + '\nsecond line is garbage',
])
def test_known_host_key_lines_that_are_not_known_hosts_entries_are_named(lines):
    assert_names(dc.validate_ssh(config('sftp', known_host_key=lines)), 'known_host_key')


def test_ssh_config_the_validator_accepts_can_be_written_as_files():
    import duplicity_helper
    from duplicity_paths import UnitPaths
    for backend in ('sftp', 'scp', 'rsync'):
        c = config(backend, private_ssh_key=KEY_B64,
                   known_host_key='# c\n' + keymaterial.host_key() + '\n' + HOST_KEY)
        assert dc.validate_backend(c) == [] and dc.validate_ssh(c) == []
        files = duplicity_helper.secret_files(Settings.parse(c, ('/etc',))[0],
                                              Secrets.from_config(c),
                                              UnitPaths.for_unit('duplicity/0'))
        assert files


# ----------------------------------------------------------------------------- builds

def _builds(c, unit='duplicity/0'):
    """Build what the runner and the hooks build from c: argv of every operation for every
    duplicity version, the environment and the secret files (raises what they raise)."""
    import duplicity_helper
    from duplicity_paths import UnitPaths
    paths = UnitPaths.for_unit(unit, root='/nonexistent/test')
    settings, secrets = Settings.parse(c, ('/etc',), unit=unit)[0], Secrets.from_config(c)
    for version in ((0, 8, 22), (2, 1, 4), (3, 2, 1)):
        ctx = duplicity_helper.Context(unit=unit, paths=paths, version=version,
                                       encrypt_key='0' * 40, includes=('/etc',))
        for operation, params in dc.DRY_RUN_OPERATIONS:
            duplicity_helper.build_argv(operation, settings.duplicity, ctx, **params)
        duplicity_helper.build_env(settings.duplicity, secrets, ctx, {})
    duplicity_helper.secret_files(settings, secrets, paths)


ENCRYPTED_OPENSSH = keymaterial.openssh_private_key(cipher='aes256-ctr')
PKCS8 = keymaterial.pem_private_key('PRIVATE KEY')


@pytest.mark.parametrize('backend,settings,key', [
    ('sftp', {'remote_user': 'backup user'}, 'remote_user'),
    ('scp', {'remote_user': '-oProxyCommand=x'}, 'remote_user'),
    ('sftp', {'remote_user': 'b' * 65}, 'remote_user'),
    ('rsync', {'remote_user': 'bk@corp.example.com'}, 'remote_user'),
    ('rsync', {'remote_user': 'bk:x'}, 'remote_user'),
    ('ftp', {'remote_user': 'bk,admin'}, 'remote_user'),
    ('ftps', {'remote_user': "o'brien"}, 'remote_user'),
    ('ftp', {'remote_password': "it's-secret"}, 'remote_password'),
    ('ftps', {'remote_password': 'line1\nline2'}, 'remote_password'),
    ('s3', {'s3_region_name': 'EU-WEST-1'}, 's3_region_name'),
    ('s3', {'s3_region_name': 'eu_west_1'}, 's3_region_name'),
    ('s3', {'s3_region_name': '-eu'}, 's3_region_name'),
    ('azure', {'remote_backup_url': 'azure://' + 'a' * 52}, 'remote_backup_url'),
    ('sftp', {'private_ssh_key': b64(PKCS8)}, 'private_ssh_key'),
    ('scp', {'private_ssh_key': b64(PKCS8)}, 'private_ssh_key'),
    ('rsync', {'private_ssh_key': b64(ENCRYPTED_OPENSSH)}, 'private_ssh_key'),
    ('sftp', {'private_ssh_key': b64(keymaterial.pem_private_key('ENCRYPTED PRIVATE KEY'))},
     'private_ssh_key'),
    ('sftp', {'private_ssh_key': b64(keymaterial.pem_private_key(
        headers=('Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF')))},
     'private_ssh_key'),
    ('sftp', {'private_ssh_key': b64(KEY_TEXT.replace('END OPENSSH', 'END RSA'))},
     'private_ssh_key'),
    ('sftp', {'private_ssh_key': b64(KEY_TEXT + KEY_TEXT)}, 'private_ssh_key'),
    ('rsync', {'known_host_key': 'backup.example.com ssh-rsa ' + keymaterial.host_key().split()[1]},
     'known_host_key'),
    ('sftp', {'known_host_key': '@revoke backup.example.com ' + keymaterial.host_key()},
     'known_host_key'),
    ('sftp', {'known_host_key': 'host\x00name ' + keymaterial.host_key()}, 'known_host_key'),
    ('sftp', {'remote_password': 'pw', 'private_ssh_key': ''}, 'remote_password'),
    ('file', {'encryption_passphrase': 'abc'}, 'encryption_passphrase'),
    ('s3', {'aws_secret_access_key': 'k'}, 'aws_secret_access_key'),
])
def test_values_that_used_to_validate_and_fail_later_now_block_naming_the_key(backend, settings,
                                                                              key):
    results = dc.validate_all(config(backend, **settings), unit='duplicity/0')
    problems = [p for group in results.values() for p in group]
    assert_names(problems, key)


@pytest.mark.parametrize('backend,settings', [
    ('sftp', {'remote_user': 'backup@example.com'}),
    ('ftps', {'remote_user': 'u12345-sub1@example.com'}),
    ('rsync', {'remote_user': 'back_up.user-1'}),
    ('rsync', {'private_ssh_key': b64(PKCS8)}),
    ('sftp', {'private_ssh_key': b64(keymaterial.pem_private_key('EC PRIVATE KEY'))}),
    ('s3', {'s3_region_name': 'RegionOne', 's3_endpoint_url': 'https://rgw.example.com'}),
    ('s3', {'s3_region_name': 'eu-west-1'}),
    ('azure', {'remote_backup_url': 'azure://' + 'a' * 50}),
    ('ftp', {'remote_password': 'p@ss,w/rd:"x"'}),
    ('sftp', {'remote_password': "it's fine for paramiko", 'private_ssh_key': ''}),
])
def test_what_validates_builds_its_argv_environment_and_secret_files(backend, settings):
    c = config(backend, **settings)
    results = dc.validate_all(c, unit='duplicity/0')
    assert not any(results.values()), results
    _builds(c)


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_every_valid_backend_setting_builds(backend):
    c = config(backend)
    assert not any(dc.validate_all(c, unit='duplicity/0').values())
    _builds(c)


def test_the_azure_container_is_checked_with_the_units_own_name():
    c = config('azure', remote_backup_url='azure://' + 'a' * 45)
    assert not any(dc.validate_all(c, unit='duplicity/0').values())
    problems = dc.validate_all(c, unit='a-rather-long-application-name/12')['backend']
    assert_names(problems, 'remote_backup_url')
    assert '63' in problems[0]


def test_a_builder_error_the_validators_miss_is_reported_under_its_keys_group(monkeypatch):
    import duplicity_helper

    def broken(*args, **kwargs):
        raise ValueError('gpg_public_key: made-up builder failure')
    monkeypatch.setattr(duplicity_helper, 'build_env', broken)
    results = dc.validate_all(config('file'))
    assert results['encryption'] == ['gpg_public_key: made-up builder failure']


def test_a_bug_in_a_validator_blocks_instead_of_raising(monkeypatch):
    def broken(config):
        raise KeyError('x')
    monkeypatch.setattr(dc, 'validate_encryption', broken)
    results = dc.validate_all(config('file'))
    assert results['encryption'] and 'KeyError' in results['encryption'][0]


def test_paths_too_many_for_one_command_line_block_the_sources():
    paths = ['/srv/data/{:06d}/{}'.format(n, 'x' * 60) for n in range(5000)]
    results = dc.validate_all(config('file'), paths)
    assert_names(results['sources'], 'aux_backup_directory')
    assert 'too long' in results['sources'][0]


# ----------------------------------------------------------------------------- secrets shown

SLASH_PASSWORD = 'pa/ss:w@rd-9Zq'


@pytest.mark.parametrize('backend,url', [
    ('sftp', 'bk:{}@backup.example.com/dir'),
    ('sftp', 'sftp://bk:{}@backup.example.com:2222/dir'),
    ('scp', 'bk:{}@backup.example.com//abs'),
    ('rsync', 'bk:{}@backup.example.com::module/dir'),
    ('rsync', 'bk:{}@backup.example.com//abs'),
    ('ftp', 'ftp://bk:{}@ftp.example.com/dir'),
    ('ftps', 'bk:{}@ftp.example.com:990/dir'),
    ('s3', 's3://AKIA0001:{}@rgw.example.com/bucket-1'),
    ('azure', 'azure://acct:{}@container'),
    ('file', 'file://bk:{}@/srv/backups'),
])
def test_a_url_with_a_password_is_refused_without_showing_any_of_it(backend, url):
    c = config(backend, remote_backup_url=url.format(SLASH_PASSWORD))
    problems = dc.validate_all(c, unit='duplicity/0')['backend']
    assert_names(problems, 'remote_backup_url')
    text = ' '.join(problems)
    assert 'user:password@' in text
    for part in ('pa/ss', 'ss:w', 'w@rd', '9Zq'):
        assert part not in text


@pytest.mark.parametrize('value', [
    'https://AKIA0001:s3cr3t/x@rgw.example.com',
    'https://rgw.example.com/?X-Amz-Signature=s3cr3t',
])
def test_an_s3_endpoint_url_with_credentials_is_refused_without_showing_them(value):
    problems = dc.validate_backend(config('s3', s3_endpoint_url=value))
    assert_names(problems, 's3_endpoint_url')
    assert 's3cr3t' not in ' '.join(problems)


def test_a_private_key_pasted_into_known_host_key_is_refused_by_line_number_only():
    pem = keymaterial.pem_private_key(seed='pasted')
    c = config('sftp', known_host_key=HOST_KEY + '\n' + pem)
    problems = dc.validate_all(c)['ssh']
    assert_names(problems, 'known_host_key')
    assert 'line 2' in problems[0] and 'private key' in problems[0]
    for line in pem.splitlines()[1:-1]:
        assert line[:12] not in ' '.join(problems)


def test_a_private_key_pasted_into_gpg_public_key_is_refused_by_line_number_only():
    pem = keymaterial.pem_private_key('PGP PRIVATE KEY BLOCK', seed='gpg')
    problems = dc.validate_encryption(dict(DEFAULTS, gpg_public_key=pem))
    assert_names(problems, 'gpg_public_key')
    assert 'line 1' in problems[0]
    for line in pem.splitlines()[1:-1]:
        assert line[:12] not in problems[0]


@pytest.mark.parametrize('key,value', [
    ('install_sources', '[deb https://user:s3cr3t@mirror.example.com/ubuntu jammy main'),
    ('install_keys', '{s3cr3t'),
    ('ca_certificate', 's3cr3t-not-a-certificate'),
    ('gpg_public_key', 's3cr3t-not-a-key'),
    ('private_ssh_key', 's3cr3t!!'),
    ('known_host_key', 'host ssh-ed25519 s3cr3t*'),
])
def test_values_that_may_carry_credentials_are_described_not_shown(key, value):
    results = dc.validate_all(config('sftp', **{key: value}))
    problems = [p for group in results.values() for p in group]
    assert_names(problems, key)
    assert 's3cr3t' not in ' '.join(problems)


# ----------------------------------------------------------------------------- status length

def test_a_blocked_status_lists_what_fits_and_counts_the_rest():
    results = {'sources': ['problem number {} naming aux_backup_directory'.format(n)
                           for n in range(1000)]}
    state, message = dc.status_message(results)
    assert state == 'blocked'
    assert len(message) <= dc.STATUS_MESSAGE_MAX
    assert message.startswith('problem number 0 naming aux_backup_directory; problem number 1')
    assert 'more' in message.rsplit(';', 1)[1]


@pytest.mark.parametrize('kwargs', [
    {'results': {'backend': ['remote_user ' + 'x' * 100000]}},
    {'results': {}, 'runtime_problems': ['y' * 100000]},
    {'results': {}, 'last_backup': Outcome('backup', 'z' * 100000, status='failed',
                                           error='e')},
    {'results': {}, 'last_success': Outcome('backup', '2026-01-01T00:00:00Z',
                                            backup_id='i' * 100000, type='full',
                                            end='2026-01-01T00:00:00Z')},
])
def test_every_status_message_is_capped_on_one_line(kwargs):
    kwargs['results'] = dict(kwargs['results'], other=['line one\nline two'])
    state, message = dc.status_message(**kwargs)
    assert len(message) <= dc.STATUS_MESSAGE_MAX
    assert '\n' not in message


# ----------------------------------------------------------------------------- encryption

@pytest.mark.parametrize('settings', [
    {'encryption_passphrase': 'pass'},
    {'gpg_public_key': PUBLIC_KEY},
    {'gpg_public_key': '\n' + PUBLIC_KEY + '\n  '},
    {'gpg_public_key': PUBLIC_KEY, 'encryption_passphrase': 'pass'},
    {'disable_encryption': True},
])
def test_each_encryption_mode_is_valid(settings):
    c = dict(DEFAULTS, **settings)
    assert dc.validate_encryption(c) == []


def test_no_encryption_setting_names_all_three_keys():
    problems = dc.validate_encryption(dict(DEFAULTS))
    assert len(problems) == 1
    for key in ('encryption_passphrase', 'gpg_public_key', 'disable_encryption'):
        assert key in problems[0]


@pytest.mark.parametrize('settings', [
    {'encryption_passphrase': 'pass'},
    {'gpg_public_key': PUBLIC_KEY},
    {'encryption_passphrase': 'pass', 'gpg_public_key': PUBLIC_KEY},
])
def test_disable_encryption_conflicts_with_a_passphrase_or_key(settings):
    problems = dc.validate_encryption(dict(DEFAULTS, disable_encryption=True, **settings))
    assert_names(problems, 'disable_encryption')


@pytest.mark.parametrize('key_id', ['DEADBEEF', '0xDEADBEEF', '0123456789ABCDEF',
                                    '0123456789ABCDEF0123456789ABCDEF01234567'])
def test_a_bare_key_id_validates_to_be_looked_up_in_roots_keyring(key_id):
    assert dc.validate_encryption(dict(DEFAULTS, gpg_public_key=key_id)) == []
    assert dc.is_key_id(key_id)


@pytest.mark.parametrize('value', [
    'not a key',
    'mQENBGabc',
    '-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n-----END PGP PRIVATE KEY BLOCK-----',
    '-----BEGIN PGP MESSAGE-----\nx\n-----END PGP MESSAGE-----',
])
def test_a_gpg_public_key_that_is_not_armoured_is_named(value):
    problems = dc.validate_encryption(dict(DEFAULTS, gpg_public_key=value))
    assert_names(problems, 'gpg_public_key')
    assert 'ASCII-armoured' in problems[0]


# ----------------------------------------------------------------------------- schedule

@pytest.mark.parametrize('settings', [
    {},
    {'backup_frequency': 'hourly'}, {'backup_frequency': 'daily'},
    {'backup_frequency': 'weekly'}, {'backup_frequency': 'monthly'},
    {'backup_frequency': '*/15 * * * *'}, {'backup_frequency': '30 2 * * 1-5'},
    {'backup_frequency': '0 0 1,15 * *'}, {'backup_frequency': '0 3 * * sun'},
    {'deletion_frequency': 'hourly'}, {'deletion_frequency': '45 4 * * *'},
    {'retention_period': '30d'}, {'retention_period': '12h'}, {'retention_period': '8w'},
    {'retention_period': '6m'}, {'retention_period': '1y'},
    {'full_if_older_than': 'always'}, {'full_if_older_than': '7D'},
    {'full_if_older_than': '2W'}, {'full_if_older_than': '1Y'},
    {'full_if_older_than': '1M2D'}, {'full_if_older_than': '36h'},
    {'backup_max_age': '26h'}, {'backup_max_age': '8d'}, {'backup_max_age': '90m'},
    {'backup_max_age': '2w'},
])
def test_schedule_values_are_accepted(settings):
    assert dc.validate_schedule(dict(DEFAULTS, **settings)) == []


@pytest.mark.parametrize('key,value', [
    ('backup_frequency', ''),
    ('backup_frequency', 'daly'),
    ('backup_frequency', 'Daily'),
    ('backup_frequency', 'yearly'),
    ('backup_frequency', '* * * *'),
    ('backup_frequency', '* * * * * *'),
    ('backup_frequency', '61 * * * *'),
    ('backup_frequency', '0 25 * * *'),
    ('backup_frequency', '0 0 32 * *'),
    ('backup_frequency', 'a b c d e'),
    ('backup_frequency', '@daily'),
    ('deletion_frequency', 'weekly'),
    ('deletion_frequency', 'manual'),
    ('deletion_frequency', '0 0 0 0 0'),
    ('retention_period', ''),
    ('retention_period', '30'),
    ('retention_period', 'd'),
    ('retention_period', '30D'),
    ('retention_period', '30 d'),
    ('retention_period', '-1d'),
    ('retention_period', '0d'),
    ('retention_period', '0h'),
    ('retention_period', '1.5d'),
    ('full_if_older_than', ''),
    ('full_if_older_than', 'never'),
    ('full_if_older_than', '7'),
    ('full_if_older_than', '7d'),
    ('full_if_older_than', 'D7'),
    ('full_if_older_than', '1M '),
    ('backup_max_age', '26'),
    ('backup_max_age', '26H'),
    ('backup_max_age', 'one day'),
    ('backup_max_age', '0h'),
])
def test_invalid_schedule_values_are_named(key, value):
    problems = dc.validate_schedule(dict(DEFAULTS, **{key: value}))
    assert len(problems) == 1
    assert_names(problems, key)


def test_every_bad_schedule_key_is_reported_at_once():
    problems = dc.validate_schedule(dict(DEFAULTS, backup_frequency='x', deletion_frequency='y',
                                         retention_period='z', full_if_older_than='w',
                                         backup_max_age='v'))
    assert len(problems) == 5


# ----------------------------------------------------------------------------- sources

@pytest.mark.parametrize('aux,relation', [
    ('/etc', ()),
    ('', ('/var/lib/app',)),
    ('/etc, /srv/data\n/home', ('/var/lib/app',)),
    ('/', ()),
])
def test_sources_from_aux_backup_directory_or_the_relation_are_valid(aux, relation):
    assert dc.validate_sources(config(aux_backup_directory=aux), relation) == []


@pytest.mark.parametrize('aux', ['etc', './etc', '~/data', '/etc,srv/data'])
def test_a_relative_aux_backup_directory_is_named(aux):
    problems = dc.validate_sources(config(aux_backup_directory=aux))
    assert_names(problems, 'aux_backup_directory')
    assert 'absolute' in problems[0]


@pytest.mark.parametrize('aux', ['/srv/../etc', '/srv/..'])
def test_an_aux_backup_directory_with_dot_dot_is_named(aux):
    assert_names(dc.validate_sources(config(aux_backup_directory=aux)), 'aux_backup_directory')


def test_nothing_to_back_up_says_how_to_declare_paths():
    problems = dc.validate_sources(config(aux_backup_directory=''))
    assert len(problems) == 1
    assert 'nothing to back up' in problems[0]
    assert 'aux_backup_directory' in problems[0] and 'backup relation' in problems[0]


def test_relation_problems_are_passed_through_unchanged():
    relation_problems = ['backup relation (app): fileset has relative path \'data\'']
    assert dc.validate_sources(config(), ['/srv'], relation_problems) == relation_problems
    assert dc.validate_sources(config(aux_backup_directory=''), (), relation_problems) == \
        relation_problems


# ----------------------------------------------------------------------------- packages

@pytest.mark.parametrize('sources,keys', [
    ('', ''),
    ('ppa:duplicity-team/duplicity-release-git', ''),
    ('[ppa:duplicity-team/duplicity-release-git]', ''),
    ('- ppa:a/b\n- deb http://mirror.example.com/ubuntu jammy main\n', ''),
    ('[ppa:a/b, "deb http://m/ jammy main"]', '[null, "-----BEGIN PGP PUBLIC KEY BLOCK-----'
                                              '\\nmQENBGabc\\n-----END PGP PUBLIC KEY BLOCK-----"]'),
    ('["deb [arch=amd64 signed-by=/k.gpg] https://m.example.com/ubuntu jammy main", cloud:jammy-zed]',
     ''),
    ('[distro, proposed, "https://m.example.com/ppa"]', ''),
    ('deb http://m/ jammy main', 'ABCDEF01'),
])
def test_install_sources_and_keys_as_yaml_lists_are_valid(sources, keys):
    assert dc.validate_sources_packages(dict(DEFAULTS, install_sources=sources,
                                             install_keys=keys)) == []


@pytest.mark.parametrize('key,value', [
    ('install_sources', '[unclosed'),
    ('install_sources', '{a: b}'),
    ('install_sources', '[1, 2]'),
    ('install_sources', '[[nested]]'),
    ('install_keys', '"unterminated'),
    ('install_keys', '{key: value}'),
])
def test_install_sources_and_keys_that_are_not_yaml_lists_of_strings_are_named(key, value):
    assert_names(dc.validate_sources_packages(dict(DEFAULTS, **{key: value})), key)


@pytest.mark.parametrize('key,value,fragment', [
    ('install_sources', 'xxxx\n Cr3dential', 'entry 1 is not an apt source'),
    ('install_sources', '[ppa:a/b, "deb https://u:Cr3dential@m/ jammy\\nmain"]', 'entry 2'),
    ('install_sources', '[ppa:a/b, "Cr3dential"]', 'entry 2'),
    ('install_sources', '[ppa:a/b Cr3dential]', 'entry 1'),
    ('install_keys', '[Cr3dential-not-a-key]', 'entry 1 is neither'),
    ('install_keys', '["-----BEGIN PGP PRIVATE KEY BLOCK-----\\nCr3dential\\n'
                     '-----END PGP PRIVATE KEY BLOCK-----"]', 'entry 1 holds a private key'),
])
def test_install_sources_and_keys_charmhelpers_cannot_use_are_named_not_shown(key, value,
                                                                             fragment):
    other = {'install_sources': 'install_keys', 'install_keys': 'install_sources'}[key]
    problems = dc.validate_sources_packages(dict(DEFAULTS, **{key: value, other: ''}))
    assert_names(problems, key)
    assert fragment in problems[0]
    assert 'Cr3dential' not in ' '.join(problems)


def test_install_keys_must_have_one_entry_per_source():
    problems = dc.validate_sources_packages(dict(DEFAULTS, install_sources='[ppa:a/b, ppa:c/d]',
                                                 install_keys='[ABCDEF01, ABCDEF02, ABCDEF03]'))
    assert_names(problems, 'install_keys')
    assert '2 sources, 3 keys' in problems[0]


# ----------------------------------------------------------------------------- all groups

def test_a_valid_config_has_no_problems_in_any_group():
    results = dc.validate_all(config('sftp'), ['/var/lib/app'])
    assert list(results) == ['backend', 'ssh', 'encryption', 'schedule', 'sources', 'packages']
    assert all(problems == [] for problems in results.values())


def test_validate_all_reports_every_bad_group_at_once():
    c = config('s3', aws_secret_access_key='', gpg_public_key='not a key',
               backup_frequency='sometimes')
    results = dc.validate_all(c)
    bad = {group for group, problems in results.items() if problems}
    assert bad == {'backend', 'encryption', 'schedule'}
    assert_names(results['backend'], 'aws_secret_access_key')
    assert_names(results['encryption'], 'gpg_public_key')
    assert_names(results['schedule'], 'backup_frequency')


def test_switching_the_backend_away_from_ssh_clears_the_ssh_problems():
    c = config('sftp', private_ssh_key='', remote_password='', known_host_key='')
    assert dc.validate_all(c)['ssh']
    c.update(BACKENDS['file'], backend='file')
    assert dc.validate_all(c)['ssh'] == []


def test_relation_problems_and_package_problems_land_in_their_groups():
    results = dc.validate_all(config(install_sources='[1]'), ['/srv'], ['relation: bad value'])
    assert results['sources'] == ['relation: bad value']
    assert_names(results['packages'], 'install_sources')
    assert not any(results[g] for g in ('backend', 'ssh', 'encryption', 'schedule'))


@pytest.mark.parametrize('backend', ['sftp', 'scp', 'rsync'])
@pytest.mark.parametrize('key', [keymaterial.pem_private_key('ENCRYPTED PRIVATE KEY'),
                                 keymaterial.pem_private_key('RSA PRIVATE KEY', headers=(
                                     'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,00')),
                                 ENCRYPTED_OPENSSH])
def test_the_validator_and_the_key_file_writer_refuse_an_encrypted_key_alike(backend, key):
    """One header rule: what validate_ssh says is what writing the key file raises."""
    import duplicity_helper
    from duplicity_paths import UnitPaths
    c = config(backend, private_ssh_key=b64(key))
    problems = dc.validate_ssh(c)
    assert len(problems) == 1 and 'passphrase-protected' in problems[0]
    settings = Settings.parse(c, ('/etc',))[0]  # the backend group is valid: it builds
    with pytest.raises(ValueError) as err:
        duplicity_helper.secret_files(settings, Secrets.from_config(c),
                                      UnitPaths.for_unit('duplicity/0'))
    assert str(err.value) == problems[0]


def test_every_group_is_parsed_and_reported_in_the_order_of_the_one_group_list():
    import duplicity_charm
    results = dc.validate_all(config('file'), unit='duplicity/0')
    assert tuple(results) == dc.GROUPS == tuple(dc.KEY_GROUPS)
    assert duplicity_charm.GROUPS is dc.GROUPS


@pytest.mark.parametrize('period,interval', [
    ('30d', '30D'), ('12h', '12h'), ('8w', '8W'), ('6m', '6M'), ('1y', '1Y'),
])
def test_retention_period_becomes_a_duplicity_interval(period, interval):
    assert dc.retention_interval(period) == interval


@pytest.mark.parametrize('period', ['manual', '30D', '30', 'd', '1.5d', ''])
def test_manual_or_an_invalid_retention_period_is_no_interval(period):
    assert dc.retention_interval(period) == ''
