"""Pure parts of lib/duplicity_runner.py, on output captured once from real duplicity.

The constants below were captured from real runs (file backend, a tiny directory: full,
incremental, full again) of duplicity 0.8.22 (/usr/bin/duplicity), 2.1.5 (tests/.venvs/dup21)
and 3.2.1 (tests/.venvs/dup3); they are not generated at test time.
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

import duplicity_runner as r
from duplicity_helper import Remote
from duplicity_paths import UnitPaths
from duplicity_records import RunnerSpec
from duplicity_settings import DuplicitySettings

# duplicity 3.2.1: the INFO 3 block of collection-status for a passphrase-encrypted chain
# whose full backup has 3 volumes (--volsize 1), plus one incremental
COLLECTION_STATUS_LOG_DUP3_VOLUMES = """\
NOTICE 1
. Last full backup date: Fri Nov 27 08:26:09 2026

INFO 3\x20
backend BackendWrapper
archive-dir (. dir)
chain-complete
 full 20261127T082609Z 3 enc
 inc 20261127T082624Z 1 enc
orphaned-sets-num 0
incomplete-sets-num 0
"""

# duplicity 0.8.22 (/usr/bin/duplicity): --log-file of collection-status after full, incremental, full
COLLECTION_STATUS_LOG_DUP08 = """\
NOTICE 1
. Last full backup date: Fri Nov 27 08:22:57 2026

INFO 3\x20
backend BackendWrapper
archive-dir (. dir)
chain-no-sig 0
 full 20261127T082254Z 1 noenc
 inc 20261127T082255Z 1 noenc
chain-complete
 full 20261127T082257Z 1 noenc
orphaned-sets-num 0
incomplete-sets-num 0
. Collection Status
. -----------------
. Connecting with backend: BackendWrapper
. Archive dir: /tmp/cap/dup08/arch/unit
.\x20
. Found 1 secondary backup chain.
. Secondary chain 1 of 1:
. -------------------------
. Chain start time: Fri Nov 27 08:22:54 2026
. Chain end time: Fri Nov 27 08:22:55 2026
. Number of contained backup sets: 2
. Total number of contained volumes: 2
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:22:54 2026                 1
.          Incremental         Fri Nov 27 08:22:55 2026                 1
. -------------------------
.\x20
.\x20
. Found primary backup chain with matching signature chain:
. -------------------------
. Chain start time: Fri Nov 27 08:22:57 2026
. Chain end time: Fri Nov 27 08:22:57 2026
. Number of contained backup sets: 1
. Total number of contained volumes: 1
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:22:57 2026                 1
. -------------------------
. No orphaned or incomplete backup sets found.

"""

# duplicity 2.1.x (tests/.venvs/dup21): --log-file of collection-status after full, incremental, full
COLLECTION_STATUS_LOG_DUP21 = """\
NOTICE 1
. Last full backup date: Fri Nov 27 08:23:04 2026

INFO 3\x20
backend BackendWrapper
archive-dir (. dir)
chain-no-sig 0
 full 20261127T082301Z 1 noenc
 inc 20261127T082302Z 1 noenc
chain-complete
 full 20261127T082304Z 1 noenc
orphaned-sets-num 0
incomplete-sets-num 0
. Collection Status
. -----------------
. Connecting with backend: BackendWrapper
. Archive dir: /tmp/cap/dup21/arch/unit
.\x20
. Found 1 secondary backup chain(s).
. Secondary chain 1 of 1:
. -------------------------
. Chain start time: Fri Nov 27 08:23:01 2026
. Chain end time: Fri Nov 27 08:23:02 2026
. Number of contained backup sets: 2
. Total number of contained volumes: 2
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:23:01 2026                 1
.          Incremental         Fri Nov 27 08:23:02 2026                 1
. -------------------------
.\x20
.\x20
. Found primary backup chain with matching signature chain:
. -------------------------
. Chain start time: Fri Nov 27 08:23:04 2026
. Chain end time: Fri Nov 27 08:23:04 2026
. Number of contained backup sets: 1
. Total number of contained volumes: 1
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:23:04 2026                 1
. -------------------------
. No orphaned or incomplete backup sets found.

"""

# duplicity 3.x (tests/.venvs/dup3): --log-file of collection-status after full, incremental, full
COLLECTION_STATUS_LOG_DUP3 = """\
NOTICE 1
. Last full backup date: Fri Nov 27 08:23:13 2026

INFO 3\x20
backend BackendWrapper
archive-dir (. dir)
chain-no-sig 0
 full 20261127T082309Z 1 noenc
 inc 20261127T082311Z 1 noenc
chain-complete
 full 20261127T082313Z 1 noenc
orphaned-sets-num 0
incomplete-sets-num 0
. Collection Status
. -----------------
. Connecting with backend: BackendWrapper
. Archive dir: /tmp/cap/dup3/arch/unit
.\x20
. Found 1 secondary backup chain(s).
. Secondary chain 1 of 1:
. -------------------------
. Chain start time: Fri Nov 27 08:23:09 2026
. Chain end time: Fri Nov 27 08:23:11 2026
. Number of contained backup sets: 2
. Total number of contained volumes: 2
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:23:09 2026                 1
.          Incremental         Fri Nov 27 08:23:11 2026                 1
. -------------------------
.\x20
.\x20
. Found primary backup chain with matching signature chain:
. -------------------------
. Chain start time: Fri Nov 27 08:23:13 2026
. Chain end time: Fri Nov 27 08:23:13 2026
. Number of contained backup sets: 1
. Total number of contained volumes: 1
.  Type of backup set:                            Time:      Num volumes:
.                 Full         Fri Nov 27 08:23:13 2026                 1
. -------------------------
. No orphaned or incomplete backup sets found.

NOTICE 1
. Duplicity backup complete.

"""

# duplicity 0.8.22: output of an incremental backup
INCREMENTAL_OUTPUT_DUP08 = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: Fri Nov 27 08:22:54 2026
--------------[ Backup Statistics ]--------------
StartTime 1795767775.96 (Fri Nov 27 08:22:55 2026)
EndTime 1795767775.97 (Fri Nov 27 08:22:55 2026)
ElapsedTime 0.01 (0.01 seconds)
SourceFiles 5
SourceFileSize 8213 (8.02 KB)
NewFiles 2
NewFileSize 4100 (4.00 KB)
DeletedFiles 0
ChangedFiles 1
ChangedFileSize 11 (11 bytes)
ChangedDeltaSize 0 (0 bytes)
DeltaEntries 3
RawDeltaSize 21 (21 bytes)
TotalDestinationSizeChange 178 (178 bytes)
Errors 0
-------------------------------------------------

"""

# duplicity 3.x: output of an incremental backup
INCREMENTAL_OUTPUT_DUP3 = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: Fri Nov 27 08:23:09 2026
DEBUG: to_partial called for b'duplicity-inc.20261127T082309Z.to.20261127T082311Z.manifest.part'
DEBUG: to_partial called for b'duplicity-new-signatures.20261127T082309Z.to.20261127T082311Z.sigtar.part'
DEBUG: to_remote called for b'duplicity-new-signatures.20261127T082309Z.to.20261127T082311Z.sigtar.gz'
DEBUG: to_final called for b'duplicity-new-signatures.20261127T082309Z.to.20261127T082311Z.sigtar.gz'
DEBUG: to_remote called for b'duplicity-inc.20261127T082309Z.to.20261127T082311Z.manifest'
DEBUG: to_final called for b'duplicity-inc.20261127T082309Z.to.20261127T082311Z.manifest'
--------------[ Backup Statistics ]--------------
StartTime 1795767791.09 (Fri Nov 27 08:23:11 2026)
EndTime 1795767791.09 (Fri Nov 27 08:23:11 2026)
ElapsedTime 0.01 (0.01 seconds)
SourceFiles 5
SourceFileSize 8213 (8.02 KB)
NewFiles 2
NewFileSize 4100 (4.00 KB)
DeletedFiles 0
ChangedFiles 1
ChangedFileSize 11 (11 bytes)
ChangedDeltaSize 0 (0 bytes)
DeltaEntries 3
RawDeltaSize 21 (21 bytes)
TotalDestinationSizeChange 196 (196 bytes)
Errors 0
-------------------------------------------------

Duplicity backup complete.
"""

# duplicity 0.8.22: output of list-current-files
LIST_CURRENT_FILES_DUP08 = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: Fri Nov 27 08:22:57 2026
Fri Nov 27 08:22:55 2026 .
Fri Nov 27 08:22:55 2026 a.txt
Fri Nov 27 08:22:55 2026 c.txt
Fri Nov 27 08:22:53 2026 sub
Fri Nov 27 08:22:53 2026 sub/b.txt
"""

# duplicity 2.1.x: output of list-current-files
LIST_CURRENT_FILES_DUP21 = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: Fri Nov 27 08:23:04 2026
Fri Nov 27 08:23:02 2026 .
Fri Nov 27 08:23:02 2026 a.txt
Fri Nov 27 08:23:02 2026 c.txt
Fri Nov 27 08:23:00 2026 sub
Fri Nov 27 08:23:00 2026 sub/b.txt
"""

# duplicity 3.x: output of list-current-files
LIST_CURRENT_FILES_DUP3 = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: Fri Nov 27 08:23:13 2026
Fri Nov 27 08:23:10 2026 .
Fri Nov 27 08:23:10 2026 a.txt
Fri Nov 27 08:23:10 2026 c.txt
Fri Nov 27 08:23:08 2026 sub
Fri Nov 27 08:23:08 2026 sub/b.txt
Duplicity backup complete.
"""

# Real failure output (tails), captured from duplicity 3.2.1 and 0.8.22.
REFUSED_SFTP = ('BackendException: ssh connection to u@127.0.0.1:1 failed: [Errno None] '
                'Unable to connect to port 1 on 127.0.0.1\n')
NO_BACKUP_RESTORE = """\
Local and Remote metadata are synchronized, no sync needed.
Last full backup date: none
Duplicity backup complete.
Traceback (innermost last):
  File "/work/main/tests/.venvs/dup3/lib/python3.11/site-packages/duplicity/dup_collections.py", \
line 1184, in get_backup_chain_at_time
    raise CollectionsError("No backup chains found")
 duplicity.dup_collections.CollectionsError: No backup chains found

"""
BAD_PASSPHRASE = """\
Synchronizing remote metadata to local cache...
Copying duplicity-full-signatures.20261127T082328Z.sigtar.gpg to local cache.
GPGError: GPG Failed, see log below:
===== Begin GnuPG log =====
gpg: AES256.CFB encrypted data
gpg: encrypted with 1 passphrase
gpg: decryption failed: Bad session key
===== End GnuPG log =====

"""


# ----------------------------------------------------------------------------- statistics

@pytest.mark.parametrize('output,size_change', [
    (INCREMENTAL_OUTPUT_DUP08, '178'),
    (INCREMENTAL_OUTPUT_DUP3, '196'),
])
def test_parse_statistics_reads_the_backup_statistics_block(output, size_change):
    assert r.parse_statistics(output) == {
        'elapsed-time': '0.01', 'source-files': '5', 'source-file-size': '8213',
        'new-files': '2', 'changed-files': '1', 'deleted-files': '0',
        'destination-size-change': size_change, 'errors': '0'}


def test_parse_statistics_reads_the_dotted_log_form_too():
    text = '. ElapsedTime 2.50 (2.50 seconds)\n. SourceFiles 12\n. Errors 1\n'
    assert r.parse_statistics(text) == {'elapsed-time': '2.50', 'source-files': '12',
                                        'errors': '1'}


def test_parse_statistics_of_output_without_statistics_is_empty():
    assert r.parse_statistics(REFUSED_SFTP) == {}
    assert r.parse_statistics('') == {}


# ----------------------------------------------------------------------------- collection status

def expected_sets(full1, inc, full2):
    return [
        {'backup-id': full1, 'backup-type': 'full', 'volumes': 1, 'chain': full1},
        {'backup-id': inc, 'backup-type': 'incremental', 'volumes': 1, 'chain': full1},
        {'backup-id': full2, 'backup-type': 'full', 'volumes': 1, 'chain': full2},
    ]


@pytest.mark.parametrize('log,stamps', [
    (COLLECTION_STATUS_LOG_DUP08, ('08:22:54', '08:22:55', '08:22:57')),
    (COLLECTION_STATUS_LOG_DUP21, ('08:23:01', '08:23:02', '08:23:04')),
    (COLLECTION_STATUS_LOG_DUP3, ('08:23:09', '08:23:11', '08:23:13')),
], ids=['dup08', 'dup21', 'dup3'])
def test_parse_collection_status_lists_two_chains_with_an_incremental_oldest_first(log, stamps):
    ids = ['2026-11-27T{}Z'.format(s) for s in stamps]
    assert r.parse_collection_status(log) == expected_sets(*ids)


def test_parse_collection_status_counts_volumes_of_an_encrypted_chain():
    assert r.parse_collection_status(COLLECTION_STATUS_LOG_DUP3_VOLUMES) == [
        {'backup-id': '2026-11-27T08:26:09Z', 'backup-type': 'full', 'volumes': 3,
         'chain': '2026-11-27T08:26:09Z'},
        {'backup-id': '2026-11-27T08:26:24Z', 'backup-type': 'incremental', 'volumes': 1,
         'chain': '2026-11-27T08:26:09Z'},
    ]


def test_parse_collection_status_of_an_empty_destination_is_empty():
    log = ('NOTICE 1\n. Last full backup date: none\n\nINFO 3 \nbackend BackendWrapper\n'
           'archive-dir (. dir)\norphaned-sets-num 0\nincomplete-sets-num 0\n'
           '. Collection Status\n. Found 0 secondary backup chain(s).\n')
    assert r.parse_collection_status(log) == []
    assert r.parse_collection_status('') == []


def test_an_incremental_without_its_full_has_an_unknown_chain():
    log = 'INFO 3\nchain-no-sig 0\n inc 20261127T082255Z 2 enc\n'
    assert r.parse_collection_status(log) == [
        {'backup-id': '2026-11-27T08:22:55Z', 'backup-type': 'incremental', 'volumes': 2,
         'chain': '?'}]


def test_backups_table_has_a_header_a_rule_and_one_row_per_set():
    sets = r.parse_collection_status(COLLECTION_STATUS_LOG_DUP3)
    assert r.backups_table(sets).splitlines() == [
        'backup-id | backup-type | volumes | chain',
        '-----------------------------------------',
        '2026-11-27T08:23:09Z | full | 1 | 2026-11-27T08:23:09Z',
        '2026-11-27T08:23:11Z | incremental | 1 | 2026-11-27T08:23:09Z',
        '2026-11-27T08:23:13Z | full | 1 | 2026-11-27T08:23:13Z',
    ]


def test_backups_table_of_no_sets_is_the_header_and_rule():
    assert r.backups_table([]) == ('backup-id | backup-type | volumes | chain\n'
                                   '-----------------------------------------')


@pytest.mark.parametrize('stamp,expected', [
    ('20261127T071232Z', '2026-11-27T07:12:32Z'),
    ('20240229T000000Z', '2024-02-29T00:00:00Z'),
])
def test_backup_id_formats_duplicity_time_in_utc(stamp, expected):
    assert r.backup_id(stamp) == expected


@pytest.mark.parametrize('stamp', ['2026-11-27T07:12:32Z', '20261127', '20261327T000000Z', ''])
def test_backup_id_rejects_what_is_not_a_duplicity_time(stamp):
    with pytest.raises(ValueError):
        r.backup_id(stamp)


# ----------------------------------------------------------------------------- file lists

@pytest.mark.parametrize('output', [LIST_CURRENT_FILES_DUP08, LIST_CURRENT_FILES_DUP21,
                                    LIST_CURRENT_FILES_DUP3], ids=['dup08', 'dup21', 'dup3'])
def test_parse_file_list_reads_list_current_files_of_each_major(output):
    assert r.parse_file_list(output) == ['a.txt', 'c.txt', 'sub', 'sub/b.txt']


def test_parse_file_list_keeps_spaces_and_reads_single_digit_days():
    output = ('Last full backup date: Mon Dec  1 08:22:57 2026\n'
              'Mon Dec  1 08:22:55 2026 etc/my file.conf\n'
              'Tue Dec 16 23:59:59 2026 srv/data/ünïcode\n')
    assert r.parse_file_list(output) == ['etc/my file.conf', 'srv/data/ünïcode']


# ----------------------------------------------------------------------------- failures

@pytest.mark.parametrize('text,reason', [
    (REFUSED_SFTP, 'backend unreachable'),
    ('ftplib: [Errno 111] Connection refused', 'backend unreachable'),
    ('socket.gaierror: [Errno -2] Name or service not known', 'backend unreachable'),
    ("EndpointConnectionError: Could not connect to the endpoint URL: "
     "\"http://127.0.0.1:1/bucket\"", 'backend unreachable'),
    ('BackendException: ssh connection to bk@h:22 failed: Authentication failed.',
     'authentication refused'),
    ('lftp: Login failed: 530 Login incorrect.', 'authentication refused'),
    ('botocore.exceptions.ClientError: An error occurred (InvalidAccessKeyId) when calling '
     'the ListObjects operation', 'authentication refused'),
    ('AuthenticationFailed: Server failed to authenticate the request.',
     'authentication refused'),
    ('BackendException: ssh connection to bk@h:2222 failed: Host key verification for server '
     '[h]:2222 failed.', 'SSH host key verification failed'),
    ('Host key verification failed.\nrsync: connection unexpectedly closed',
     'SSH host key verification failed'),
    (BAD_PASSPHRASE, 'decryption failed'),
    ('gpg: decryption failed: No secret key', 'decryption failed'),
    ('[Errno 28] No space left on device', 'no space left'),
    (NO_BACKUP_RESTORE, 'no backup found'),
    ('No backup chains with active signatures found', 'no backup found'),
    ('ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify '
     'failed: self-signed certificate', 'TLS certificate verification failed'),
    ('Fatal error: Certificate verification: Not trusted (AB:CD)',
     'TLS certificate verification failed'),
])
def test_classify_failure_names_the_reason(text, reason):
    assert r.classify_failure(text).startswith(reason)


def test_classify_failure_quotes_the_meaningful_last_line():
    assert r.classify_failure(BAD_PASSPHRASE) == (
        'decryption failed: wrong passphrase or private key '
        '(gpg: decryption failed: Bad session key)')
    assert r.classify_failure(NO_BACKUP_RESTORE) == (
        'no backup found at the destination '
        '(duplicity.dup_collections.CollectionsError: No backup chains found)')


def test_classify_failure_of_an_unknown_error_is_its_last_line():
    assert r.classify_failure('starting\nsomething odd happened\n\n') == 'something odd happened'
    assert r.classify_failure('') == 'duplicity failed'


def test_classify_failure_redacts_secrets_in_the_quoted_line():
    secret = 's3cr3t-Pass'
    text = 'BackendException: Authentication failed for user bk password {}\n'.format(secret)
    message = r.classify_failure(text, secrets=[secret, 'other-secret'])
    assert secret not in message
    assert '***' in message and message.startswith('authentication refused')


def test_classify_failure_caps_the_quoted_line():
    assert len(r.classify_failure('x' * 1000)) == 200


@pytest.mark.parametrize('text,secrets,expected', [
    ('pw=hunter22 and hunter22', ['hunter22'], 'pw=*** and ***'),
    ('key abcdef and abcdefXYZ', ['abcdef', 'abcdefXYZ'], 'key *** and ***'),
    ('short abc stays', ['abc', '', None], 'short abc stays'),
    ('nothing secret', [], 'nothing secret'),
])
def test_redact_replaces_every_secret_longest_first(text, secrets, expected):
    assert r.redact(text, secrets) == expected


# ----------------------------------------------------------------------------- verify output

def test_real_differences_ignore_mtime_changes_of_the_ancestors_of_backed_up_paths():
    output = '\n'.join([
        'Difference found: Directory srv has mtime Mon Nov 30 10:00:00 2026, expected ...',
        'Difference found: Directory srv/app has mtime Mon Nov 30 10:00:00 2026, expected ...',
        'Difference found: File srv/app/data/a.txt has mtime Mon Nov 30 10:00:00 2026',
        'Difference found: Directory srv/app/data has mtime Mon Nov 30 10:00:00 2026',
        'Difference found: Directory srv has permissions 700, expected 755',
        'Difference found: File etc/hosts has metadata',
        'Verify complete: 9 files compared, 6 differences found.',
    ])
    assert r.real_differences(output, ['/srv/app/data', '/etc/hosts']) == [
        'File srv/app/data/a.txt has mtime Mon Nov 30 10:00:00 2026',
        'Directory srv/app/data has mtime Mon Nov 30 10:00:00 2026',
        'Directory srv has permissions 700, expected 755',
        'File etc/hosts has metadata',
    ]


def test_real_differences_of_a_clean_verify_are_none():
    assert r.real_differences('Verify complete: 5 files compared, 0 differences found.',
                              ['/etc']) == []


# ----------------------------------------------------------------------------- retention

def test_retention_with_manual_retention_period_is_skipped(tmp_path, fake):
    runner = make_runner(tmp_path, {'retention': ''}, fake=fake)
    assert runner.retention() == {'status': 'ok', 'skipped': 'retention_period is manual'}
    assert 'retention' not in outcome_of(runner)


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
    ok = {'status': 'ok', 'backup-id': '2026-11-27T08:23:09Z', 'type': 'full'}
    failed = {'status': 'failed', 'error': 'backend unreachable'}
    runner.record('backup', ok)
    runner.record('backup', failed)
    runner.record('retention', {'status': 'ok'})
    status = r.read_json(runner.paths.status_file)
    assert status == {'backup': failed, 'last-success': ok, 'retention': {'status': 'ok'}}
    assert os.stat(runner.paths.status_file).st_mode & 0o777 == 0o644


def test_record_replaces_the_last_success_with_a_newer_one(runner):
    runner.record('backup', {'status': 'ok', 'backup-id': 'first'})
    runner.record('backup', {'status': 'ok', 'backup-id': 'second'})
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
        r.stop_gpg_agent(paths.gnupg_home)
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
    r.stop_gpg_agent(str(tmp_path / 'missing'))
    r.stop_gpg_agent(str(tmp_path))
    assert not os.path.exists(str(tmp_path / 'missing'))


# ----------------------------------------------------------------------------- failure classes
# duplicity 0.8.22, an incremental onto a chain made from another source directory (exit 42):
# its --log-file records, and the output, whose last line is not the fatal one
SOURCE_MISMATCH_LOG = """\
NOTICE 1
. Last full backup date: Tue Dec  1 12:27:10 2026

ERROR 42 '/tmp/rx/other' '/tmp/rx/src'
. Fatal Error: Backup source directory has changed.
. Current directory: b'/tmp/rx/other'
. Previous directory: b'/tmp/rx/src'
. \n. Aborting because you may have accidentally tried to backup two different data sets to \
the same remote location, or using the same archive directory.  If this is not a mistake, use \
the --allow-source-mismatch switch to avoid seeing this message

"""
SOURCE_MISMATCH_OUTPUT = """\
Fatal Error: Backup source directory has changed.
Current directory: b'/tmp/rx/other'
Previous directory: b'/tmp/rx/src'

Aborting because you may have accidentally tried to backup two different data sets
Duplicity backup complete.
"""


@pytest.mark.parametrize('returncode,log,reason', [
    (42, SOURCE_MISMATCH_LOG, 'the backups at the destination were made from another source '
                              'directory'),
    (38, 'ERROR 38\n. Connection failed, please check your credentials\n', 'backend unreachable'),
    (51, "ERROR 51 'put'\n. Giving up after 5 attempts. PermissionError\n",
     'permission denied by the backup server'),
    (52, 'ERROR 52\n. bucket not found\n', 'not found at the destination'),
    (53, 'ERROR 53\n. no space on device\n', 'no space left on the destination'),
    (45, 'ERROR 45\n. GPG key mismatch\n', 'the backups at the destination were encrypted'),
    (35, 'ERROR 35\n. Temp space has 1 available, backup needs 2\n', 'not enough free space'),
    (23, 'ERROR 23\n. Another duplicity instance is already running with this archive '
         'directory\n', 'another duplicity run holds'),
    (50, "ERROR 50 'put'\n. Giving up after 5 attempts. SSHException: Error reading SSH "
         "protocol banner: Connection reset by peer\n", 'backend unreachable'),
    (31, 'ERROR 31\n. GPG error detail: gpg: decryption failed: Bad session key\n',
     'decryption failed'),
])
def test_classify_failure_goes_by_the_exit_code_and_the_log_error_records(returncode, log,
                                                                          reason):
    message = r.classify_failure('Duplicity backup complete.\n', (), returncode, log)
    assert message.startswith(reason), message
    assert 'Duplicity backup complete' not in message


def test_a_source_mismatch_names_the_fix_and_quotes_the_fatal_line_not_the_last_one():
    message = r.classify_failure(SOURCE_MISMATCH_OUTPUT, (), 42, SOURCE_MISMATCH_LOG)
    assert 'do-backup full=true' in message
    assert message.endswith('(Fatal Error: Backup source directory has changed.)')


def test_without_a_log_the_fatal_output_line_is_quoted_rather_than_the_last_one():
    assert r.classify_failure(SOURCE_MISMATCH_OUTPUT) == (
        'Fatal Error: Backup source directory has changed.')


def test_the_quoted_error_record_is_redacted_and_the_message_capped():
    secret = 'Sup3r-Secret-Value'
    log = 'ERROR 30\n. ValueError: password {} rejected {}\n'.format(secret, 'y' * 1000)
    message = r.classify_failure('', [secret], 30, log)
    assert secret not in message and '***' in message
    assert len(message) <= r.MAX_MESSAGE


def test_an_unknown_exit_code_without_output_still_says_which():
    assert r.classify_failure('', (), 99, '') == 'duplicity failed with exit code 99'


def test_log_records_reads_code_extra_and_message():
    records = r.log_records(SOURCE_MISMATCH_LOG, 'ERROR')
    assert [(c, e) for c, e, _ in records] == [(42, "'/tmp/rx/other' '/tmp/rx/src'")]
    assert records[0][2].startswith('Fatal Error: Backup source directory has changed.\n')


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


def runner_spec(root, settings=None, **fields):
    """A RunnerSpec of duplicity/0 under root: file backend, no encryption, retention 30D;
    ``settings`` overrides DuplicitySettings fields."""
    dup = DuplicitySettings(**dict({'backend': 'file', 'encryption': 'disabled',
                                    'remote': Remote(backend='file', path='/srv/backups'),
                                    'retention': '30D'}, **(settings or {})))
    return RunnerSpec(**dict({'unit': 'duplicity/0', 'settings': dup, 'version': (3, 2, 1),
                              'root': str(root)}, **fields))


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
    assert outcome['status'] == 'partial'
    assert outcome['errors'] == '2'
    assert outcome['unreadable'] == ['/srv/data/bad', '/srv/data/other bad']
    assert outcome['warning'].startswith('2 file(s) could not be read and are not in this '
                                         'backup (e.g. /srv/data/bad)')
    recorded = outcome_of(runner)
    assert recorded['backup'] == outcome
    assert 'last-success' not in recorded       # a partial backup is not a success


def test_a_backup_without_errors_is_ok(tmp_path, fake):
    fake.behave(output=STATISTICS_WITH_ERRORS.replace('Errors 2', 'Errors 0'), manifest=True)
    runner = make_runner(tmp_path, fake=fake)
    assert runner.backup()['status'] == 'ok'
    assert outcome_of(runner)['last-success']['status'] == 'ok'


def test_a_run_past_its_deadline_is_killed_with_its_children_and_recorded_as_failed(
        tmp_path, fake, monkeypatch):
    monkeypatch.setattr(r, 'KILL_GRACE', 1)
    pidfile = str(tmp_path / 'child.pid')
    fake.behave(sleep=60, ignore_term=True, child_pidfile=pidfile)
    runner = make_runner(tmp_path, {'run_timeout': 2}, fake=fake)
    started = time.monotonic()
    with pytest.raises(r.OperationError) as err:
        runner.backup()
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 2 * r.KILL_GRACE + 3, elapsed
    assert 'deadline' in str(err.value) and 'run_timeout (2s)' in str(err.value)
    backup = outcome_of(runner)['backup']
    assert backup['status'] == 'failed' and 'run_timeout (2s)' in backup['error']
    with open(pidfile) as f:
        child = int(f.read())
    # the grandchild (gpg, ssh ... in real runs) went with it: gone or a zombie of init
    assert not os.path.exists('/proc/{}'.format(child)) or open(
        '/proc/{}/stat'.format(child)).read().rsplit(')', 1)[1].split()[0] == 'Z'
    assert leftovers(runner) == []
    fake.behave(manifest=True)            # the lock is free: the next run works
    assert runner.backup()['status'] == 'ok'


def gone(pid):
    """True when pid has exited (or is a zombie waiting for init)."""
    try:
        with open('/proc/{}/stat'.format(pid)) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def test_a_runner_told_to_stop_ends_duplicitys_process_group_and_records_the_failure(
        tmp_path, fake, monkeypatch):
    pidfile = str(tmp_path / 'child.pid')
    fake.behave(sleep=600, child_pidfile=pidfile)
    runner = make_runner(tmp_path, fake=fake)
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import sys; sys.path.insert(0, {!r})\n'
         'import duplicity_runner as r\n'
         'r.KILL_GRACE = 2\n'
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
    for _ in range(50):                   # duplicity and what it started went with it
        if gone(child):
            break
        time.sleep(0.1)
    assert gone(child)
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
    assert outcome['status'] == 'ok'
    assert outcome_of(runner)['retention']['status'] == 'ok'


def test_retention_that_finds_the_lock_busy_too_long_is_skipped_not_failed(tmp_path, fake):
    runner = make_runner(tmp_path, fake=fake)
    other = make_runner(tmp_path, fake=fake)
    runner.record('retention', {'status': 'ok', 'time': 'earlier'})
    with other.lock('backup'):
        with pytest.raises(r.Busy):
            runner.retention(wait=0.5)
    assert outcome_of(runner)['retention'] == {'status': 'ok', 'time': 'earlier'}


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
    runners = [make_runner(tmp_path) for _ in range(6)]
    errors = []

    def write(n, runner):
        try:
            for i in range(40):
                runner.record('key-{}'.format(n), {'i': i})
        except Exception as err:      # the old shared temp name: FileNotFoundError
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n, runner))
               for n, runner in enumerate(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcome_of(runners[0]) == {'key-{}'.format(n): {'i': 39} for n in range(6)}
    assert os.listdir(runners[0].paths.status_dir) == ['duplicity-0.json']


def test_concurrent_records_from_processes_all_land(tmp_path):
    runner = make_runner(tmp_path)
    script = ('import sys; sys.path.insert(0, {!r})\n'
              'import duplicity_runner as r\n'
              'runner = r.Runner.from_files({!r})\n'
              'for i in range(40):\n'
              '    runner.record("key-" + sys.argv[1], {{"i": i}})\n').format(
        os.path.dirname(r.__file__), runner.paths.spec_file)
    procs = [subprocess.Popen([sys.executable, '-c', script, str(n)], stderr=subprocess.PIPE)
             for n in range(4)]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode()
    assert outcome_of(runner) == {'key-{}'.format(n): {'i': 39} for n in range(4)}


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
    runner.record('backup', {'status': 'ok'})
    assert sorted(os.listdir(paths.status_dir)) == ['.duplicity-1.json.q9w8', 'duplicity-0.json']


@pytest.mark.parametrize('returncode,log,reason', [
    # duplicity's azure backend: any container failure is "connection failed" (38), any
    # other error "not found" (52); the error's text says what it was
    (38, 'ERROR 38\n. Could not create Azure container: AuthenticationFailed: Server failed '
         'to authenticate the request.\n', 'authentication refused'),
    (52, "ERROR 52 'put'\n. Giving up after 5 attempts. ClientAuthenticationError: "
         "AuthenticationFailed\n", 'authentication refused'),
    (52, "ERROR 52 'list'\n. Giving up after 5 attempts. ContainerNotFound\n",
     'not found at the destination'),
])
def test_backend_codes_any_failure_may_carry_yield_to_the_error_text(returncode, log, reason):
    assert r.classify_failure('', (), returncode, log).startswith(reason)
