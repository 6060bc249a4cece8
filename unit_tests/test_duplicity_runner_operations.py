"""Each operation's sequencing in lib/duplicity_runner.py, with a fake duplicity behind the
Runner's process seam (``run(argv, env, deadline) -> Result``) and real principal hook
scripts: what runs in which order, what is recorded, what the caller gets back.

No duplicity runs here; the real runs are in the e2e suite.
"""
import json
import os

import pytest

import duplicity_process as dp
import duplicity_runner as r
from duplicity_paths import UnitPaths
from duplicity_records import Outcome
from test_duplicity_runner import runner_spec

STATISTICS = """\
--------------[ Backup Statistics ]--------------
ElapsedTime 0.02 (0.02 seconds)
SourceFiles 4
NewFiles 4
Errors {errors}
-------------------------------------------------
"""


def option(argv, name):
    for arg in argv:
        if arg.startswith('--' + name + '='):
            return arg.split('=', 1)[1]
    return None


class FakeDuplicity:
    """Stands in for duplicity_process.Process. Each call appends 'duplicity <command>' to
    the shared event list; ``behave(command, ...)`` sets what a command prints (output),
    logs (log, to its --log-file), exits with (exit), whether it was stopped at its deadline
    (timed_out) or interrupted (raise_), and what a backup leaves in the archive cache
    (manifest: a complete set, part: an interrupted one). A restore writes ``files``."""

    def __init__(self, events):
        self.events = events
        self.calls = []
        self.behaviour = {}
        self.sets = 0

    def behave(self, command, **behaviour):
        self.behaviour[command] = behaviour

    def run(self, argv, env, deadline):
        command = argv[1]
        self.calls.append((command, argv, env, deadline))
        self.events.append('duplicity ' + command)
        b = dict({'manifest': True}, **self.behaviour.get(command, {}))
        if b.get('log'):
            with open(option(argv, 'log-file'), 'a') as f:
                f.write(b['log'])
        if command in ('full', 'incr') and (b['manifest'] or b.get('part')):
            self.leave_set(argv, command, b.get('part'))
        if b.get('raise_'):
            raise b['raise_']
        if command == 'restore' and not b.get('exit'):
            self.restore(argv[-1], b.get('files', {'f1': 'one'}))
        return dp.Result(b.get('exit', 0), b.get('output', ''), b.get('timed_out', False))

    def leave_set(self, argv, command, part):
        self.sets += 1
        stamp = '20261127T08{:02d}00Z'.format(self.sets)
        name_dir = os.path.join(option(argv, 'archive-dir'), option(argv, 'name'))
        os.makedirs(name_dir, exist_ok=True)
        name = ('duplicity-full.{}.manifest' if command == 'full' else
                'duplicity-inc.20261127T070000Z.to.{}.manifest').format(stamp)
        open(os.path.join(name_dir, name + ('.part' if part else '')), 'w').close()

    @staticmethod
    def restore(dest, files):
        if len(files) == 1 and '' in files:
            with open(dest, 'w') as f:
                f.write(files[''])
            return
        os.makedirs(dest, exist_ok=True)
        for name, content in files.items():
            with open(os.path.join(dest, name), 'w') as f:
                f.write(content)


class Events(list):
    pass


@pytest.fixture
def events():
    return Events()


def hook(tmp_path, events_file, kind, body=''):
    path = tmp_path / (kind + '.sh')
    path.write_text('#!/bin/sh\necho "{} $BACKUP_RESULT" >> {}\n{}\n'.format(
        kind, events_file, body))
    path.chmod(0o755)
    return str(path)


class Unit:
    """A Runner on a private root with a FakeDuplicity; ``hooks`` maps a hook kind to the
    body of its script (each script also notes '<kind> <BACKUP_RESULT>' in the events)."""

    def __init__(self, tmp_path, events, settings=None, hooks=None):
        self.events_file = tmp_path / 'hook-events'
        spec = runner_spec(tmp_path, settings, includes=('/srv/data',),
                           hooks={kind: (hook(tmp_path, self.events_file, kind, body),)
                                  for kind, body in (hooks or {}).items()})
        self.paths = UnitPaths.for_unit('duplicity/0', root=str(tmp_path))
        for d in (self.paths.state_dir, self.paths.status_dir, self.paths.temp_dir,
                  self.paths.archive_dir, self.paths.log_dir):
            os.makedirs(d, exist_ok=True)
        self.fake = FakeDuplicity(events)
        self.events = events
        self.runner = r.Runner(spec, {}, process=self.fake)

    def record(self):
        try:
            with open(self.paths.status_file) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def order(self):
        """(hook scripts run, with their BACKUP_RESULT; duplicity commands run), each in
        the order they happened (the log shows how they interleave)."""
        hooks = self.events_file.read_text().splitlines() if self.events_file.exists() else []
        return hooks, list(self.events)

    def commands(self):
        return [call[0] for call in self.fake.calls]


@pytest.fixture
def unit(tmp_path, events):
    return Unit(tmp_path, events)


# ----------------------------------------------------------------------------- backup

@pytest.mark.parametrize('full, command, kind', [(True, 'full', 'full'),
                                                 (False, 'incr', 'incremental')])
def test_a_backup_runs_duplicity_once_and_records_the_new_set_as_the_last_success(
        unit, full, command, kind):
    unit.fake.behave(command, output=STATISTICS.format(errors=0))
    outcome = unit.runner.backup(full=full)
    assert unit.commands() == [command]
    assert (outcome.status, outcome.type, outcome.trigger) == ('ok', kind, 'action')
    assert outcome.backup_id == '2026-11-27T08:01:00Z'
    assert outcome.statistics == {'elapsed-time': '0.02', 'source-files': '4',
                                  'new-files': '4', 'errors': '0'}
    record = unit.record()
    assert record['backup'] == record['last-success'] == outcome.to_json()
    assert os.listdir(unit.paths.temp_dir) == []      # its machine log did not outlive it


def test_a_scheduled_backup_says_so_and_a_force_full_marker_makes_it_full_once(unit):
    open(unit.runner.force_full_marker, 'w').close()
    assert unit.runner.backup(scheduled=True).trigger == 'schedule'
    assert unit.runner.backup().type == 'incremental'
    assert unit.commands() == ['full', 'incr']
    assert not os.path.exists(unit.runner.force_full_marker)


def test_a_partial_backup_is_recorded_partial_and_is_not_the_last_success(unit):
    unit.runner.backup()
    unit.fake.behave('incr', output=STATISTICS.format(errors=1),
                     log="WARNING 10 '/srv/data/bad'\n. Error accessing /srv/data/bad\n\n")
    outcome = unit.runner.backup()
    assert (outcome.status, outcome.unreadable) == ('partial', ('/srv/data/bad',))
    assert outcome.warning.startswith('1 file(s) could not be read')
    record = unit.record()
    assert record['backup']['status'] == 'partial'
    assert record['last-success']['backup-id'] == '2026-11-27T08:01:00Z'


def test_a_failed_backup_is_recorded_with_its_reason_and_keeps_the_last_success(unit):
    unit.runner.backup()
    unit.fake.behave('incr', exit=38, log='ERROR 38\n. Connection refused\n\n')
    with pytest.raises(dp.OperationError) as err:
        unit.runner.backup()
    assert str(err.value).startswith('backup failed: backend unreachable')
    record = unit.record()
    assert record['backup']['status'] == 'failed'
    assert record['backup']['error'] == str(err.value)
    assert record['last-success']['backup-id'] == '2026-11-27T08:01:00Z'


def test_a_backup_that_leaves_no_new_set_fails(unit):
    unit.fake.behave('incr', manifest=False)
    with pytest.raises(dp.OperationError, match='no new backup set was recorded'):
        unit.runner.backup()
    assert unit.record()['backup']['status'] == 'failed'


def test_a_backup_past_its_deadline_fails_naming_run_timeout(tmp_path, events):
    unit = Unit(tmp_path, events, settings={'run_timeout': 5})
    unit.fake.behave('incr', exit=-15, timed_out=True, output='partial output')
    with pytest.raises(dp.OperationError, match=r'run_timeout \(5s\)'):
        unit.runner.backup()
    assert unit.fake.calls[0][3] == 5                 # the deadline it was given


def test_an_interrupted_backup_is_recorded_failed_and_reads_then_go_to_the_complete_set(
        unit):
    unit.runner.backup(full=True)                                    # 08:01, complete
    unit.fake.behave('incr', part=True, manifest=False,
                     raise_=dp.Interrupted('stopped: the runner received SIGTERM'))
    with pytest.raises(dp.Interrupted):
        unit.runner.backup()
    assert unit.record()['backup']['error'] == 'stopped: the runner received SIGTERM'
    assert unit.order()[1] == ['duplicity full', 'duplicity incr']
    # duplicity was stopped mid-set: its partial manifest stays in the cache
    assert unit.runner.interrupted_set() == '2026-11-27T08:02:00Z'
    unit.fake.behave('collection-status', log=(
        'INFO 3\nchain-complete\n full 20261127T080100Z 1 noenc\n'
        ' inc 20261127T080200Z 1 noenc\n\n'))
    sets = unit.runner.list_backups()
    assert [s.get('interrupted', False) for s in sets] == [False, True]
    unit.runner.restore(target=str(unit.paths.restore_dir) + '/t')
    # the restore reads the newest complete set, not what of the interrupted one was uploaded
    assert '--restore-time=2026-11-27T08:01:00Z' in unit.fake.calls[-1][1]


# ----------------------------------------------------------------------------- hooks

def test_the_principal_hooks_run_around_duplicity_with_its_result(tmp_path, events):
    unit = Unit(tmp_path, events, hooks={'run-before-backup': '', 'run-after-backup': ''})
    unit.runner.backup()
    hooks, _ = unit.order()
    assert hooks == ['run-before-backup ', 'run-after-backup ok']
    with open(unit.paths.log_file) as f:
        log = f.read()
    assert log.index('run-before-backup: ') < log.index('run: ') < log.index(
        'run-after-backup: ')


def test_a_failing_before_hook_cancels_the_backup_and_the_after_hook_still_runs(tmp_path,
                                                                                events):
    unit = Unit(tmp_path, events, hooks={'run-before-backup': 'exit 2',
                                         'run-after-backup': ''})
    with pytest.raises(dp.OperationError, match='run-before-backup script .* exit code 2'):
        unit.runner.backup()
    assert unit.commands() == []                       # duplicity never ran
    assert unit.order()[0] == ['run-before-backup ', 'run-after-backup failed']
    assert unit.record()['backup']['status'] == 'failed'


def test_a_failed_backup_and_a_failing_after_hook_are_reported_together_once(tmp_path,
                                                                            events):
    unit = Unit(tmp_path, events, hooks={'run-after-backup': 'exit 7'})
    unit.fake.behave('incr', exit=53)
    with pytest.raises(dp.OperationError) as err:
        unit.runner.backup()
    message = str(err.value)
    assert message.startswith('backup failed: no space left on the destination')
    assert message.count('run-after-backup script') == 1
    assert message.endswith('failed with exit code 7')


def test_a_failing_after_hook_of_a_good_backup_is_a_warning(tmp_path, events):
    unit = Unit(tmp_path, events, hooks={'run-after-backup': 'exit 7'})
    outcome = unit.runner.backup()
    assert outcome.status == 'ok'
    assert outcome.warning.startswith('run-after-backup script ')


# ----------------------------------------------------------------------------- retention

def test_retention_removes_older_chains_and_records_it(unit):
    outcome = unit.runner.retention(wait=0)
    assert unit.commands() == ['remove-older-than']
    assert unit.fake.calls[0][1][2] == '30D'
    assert (outcome.status, outcome.older_than) == ('ok', '30D')
    assert unit.record()['retention']['status'] == 'ok'


def test_retention_that_fails_is_recorded_failed(unit):
    unit.fake.behave('remove-older-than', exit=51)
    with pytest.raises(dp.OperationError, match='remove-older-than failed: permission'):
        unit.runner.retention(wait=0)
    assert unit.record()['retention']['status'] == 'failed'


def test_retention_on_a_busy_lock_runs_nothing_and_records_nothing(tmp_path, events):
    unit, other = Unit(tmp_path, events), Unit(tmp_path, Events())
    with other.runner.lock('backup'):
        with pytest.raises(dp.Busy):
            unit.runner.retention(wait=0)
    assert unit.commands() == [] and unit.record() == {}


def test_a_manual_retention_period_runs_nothing(tmp_path, events):
    unit = Unit(tmp_path, events, settings={'retention': ''})
    assert unit.runner.retention().skipped == 'retention_period is manual'
    assert unit.commands() == [] and unit.record() == {}


# ----------------------------------------------------------------------------- reads

def test_list_backups_reads_collection_status_and_records_the_action(unit):
    unit.fake.behave('collection-status', log=(
        'INFO 3\nchain-complete\n full 20261127T080100Z 2 noenc\n\n'))
    sets = unit.runner.list_backups()
    assert sets == [{'backup-id': '2026-11-27T08:01:00Z', 'backup-type': 'full',
                     'volumes': 2, 'chain': '2026-11-27T08:01:00Z'}]
    assert unit.record()['last-action'] == Outcome(
        'list-backups', unit.record()['last-action']['time'], status='ok').to_json()


def test_list_files_reads_list_current_files(unit):
    unit.fake.behave('list-current-files', output=(
        'Fri Nov 27 08:01:00 2026 .\nFri Nov 27 08:01:00 2026 srv/data/a b\n'))
    assert unit.runner.list_files() == ['srv/data/a b']


@pytest.mark.parametrize('output, result, differences', [
    ('Verify complete: 3 files compared, 0 differences found.\n', 'ok', 0),
    ('Difference found: File srv/data/a has mtime\n'
     'Verify complete: 3 files compared, 1 difference found.\n', 'differences found', 1),
])
def test_verify_counts_the_files_compared_and_the_real_differences(unit, output, result,
                                                                    differences):
    unit.fake.behave('verify', output=output, exit=1 if differences else 0)
    found = unit.runner.verify()
    assert (found['files-compared'], found['result'], found['differences']) == (
        3, result, differences)


def test_a_verify_that_does_not_finish_comparing_fails_with_the_reason(unit):
    unit.fake.behave('verify', exit=38, output='Connection refused\n')
    with pytest.raises(dp.OperationError, match='verify failed: backend unreachable'):
        unit.runner.verify()
    assert unit.record()['last-action']['status'] == 'failed'


# ----------------------------------------------------------------------------- changes

@pytest.mark.parametrize('operation, params, argument', [
    ('remove-older-than', {'time': '2026-01-01'}, '2026-01-01'),
    ('remove-all-but-n-full', {'count': 2}, '2'),
    ('remove-all-inc-of-but-n-full', {'count': 3}, '3'),
])
def test_remove_passes_its_argument_and_counts_what_was_deleted(unit, operation, params,
                                                                argument):
    unit.fake.behave(operation, output='Deleting a\nDeleting b\nkept c\n')
    result = unit.runner.remove(operation, **params)
    assert unit.fake.calls[0][1][1:3] == [operation, argument]
    assert '--force' in unit.fake.calls[0][1]
    assert result == {'result': 'ok', 'output-lines': '3', 'deleted': '2'}


def test_cleanup_runs_cleanup_with_force(unit):
    assert unit.runner.cleanup() == {'result': 'ok'}
    assert unit.commands() == ['cleanup'] and '--force' in unit.fake.calls[0][1]


def test_a_second_operation_while_one_runs_is_busy_and_not_recorded(tmp_path, events):
    unit, other = Unit(tmp_path, events), Unit(tmp_path, Events())
    with other.runner.lock('backup'):
        with pytest.raises(dp.Busy):
            unit.runner.cleanup()
        with pytest.raises(dp.Busy):
            unit.runner.backup()
    assert unit.commands() == [] and unit.record() == {}


# ----------------------------------------------------------------------------- restore

def test_a_restore_lands_in_a_new_target_through_a_root_only_stage(unit, tmp_path):
    target = tmp_path / 'base' / 'target'
    target.parent.mkdir(mode=0o755)
    unit.fake.behave('restore', files={'f1': 'one', 'f2': 'two'})
    result = unit.runner.restore(path='srv/data', target=str(target))
    assert result == {'target': str(target), 'files': 2}
    assert sorted(os.listdir(target)) == ['srv']
    assert (target / 'srv' / 'data' / 'f2').read_text() == 'two'
    dest = unit.fake.calls[0][1][-1]
    assert dest.startswith(unit.paths.restore_dir + '/.staging-')   # not the target itself
    assert os.listdir(unit.paths.restore_dir) == []                  # the stage is gone
    assert unit.record()['last-action']['status'] == 'ok'


def test_a_failed_restore_leaves_the_target_untouched(unit, tmp_path):
    target = tmp_path / 'base' / 'target'
    target.parent.mkdir(mode=0o755)
    unit.fake.behave('restore', exit=1, output='x not found in archive\n')
    with pytest.raises(dp.OperationError, match='path x is not in the backup'):
        unit.runner.restore(path='x', target=str(target))
    assert not target.exists() and os.listdir(unit.paths.restore_dir) == []


def test_an_in_place_restore_keeps_the_original_beside_it_with_the_hooks_around(tmp_path,
                                                                              events):
    unit = Unit(tmp_path, events, hooks={'run-before-restore': '', 'run-after-restore': ''})
    unit.runner.backup()
    data = tmp_path / 'data'
    data.mkdir(mode=0o755)
    (data / 'conf').write_text('changed')
    unit.fake.behave('restore', files={'': 'original'})
    path = str(data / 'conf').lstrip('/')
    result = unit.runner.restore(path=path, in_place=True)
    assert (data / 'conf').read_text() == 'original'
    kept = data / 'conf.pre-restore-2026-11-27T08:01:00Z'
    assert kept.read_text() == 'changed'
    assert result == {'target': '/' + path, 'files': 1, 'previous': str(kept)}
    assert unit.order()[0] == ['run-before-restore ', 'run-after-restore ok']


def test_a_failing_before_restore_hook_changes_nothing(tmp_path, events):
    unit = Unit(tmp_path, events, hooks={'run-before-restore': 'exit 1',
                                         'run-after-restore': ''})
    data = tmp_path / 'data'
    data.mkdir(mode=0o755)
    (data / 'conf').write_text('mine')
    with pytest.raises(dp.OperationError, match='run-before-restore script'):
        unit.runner.restore(path=str(data / 'conf').lstrip('/'), in_place=True)
    assert unit.commands() == [] and os.listdir(data) == ['conf']
    assert unit.order()[0] == ['run-before-restore ', 'run-after-restore failed']
