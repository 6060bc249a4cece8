"""lib/duplicity_process.py with real gpg: the GnuPG homes the runner gives duplicity."""
import os
import shutil
import subprocess
import tempfile

import pytest

import duplicity_process as dp
from duplicity_settings import MAX_RUN_TIMEOUT

ENV = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8'}


@pytest.fixture
def home():
    """A new GnuPG home with a short path (gpg-agent's socket path must be short)."""
    path = tempfile.mkdtemp(prefix='g-', dir='/tmp')
    os.chmod(path, 0o700)
    yield path
    dp.stop_gpg_agent(path)
    shutil.rmtree(path, ignore_errors=True)


def gpg(home, *argv, data=b''):
    return subprocess.run(['gpg', '--homedir', home, '--batch', '--no-tty'] + list(argv),
                          input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=ENV, check=True).stdout.decode(errors='replace')


def test_the_agent_conf_is_written_root_only_into_a_new_home_and_never_over_a_file(home):
    dp.write_agent_conf(home)
    conf = os.path.join(home, dp.AGENT_CONF_NAME)
    assert open(conf).read() == dp.AGENT_CONF
    assert os.stat(conf).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        dp.write_agent_conf(home)


def test_with_the_conf_symmetric_encryption_uses_openpgps_highest_s2k_count(home):
    """The count written down is what gpg then uses, and the highest OpenPGP can store:
    calibration (the agent's default) can give no more."""
    dp.write_agent_conf(home)
    agent = subprocess.run(['gpg-connect-agent', '--homedir', home, 'GETINFO s2k_count', '/bye'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV,
                           check=True).stdout.decode()
    assert 'D 65011712\n' in agent
    sealed = os.path.join(home, 'sealed.gpg')
    opts = ['--pinentry-mode', 'loopback', '--passphrase', 'not-a-secret']
    gpg(home, *opts, '--symmetric', '--cipher-algo', 'AES256', '-o', sealed, data=b'data')
    packets = gpg(home, *opts, '--list-packets', sealed)
    assert 'count 65011712 (255)' in packets, packets
    assert gpg(home, *opts, '--decrypt', sealed).endswith('data')


def test_a_key_home_holds_the_conf_and_the_imported_key_and_is_gone_afterwards(tmp_path):
    key_dir = tempfile.mkdtemp(prefix='k-', dir='/tmp')
    try:
        gpg(key_dir, '--passphrase', '', '--pinentry-mode', 'loopback', '--quick-gen-key',
            'Restore Test <restore@example.invalid>', 'ed25519', 'default', 'never')
        key_file = str(tmp_path / 'private.asc')
        with open(key_file, 'w') as f:
            f.write(gpg(key_dir, '--armor', '--export-secret-keys'))
    finally:
        dp.stop_gpg_agent(key_dir)
        shutil.rmtree(key_dir, ignore_errors=True)
    state = tempfile.mkdtemp(prefix='s-', dir='/tmp')
    try:
        with dp.key_home(key_file, state) as home:
            assert open(os.path.join(home, dp.AGENT_CONF_NAME)).read() == dp.AGENT_CONF
            assert 'sec ' in gpg(home, '--list-secret-keys')
        assert os.listdir(state) == []
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_a_run_with_the_longest_deadline_run_timeout_accepts_runs_to_its_end():
    """communicate(timeout) overflows past 2147483 s: the longest run_timeout stays below."""
    result = dp.run_with_deadline(['sh', '-c', 'echo ran'], ENV, MAX_RUN_TIMEOUT)
    assert result == dp.Result(0, 'ran\n', False)
