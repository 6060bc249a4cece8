"""The principal's hook scripts (lib/duplicity_hooks.py), run for real: ordering, the
environment they get, the one place their errors are merged, and the deadline that stops a
script together with what it started."""
import time

import pytest

import duplicity_hooks as h
import duplicity_process as dp
from processes import ended


class Log(list):
    def __call__(self, message):
        self.append(message)


def script(path, body):
    path.write_text('#!/bin/sh\n' + body + '\n')
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def events(tmp_path):
    return tmp_path / 'events'


def hooks(tmp_path, events, timeout=h.HOOK_TIMEOUT, **bodies):
    """PrincipalHooks whose scripts append '<kind> <BACKUP_RESULT>' to ``events`` and then
    run the given body (default: succeed)."""
    scripts = {}
    for name, body in bodies.items():
        kind = name.replace('_', '-')
        scripts[kind] = [script(tmp_path / (name + '.sh'), 'echo "{} $BACKUP_RESULT" >> {}\n{}'
                                .format(kind, events, body))]
    return h.PrincipalHooks(scripts, 'app/0', ['/srv/a', '/srv/b'], Log(), timeout=timeout)


def happened(events):
    return events.read_text().splitlines() if events.exists() else []


def test_around_runs_the_before_scripts_the_block_and_the_after_scripts_with_ok(tmp_path,
                                                                               events):
    run = hooks(tmp_path, events, run_before_backup='', run_after_backup='')
    with run.around('backup') as state:
        events.open('a').write('block\n')
    assert happened(events) == ['run-before-backup ', 'block', 'run-after-backup ok']
    assert state.after_error is None


def test_a_failing_before_script_cancels_the_block_and_the_after_scripts_still_run(tmp_path,
                                                                                   events):
    run = hooks(tmp_path, events, run_before_backup='exit 3', run_after_backup='')
    with pytest.raises(dp.OperationError) as err:
        with run.around('backup'):
            events.open('a').write('block\n')
    assert happened(events) == ['run-before-backup ', 'run-after-backup failed']
    assert str(err.value).endswith('failed with exit code 3')


def test_a_failing_block_and_a_failing_after_script_give_one_merged_error(tmp_path, events):
    run = hooks(tmp_path, events, run_after_backup='exit 4')
    with pytest.raises(dp.Busy) as err:
        with run.around('backup'):
            raise dp.Busy('the block failed')
    message = str(err.value)
    assert message.startswith('the block failed; run-after-backup script ')
    assert message.endswith('failed with exit code 4') and message.count('the block') == 1
    assert happened(events) == ['run-after-backup failed']


def test_a_failing_after_script_of_a_good_block_is_left_as_the_after_error(tmp_path, events):
    run = hooks(tmp_path, events, run_after_restore='exit 5')
    with run.around('restore') as state:
        pass
    assert state.after_error.endswith('failed with exit code 5')


def test_an_unforeseen_error_in_the_block_still_runs_the_after_scripts(tmp_path, events):
    run = hooks(tmp_path, events, run_after_backup='')
    with pytest.raises(KeyError):
        with run.around('backup'):
            raise KeyError('x')
    assert happened(events) == ['run-after-backup failed']


def test_scripts_get_the_unit_and_the_backup_paths_and_their_output_is_logged(tmp_path,
                                                                              events):
    run = hooks(tmp_path, events, run_before_backup='echo "$JUJU_UNIT_NAME:$BACKUP_PATHS"')
    run.run('run-before-backup')
    assert '  app/0:/srv/a,/srv/b' in run.log


def test_a_missing_script_fails_naming_it(tmp_path):
    run = h.PrincipalHooks({'run-before-backup': [str(tmp_path / 'gone.sh')]}, 'app/0', [],
                           Log())
    with pytest.raises(dp.OperationError, match=r'run-before-backup script .*gone\.sh is '
                                                r'missing or not executable'):
        run.run('run-before-backup')


def test_a_script_past_its_deadline_is_stopped_with_the_child_it_started(tmp_path, events,
                                                                         monkeypatch):
    monkeypatch.setattr(dp, 'KILL_GRACE', 2)
    pidfile = tmp_path / 'child.pid'
    run = hooks(tmp_path, events, timeout=1,
                run_before_backup='sleep 300 &\necho $! > {}\nsleep 300'.format(pidfile))
    started = time.monotonic()
    with pytest.raises(dp.OperationError, match=r'run-before-backup script .* timed out '
                                                r'after 1s'):
        run.run('run-before-backup')
    assert time.monotonic() - started < 20
    child = int(pidfile.read_text())
    assert ended(child)
