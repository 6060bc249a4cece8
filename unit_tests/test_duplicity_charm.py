"""Pure parts of lib/duplicity_charm.py: atomic writes, cron spreading, the public config,
the packages per backend."""
import dataclasses
import os

import pytest
import yaml
from croniter import croniter

import duplicity_charm as charm
import duplicity_config
import duplicity_secrets
from duplicity_records import RunnerSpec
from duplicity_settings import DuplicitySettings, Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = ['duplicity/{}'.format(n) for n in range(200)] + ['other-app/0', 'backup/3']


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


# ----------------------------------------------------------------------------- write_atomic

@pytest.mark.parametrize('mode', [0o600, 0o644, 0o640])
def test_write_atomic_creates_the_file_with_its_mode_and_content(tmp_path, umask_077, mode):
    path = str(tmp_path / 'f')
    assert charm.write_atomic(path, 'content\n', mode) is True
    with open(path) as f:
        assert f.read() == 'content\n'
    assert os.stat(path).st_mode & 0o777 == mode
    assert not os.path.exists(path + '.new')


def test_write_atomic_sets_the_mode_before_any_content_lands(tmp_path, monkeypatch):
    path = str(tmp_path / 'secret')
    # a stale world-readable .new left by a crash must not receive the secret with its mode
    fd = os.open(path + '.new', os.O_WRONLY | os.O_CREAT, 0o666)
    os.fchmod(fd, 0o666)
    os.close(fd)
    modes_at_write = []
    real_write = os.write

    def write(fd, data):
        modes_at_write.append(os.fstat(fd).st_mode & 0o777)
        return real_write(fd, data)

    monkeypatch.setattr(os, 'write', write)
    assert charm.write_atomic(path, b'PASSPHRASE=x', 0o600) is True
    assert modes_at_write == [0o600]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_write_atomic_of_unchanged_content_and_mode_returns_false_and_keeps_the_file(tmp_path):
    path = str(tmp_path / 'f')
    assert charm.write_atomic(path, b'same', 0o600) is True
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(path)
    assert charm.write_atomic(path, 'same', 0o600) is False
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_write_atomic_replaces_the_file_when_content_changes(tmp_path):
    path = str(tmp_path / 'f')
    charm.write_atomic(path, 'old', 0o600)
    assert charm.write_atomic(path, 'new', 0o600) is True
    with open(path) as f:
        assert f.read() == 'new'


def test_write_atomic_fixes_a_wrong_mode_even_when_content_is_unchanged(tmp_path):
    path = str(tmp_path / 'f')
    charm.write_atomic(path, 'same', 0o600)
    os.chmod(path, 0o644)
    assert charm.write_atomic(path, 'same', 0o600) is True
    assert os.stat(path).st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------- removal

def test_removing_a_unit_removes_its_files_but_keeps_its_log(tmp_path):
    from duplicity_paths import UnitPaths
    paths = UnitPaths.for_unit('duplicity/5', root=str(tmp_path))
    for path in (paths.cron_file, paths.logrotate_file, paths.status_file, paths.log_file,
                 paths.spec_file, paths.env_file, os.path.join(paths.archive_dir, 'x')):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write('x')
    charm.remove_unit_files(paths)
    for path in (paths.cron_file, paths.logrotate_file, paths.status_file, paths.state_dir,
                 paths.cache_dir):
        assert not os.path.lexists(path), path
    with open(paths.log_file) as f:
        assert f.read() == 'x'


# ----------------------------------------------------------------------------- cron_fields

@pytest.mark.parametrize('frequency', ['hourly', 'daily', 'weekly', 'monthly'])
def test_cron_fields_are_deterministic_per_unit(frequency):
    assert [charm.cron_fields(frequency, u) for u in UNITS] == \
        [charm.cron_fields(frequency, u) for u in UNITS]


def fields(frequency, unit, offset=0):
    line = charm.cron_fields(frequency, unit, offset)
    assert croniter.is_valid(line), line
    return line.split()


@pytest.mark.parametrize('unit', UNITS[:20] + UNITS[-2:])
def test_named_frequencies_give_valid_cron_lines_within_range(unit):
    minute, hour, dom, month, dow = fields('hourly', unit)
    assert 0 <= int(minute) < 60 and (hour, dom, month, dow) == ('*', '*', '*', '*')
    minute, hour, dom, month, dow = fields('daily', unit)
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24 and (dom, month, dow) == ('*',) * 3
    minute, hour, dom, month, dow = fields('weekly', unit)
    assert 0 <= int(hour) < 24 and 0 <= int(dow) <= 6 and (dom, month) == ('*', '*')
    minute, hour, dom, month, dow = fields('monthly', unit)
    assert 1 <= int(dom) <= 28 and (month, dow) == ('*', '*')


def test_one_unit_keeps_its_minute_and_hour_across_frequencies():
    unit = 'duplicity/7'
    daily = fields('daily', unit)
    assert fields('hourly', unit)[0] == daily[0]
    assert fields('weekly', unit)[:2] == daily[:2]
    assert fields('monthly', unit)[:2] == daily[:2]


def test_named_frequencies_spread_many_units_over_the_period():
    minutes = {fields('hourly', u)[0] for u in UNITS}
    hours = {fields('daily', u)[1] for u in UNITS}
    days = {fields('weekly', u)[4] for u in UNITS}
    month_days = {fields('monthly', u)[2] for u in UNITS}
    assert len(minutes) > 40 and len(hours) > 15 and len(days) == 7 and len(month_days) > 20


def test_after_moves_the_slot_later_carrying_into_the_hour_and_the_day():
    for unit in UNITS[:50]:
        minute, hour = (int(f) for f in fields('daily', unit)[:2])
        later = minute + 60 * hour + 30
        assert fields('daily', unit, 30) == [str(later % 60), str(later // 60 % 24), '*', '*', '*']
        assert fields('hourly', unit, 30)[0] == str((minute + 30) % 60)


@pytest.mark.parametrize('expression', ['*/15 * * * *', '30 2 * * 1-5', '0 3 1 * *'])
def test_a_cron_expression_is_used_as_given(expression):
    assert charm.cron_fields(expression, 'duplicity/0') == expression
    assert charm.cron_fields(expression, 'duplicity/0', 30) == expression


# ----------------------------------------------------------------------------- runner spec

SECRETS = {
    'remote_password': 'remote-pass-0001',
    'private_ssh_key': 'LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K',
    'aws_access_key_id': 'AKIAEXAMPLE00001',
    'aws_secret_access_key': 'aws-secret-key-0001',
    'azure_connection_string': 'AccountName=a;AccountKey=YXp1cmUta2V5LTAwMDE=',
    'encryption_passphrase': 'passphrase-0001',
}


def full_config(**overrides):
    with open(os.path.join(ROOT, 'config.yaml')) as f:
        options = yaml.safe_load(f)['options']
    config = {k: v.get('default', '') for k, v in options.items()}
    config.update(SECRETS, backend='sftp', remote_backup_url='h/d', remote_user='bk')
    config.update(overrides)
    return config


def test_every_secret_config_key_is_listed_as_secret():
    assert set(SECRETS) == set(duplicity_secrets.SECRET_KEYS)
    assert set(SECRETS) <= set(full_config())


def spec_of(config):
    settings, _ = Settings.parse(config, ('/srv/data',), unit='duplicity/0')
    return charm.runner_spec(settings, unit='duplicity/0', duplicity='/usr/bin/duplicity',
                             version=(3, 0, 2), fingerprint='', hooks={})


def test_the_runner_spec_holds_no_secret_value():
    text = spec_of(full_config()).to_json()
    for key, value in SECRETS.items():
        assert value not in text, key
    assert 'YXp1cmUta2V5LTAwMDE=' not in text
    # by construction: no settings field is named after a secret key, and those that
    # speak of a secret are booleans
    names = {f.name: f.type for f in dataclasses.fields(DuplicitySettings)}
    assert not set(names) & set(SECRETS)
    assert all(names[name] is bool for name in ('ssh_key', 'password', 'passphrase'))


def test_the_runner_spec_says_which_secrets_are_set_and_keeps_the_settings():
    spec = spec_of(full_config())
    assert (spec.settings.password, spec.settings.passphrase, spec.settings.ssh_key) == \
        (True, True, True)
    unset = spec_of(full_config(encryption_passphrase='', remote_password='',
                                private_ssh_key='', gpg_public_key='0x' + 'A' * 16))
    assert (unset.settings.password, unset.settings.passphrase, unset.settings.ssh_key) == \
        (False, False, False)
    assert spec.settings.remote.host == 'h' and spec.settings.user == 'bk'
    assert spec.includes == ('/srv/data',)
    assert RunnerSpec.from_json(spec.to_json()) == spec


# ----------------------------------------------------------------------------- packages_for

@pytest.mark.parametrize('backend,extra', [
    ('file', []),
    ('sftp', ['python3-paramiko']),
    ('scp', ['python3-paramiko']),
    ('rsync', ['rsync', 'openssh-client']),
    ('ftp', ['lftp']),
    ('ftps', ['lftp', 'ca-certificates']),
    ('s3', ['python3-boto3']),
    ('azure', ['python3-azure-storage']),
    ('', []),
    ('unknown', []),
])
def test_packages_for_each_backend_are_duplicity_gnupg_and_its_backend(backend, extra):
    assert charm.packages_for({'backend': backend}) == ['duplicity', 'gnupg'] + extra


def test_packages_for_never_installs_boto_v2_or_pip_packages():
    for backend in duplicity_config.duplicity_helper.BACKENDS:
        for package in charm.packages_for({'backend': backend}):
            assert package not in ('python-boto', 'python3-boto', 'python3-pip'), backend


def test_packages_for_does_not_grow_the_shared_base_list():
    charm.packages_for({'backend': 's3'})
    charm.packages_for({'backend': 'rsync'})
    assert charm.BASE_PACKAGES == ['duplicity', 'gnupg']


def test_missing_packages_asks_dpkg_and_names_only_what_is_not_installed():
    # the real dpkg database of this machine: dpkg and coreutils are always installed;
    # libc6 is Multi-Arch: same, which dpkg-query lists as libc6:<arch>
    absent = 'charm-duplicity-no-such-package'
    assert charm.missing_packages(['dpkg', absent, 'coreutils', 'libc6']) == [absent]
    assert charm.missing_packages([]) == []


# ----------------------------------------------------------------------------- remove

def test_remove_takes_a_file_a_tree_or_nothing(tmp_path):
    (tmp_path / 'f').write_text('x')
    (tmp_path / 'd' / 'e').mkdir(parents=True)
    (tmp_path / 'd' / 'e' / 'g').write_text('y')
    assert charm.remove(str(tmp_path / 'f')) is True
    assert charm.remove(str(tmp_path / 'd')) is True
    assert charm.remove(str(tmp_path / 'd')) is False
    assert os.listdir(str(tmp_path)) == []


def test_remove_of_a_tree_whose_entries_vanish_meanwhile_still_removes_it(tmp_path, monkeypatch):
    # gpg-agent removes its other sockets when it sees one go: rmtree then meets entries
    # that are gone, which must not leave the rest of the tree behind
    home = tmp_path / 'state' / 'gnupg'
    home.mkdir(parents=True)
    for name in ('S.gpg-agent', 'S.gpg-agent.extra', 'S.gpg-agent.ssh'):
        (home / name).write_text('')
    real_unlink = os.unlink

    def unlink(path, *, dir_fd=None):
        if os.path.basename(path).startswith('S.gpg-agent'):
            for name in ('S.gpg-agent', 'S.gpg-agent.extra', 'S.gpg-agent.ssh'):
                if name != os.path.basename(path) and os.path.exists(home / name):
                    real_unlink(str(home / name))
        return real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, 'unlink', unlink)
    assert charm.remove(str(tmp_path / 'state')) is True
    assert not os.path.exists(str(tmp_path / 'state'))


# ----------------------------------------------------------------------------- install sources

class _Fetch:
    def __init__(self, fail=None):
        self.configured, self.fail = 0, fail

    def configure_sources(self, update=False):
        self.configured += 1
        if self.fail:
            raise self.fail


@pytest.mark.parametrize('sources,configured', [
    ('[ppa:duplicity-team/duplicity-release-git]', 1),
    ('[unclosed deb https://user:Cr3dential@mirror.example.com/ubuntu', 0),
])
def test_only_valid_install_sources_reach_charmhelpers(monkeypatch, sources, configured):
    fake, logs = _Fetch(), []
    monkeypatch.setattr(charm, 'fetch', fake)
    monkeypatch.setattr(charm, 'missing_packages', lambda packages: [])
    monkeypatch.setattr(charm.hookenv, 'log', lambda message, level=None: logs.append(message))
    assert charm.install_packages({'backend': 'file', 'install_sources': sources}) == []
    assert fake.configured == configured


def test_a_failed_source_is_logged_without_quoting_it(monkeypatch):
    import subprocess
    source = 'deb https://user:Cr3dential@mirror.example.com/ubuntu jammy main'
    fake, logs = _Fetch(subprocess.CalledProcessError(1, ['add-apt-repository', source])), []
    monkeypatch.setattr(charm, 'fetch', fake)
    monkeypatch.setattr(charm.hookenv, 'log', lambda message, level=None: logs.append(message))
    problems = charm.install_packages({'backend': 'file', 'install_sources': source})
    assert problems and 'CalledProcessError' in problems[0]
    assert logs and not any('Cr3dential' in message for message in logs + problems)


# ----------------------------------------------------------------------------- upstream switch

@pytest.mark.parametrize('flag', [
    'duplicity.invalid_backend', 'duplicity.invalid_aws_creds', 'duplicity.invalid_private_ssh_key',
    'duplicity.create_backup_cron', 'duplicity.remove_deletion_cron', 'duplicity.failed_backup',
    'duplicity.some_future_upstream_flag', 'nrpe-external-master.initial-config',
    'nrpe-external-master.configured', 'nrpe-external-master.available', 'apt.installed.lftp',
    'general-info.available',
])
def test_upstream_only_flags_are_recognised(flag):
    assert charm.upstream_flags([flag]) == [flag]


@pytest.mark.parametrize('flag', [
    'duplicity.installed', 'duplicity.install-failed', 'duplicity.valid.backend',
    'duplicity.ssh-configured', 'duplicity.encryption-ready', 'duplicity.ready',
    'duplicity.stopped', 'endpoint.backup.joined', 'config.changed.backend',
])
def test_this_charms_flags_are_never_cleared_as_upstreams(flag):
    assert charm.upstream_flags([flag]) == []


def test_every_flag_this_charms_handlers_set_is_its_own():
    with open(os.path.join(ROOT, 'reactive', 'duplicity.py')) as f:
        text = f.read()
    import re
    names = set(re.findall(r'"(duplicity\.[a-z.-]+)"', text)) - {'duplicity.valid.{}'}
    names |= {'duplicity.valid.' + group for group in charm.GROUPS}
    assert charm.upstream_flags(names) == []


@pytest.mark.parametrize('config,url', [
    ({'backend': 'file', 'remote_backup_url': 'file:///srv/b'}, 'file:///srv/b/duplicity-0'),
    ({'backend': 'azure', 'remote_backup_url': 'azure://'}, 'azure:///duplicity-0'),
    ({'backend': 's3', 'remote_backup_url': 's3:host:9000/bkt'}, 's3://s3:host:9000/bkt/duplicity-0'),
    ({'backend': 'sftp', 'remote_backup_url': 'host/dir', 'remote_user': 'u',
      'remote_password': 'p'}, 'sftp://u:p@host/dir/duplicity-0'),
    ({'backend': 'scp', 'remote_backup_url': 'scp://host/dir', 'remote_user': 'u'},
     'scp://u@host/dir/duplicity-0'),
])
def test_upstream_target_url_is_what_upstream_gave_duplicity(config, url):
    assert charm.upstream_target_url(config, 'duplicity/0') == url


def test_upstreams_local_archive_moves_into_the_units_archive(tmp_path, monkeypatch):
    import hashlib
    from duplicity_paths import UnitPaths
    paths = UnitPaths.for_unit('duplicity/0', root=str(tmp_path))
    config = {'backend': 'file', 'remote_backup_url': 'file:///srv/b'}
    monkeypatch.setattr(charm, 'UPSTREAM_ARCHIVE_ROOT', str(tmp_path / 'cache'))
    name = hashlib.md5(b'file:///srv/b/duplicity-0').hexdigest()
    (tmp_path / 'cache' / name).mkdir(parents=True)
    (tmp_path / 'cache' / name / 'duplicity-full.20261201T120000Z.manifest').write_text('m')
    assert charm.adopt_upstream_archive(config, paths) is True
    moved = os.path.join(paths.archive_dir, 'duplicity-0',
                         'duplicity-full.20261201T120000Z.manifest')
    assert open(moved).read() == 'm' and os.stat(moved).st_mode & 0o777 == 0o600
    assert not (tmp_path / 'cache' / name).exists()
    assert charm.adopt_upstream_archive(config, paths) is False


@pytest.fixture
def keyring(tmp_path):
    """A GnuPG home standing in for root's keyring, holding one throw-away public key."""
    import subprocess
    import tempfile
    home = tempfile.mkdtemp(prefix='rk-', dir='/tmp')
    os.chmod(home, 0o700)
    run = dict(check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gpg = ['gpg', '--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '']
    subprocess.run(gpg + ['--quick-gen-key', 'Key Id Test <k@example.invalid>', 'default',
                          'default', 'never'], **run)
    listing = subprocess.run(gpg + ['--with-colons', '--list-keys'], **run).stdout.decode()
    fingerprint = next(line.split(':')[9] for line in listing.splitlines()
                       if line.startswith('fpr:'))
    yield home, fingerprint
    subprocess.run(['gpgconf', '--homedir', home, '--kill', 'all'])
    import shutil
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def short_root():
    """A short root for the unit's paths: gpg-agent's socket path must be short."""
    import shutil
    import tempfile
    root = tempfile.mkdtemp(prefix='u-', dir='/tmp')
    yield root
    from duplicity_paths import UnitPaths
    import subprocess
    subprocess.run(['gpgconf', '--homedir', UnitPaths.for_unit('duplicity/0', root=root).gnupg_home,
                    '--kill', 'all'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize('form', ['long', 'fingerprint', '0xlong'])
def test_a_key_id_is_imported_from_roots_keyring(short_root, keyring, form):
    from duplicity_paths import UnitPaths
    home, fingerprint = keyring
    key = {'long': fingerprint[-16:], 'fingerprint': fingerprint,
           '0xlong': '0x' + fingerprint[-16:]}[form]
    paths = UnitPaths.for_unit('duplicity/0', root=short_root)
    assert charm.import_public_key({'gpg_public_key': key}, paths, root_homedir=home) == fingerprint


def test_a_key_id_missing_from_roots_keyring_asks_for_an_armoured_key(tmp_path, keyring):
    from duplicity_paths import UnitPaths
    home, _ = keyring
    paths = UnitPaths.for_unit('duplicity/0', root=str(tmp_path))
    for keyring_home in (home, str(tmp_path / 'no-such-keyring')):
        with pytest.raises(ValueError) as err:
            charm.import_public_key({'gpg_public_key': '4F3A9C1D2B7E6A58'}, paths,
                                    root_homedir=keyring_home)
        assert str(err.value).startswith('gpg_public_key holds a key id (4F3A9C1D2B7E6A58)')
        assert 'armoured public key is needed' in str(err.value)


# ----------------------------------------------------------------------------- backup-integrator

@pytest.mark.parametrize('path,unit,mapped', [
    ('/opt/backup-integrator-charm/bi-0/scripts/run-before-backup', 'bi/3',
     '/opt/backup-integrator-charm/bi-3/scripts/run-before-backup'),
    ('/opt/backup-integrator-charm/bi-0/scripts/run-after-restore', 'bi/0',
     '/opt/backup-integrator-charm/bi-0/scripts/run-after-restore'),
    ('/opt/backup-integrator-charm/bi-0/scripts/run-before-backup', None,
     '/opt/backup-integrator-charm/bi-0/scripts/run-before-backup'),
    ('/usr/local/bin/dump', 'bi/3', '/usr/local/bin/dump'),
    ('/opt/backup-integrator-charm/bi-0/scripts/../../x', 'bi/3',
     '/opt/backup-integrator-charm/bi-0/scripts/../../x'),
])
def test_integrator_scripts_map_to_the_integrator_unit_on_this_machine(path, unit, mapped):
    assert charm.integrator_script(path, unit) == mapped


@pytest.mark.parametrize('text', [None, '', '[1, 2]', '{"unit": 7}', 'not json'])
def test_a_missing_unreadable_or_foreign_spec_file_reads_as_no_previous_spec(tmp_path, text):
    path = tmp_path / 'spec.json'
    if text is not None:
        path.write_text(text)
    assert charm.read_runner_spec(str(path)) is None


# ----------------------------------------------------------------------------- the unit's dirs

def test_the_units_gnupg_home_gets_the_fixed_s2k_count_root_only_and_keeps_it(short_root):
    import duplicity_process
    from duplicity_paths import UnitPaths
    paths = UnitPaths.for_unit('duplicity/0', root=short_root)
    charm.ensure_dirs(paths)
    conf = os.path.join(paths.gnupg_home, 'gpg-agent.conf')
    assert open(conf).read() == duplicity_process.AGENT_CONF == 's2k-count 65011712\n'
    assert os.stat(conf).st_mode & 0o777 == 0o600
    assert os.stat(paths.gnupg_home).st_mode & 0o777 == 0o700
    before = os.stat(conf).st_mtime_ns
    charm.ensure_dirs(paths)                      # every hook: unchanged, not rewritten
    assert os.stat(conf).st_mtime_ns == before


def test_the_ssh_home_s_dot_ssh_is_the_units_ssh_dir_whatever_was_there(short_root):
    from duplicity_paths import UnitPaths
    paths = UnitPaths.for_unit('duplicity/0', root=short_root)
    os.makedirs(os.path.join(paths.ssh_home, '.ssh'))          # not a link: replaced
    open(os.path.join(paths.ssh_home, '.ssh', 'known_hosts'), 'w').close()
    charm.ensure_dirs(paths)
    os.makedirs(paths.ssh_dir)
    with open(paths.known_hosts, 'w') as f:
        f.write('[127.0.0.1]:2222 ssh-ed25519 AAAA\n')
    dot_ssh = os.path.join(paths.ssh_home, '.ssh')
    assert os.readlink(dot_ssh) == '../ssh'
    assert open(os.path.join(dot_ssh, 'known_hosts')).read() == open(paths.known_hosts).read()
    assert os.stat(paths.ssh_home).st_mode & 0o777 == 0o700
    charm.ensure_dirs(paths)                      # every hook: the link stays
    assert os.readlink(dot_ssh) == '../ssh'
