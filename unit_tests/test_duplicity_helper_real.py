"""The builders of duplicity_helper against real duplicity binaries (file backend).

For each installed version of tests/servers/duplicity_versions.py (Debian's 0.8.x, focal's
0.8.11, 2.1.x and 3.x from tests/setup/install-duplicity-versions.sh; extra binaries may be named
in DUPLICITY_REAL_BINARIES, colon-separated) and each encryption mode: full + incremental
backup, collection-status, list-current-files, restore of one path and of everything,
verify --compare-data, the remove-* commands and cleanup, all with argv and env exactly as
built. Skipped when a binary is absent or gpg is missing. Takes ~10 s per case.
"""
import contextlib
import filecmp
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import duplicity_charm
import duplicity_helper as h
import duplicity_process
from duplicity_paths import UnitPaths
from duplicity_secrets import Secrets
from duplicity_settings import Settings

from servers.duplicity_versions import CANDIDATES

BINARIES = dict(CANDIDATES)
for extra in filter(None, os.environ.get('DUPLICITY_REAL_BINARIES', '').split(':')):
    BINARIES[extra] = extra

pytestmark = pytest.mark.skipif(shutil.which('gpg') is None, reason='gpg not installed')


def run(argv, env, ok=(0,)):
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode in ok, '{}\nrc={}\n{}\n{}'.format(argv, p.returncode, p.stdout[-4000:],
                                                          p.stderr[-4000:])
    return p


def gpg(home, *args, **kw):
    return subprocess.run(['gpg', '--batch', '--homedir', home] + list(args), check=True,
                          capture_output=True, text=True, **kw)


def make_keypair(base):
    home = os.path.join(base, 'keyring')
    os.makedirs(home, mode=0o700)
    gpg(home, '--pinentry-mode=loopback', '--passphrase=', '--quick-gen-key',
        'Backup Test <bt@example.invalid>', 'rsa2048', 'encr', 'never')
    out = gpg(home, '--with-colons', '--list-keys').stdout
    fpr = [line.split(':')[9] for line in out.splitlines() if line.startswith('fpr')][0]
    pub = gpg(home, '--armor', '--export', fpr).stdout
    sec = gpg(home, '--armor', '--pinentry-mode=loopback', '--passphrase=',
              '--export-secret-keys', fpr).stdout
    return fpr, pub, sec


@pytest.fixture
def scratch():
    # short: gpg-agent's socket lives in the GnuPG home and a Unix socket path has at most
    # 107 bytes (pytest's tmp_path + the unit's secrets/gnupg is too long)
    base = tempfile.mkdtemp(prefix='dh-', dir='/tmp')
    yield base
    for dirpath, dirnames, _ in os.walk(base):  # end the gpg-agents gpg left running
        for name in dirnames:
            if name == 'gnupg':
                subprocess.run(['gpgconf', '--homedir', os.path.join(dirpath, name), '--kill', 'all'],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(base, ignore_errors=True)


def installed(version_id, base):
    """(binary, its version, the UnitPaths of duplicity/0 under base with the directories a
    run needs, made as the charm makes them) for one of BINARIES; skips when that duplicity
    is not installed."""
    binary = BINARIES[version_id]
    if not os.access(binary, os.X_OK):
        pytest.skip('{} not installed'.format(binary))
    version = h.parse_version(subprocess.run([binary, '--version'], capture_output=True,
                                             text=True).stdout)
    paths = UnitPaths.for_unit('duplicity/0', root=os.path.join(base, 'root'))
    duplicity_charm.ensure_dirs(paths)
    return binary, version, paths


@pytest.fixture
def on_exit(scratch):
    """An ExitStack closed at teardown, before scratch's directory goes."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.mark.parametrize('mode', ['passphrase', 'public-key', 'disabled'])
@pytest.mark.parametrize('version_id', sorted(BINARIES))
def test_real_duplicity_backs_up_restores_and_verifies_with_built_argv(version_id, mode, scratch,
                                                                       on_exit):
    base = scratch
    binary, version, paths = installed(version_id, base)
    data = os.path.join(base, 'data')
    os.makedirs(os.path.join(data, 'sub'))
    with open(os.path.join(data, 'a.txt'), 'w') as f:
        f.write('hello\n' * 1000)
    with open(os.path.join(data, 'sub', 'b.bin'), 'wb') as f:
        f.write(os.urandom(300000))
    with open(os.path.join(data, '-dash.tmp'), 'w') as f:
        f.write('excluded\n')

    config = {'backend': 'file', 'remote_backup_url': 'file://' + os.path.join(base, 'remote'),
              'full_if_older_than': '1M', 'volsize': 1, 'concurrency': 2,
              'disable_encryption': mode == 'disabled', 'gpg_public_key': '',
              'encryption_passphrase': '-starts with a dash' if mode == 'passphrase' else ''}
    fpr = ''
    if mode == 'public-key':
        fpr, pub, sec = make_keypair(base)
        config['gpg_public_key'] = pub
        gpg(paths.gnupg_home, '--import', input=pub)
    ctx = h.Context(unit='duplicity/0', paths=paths, version=version, duplicity=binary,
                    encrypt_key=fpr, includes=(data, paths.state_dir),
                    excludes=('**/-dash.tmp',), log_file=os.path.join(base, 'machine.log'))
    dup = Settings.parse(config, (data,), unit='duplicity/0')[0].duplicity  # what builders take
    secrets = Secrets.from_config(config)
    env = h.build_env(dup, secrets, ctx, dict(os.environ, HOME=base))

    out = run(h.build_argv('backup', dup, ctx, full=True), env).stdout
    assert 'Backup Statistics' in out
    time.sleep(1.1)  # duplicity's backup times have one-second resolution
    with open(os.path.join(data, 'a.txt'), 'a') as f:
        f.write('more\n')
    out = run(h.build_argv('backup', dup, ctx), env).stdout
    assert 'Backup Statistics' in out
    status = run(h.build_argv('collection-status', dup, ctx), env).stdout
    assert 'Full' in status and 'Incremental' in status
    assert os.path.getsize(ctx.log_file) > 0

    # restore side: public-key backups need the private key in a temporary GnuPG home,
    # made as the restore action makes it
    rctx, renv = ctx, env
    if mode == 'public-key':
        key_file = os.path.join(base, 'private.asc')
        with open(key_file, 'w') as f:
            f.write(sec)
        tmphome = on_exit.enter_context(duplicity_process.key_home(key_file, paths.state_dir))
        rctx = h.Context(unit='duplicity/0', paths=paths, version=version, duplicity=binary,
                         encrypt_key=fpr, gnupg_home=tmphome, includes=ctx.includes,
                         excludes=ctx.excludes)
        renv = h.build_env(dup, secrets, rctx, dict(os.environ, HOME=base))

    files = run(h.build_argv('list-current-files', dup, rctx), renv).stdout
    rel = data.lstrip('/') + '/sub/b.bin'
    assert rel in files
    assert '-dash.tmp' not in files and 'charm-duplicity' not in files

    target = os.path.join(base, 'restored')
    dest = h.restore_destination(target, rel)
    os.makedirs(os.path.dirname(dest))  # duplicity does not create the parents
    run(h.build_argv('restore', dup, rctx, path=rel, target=target), renv)
    assert filecmp.cmp(os.path.join(data, 'sub', 'b.bin'), dest, shallow=False)

    everything = os.path.join(base, 'restored-all')
    run(h.build_argv('restore', dup, rctx, target=everything, time='now'), renv)
    assert filecmp.cmp(os.path.join(data, 'a.txt'),
                       os.path.join(everything, data.lstrip('/'), 'a.txt'), shallow=False)

    # verify exits 1 when it finds differences (parent directories' mtimes changed here)
    out = run(h.build_argv('verify', dup, rctx, compare_data=True), renv, ok=(0, 1)).stdout
    assert 'Verify complete' in out

    remote_dir = os.path.join(base, 'remote', 'duplicity-0')
    volumes = [v for v in os.listdir(remote_dir) if '.vol1.difftar' in v]
    if mode == 'disabled':
        assert volumes and not any(v.endswith('.gpg') for v in volumes)
    else:
        vol = os.path.join(remote_dir, sorted(volumes)[0])
        home = rctx.gnupg_home or paths.gnupg_home
        p = subprocess.run(['gpg', '--batch', '--homedir', home, '--pinentry-mode=loopback',
                            '--passphrase=' + config['encryption_passphrase'], '--list-packets',
                            vol], capture_output=True, text=True)
        packets = p.stdout + p.stderr
        if mode == 'passphrase':
            assert ':symkey enc packet:' in packets and 'cipher 9,' in packets  # 9 = AES256
        else:
            assert ':pubkey enc packet:' in packets and fpr[-16:] in packets.upper()

    for op, kw in (('remove-all-inc-of-but-n-full', {'count': 1}),
                   ('remove-all-but-n-full', {'count': 1}),
                   ('remove-older-than', {'time': '10D'}),
                   ('cleanup', {})):
        run(h.build_argv(op, dup, ctx, **kw), env)
