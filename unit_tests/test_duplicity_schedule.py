"""Scheduling and monitoring, pure parts: cron spreading and the rendered schedule, the
allowed age of the last backup, the status message, and the NRPE plugin's check()."""
import datetime
import importlib.machinery
import importlib.util
import json
import os
import tempfile

import pytest
from croniter import croniter
from hypothesis import given, settings, strategies as st

import duplicity_charm as charm
import duplicity_config
import duplicity_cron
from duplicity_paths import UnitPaths
from duplicity_records import Outcome, StatusRecord

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOW = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=datetime.timezone.utc)
VALID = {'backend': [], 'ssh': [], 'encryption': [], 'schedule': [], 'sources': [],
         'packages': []}
HOUR, DAY = 3600, 86400


def stamp(seconds_ago):
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime('%Y-%m-%dT%H:%M:%SZ')


def ok_backup(seconds_ago, backup_id='2026-11-27T02:00:00Z', kind='incremental'):
    return {'status': 'ok', 'time': stamp(seconds_ago + 60), 'end': stamp(seconds_ago),
            'backup-id': backup_id, 'type': kind}


def failed_backup(seconds_ago, error='backup failed: backend unreachable (Connection refused)'):
    return {'status': 'failed', 'time': stamp(seconds_ago), 'end': stamp(seconds_ago),
            'error': error, 'type': 'incremental'}


def gaps(expression, start=datetime.datetime(2026, 3, 2), runs=30):
    it = croniter(expression, start)
    times = [it.get_next(float) for _ in range(runs)]
    return {int(b - a) for a, b in zip(times, times[1:])}


# ----------------------------------------------------------------------------- cron_fields

@pytest.mark.parametrize('frequency,period', [('hourly', HOUR), ('daily', DAY),
                                              ('weekly', 7 * DAY)])
@pytest.mark.parametrize('unit', ['duplicity/0', 'duplicity/1', 'mysql-backup/12'])
def test_a_named_frequency_runs_once_per_period_at_the_units_own_time(frequency, period, unit):
    assert gaps(charm.cron_fields(frequency, unit)) == {period}


def test_monthly_runs_once_a_month_on_a_day_every_month_has():
    for unit in ('duplicity/{}'.format(n) for n in range(40)):
        minute, hour, day, month, weekday = charm.cron_fields('monthly', unit).split()
        assert 1 <= int(day) <= 28 and (month, weekday) == ('*', '*')
        assert len(gaps(charm.cron_fields('monthly', unit), runs=13)) >= 2  # 28..31 days
        assert max(gaps(charm.cron_fields('monthly', unit), runs=13)) <= 31 * DAY


def test_two_units_of_one_application_get_different_daily_slots():
    slots = {charm.cron_fields('daily', 'duplicity/{}'.format(n)) for n in range(50)}
    assert len(slots) > 45


@pytest.mark.parametrize('expression,text', [
    ('* * * * *', '* * * * *'), ('*/5 * * * *', '*/5 * * * *'), ('15 3 * * 0', '15 3 * * 0'),
    ('0 0 1 */2 *', '0 0 1 */2 *'), ('0  4 * *\tsun\n', '0 4 * * sun')])
def test_a_cron_expression_passes_through_normalised_for_backups_and_retention(expression, text):
    assert charm.cron_fields(expression, 'duplicity/3') == text
    assert charm.cron_fields(expression, 'duplicity/3', after=30) == text


# ----------------------------------------------------------------------------- render_schedule

def schedule_of(config):
    """The parsed Schedule of a config the validators accept: what the cron builders take."""
    schedule, problems = duplicity_config.parse_frequencies(config)
    assert not problems, problems
    return schedule


def schedule_lines(tmp_path, **config):
    paths = UnitPaths.for_unit('duplicity/0', root=str(tmp_path))
    os.makedirs(os.path.dirname(paths.cron_file), exist_ok=True)
    os.makedirs(os.path.dirname(paths.logrotate_file), exist_ok=True)
    base = {'backup_frequency': 'manual', 'retention_period': 'manual',
            'deletion_frequency': 'daily'}
    charm.render_schedule(dict(base, **config), paths, ROOT)
    if not os.path.exists(paths.cron_file):
        return paths, None
    assert os.stat(paths.cron_file).st_mode & 0o777 == 0o644
    with open(paths.cron_file) as f:
        text = f.read()
    return paths, [line for line in text.splitlines() if line and line[0] in '*0123456789']


def command(paths, operation):
    return '/usr/bin/python3 {} --spec {} {} >>{} 2>&1'.format(
        os.path.join(ROOT, 'lib', 'duplicity_runner.py'), paths.spec_file, operation,
        paths.log_file)


def test_the_schedule_calls_the_runner_directly_with_the_system_python(tmp_path):
    paths, lines = schedule_lines(tmp_path, backup_frequency='weekly', retention_period='30d')
    assert lines == [
        '{} root {}'.format(charm.cron_fields('weekly', 'duplicity/0'), command(paths, 'backup')),
        '{} root {}'.format(charm.cron_fields('daily', 'duplicity/0', 30),
                            command(paths, 'retention')),
    ]
    with open(paths.cron_file) as f:
        text = f.read()
    assert 'juju-run' not in text and 'juju-exec' not in text
    assert '.' not in os.path.basename(paths.cron_file)  # cron ignores names with dots


@pytest.mark.parametrize('backup,deletion', [('daily', 'daily'), ('hourly\n', 'hourly'),
                                             ('15 3 * * *', ' 15 3 * * * ')])
def test_with_one_frequency_the_retention_run_follows_the_backup_on_its_line(
        tmp_path, backup, deletion):
    paths, lines = schedule_lines(tmp_path, backup_frequency=backup, deletion_frequency=deletion,
                                  retention_period='30d')
    when = charm.cron_fields(duplicity_cron.normalise(backup), 'duplicity/0')
    assert lines == ['{} root {}; {}'.format(when, command(paths, 'backup'),
                                             command(paths, 'retention'))]


@pytest.mark.parametrize('key,value', [('backup_frequency', '0 0 L * *'),
                                       ('backup_frequency', '0 0 31 2 *'),
                                       ('deletion_frequency', '0 0 * * 1#2'),
                                       ('retention_period', '30d\n')])
def test_a_schedule_that_does_not_validate_removes_the_cron_file_and_never_raises(
        tmp_path, key, value):
    paths, lines = schedule_lines(tmp_path, backup_frequency='daily', retention_period='30d')
    assert len(lines) == 1
    paths, lines = schedule_lines(tmp_path, **{'backup_frequency': 'daily',
                                                'retention_period': '30d', key: value})
    assert lines is None and not os.path.exists(paths.cron_file)


def test_a_schedule_with_a_trailing_newline_renders_one_working_line(tmp_path):
    paths, lines = schedule_lines(tmp_path, backup_frequency='*/5 * * * *\n')
    assert lines == ['*/5 * * * * root ' + command(paths, 'backup')]
    with open(paths.cron_file) as f:
        assert '\n\n' not in f.read()


@pytest.mark.parametrize('app,lines', [('a' * 50, 1), ('a' * 150, 2)])
def test_a_combined_line_cron_would_find_too_long_is_split(app, lines):
    """Debian's cron drops the whole file when a command is over 998 characters."""
    unit = app + '/17'
    paths = UnitPaths.for_unit(unit)
    runner = '/var/lib/juju/agents/unit-{}-17/charm/lib/duplicity_runner.py'.format(app)
    config = {'backup_frequency': 'daily', 'deletion_frequency': 'daily',
              'retention_period': '30d'}
    rendered = charm.schedule_lines(schedule_of(config), unit, runner, paths.spec_file,
                                    paths.log_file)
    assert len(rendered) == lines
    assert all(len(command) <= charm.MAX_COMMAND for _, command in rendered)
    if lines == 2:
        assert rendered[1][0] == charm.cron_fields('daily', unit, 30)


UNIT_NAMES = ['duplicity/{}'.format(n) for n in range(60)] + [
    'mysql-backup/{}'.format(n) for n in range(30)] + ['a/0', 'backup-of-the-web-tier/117']
PERIOD = {'hourly': HOUR, 'daily': DAY}


@pytest.mark.parametrize('backup', ['hourly', 'daily', 'weekly', 'monthly'])
@pytest.mark.parametrize('deletion', ['hourly', 'daily'])
def test_the_retention_run_never_starts_before_the_units_backup(backup, deletion):
    """For every unit: either one line runs the backup and then the retention run, or each
    retention run is half an hour after a backup slot of its own period (never before the
    backup, as the retention minute used to be for half of the units)."""
    start = datetime.datetime(2026, 3, 2)
    for unit in UNIT_NAMES:
        entries = charm.schedule_entries(schedule_of({'backup_frequency': backup,
                                                      'deletion_frequency': deletion,
                                                      'retention_period': '30d'}), unit)
        if backup == deletion:
            assert entries == [(charm.cron_fields(backup, unit), ['backup', 'retention'])]
            continue
        (backup_when, ops1), (retention_when, ops2) = entries
        assert (ops1, ops2) == (['backup'], ['retention'])
        it = croniter(retention_when, start)
        for _ in range(10):
            run = it.get_next(datetime.datetime)
            last_backup = croniter(backup_when, run + datetime.timedelta(seconds=1)).get_prev(
                datetime.datetime)
            after = (run - last_backup).total_seconds() % PERIOD[deletion]
            assert after == 30 * 60, (unit, backup_when, retention_when, run)


def test_retention_without_scheduled_backups_keeps_its_spread_slot():
    entries = charm.schedule_entries(schedule_of({'backup_frequency': 'manual',
                                                  'deletion_frequency': 'daily',
                                                  'retention_period': '30d'}), 'duplicity/4')
    assert entries == [(charm.cron_fields('daily', 'duplicity/4', 30), ['retention'])]


@settings(max_examples=200, deadline=None)
@given(backup=st.one_of(st.text(max_size=40), st.sampled_from(
           ['daily\n', ' hourly', '*/5 * * * *\n', '0 0 L * *', '0 0 31 2 *', '0 0 * * 1#2'])),
       deletion=st.one_of(st.text(max_size=40), st.sampled_from(
           ['daily\n', '15 3 * * mon-fri', '0 0 ? * *'])))
def test_every_accepted_frequency_renders_cron_lines_the_grammar_accepts(backup, deletion):
    config = {'backup_frequency': backup, 'deletion_frequency': deletion,
              'retention_period': '30d', 'full_if_older_than': '1M', 'backup_max_age': ''}
    if duplicity_config.validate_schedule(config):
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = UnitPaths.for_unit('duplicity/0', root=tmp)
        os.makedirs(os.path.dirname(paths.cron_file))
        os.makedirs(os.path.dirname(paths.logrotate_file))
        charm.render_schedule(config, paths, ROOT)
        with open(paths.cron_file) as f:
            lines = f.read().splitlines()
    entries = [line for line in lines if line and not line.startswith('#') and '=' not in line]
    assert 1 <= len(entries) <= 2
    for line in entries:
        fields = line.split(' ')
        duplicity_cron.parse(' '.join(fields[:5]))
        assert fields[5] == 'root' and fields[6] == '/usr/bin/python3'


def test_retention_alone_is_scheduled_with_deletion_frequency(tmp_path):
    paths, lines = schedule_lines(tmp_path, retention_period='8w',
                                  deletion_frequency='0 4 * * 6')
    assert len(lines) == 1 and lines[0].startswith('0 4 * * 6 root ')
    assert lines[0].endswith(' retention >>{} 2>&1'.format(paths.log_file))


def test_nothing_scheduled_removes_the_cron_file(tmp_path):
    paths, lines = schedule_lines(tmp_path, backup_frequency='hourly')
    assert len(lines) == 1
    paths, lines = schedule_lines(tmp_path)
    assert lines is None and not os.path.exists(paths.cron_file)


# ----------------------------------------------------------------------------- max_age_seconds

@pytest.mark.parametrize('value,seconds', [('26h', 26 * HOUR), ('90m', 90 * 60), ('8d', 8 * DAY),
                                           ('2w', 14 * DAY)])
def test_backup_max_age_when_set_wins_over_the_frequency(value, seconds):
    assert duplicity_config.max_age_seconds(
        {'backup_max_age': value, 'backup_frequency': 'hourly'}) == seconds


@pytest.mark.parametrize('frequency,seconds', [('hourly', 3 * HOUR), ('daily', 26 * HOUR),
                                               ('weekly', 8 * DAY), ('monthly', 32 * DAY)])
def test_the_allowed_age_is_derived_from_a_named_frequency_with_slack(frequency, seconds):
    assert duplicity_config.max_age_seconds({'backup_max_age': '',
                                             'backup_frequency': frequency}) == seconds


@pytest.mark.parametrize('expression,seconds', [
    ('* * * * *', 120),
    ('0 */6 * * *', 12 * HOUR),
    ('30 2 * * 1-5', 6 * DAY),  # Friday to Monday is the longest gap
])
def test_a_cron_frequency_allows_twice_its_longest_gap(expression, seconds):
    assert duplicity_config.max_age_seconds({'backup_frequency': expression}) == seconds


@pytest.mark.parametrize('frequency', ['manual', 'every tuesday', '61 * * * *'])
def test_manual_or_invalid_frequencies_have_no_age_limit(frequency):
    assert duplicity_config.max_age_seconds({'backup_frequency': frequency}) is None


# ----------------------------------------------------------------------------- status_message

def status(**kw):
    """status_message with the outcomes given as the record's JSON entries."""
    kw.setdefault('now', NOW)
    results = kw.pop('results', VALID)
    for key in ('last_backup', 'last_success', 'retention'):
        if key in kw:
            kw[key] = Outcome.from_json(kw[key])
    return duplicity_config.status_message(results, **kw)


def test_config_problems_block_before_any_backup_outcome():
    results = dict(VALID, backend=['backend is not set: choose one'],
                   schedule=['backup_frequency \'x\' is not ...'])
    state, message = status(results=results, last_backup=failed_backup(60))
    assert state == 'blocked'
    assert message == 'backend is not set: choose one; backup_frequency \'x\' is not ...'


def test_runtime_problems_block_too():
    assert status(runtime_problems=['cannot run duplicity: gone']) == (
        'blocked', 'cannot run duplicity: gone')


def test_no_backup_yet_is_active_and_says_so():
    assert status() == ('active', 'ready; no backup yet')


def test_a_failed_last_backup_blocks_with_its_time_and_reason():
    failed = failed_backup(120)
    state, message = status(last_backup=failed, last_success=ok_backup(DAY),
                            config={'backup_frequency': 'daily'})
    assert state == 'blocked'
    assert message == 'last backup failed at {}: {}'.format(failed['time'], failed['error'])


def test_a_failed_backup_without_a_reason_points_at_the_log():
    failed = dict(failed_backup(60), error='')
    assert status(last_backup=failed)[1].endswith(': see the log')


def test_a_good_last_backup_is_active_with_its_id_and_type():
    good = ok_backup(HOUR, backup_id='2026-11-27T11:00:00Z', kind='full')
    assert status(last_backup=good, last_success=good, config={'backup_frequency': 'daily'}) == (
        'active', 'last backup ok 2026-11-27T11:00:00Z (full)')


def test_a_stale_last_success_warns_but_stays_active():
    good = ok_backup(30 * HOUR)
    state, message = status(last_backup=good, last_success=good,
                            config={'backup_frequency': 'daily', 'backup_max_age': ''})
    assert state == 'active'
    assert message.endswith('; WARNING: no successful backup for 30h')


def test_a_manual_schedule_never_goes_stale():
    good = ok_backup(400 * DAY)
    assert 'WARNING' not in status(last_backup=good, last_success=good,
                                   config={'backup_frequency': 'manual'})[1]


def test_a_failed_retention_run_is_noted_in_an_active_status():
    good = ok_backup(HOUR)
    retention = {'status': 'failed', 'time': stamp(600), 'error': 'remove-older-than failed: x'}
    state, message = status(last_backup=good, last_success=good, retention=retention,
                            config={'backup_frequency': 'daily'})
    assert state == 'active'
    assert message.endswith('; retention run failed at {}: remove-older-than failed: x'.format(
        stamp(600)))


def test_the_status_message_is_capped():
    failed = failed_backup(60, error='x' * 1000)
    assert len(status(last_backup=failed)[1]) == 400


# ----------------------------------------------------------------------------- NRPE plugin

@pytest.fixture(scope='module')
def plugin():
    path = os.path.join(ROOT, 'files', 'check_duplicity_backup')
    loader = importlib.machinery.SourceFileLoader('check_duplicity_backup', path)
    spec = importlib.util.spec_from_loader('check_duplicity_backup', loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def check(plugin, status, max_age, now):
    """The plugin's check of a status file holding ``status`` (the record's JSON)."""
    return plugin.check(StatusRecord.from_json(status), max_age, now)


def test_the_check_is_critical_when_the_last_backup_failed(plugin):
    failed = failed_backup(60)
    code, message = check(plugin, {'backup': failed, 'last-success': ok_backup(HOUR)}, DAY, NOW)
    assert code == plugin.CRITICAL == 2
    assert message == 'CRITICAL: last backup failed at {}: {}'.format(failed['time'],
                                                                       failed['error'])


def test_the_check_warns_when_the_last_success_is_too_old(plugin):
    good = ok_backup(30 * HOUR)
    code, message = check(plugin, {'backup': good, 'last-success': good}, 26 * HOUR, NOW)
    assert code == plugin.WARNING == 1
    assert message == 'WARNING: last successful backup {} is 30h old (limit 26h)'.format(
        good['backup-id'])


def test_the_check_warns_when_an_age_limit_is_set_and_nothing_succeeded(plugin):
    assert check(plugin, {}, DAY, NOW) == (1, 'WARNING: no successful backup recorded')


def test_the_check_warns_when_the_retention_run_failed(plugin):
    good = ok_backup(HOUR)
    retention = {'status': 'failed', 'time': stamp(60), 'error': 'remove-older-than failed'}
    code, message = check(plugin, {'backup': good, 'last-success': good, 'retention': retention},
                                 DAY, NOW)
    assert code == plugin.WARNING
    assert message == 'WARNING: retention run failed at {}: remove-older-than failed'.format(
        stamp(60))


def test_the_check_is_ok_after_a_recent_success(plugin):
    good = ok_backup(HOUR, backup_id='2026-11-27T11:00:00Z', kind='full')
    retention = {'status': 'ok', 'time': stamp(30)}
    assert check(plugin, {'backup': good, 'last-success': good, 'retention': retention},
                        DAY, NOW) == (0, 'OK: last backup 2026-11-27T11:00:00Z (full) ok')


def test_without_an_age_limit_an_old_success_is_ok(plugin):
    good = ok_backup(400 * DAY)
    assert check(plugin, {'backup': good, 'last-success': good}, 0, NOW)[0] == plugin.OK


def test_the_plugin_reads_the_status_file_and_exits_with_the_check_code(plugin, tmp_path, capsys):
    path = tmp_path / 'status.json'
    path.write_text(json.dumps({'backup': failed_backup(60)}))
    assert plugin.main(['check', str(path), '3600']) == plugin.CRITICAL
    assert capsys.readouterr().out.startswith('CRITICAL: last backup failed at ')
    assert plugin.main(['check', str(tmp_path / 'missing.json')]) == plugin.OK
    assert capsys.readouterr().out == 'OK: no backup yet\n'
    path.write_text('{not json')
    assert plugin.main(['check', str(path)]) == plugin.UNKNOWN == 3
    assert plugin.main(['check']) == plugin.UNKNOWN


# ----------------------------------------------------------------------------- partial backups

def partial_backup(seconds_ago):
    return dict(ok_backup(seconds_ago), status='partial', errors='1',
                unreadable=['/srv/data/bad'],
                warning="1 file(s) could not be read and are not in this backup "
                        "(e.g. /srv/data/bad); see the unit's log")


def test_a_partial_last_backup_warns_in_the_status_instead_of_saying_ok():
    state, message = status(last_backup=partial_backup(HOUR), last_success=ok_backup(DAY),
                            config={'backup_frequency': 'daily'})
    assert state == 'active'
    assert message.startswith('WARNING: last backup 2026-11-27T02:00:00Z (incremental) is '
                              'partial: 1 file(s) could not be read')
    assert 'last backup ok' not in message


def test_the_check_warns_when_the_last_backup_was_partial(plugin):
    code, message = check(plugin, {'backup': partial_backup(HOUR),
                                  'last-success': ok_backup(DAY)}, 2 * DAY, NOW)
    assert code == plugin.WARNING == 1
    assert message.startswith('WARNING: last backup 2026-11-27T02:00:00Z at ')
    assert 'is partial: 1 file(s) could not be read' in message
