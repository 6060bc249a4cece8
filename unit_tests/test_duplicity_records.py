"""lib/duplicity_records.py, the Outcome section: the record of one operation and the
status file that holds the last backup, success, retention run and action."""
import json
import os

import pytest

from duplicity_records import (BACKUP, LAST_ACTION, RETENTION, Outcome, StatusRecord,
                               record_outcome)

PARTIAL = {'operation': 'backup', 'time': '2026-11-27T08:00:00Z', 'trigger': 'schedule',
           'status': 'partial', 'type': 'incremental', 'backup-id': '2026-11-27T08:00:05Z',
           'end': '2026-11-27T08:01:00Z', 'warning': '1 file(s) could not be read',
           'unreadable': ['/srv/data/bad'], 'elapsed-time': '0.5', 'errors': '1'}


def test_an_outcome_reads_and_writes_the_records_keys_unchanged():
    outcome = Outcome.from_json(PARTIAL)
    assert (outcome.backup_id, outcome.unreadable, outcome.errors) == (
        '2026-11-27T08:00:05Z', ('/srv/data/bad',), 1)
    assert outcome.statistics == {'elapsed-time': '0.5', 'errors': '1'}
    assert outcome.to_json() == PARTIAL


def test_empty_fields_are_left_out_of_the_record():
    assert Outcome('cleanup', 'T', status='ok').to_json() == {
        'operation': 'cleanup', 'time': 'T', 'status': 'ok'}


@pytest.mark.parametrize('data', [
    None, [], 'x',
])
def test_what_is_not_an_object_is_no_outcome(data):
    assert Outcome.from_json(data) is None


def test_a_damaged_entry_reads_as_empty_fields_not_an_error():
    outcome = Outcome.from_json({'status': 7, 'unreadable': 'x', 'time': None,
                                 'errors': 'many', 'unknown-key': 1})
    assert (outcome.status, outcome.unreadable, outcome.time, outcome.errors) == (
        '7', (), '', 0)
    assert outcome.failed                          # neither ok nor partial


@pytest.mark.parametrize('status, failed, partial', [
    ('ok', False, False), ('partial', False, True), ('failed', True, False), ('', True, False),
])
def test_failed_and_partial_follow_the_status(status, failed, partial):
    outcome = Outcome('backup', 'T', status=status)
    assert (outcome.failed, outcome.partial) == (failed, partial)


def test_finished_is_the_end_or_else_the_start():
    assert Outcome('backup', 'T1', end='T2').finished == 'T2'
    assert Outcome('backup', 'T1').finished == 'T1'


def test_only_an_ok_backup_becomes_the_last_success():
    ok = Outcome('backup', 'T1', status='ok')
    record = StatusRecord().with_outcome(BACKUP, ok)
    record = record.with_outcome(BACKUP, Outcome.from_json(PARTIAL))
    record = record.with_outcome(RETENTION, Outcome('retention', 'T3', status='failed'))
    assert record.last_success == ok and record.backup.partial
    assert set(record.to_json()) == {'backup', 'last-success', 'retention'}
    assert StatusRecord.from_json(record.to_json()) == record


def test_record_outcome_writes_a_world_readable_record_atomically(tmp_path):
    status_file = str(tmp_path / 'unit.json')
    record_outcome(status_file, str(tmp_path / 'lock'), LAST_ACTION,
                   Outcome('verify', 'T', status='ok'))
    assert os.stat(status_file).st_mode & 0o777 == 0o644
    with open(status_file) as f:
        assert json.load(f) == {'last-action': {'operation': 'verify', 'time': 'T',
                                                'status': 'ok'}}
    assert sorted(os.listdir(str(tmp_path))) == ['lock', 'unit.json']


def test_a_damaged_record_is_replaced_and_a_missing_one_is_empty(tmp_path):
    status_file = tmp_path / 'unit.json'
    assert StatusRecord.read(str(status_file)) == StatusRecord()
    status_file.write_text('{not json')
    with pytest.raises(ValueError):
        StatusRecord.read(str(status_file))
    record_outcome(str(status_file), str(tmp_path / 'lock'), BACKUP,
                   Outcome('backup', 'T', status='ok'))
    assert StatusRecord.read(str(status_file)).last_success.time == 'T'
