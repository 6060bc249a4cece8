"""lib/duplicity_runner.py on a real filesystem with real processes: the lock, the outcome
record, the archive cache, gpg-agents, and whole operations on unit_tests/fake_duplicity.py
(a stand-in executable: deadlines, signals and process groups are real here). The
operations' sequencing is in test_duplicity_runner_operations.py, the parsing of duplicity's
output in test_duplicity_output.py.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import duplicity_process as dp
import duplicity_runner as r
from duplicity_helper import Remote
from duplicity_paths import UnitPaths
from duplicity_records import BACKUP, LAST_ACTION, RETENTION, Outcome, RunnerSpec
from duplicity_settings import DuplicitySettings
from processes import ended
from test_duplicity_output import SOURCE_MISMATCH_LOG, SOURCE_MISMATCH_OUTPUT

KINDS = (BACKUP, RETENTION, LAST_ACTION)


def runner_spec(root, settings=None, **fields):
    """A RunnerSpec of duplicity/0 under root: file backend, no encryption, retention 30D;
    ``settings`` overrides DuplicitySettings fields."""
    dup = DuplicitySettings(**dict({'backend': 'file', 'encryption': 'disabled',
                                    'remote': Remote(backend='file', path='/srv/backups'),
                                    'retention': '30D'}, **(settings or {})))
    return RunnerSpec(**dict({'unit': 'duplicity/0', 'settings': dup, 'version': (3, 2, 1),
                              'root': str(root)}, **fields))

# ----------------------------------------------------------------------------- lock and record

@pytest.fixture
def runner(tmp_path):
    paths = UnitPaths.for_unit('duplicity/0', root=str(tmp_path))
    os.makedirs(paths.state_dir)
    os.makedirs(paths.status_dir)
    return r.Runner(runner_spec(tmp_path), {})


def test_a_second_lock_attempt_is_busy_while_the_first_holds_it(runner, tmp_path):
    other = r.Runner(runner.spec, {})
    with runner.lock('backup'):
        with pytest.raises(r.Busy, match=r'already running for duplicity/0 \(backup pid {}'
                           .format(os.getpid())):
            with other.lock('verify'):
                pass
    with other.lock('verify'):  # released: the next operation gets it
        with open(runner.paths.lock_file) as f:
            assert f.read().startswith('verify pid ')


def test_the_lock_file_is_root_only(runner):
    with runner.lock('backup'):
        pass
    assert os.stat(runner.paths.lock_file).st_mode & 0o777 == 0o600


def test_record_keeps_the_last_success_when_a_later_backup_fails(runner):
    ok = Outcome('backup', 'T1', status='ok', backup_id='2026-11-27T08:23:09Z', type='full')
    failed = Outcome('backup', 'T2', status='failed', error='backend unreachable')
    runner.record(BACKUP, ok)
    runner.record(BACKUP, failed)
    runner.record(RETENTION, Outcome('retention', 'T3', status='ok'))
    status = r.read_json(runner.paths.status_file)
    assert status == {
        'backup': {'operation': 'backup', 'time': 'T2', 'status': 'failed',
                   'error': 'backend unreachable'},
        'last-success': {'operation': 'backup', 'time': 'T1', 'status': 'ok',
                         'backup-id': '2026-11-27T08:23:09Z', 'type': 'full'},
        'retention': {'operation': 'retention', 'time': 'T3', 'status': 'ok'}}
    assert os.stat(runner.paths.status_file).st_mode & 0o777 == 0o644


def test_record_replaces_the_last_success_with_a_newer_one(runner):
    runner.record(BACKUP, Outcome('backup', 'T1', status='ok', backup_id='first'))
    runner.record(BACKUP, Outcome('backup', 'T2', status='ok', backup_id='second'))
    assert r.read_json(runner.paths.status_file)['last-success']['backup-id'] == 'second'


# ----------------------------------------------------------------------------- interrupted sets

def archive(runner, *names):
    name_dir = os.path.join(runner.paths.archive_dir, 'duplicity-0')
    os.makedirs(name_dir, exist_ok=True)
    for name in names:
        open(os.path.join(name_dir, name), 'w').close()


@pytest.mark.parametrize('names, interrupted', [
    ((), None),
    (('duplicity-full.20261127T080000Z.manifest',), None),
    (('duplicity-full.20261127T080000Z.manifest', 'duplicity-full.20261127T090000Z.manifest.part',
      'duplicity-full-signatures.20261127T090000Z.sigtar.part'), '2026-11-27T09:00:00Z'),
    (('duplicity-full.20261127T080000Z.manifest',
      'duplicity-inc.20261127T080000Z.to.20261127T093000Z.manifest.part'), '2026-11-27T09:30:00Z'),
])
def test_the_interrupted_set_is_the_one_with_a_partial_manifest(runner, names, interrupted):
    archive(runner, *names)
    assert runner.interrupted_set() == interrupted


def test_reads_go_to_the_newest_complete_set_only_after_an_interruption(runner):
    archive(runner, 'duplicity-full.20261127T080000Z.manifest',
            'duplicity-inc.20261127T080000Z.to.20261127T083000Z.manifest')
    assert runner.complete_time('') == ''   # nothing interrupted: duplicity's own default
    assert runner.complete_time('2026-11-01') == '2026-11-01'
    archive(runner, 'duplicity-inc.20261127T083000Z.to.20261127T090000Z.manifest.part')
    assert runner.complete_time('') == '2026-11-27T08:30:00Z'
    assert runner.complete_time('2026-11-01') == '2026-11-01'   # an asked-for time is kept


# ----------------------------------------------------------------------------- gpg-agent

def agents_for(home):
    """pids of the gpg-agents serving GnuPG home ``home``."""
    out = subprocess.run(['pgrep', '-f', 'gpg-agent --homedir {} '.format(home)],
                         stdout=subprocess.PIPE).stdout.decode()
    return out.split()


def start_agent(home):
    """gpg starts an agent for a symmetric encryption, and leaves it running."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    subprocess.run(['gpg', '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'x',
                    '--symmetric', '-o', os.path.join(home, 'out.gpg')], input=b'data',
                   env={'PATH': '/usr/bin:/bin', 'GNUPGHOME': home}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert agents_for(home)


@pytest.fixture
def short_runner():
    """A runner under a short root: gpg-agent's socket path must fit in 108 bytes."""
    root = tempfile.mkdtemp(prefix='r-', dir='/tmp')
    paths = UnitPaths.for_unit('duplicity/0', root=root)
    os.makedirs(paths.state_dir)
    runner = r.Runner(runner_spec(root), {})
    runner.test_root = root
    try:
        yield runner
    finally:
        dp.stop_gpg_agent(paths.gnupg_home)
        shutil.rmtree(root, ignore_errors=True)


def test_releasing_the_lock_ends_the_gpg_agent_the_operation_started(short_runner):
    runner = short_runner
    start_agent(runner.paths.gnupg_home)
    with runner.lock('backup'):
        pass
    assert agents_for(runner.paths.gnupg_home) == []


def test_a_busy_lock_leaves_the_running_operations_gpg_agent_alone(short_runner):
    runner = short_runner
    start_agent(runner.paths.gnupg_home)
    other = r.Runner(runner.spec, {})
    with runner.lock('backup'):
        with pytest.raises(r.Busy):
            with other.lock('verify'):
                pass
        assert agents_for(runner.paths.gnupg_home)


def test_stop_gpg_agent_without_a_home_or_an_agent_does_nothing(tmp_path):
    dp.stop_gpg_agent(str(tmp_path / 'missing'))
    dp.stop_gpg_agent(str(tmp_path))
    assert not os.path.exists(str(tmp_path / 'missing'))


# ----------------------------------------------------------------------------- a fake duplicity

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake_duplicity.py')


class Fake:
    """A fake duplicity for one runner (unit_tests/fake_duplicity.py) and its behaviour."""

    def __init__(self, root):
        self.bin = os.path.join(root, 'fakebin')
        os.makedirs(self.bin)
        self.path = os.path.join(self.bin, 'duplicity')
        shutil.copy(FAKE, self.path)
        os.chmod(self.path, 0o755)
        self.behave()

    def behave(self, **behaviour):
        with open(os.path.join(self.bin, 'behaviour.json'), 'w') as f:
            json.dump(behaviour, f)


def make_runner(root, settings=None, secret_env=None, fake=None):
    spec = runner_spec(root, settings, duplicity=fake.path if fake else 'duplicity',
                       includes=('/srv/data',))
    paths = UnitPaths.for_unit('duplicity/0', root=str(root))
    for d in (paths.state_dir, paths.status_dir, paths.temp_dir, paths.archive_dir,
              paths.log_dir, paths.secrets_dir):
        os.makedirs(d, exist_ok=True)
    with open(paths.spec_file, 'w') as f:
        f.write(spec.to_json())
    with open(paths.env_file, 'w') as f:
        json.dump(secret_env or {}, f)
    return r.Runner(spec, secret_env or {})


@pytest.fixture
def fake(tmp_path):
    return Fake(str(tmp_path))


def outcome_of(runner):
    return r.read_json(runner.paths.status_file, {})


def leftovers(runner):
    return sorted(os.listdir(runner.paths.temp_dir))


def test_a_source_mismatch_backup_fails_with_the_fix_recorded(tmp_path, fake):
    fake.behave(exit=42, output=SOURCE_MISMATCH_OUTPUT, log=SOURCE_MISMATCH_LOG)
    runner = make_runner(tmp_path, fake=fake)
    with pytest.raises(r.OperationError) as err:
        runner.backup()
    assert 'do-backup full=true' in str(err.value)
    assert 'Duplicity backup complete' not in str(err.value)
    backup = outcome_of(runner)['backup']
    assert backup['status'] == 'failed' and 'do-backup full=true' in backup['error']
    assert leftovers(runner) == []


STATISTICS_WITH_ERRORS = """\
Error accessing possibly locked file /srv/data/bad
--------------[ Backup Statistics ]--------------
ElapsedTime 0.02 (0.02 seconds)
SourceFiles 4
NewFiles 4
Errors 2
-------------------------------------------------
"""
UNREADABLE_LOG = """\
WARNING 10 '/srv/data/bad'
. Error accessing possibly locked file /srv/data/bad

WARNING 10 '/srv/data/other bad'
. Error accessing possibly locked file /srv/data/other bad

"""


def test_a_backup_with_errors_is_recorded_partial_naming_the_unreadable_files(tmp_path, fake):
    fake.behave(output=STATISTICS_WITH_ERRORS, log=UNREADABLE_LOG, manifest=True)
    runner = make_runner(tmp_path, fake=fake)
    outcome = runner.backup()
    assert outcome.status == 'partial'
    assert outcome.statistics['errors'] == '2'
    assert outcome.unreadable == ('/srv/data/bad', '/srv/data/other bad')
    assert outcome.warning.startswith('2 file(s) could not be read and are not in this '
                                         'backup (e.g. /srv/data/bad)')
    recorded = outcome_of(runner)
    assert recorded['backup'] == outcome.to_json()
    assert 'last-success' not in recorded       # a partial backup is not a success


def test_a_backup_without_errors_is_ok(tmp_path, fake):
    fake.behave(output=STATISTICS_WITH_ERRORS.replace('Errors 2', 'Errors 0'), manifest=True)
    runner = make_runner(tmp_path, fake=fake)
    assert runner.backup().status == 'ok'
    assert outcome_of(runner)['last-success']['status'] == 'ok'


def test_a_run_past_its_deadline_is_killed_with_its_children_and_recorded_as_failed(
        tmp_path, fake, monkeypatch):
    monkeypatch.setattr(dp, 'KILL_GRACE', 1)
    pidfile = str(tmp_path / 'child.pid')
    fake.behave(sleep=60, ignore_term=True, child_pidfile=pidfile)
    runner = make_runner(tmp_path, {'run_timeout': 2}, fake=fake)
    started = time.monotonic()
    with pytest.raises(r.OperationError) as err:
        runner.backup()
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 2 * dp.KILL_GRACE + 3, elapsed
    assert 'deadline' in str(err.value) and 'run_timeout (2s)' in str(err.value)
    backup = outcome_of(runner)['backup']
    assert backup['status'] == 'failed' and 'run_timeout (2s)' in backup['error']
    with open(pidfile) as f:
        child = int(f.read())
    # the grandchild (gpg, ssh ... in real runs) went with it: gone or a zombie of init
    assert ended(child)
    assert leftovers(runner) == []
    fake.behave(manifest=True)            # the lock is free: the next run works
    assert runner.backup().status == 'ok'


def test_a_runner_told_to_stop_ends_duplicitys_process_group_and_records_the_failure(
        tmp_path, fake, monkeypatch):
    pidfile = str(tmp_path / 'child.pid')
    fake.behave(sleep=600, child_pidfile=pidfile)
    runner = make_runner(tmp_path, fake=fake)
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import sys; sys.path.insert(0, {!r})\n'
         'import duplicity_runner as r\n'
         'import duplicity_process\n'
         'duplicity_process.KILL_GRACE = 2\n'
         'runner = r.Runner.from_files({!r})\n'
         'try:\n'
         '    runner.backup()\n'
         'except r.OperationError as err:\n'
         '    print(err, flush=True)\n'.format(os.path.dirname(r.__file__),
                                               runner.paths.spec_file)],
        stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(pidfile) or not open(pidfile).read():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    with open(pidfile) as f:
        child = int(f.read())
    proc.terminate()                      # what stopping an action or the machine does
    out, _ = proc.communicate(timeout=60)
    assert b'stopped: the runner received SIGTERM' in out
    assert ended(child)                   # duplicity and what it started went with it
    backup = outcome_of(runner)['backup']
    assert backup['status'] == 'failed' and 'SIGTERM' in backup['error']
    assert leftovers(runner) == []
    with runner.lock('verify', wait=0):   # and the lock is free
        pass


def test_a_lock_holder_killed_with_sigkill_never_blocks(tmp_path):
    runner = make_runner(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time; sys.path.insert(0, {!r})\n'
         'import duplicity_runner as r\n'
         'runner = r.Runner.from_files({!r})\n'
         'with runner.lock("backup"):\n'
         '    print("held", flush=True)\n'
         '    time.sleep(600)\n'.format(os.path.dirname(r.__file__), runner.paths.spec_file)],
        stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b'held\n'
    with pytest.raises(r.Busy):
        with runner.lock('verify'):
            pass
    holder.kill()
    holder.wait()
    with runner.lock('verify', wait=0):
        pass


def test_retention_waits_for_a_busy_lock_and_then_runs(tmp_path, fake):
    runner = make_runner(tmp_path, fake=fake)
    other = make_runner(tmp_path, fake=fake)
    released = threading.Event()

    def hold():
        with other.lock('backup'):
            time.sleep(1.5)
        released.set()

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.2)
    outcome = runner.retention(wait=30)
    thread.join()
    assert released.is_set()
    assert outcome.status == 'ok'
    assert outcome_of(runner)['retention']['status'] == 'ok'


def test_retention_that_finds_the_lock_busy_too_long_is_skipped_not_failed(tmp_path, fake):
    runner = make_runner(tmp_path, fake=fake)
    other = make_runner(tmp_path, fake=fake)
    runner.record(RETENTION, Outcome('retention', 'earlier', status='ok'))
    with other.lock('backup'):
        with pytest.raises(r.Busy):
            runner.retention(wait=0.5)
    assert outcome_of(runner)['retention'] == {'operation': 'retention', 'time': 'earlier',
                                               'status': 'ok'}


def test_the_scheduled_retention_exits_75_on_a_busy_lock_and_records_nothing(
        tmp_path, fake, monkeypatch):
    monkeypatch.setattr(r, 'RETENTION_LOCK_WAIT', 0.3)
    runner = make_runner(tmp_path, fake=fake)
    with runner.lock('backup'):
        assert r.main(['--spec', runner.paths.spec_file, 'retention']) == 75
    assert 'retention' not in outcome_of(runner)


def test_an_unexpected_error_is_a_recorded_failure_and_leaves_no_temp_file(tmp_path, fake):
    # a spec no hook writes (no encryption mode): build_argv raises ValueError
    runner = make_runner(tmp_path, {'encryption': ''}, fake=fake)
    with pytest.raises(r.OperationError) as err:
        runner.backup()
    assert str(err.value).startswith("backup failed: unexpected error (ValueError: "
                                     "encryption_passphrase: ")
    assert outcome_of(runner)['backup']['status'] == 'failed'
    assert leftovers(runner) == []
    with open(runner.paths.log_file) as f:
        assert 'Traceback' in f.read()          # the whole story is in the root-only log


def test_an_unexpected_error_of_an_action_is_recorded_as_the_last_action(tmp_path, fake):
    runner = make_runner(tmp_path, {'encryption': ''}, fake=fake)
    with pytest.raises(r.OperationError, match='unexpected error'):
        runner.cleanup()
    assert outcome_of(runner)['last-action']['status'] == 'failed'
    assert leftovers(runner) == []


@pytest.mark.parametrize('spec_text', ['[]', '{"unit": 7}', '{"config": {}}',
                                       '{"unit": "duplicity/0", "config": [], "version": []}'])
def test_the_cron_entry_point_fails_on_a_broken_spec_without_a_traceback(tmp_path, capsys,
                                                                          spec_text):
    spec = tmp_path / 'spec.json'
    spec.write_text(spec_text)
    assert r.main(['--spec', str(spec), 'backup']) == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err and 'unreadable' in err


def test_the_cron_entry_point_fails_without_the_environment_file(tmp_path, fake, capsys):
    runner = make_runner(tmp_path, fake=fake)
    os.unlink(runner.paths.env_file)
    assert r.main(['--spec', runner.paths.spec_file, 'backup']) == 1
    assert 'environment file' in capsys.readouterr().err


def test_the_cron_entry_point_records_an_unexpected_backup_failure(tmp_path, fake, capsys):
    runner = make_runner(tmp_path, {'encryption': ''}, fake=fake)
    assert r.main(['--spec', runner.paths.spec_file, 'backup']) == 1
    assert 'Traceback' not in capsys.readouterr().err
    assert outcome_of(runner)['backup']['status'] == 'failed'


def test_concurrent_records_all_land_and_leave_no_temp_file(tmp_path):
    runners = [make_runner(tmp_path) for _ in KINDS]
    errors = []

    def write(n, runner):
        try:
            for i in range(40):
                runner.record(KINDS[n], Outcome('op-{}'.format(n), str(i)))
        except Exception as err:      # the old shared temp name: FileNotFoundError
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n, runner))
               for n, runner in enumerate(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcome_of(runners[0]) == {KINDS[n]: {'operation': 'op-{}'.format(n), 'time': '39'}
                                      for n in range(len(KINDS))}
    assert os.listdir(runners[0].paths.status_dir) == ['duplicity-0.json']


def test_concurrent_records_from_processes_all_land(tmp_path):
    runner = make_runner(tmp_path)
    script = ('import sys; sys.path.insert(0, {!r})\n'
              'import duplicity_runner as r\n'
              'runner = r.Runner.from_files({!r})\n'
              'from duplicity_records import Outcome\n'
              'kind = ("backup", "retention", "last-action")[int(sys.argv[1])]\n'
              'for i in range(40):\n'
              '    runner.record(kind, Outcome(kind, str(i)))\n').format(
        os.path.dirname(r.__file__), runner.paths.spec_file)
    procs = [subprocess.Popen([sys.executable, '-c', script, str(n)], stderr=subprocess.PIPE)
             for n in range(len(KINDS))]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode()
    assert outcome_of(runner) == {kind: {'operation': kind, 'time': '39'} for kind in KINDS}


def test_what_a_killed_run_left_behind_is_swept_when_the_lock_is_next_taken(tmp_path):
    runner = make_runner(tmp_path)
    paths = runner.paths
    os.makedirs(os.path.join(paths.temp_dir, 'duplicity-k2j-tempdir'))
    open(os.path.join(paths.temp_dir, 'duplicity-log-abc'), 'w').close()
    os.makedirs(os.path.join(paths.state_dir, 'gnupg-x1y2'))
    open(os.path.join(paths.status_dir, '.duplicity-0.json.q9w8'), 'w').close()
    open(os.path.join(paths.status_dir, '.duplicity-1.json.q9w8'), 'w').close()  # not ours
    with runner.lock('backup'):
        assert os.listdir(paths.temp_dir) == []
        assert sorted(os.listdir(paths.state_dir)) == ['lock', 'secrets', 'spec.json']
    runner.record(BACKUP, Outcome('backup', 'T', status='ok'))
    assert sorted(os.listdir(paths.status_dir)) == ['.duplicity-1.json.q9w8', 'duplicity-0.json']
