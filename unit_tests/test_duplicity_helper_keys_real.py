"""The private-key and known_hosts checks of duplicity_helper against real OpenSSH and paramiko.

Keys are made by ssh-keygen in every format it writes; what decode_private_key accepts for a
backend must load in what that backend uses (paramiko for sftp/scp, ``ssh-keygen -y``, i.e.
the OpenSSH client, for rsync), without a passphrase; what it refuses must be unusable there
(or, for PKCS#8 with paramiko, unreadable). known_hosts lines from real public keys must be
accepted and the written file must load in paramiko's HostKeys.
"""
import base64
import os
import shutil
import subprocess

import pytest

import duplicity_helper as h

paramiko = pytest.importorskip('paramiko')
pytestmark = pytest.mark.skipif(shutil.which('ssh-keygen') is None, reason='no ssh-keygen')

KEYS = [  # (name, ssh-keygen arguments)
    ('ed25519', ['-t', 'ed25519']),
    ('rsa-openssh', ['-t', 'rsa', '-b', '1024']),
    ('rsa-pem', ['-t', 'rsa', '-b', '1024', '-m', 'PEM']),
    ('ecdsa-pem', ['-t', 'ecdsa', '-m', 'PEM']),
    ('ecdsa-openssh', ['-t', 'ecdsa']),
    ('rsa-pkcs8', ['-t', 'rsa', '-b', '1024', '-m', 'PKCS8']),
]


def keygen(path, args, passphrase=''):
    subprocess.run(['ssh-keygen', '-q', '-a', '1', '-N', passphrase, '-C', 'test', '-f', str(path)] + args,
                   check=True, stdout=subprocess.DEVNULL)
    return path.read_bytes()


def paramiko_loads(path):
    for cls in (paramiko.RSAKey, paramiko.ECDSAKey, paramiko.Ed25519Key):
        try:
            cls.from_private_key_file(str(path))
            return True
        except (paramiko.SSHException, ValueError):
            continue
    return False


def openssh_loads(path):
    return subprocess.run(['ssh-keygen', '-y', '-P', '', '-f', str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True).returncode == 0


@pytest.mark.parametrize('name,args', KEYS)
@pytest.mark.parametrize('backend', ['sftp', 'rsync'])
def test_an_accepted_key_loads_in_the_backends_client_and_a_refused_one_does_not(
        tmp_path, name, args, backend):
    key = keygen(tmp_path / name, args)
    loads = paramiko_loads if backend == 'sftp' else openssh_loads
    try:
        written = h.decode_private_key(base64.b64encode(key).decode(), backend)
    except ValueError as err:
        assert 'PKCS#8' in str(err) and backend == 'sftp', err
        assert not loads(tmp_path / name)
        return
    out = tmp_path / 'written'
    out.write_bytes(written)
    os.chmod(out, 0o600)
    assert loads(out), name


@pytest.mark.parametrize('name,args', KEYS)
def test_a_passphrase_protected_key_is_refused_as_such(tmp_path, name, args):
    key = keygen(tmp_path / name, args, passphrase='long-passphrase')
    assert not openssh_loads(tmp_path / name)
    with pytest.raises(ValueError, match='passphrase-protected'):
        h.decode_private_key(base64.b64encode(key).decode(), 'rsync')


@pytest.mark.parametrize('kind', ['ed25519', 'rsa', 'ecdsa'])
def test_real_public_keys_make_known_hosts_lines_paramiko_reads(tmp_path, kind):
    keygen(tmp_path / kind, ['-t', kind] + (['-b', '1024'] if kind == 'rsa' else []))
    public = ' '.join((tmp_path / (kind + '.pub')).read_text().split()[:2])
    for port in (22, 2222):
        lines = h.known_hosts_lines('# from ssh-keyscan\n' + public + '\nhost.example.com ' + public,
                                    'host.example.com', port)
        path = tmp_path / 'known_hosts'
        path.write_text('\n'.join(lines) + '\n')
        keys = paramiko.HostKeys(str(path))
        name = 'host.example.com' if port == 22 else '[host.example.com]:2222'
        assert keys.lookup(name), (port, lines)
    damaged = public[:-8]
    with pytest.raises(ValueError, match='line 1 is not a known_hosts entry'):
        h.known_hosts_lines(damaged, 'host.example.com', 22)
