"""The compression options of duplicity_tuning against real duplicity and gpg (file backend).

For each installed version (0.8.22, 2.1, 3.x; see test_duplicity_helper_real.py) and both
encryption modes: a chain begun with the argv of charm versions before the setting
(``default``), then one incremental per explicit mode. ``gpg --list-packets`` on each new
volume shows that the options reached gpg (and, with a public key, that they did not
break encrypting to it); then everything is restored and compared byte for byte.
Takes ~10 s per case.
"""
import filecmp
import os
import re
import subprocess
import time

import pytest

import duplicity_helper as h
from duplicity_secrets import Secrets
from duplicity_settings import Settings
from test_duplicity_helper_real import (  # noqa: F401  (scratch: a fixture)
    BINARIES, gpg, installed, make_keypair, run, scratch)

PASSPHRASE = 'tuning-passphrase'
# gpg --list-packets ':compressed packet: algo=N': 1 ZIP, 2 ZLIB, 3 BZIP2; none: no packet.
# default: gpg's own choice, ZIP for a passphrase, the key's first preference for a public
# key (ZLIB for keys gpg 2.x generates).
ALGO = {'default': '1', 'none': None, 'fast': '1', 'best': '3'}
ALGO_PUBLIC_KEY = dict(ALGO, default='2')


def packets_of(volume, home):
    p = subprocess.run(['gpg', '--batch', '--homedir', home, '--pinentry-mode=loopback',
                        '--passphrase=' + PASSPHRASE, '--list-packets', volume],
                       capture_output=True, text=True)
    return p.stdout + p.stderr


@pytest.mark.parametrize('mode', ['passphrase', 'public-key'])
# focal's 0.8.11 passes --gpg-options to gpg as 0.8.22 does (the same code): not run again
@pytest.mark.parametrize('version_id', sorted(v for v in BINARIES if v != 'dup0811'))
def test_each_compression_mode_reaches_gpg_and_a_mixed_chain_restores(version_id, mode,
                                                                       scratch):  # noqa: F811
    base = scratch
    binary, version, paths = installed(version_id, base)
    data = os.path.join(base, 'data')
    os.makedirs(data)
    config = {'backend': 'file', 'remote_backup_url': 'file://' + os.path.join(base, 'remote'),
              'full_if_older_than': '1M', 'volsize': 1, 'concurrency': 1,
              'disable_encryption': False, 'gpg_public_key': '',
              'encryption_passphrase': PASSPHRASE}  # public-key: the private key's passphrase
    fpr = ''
    read_home = paths.gnupg_home
    if mode == 'public-key':
        fpr, pub, sec = make_keypair(base)
        config['gpg_public_key'] = pub
        gpg(paths.gnupg_home, '--import', input=pub)
        read_home = os.path.join(base, 'keyring')  # holds the secret key
    ctx = h.Context(unit='duplicity/0', paths=paths, version=version, duplicity=binary,
                    encrypt_key=fpr, includes=(data,), excludes=())
    rctx = h.Context(unit='duplicity/0', paths=paths, version=version, duplicity=binary,
                     encrypt_key=fpr, gnupg_home=read_home, includes=(data,), excludes=())
    def parsed(config):
        """The duplicity settings builders take (Settings.parse of this config)."""
        return Settings.parse(config, (data,), unit='duplicity/0')[0].duplicity

    secrets = Secrets.from_config(config)
    env = h.build_env(parsed(config), secrets, ctx, dict(os.environ, HOME=base))
    renv = h.build_env(parsed(config), secrets, rctx, dict(os.environ, HOME=base))
    remote = os.path.join(base, 'remote', 'duplicity-0')

    seen = set()
    for step, compression in enumerate(['default', 'none', 'fast', 'best']):
        with open(os.path.join(data, 'log.txt'), 'a') as f:
            f.write(''.join('step {} line {} of the log\n'.format(step, n) for n in range(3000)))
        with open(os.path.join(data, 'r{}.bin'.format(step)), 'wb') as f:
            f.write(os.urandom(30000))
        config['compression'] = compression
        argv = h.build_argv('backup', parsed(config), ctx, full=step == 0)
        run(argv, env)
        new = sorted(set(v for v in os.listdir(remote) if '.difftar.gpg' in v) - seen)
        seen.update(new)
        assert new, os.listdir(remote)
        for volume in new:
            packets = packets_of(os.path.join(remote, volume), read_home)
            if mode == 'public-key':
                assert ':pubkey enc packet:' in packets and fpr[-16:] in packets.upper(), packets
            else:
                assert ':symkey enc packet:' in packets and 'cipher 9,' in packets, packets
            algos = re.findall(r':compressed packet: algo=(\d+)', packets)
            expected = (ALGO_PUBLIC_KEY if mode == 'public-key' else ALGO)[compression]
            assert (algos[0] if algos else None) == expected, (compression, packets)
        time.sleep(1.1)  # duplicity's backup times have one-second resolution

    restored = os.path.join(base, 'restored')
    run(h.build_argv('restore', parsed(config), rctx, target=restored), renv)
    cmp = filecmp.dircmp(data, os.path.join(restored, data.lstrip('/')))
    assert sorted(cmp.common_files) == ['log.txt', 'r0.bin', 'r1.bin', 'r2.bin', 'r3.bin']
    assert not cmp.left_only and not cmp.right_only
    match, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files,
                                               shallow=False)
    assert not mismatch and not errors and len(match) == 5
