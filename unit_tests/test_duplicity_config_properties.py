"""Property-based: no config value, however odd, breaks validation or the status.

For every key in config.yaml, hypothesis sets one hostile value (control characters,
trailing newlines, huge strings, URLs with credentials, pasted private keys, odd numbers)
on a valid configuration of a random backend. Validation and the status derivation never
raise; a blocked status names the key; the message is short and on one line; a marker
planted in a value that may carry a secret never reaches the message. And what validates
builds its command lines, environment and secret files (the dry run). The relation side
is in unit_tests/interfaces/backup/test_backup_interface_properties.py.
"""
import os

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import duplicity_config as dc
import duplicity_secrets
from duplicity_settings import Settings
import keymaterial
from duplicity_records import Outcome
from test_duplicity_config import BACKENDS, HOST_KEY  # each backend's smallest valid setting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, 'config.yaml')) as f:
    OPTIONS = yaml.safe_load(f)['options']

UNIT = 'duplicity/0'
MARKER = 'Zq7Mark'
# Keys whose values may be or carry a secret: a marker planted in them is never shown.
MAY_BE_SECRET = set(duplicity_secrets.SECRET_KEYS) | {
    'remote_backup_url', 'known_host_key', 'gpg_public_key', 'ca_certificate',
    's3_endpoint_url', 'install_sources', 'install_keys'}
# Changing these makes other keys' values wrong: the message may name those instead.
RELATED = {'backend': ('backend', 'remote_backup_url', 'remote_user', 'remote_password',
                       'private_ssh_key', 'known_host_key', 'aws_', 'azure_', 'ca_certificate')}


def base_config(backend):
    c = {key: option.get('default') for key, option in OPTIONS.items()}
    c.update(BACKENDS[backend], backend=backend, encryption_passphrase='passphrase-1',
             aux_backup_directory='/etc')
    return c


HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet='\n\r\t :/@,;\'"\\*?[]#%$&|<>`~!-_=+.0123456789abcAZ', max_size=60),
    st.sampled_from([
        '', ' ', '\n', 'daily\n', '30 2 * * *\n', '0 0 31 2 *', '30d\n', '7D\n', '1M\n',
        'manual ', '  hourly', '* * * * L', '0 0 ? * *', 'eu-west-1\n', 'EU-WEST-1',
        'bk user', 'bk\n', '-oProxyCommand=sh', 'bk@corp', "o'brien",
        'x' * 300000, '/' + 'a/' * 60000, '\x00', '\u2028', '\ufeffdaily', '\U0001f600',
        'sftp://bk:pa/ss@host/dir', 'bk:pa/ss@host:22/dir', 'file:///srv/b\n',
        'azure://' + 'a' * 60, 's3:///Bucket', 'https://k:s@rgw', '[unclosed', '{a: b}',
        '2001-02-30', '!!python/object:os.system', '&a [*a]', '[' * 5000,
        keymaterial.pem_private_key(), keymaterial.openssh_private_key(cipher='aes256-ctr'),
        keymaterial.b64(keymaterial.pem_private_key('PRIVATE KEY')),
        keymaterial.b64(keymaterial.openssh_private_key(cipher='aes256-ctr')),
        HOST_KEY + '\n' + keymaterial.pem_private_key(), 'DEADBEEF', 'DEADBEEF\n',
    ]),
)
MARKED_TEXT = st.builds(lambda a, b: a + MARKER + b, HOSTILE_TEXT, st.text(max_size=20))


def value_for(key):
    kind = OPTIONS[key].get('type', 'string')
    if kind == 'int':
        return st.one_of(st.integers(), st.sampled_from([0, -1, 2 ** 63, 10 ** 30]))
    if kind == 'boolean':
        return st.booleans()
    return st.one_of(HOSTILE_TEXT, MARKED_TEXT)


@st.composite
def mutated(draw):
    backend = draw(st.sampled_from(sorted(BACKENDS)))
    key = draw(st.sampled_from(sorted(OPTIONS)))
    value = draw(value_for(key))
    config = base_config(backend)
    config[key] = value
    return backend, key, value, config


def test_every_base_configuration_is_valid():
    for backend in BACKENDS:
        results = dc.validate_all(base_config(backend), unit=UNIT)
        assert not any(results.values()), (backend, results)


def case(backend, key, value):
    config = base_config(backend)
    config[key] = value
    return backend, key, value, config


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
@example(case('sftp', 'remote_user', 'backup user'))
@example(case('sftp', 'remote_backup_url', 'bk:pa/ss' + MARKER + '@backup.example.com/dir'))
@example(case('scp', 'known_host_key', HOST_KEY + '\n' + keymaterial.pem_private_key()
              .replace('\n-----END', MARKER + '\n-----END')))
@example(case('s3', 's3_region_name', 'EU-WEST-1'))
@example(case('azure', 'remote_backup_url', 'azure://' + 'a' * 60))
@example(case('file', 'aux_backup_directory', '/' + 'x' * 300000))
@example(case('file', 'exclude_paths', '/' + 'a/' * 60000))
@example(case('ftps', 'remote_password', "it's" + MARKER))
def test_any_single_config_value_gives_a_short_status_naming_the_key(case):
    backend, key, value, config = case
    results = dc.validate_all(config, ['/srv/app'], (), unit=UNIT)
    problems = [p for group in results.values() for p in group]
    assert not any('internal error' in p for p in problems), problems
    state, message = dc.status_message(results, config=config)
    assert len(message) <= dc.STATUS_MESSAGE_MAX and '\n' not in message
    success = Outcome('backup', '2026-01-01T00:00:00Z', backup_id='2026-01-01T00:00:00Z',
                      type='full', end='2026-01-01T00:00:00Z')
    later_state, later = dc.status_message(results, config=config, last_success=success)
    assert len(later) <= dc.STATUS_MESSAGE_MAX and later_state == state
    if state == 'blocked':
        names = RELATED.get(key, (key,))
        assert any(name in message for name in names), (key, value, message)
    else:  # it validated: it builds (what the hooks and the runner will do with it)
        settings = Settings.parse(config, ['/srv/app'], unit=UNIT)[0]
        assert not dc.dry_run(settings, duplicity_secrets.Secrets.from_config(config), UNIT)
    if key in MAY_BE_SECRET:
        assert MARKER not in message, (key, message)
        assert all(MARKER not in p for p in problems), (key, problems)


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_every_key_at_once_hostile_still_gives_a_short_status(backend):
    config = base_config(backend)
    for key, option in OPTIONS.items():
        if option.get('type', 'string') == 'string':
            config[key] = 'x' * 100000 + '\n' + (MARKER if key in MAY_BE_SECRET else 'y')
    results = dc.validate_all(config, ['/srv/app'], (), unit=UNIT)
    state, message = dc.status_message(results, config=config)
    assert state == 'blocked' and len(message) <= dc.STATUS_MESSAGE_MAX
    assert 'backend' in message
    assert MARKER not in ' '.join(p for group in results.values() for p in group)
