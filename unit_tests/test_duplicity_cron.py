"""The schedule grammar of Debian's cron (lib/duplicity_cron.py), and how validation,
monitoring and the rendered schedule use it.

Which of these values Debian's cron itself loads is checked against the real daemon in
tests/e2e/test_schedule_grammar.py, from the tables here."""
import datetime

import pytest
from croniter import croniter
from hypothesis import given, settings, strategies as st

import duplicity_config
import duplicity_cron

# value -> what the cron file gets
ACCEPTED = [
    ('0 0 * * *', '0 0 * * *'),
    (' 0  0\t* * *\n', '0 0 * * *'),
    ('30 2 * * 1-5\n', '30 2 * * 1-5'),
    ('*/15 * * * *', '*/15 * * * *'),
    ('0-59/15 * * * *', '0-59/15 * * * *'),
    ('1,2,3 * * * *', '1,2,3 * * * *'),
    ('00 00 * * *', '00 00 * * *'),
    ('*/60 * * * *', '*/60 * * * *'),
    ('0 */25 * * *', '0 */25 * * *'),
    ('0 0 1,15 * *', '0 0 1,15 * *'),
    ('0 0 * jan *', '0 0 * jan *'),
    ('0 0 * JAN-mar *', '0 0 * JAN-mar *'),
    ('0 0 * jan-3 *', '0 0 * jan-3 *'),
    ('0 3 * * sun', '0 3 * * sun'),
    ('0 0 * * MON-FRI/2', '0 0 * * MON-FRI/2'),
    ('0 0 * * 7', '0 0 * * 7'),
    ('0 0 * * 0-7', '0 0 * * 0-7'),
    ('0 0 * * fri-7', '0 0 * * fri-7'),
    ('0 0 29 2 *', '0 0 29 2 *'),
    ('0 0 31 2 1', '0 0 31 2 1'),  # both day fields restricted: every Monday in February
    ('0 0 */30 2 *', '0 0 */30 2 *'),  # 1 February
    ('0 4 1-31/32 * *', '0 4 1-31/32 * *'),
]

# value, part of our message; cron itself rejects each of these (the daemon test checks)
REJECTED_BY_CRON = [
    ('0L * * * *', 'no L'),
    ('0 0 L * *', 'no L or W'),
    ('0 0 1W * *', 'no W'),
    ('0 0 ? * *', 'no ?'),
    ('0 0 * * 5L', 'no L'),
    ('5/10 * * * *', 'is not *, a value, a range'),
    ('*/0 * * * *', 'step'),
    ('0-59/0 * * * *', 'step'),
    ('60 * * * *', 'minute value 60 is out of range 0-59'),
    ('-1 * * * *', 'minute field'),
    ('0 24 * * *', 'hour value 24 is out of range 0-23'),
    ('0 0 0 * *', 'day-of-month value 0 is out of range 1-31'),
    ('0 0 32 * *', 'day-of-month value 32'),
    ('0 0 * 0 *', 'month value 0'),
    ('0 0 * 13 *', 'month value 13'),
    ('0 0 * * 8', 'day-of-week value 8'),
    ('0 0 * * monday', "day-of-week value 'monday'"),
    ('0 0 * * */mon', 'day-of-week field'),
    ('0 0 * * mon/2', 'day-of-week field'),
    ('0 0 * feb-dcm *', "month value 'dcm'"),
    ('1,,2 * * * *', 'minute field'),
    (',1 * * * *', 'minute field'),
    ('1-* * * * *', 'minute field'),
    ('1/ * * * *', 'minute field'),
    ('0x10 * * * *', 'minute field'),
    ('+1 * * * *', 'minute field'),
    ('1-5/a * * * *', 'minute field'),
    ('0 0 ~ * *', 'day-of-month field'),
    ('0 0 * *', 'has 4 fields'),
    ('* * * * * *', 'has 6 fields'),
    ('99999999999999999999 * * * *', 'more than two digits'),
]

# value, our reason: cron loads these, but they do not mean what they look like or never run
REFUSED_THOUGH_CRON_LOADS = [
    ('0 0 * * 1#2', 'no #'),  # cron ignores '#2': every Monday
    ('1.5 * * * *', 'minute field'),  # cron ignores '.5'
    ('1-2-3 * * * *', 'minute field'),  # cron ignores '-3'
    ('*-5 * * * *', 'minute field'),  # cron ignores '-5': every minute
    ('**/2 * * * *', 'minute field'),
    ('*/2/3 * * * *', 'minute field'),
    ('5-1 * * * *', 'runs backwards'),
    ('0 0 * * sat-sun', 'runs backwards'),
    ('0 0 * dec-jan *', 'runs backwards'),
    ('007 * * * *', 'more than two digits'),
    ('4294967296 * * * *', 'more than two digits'),  # cron wraps it to 0
    ('*/100 * * * *', 'step'),
    ('0 0 31 2 *', 'never runs'),
    ('0 0 30 2 *', 'never runs'),
    ('0 0 31 4,6,9,11 *', 'never runs'),
    ('0 0 31 2 */2', 'never runs'),  # day-of-week starts with *: both must match
    ('@daily', '@-macros are not supported'),
]


@pytest.mark.parametrize('value,text', ACCEPTED)
def test_a_value_cron_loads_is_parsed_and_normalised(value, text):
    assert duplicity_cron.parse(value).text == text
    assert duplicity_cron.frequency(value) == (text, None)


@pytest.mark.parametrize('value,reason', REJECTED_BY_CRON + REFUSED_THOUGH_CRON_LOADS)
def test_a_value_cron_rejects_or_misreads_is_refused_with_the_reason(value, reason):
    with pytest.raises(duplicity_cron.CronError) as err:
        duplicity_cron.parse(value)
    assert reason in str(err.value)
    assert duplicity_cron.frequency(value) == (duplicity_cron.normalise(value), str(err.value))


@pytest.mark.parametrize('value,text', [('daily\n', 'daily'), ('  hourly ', 'hourly'),
                                        ('weekly\r\n', 'weekly'), ('\tmonthly', 'monthly')])
def test_a_named_frequency_is_normalised_too(value, text):
    assert duplicity_cron.frequency(value) == (text, None)


def test_the_sets_are_what_cron_runs():
    schedule = duplicity_cron.parse('*/20 1-3,22 */30 feb,Dec fri-7')
    assert schedule.minutes == {0, 20, 40}
    assert schedule.hours == {1, 2, 3, 22}
    assert schedule.days == {1, 31}
    assert schedule.months == {2, 12}
    assert schedule.weekdays == {5, 6, 0}  # 7 is Sunday, as 0
    assert schedule.day_star and not schedule.weekday_star


@pytest.mark.parametrize('value,runs', [
    # both day fields restricted: either matches
    ('0 0 13 * fri', ['2026-01-02 00:00', '2026-01-09 00:00', '2026-01-13 00:00']),
    # day-of-month starts with *: both must match (cron's DOM_STAR rule)
    ('0 0 */2 * fri', ['2026-01-09 00:00', '2026-01-23 00:00', '2026-02-13 00:00']),
    ('0 0 * * 7', ['2026-01-04 00:00', '2026-01-11 00:00', '2026-01-18 00:00']),
])
def test_croniter_computes_the_runs_cron_makes(value, runs):
    expression, day_or = duplicity_cron.croniter_args(duplicity_cron.parse(value))
    it = croniter(expression, datetime.datetime(2026, 1, 1), day_or=day_or)
    assert [it.get_next(datetime.datetime).strftime('%Y-%m-%d %H:%M') for _ in runs] == runs


# ----------------------------------------------------------------------------- validation

FREQUENCY_KEYS = [('backup_frequency', ('manual',) + duplicity_cron.NAMED),
                  ('deletion_frequency', ('hourly', 'daily'))]


@pytest.mark.parametrize('key,named', FREQUENCY_KEYS)
@pytest.mark.parametrize('value,text', ACCEPTED)
def test_both_frequency_keys_accept_what_cron_loads(key, named, value, text):
    assert duplicity_config.validate_cron(key, value, named) == []


@pytest.mark.parametrize('key,named', FREQUENCY_KEYS)
@pytest.mark.parametrize('value,reason', REJECTED_BY_CRON + REFUSED_THOUGH_CRON_LOADS)
def test_both_frequency_keys_block_naming_the_key_and_the_reason(key, named, value, reason):
    problems = duplicity_config.validate_cron(key, value, named)
    assert len(problems) == 1
    assert problems[0].startswith(key + ' ') and reason in problems[0]


def test_a_schedule_that_never_runs_is_refused_naming_the_key():
    problems = duplicity_config.validate_schedule({
        'backup_frequency': '0 0 31 2 *', 'deletion_frequency': '0 0 30 2 *',
        'retention_period': '30d', 'full_if_older_than': '1M', 'backup_max_age': ''})
    assert problems == [
        "backup_frequency '0 0 31 2 *': never runs: none of its months has one of its days",
        "deletion_frequency '0 0 30 2 *': never runs: none of its months has one of its days",
    ]


def test_an_echoed_value_is_capped():
    problems = duplicity_config.validate_cron('backup_frequency', 'x' * 5000 + ' 1 2 3 4', ())
    assert len(problems) == 1 and len(problems[0]) < 200


@pytest.mark.parametrize('key,value', [
    ('retention_period', '30d\n'), ('retention_period', '٣d'),
    ('backup_max_age', '26h\n'), ('backup_max_age', '٢h'),
    ('full_if_older_than', '7D\n'), ('full_if_older_than', '٧D'),
])
def test_other_schedule_values_match_whole_and_ascii_only(key, value):
    config = {'backup_frequency': 'manual', 'deletion_frequency': 'daily',
              'retention_period': 'manual', 'full_if_older_than': '1M', 'backup_max_age': ''}
    problems = duplicity_config.validate_schedule(dict(config, **{key: value}))
    assert len(problems) == 1 and problems[0].startswith(key + ' ')


# ----------------------------------------------------------------------------- max_age_seconds

@pytest.mark.parametrize('frequency,seconds', [
    ('daily\n', 26 * 3600),
    ('0 0 31 2 *', None),  # refused by validation; monitoring does not raise meanwhile
    ('0 0 L * *', None),
    ('0 0 * * 7', 14 * 86400),
    ('0 0 */2 * fri', None),  # computed below, not None
])
def test_max_age_never_raises_for_odd_frequencies(frequency, seconds):
    age = duplicity_config.max_age_seconds({'backup_frequency': frequency, 'backup_max_age': ''})
    if frequency == '0 0 */2 * fri':
        assert age is not None and age >= 2 * 14 * 86400  # odd days that are Fridays only
    else:
        assert age == seconds


@pytest.mark.parametrize('value', ['26h\n', '0h', 'x'])
def test_a_backup_max_age_that_does_not_validate_falls_back_to_the_frequency(value):
    assert duplicity_config.max_age_seconds(
        {'backup_frequency': 'daily', 'backup_max_age': value}) == 26 * 3600


# ----------------------------------------------------------------------------- property

@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(),
    st.text(alphabet='0123456789*,-/ \t\nLW?#@ajnmofrsuJANMON', max_size=30),
    st.lists(st.sampled_from(['*', '*/5', '1-5', '0', '7', '31', '2', 'feb', 'sun', 'mon-fri',
                              '1,2', '30', '5-1', '*/0', 'L']),
             min_size=4, max_size=6).map(' '.join),
))
def test_validation_never_raises_and_what_it_accepts_reparses_to_itself(value):
    for key, named in FREQUENCY_KEYS:
        problems = duplicity_config.validate_cron(key, value, named)
        assert all(p.startswith(key + ' ') and len(p) < 300 for p in problems)
        text, problem = duplicity_cron.frequency(value, named)
        assert (problem is None) == (problems == [])
        if problem is None and text not in named:
            schedule = duplicity_cron.parse(text)
            assert schedule.text == text and duplicity_cron.parse(schedule.text) == schedule
            assert '\n' not in text and '  ' not in text
    duplicity_config.max_age_seconds({'backup_frequency': value, 'backup_max_age': value})
