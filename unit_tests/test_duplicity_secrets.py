"""Pure tests of lib/duplicity_secrets.py: the one map of secret config keys to variables,
the secret values of a config or an env file, redact() and shown()."""
import base64

import pytest

import duplicity_helper as h
import duplicity_secrets as s
import keymaterial
from test_duplicity_helper import KEY_TEXT, PATHS, S, SECRETS, make_config, secrets_of


def test_secret_values_lists_every_secret_and_decoded_key_material():
    config = make_config('sftp', 'passphrase', **SECRETS)
    values = s.secret_values(config)
    for v in SECRETS.values():
        assert v in values
    assert 'c2VjcmV0LWF6dXJlLWtleQ==' in values  # the AccountKey alone
    assert any(KEY_TEXT.splitlines()[2] in v for v in values)  # decoded key body
    assert '' not in values


def test_redact_replaces_every_secret():
    config = make_config('sftp', 'passphrase', **SECRETS)
    text = 'error: {} / {}'.format(SECRETS['remote_password'], SECRETS['encryption_passphrase'])
    assert s.redact(text, s.secret_values(config)) == 'error: *** / ***'


def test_secret_values_include_the_body_of_a_key_the_checks_refuse():
    key = keymaterial.pem_private_key('PRIVATE KEY', seed='refused')
    config = make_config('sftp', private_ssh_key=base64.b64encode(key.encode()).decode())
    values = s.secret_values(config)
    assert all(line in values for line in key.splitlines()[1:-1])


def test_every_secret_variable_comes_from_the_one_map_and_is_never_inherited():
    assert s.SECRET_KEYS == tuple(s.SECRET_ENV)
    assert set(s.SECRET_VARIABLES) == {'PASSPHRASE', 'BACKEND_PASSWORD', 'FTP_PASSWORD',
                                       'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',
                                       'AZURE_CONNECTION_STRING'}
    assert set(s.SECRET_VARIABLES) <= set(s.SCRUBBED_ENV)


@pytest.mark.parametrize('backend,mode,variables', [
    ('file', 'passphrase', {'PASSPHRASE'}),
    ('file', 'disabled', set()),
    ('file', 'public-key', {'PASSPHRASE'}),
    ('sftp', 'disabled', {'BACKEND_PASSWORD', 'FTP_PASSWORD'}),
    ('ftps', 'passphrase', {'PASSPHRASE', 'BACKEND_PASSWORD', 'FTP_PASSWORD'}),
    ('s3', 'disabled', {'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'}),
    ('azure', 'disabled', {'AZURE_CONNECTION_STRING'}),
])
def test_the_env_file_carries_the_secrets_its_backend_and_encryption_use(backend, mode,
                                                                        variables):
    config = make_config(backend, mode)
    env = h.env_vars(S(config), secrets_of(config), PATHS)
    assert set(env) & set(s.SECRET_VARIABLES) == variables


@pytest.mark.parametrize('backend', ['sftp', 's3', 'azure', 'ftps'])
def test_the_runner_finds_every_secret_of_the_env_file(backend):
    config = make_config(backend, 'passphrase')
    env = h.env_vars(S(config), secrets_of(config), PATHS)
    found = s.env_secret_values(env)
    for variable in set(env) & set(s.SECRET_VARIABLES):
        assert env[variable] in found, variable
    if backend == 'azure':
        assert 'c2VjcmV0LWF6dXJlLWtleQ==' in found  # the AccountKey alone


def test_redact_leaves_values_too_short_to_replace_safely():
    assert s.redact('a ab abc abcd', ['ab', 'abc', 'abcd']) == 'a ab abc ***'
    assert s.redact('x', ['', None]) == 'x'


@pytest.mark.parametrize('value,text', [
    ('short', "'short'"),
    ('x' * 100, "'" + 'x' * (s.SHOWN_LIMIT - 2) + '\u2026'),
])
def test_shown_caps_an_echoed_value(value, text):
    assert s.shown(value) == text
    assert len(s.shown(value)) <= s.SHOWN_LIMIT


def test_secrets_never_show_their_values():
    secrets = s.Secrets.from_config(make_config('sftp', 'passphrase', **SECRETS))
    for value in SECRETS.values():
        assert value not in repr(secrets)
    assert 'remote_password=<set>' in repr(secrets)
