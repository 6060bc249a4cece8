"""lib/duplicity_output.py: reading duplicity's output and log, and classifying failures,
on output captured once from real duplicity.

The constants below were captured from real runs (file backend, a tiny directory: full,
incremental, full again) of duplicity 0.8.22 (/usr/bin/duplicity), 2.1.5 (tests/.venvs/dup21)
and 3.2.1 (tests/.venvs/dup3); they are not generated at test time.
"""
import pytest

import duplicity_output as out
import duplicity_process as dp

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
    assert out.parse_statistics(output) == {
        'elapsed-time': '0.01', 'source-files': '5', 'source-file-size': '8213',
        'new-files': '2', 'changed-files': '1', 'deleted-files': '0',
        'destination-size-change': size_change, 'errors': '0'}


def test_parse_statistics_reads_the_dotted_log_form_too():
    text = '. ElapsedTime 2.50 (2.50 seconds)\n. SourceFiles 12\n. Errors 1\n'
    assert out.parse_statistics(text) == {'elapsed-time': '2.50', 'source-files': '12',
                                        'errors': '1'}


def test_parse_statistics_of_output_without_statistics_is_empty():
    assert out.parse_statistics(REFUSED_SFTP) == {}
    assert out.parse_statistics('') == {}


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
    assert out.parse_collection_status(log) == expected_sets(*ids)


def test_parse_collection_status_counts_volumes_of_an_encrypted_chain():
    assert out.parse_collection_status(COLLECTION_STATUS_LOG_DUP3_VOLUMES) == [
        {'backup-id': '2026-11-27T08:26:09Z', 'backup-type': 'full', 'volumes': 3,
         'chain': '2026-11-27T08:26:09Z'},
        {'backup-id': '2026-11-27T08:26:24Z', 'backup-type': 'incremental', 'volumes': 1,
         'chain': '2026-11-27T08:26:09Z'},
    ]


def test_parse_collection_status_of_an_empty_destination_is_empty():
    log = ('NOTICE 1\n. Last full backup date: none\n\nINFO 3 \nbackend BackendWrapper\n'
           'archive-dir (. dir)\norphaned-sets-num 0\nincomplete-sets-num 0\n'
           '. Collection Status\n. Found 0 secondary backup chain(s).\n')
    assert out.parse_collection_status(log) == []
    assert out.parse_collection_status('') == []


def test_an_incremental_without_its_full_has_an_unknown_chain():
    log = 'INFO 3\nchain-no-sig 0\n inc 20261127T082255Z 2 enc\n'
    assert out.parse_collection_status(log) == [
        {'backup-id': '2026-11-27T08:22:55Z', 'backup-type': 'incremental', 'volumes': 2,
         'chain': '?'}]


def test_backups_table_has_a_header_a_rule_and_one_row_per_set():
    sets = out.parse_collection_status(COLLECTION_STATUS_LOG_DUP3)
    assert out.backups_table(sets).splitlines() == [
        'backup-id | backup-type | volumes | chain',
        '-----------------------------------------',
        '2026-11-27T08:23:09Z | full | 1 | 2026-11-27T08:23:09Z',
        '2026-11-27T08:23:11Z | incremental | 1 | 2026-11-27T08:23:09Z',
        '2026-11-27T08:23:13Z | full | 1 | 2026-11-27T08:23:13Z',
    ]


def test_backups_table_of_no_sets_is_the_header_and_rule():
    assert out.backups_table([]) == ('backup-id | backup-type | volumes | chain\n'
                                   '-----------------------------------------')


@pytest.mark.parametrize('stamp,expected', [
    ('20261127T071232Z', '2026-11-27T07:12:32Z'),
    ('20240229T000000Z', '2024-02-29T00:00:00Z'),
])
def test_backup_id_formats_duplicity_time_in_utc(stamp, expected):
    assert out.backup_id(stamp) == expected


@pytest.mark.parametrize('stamp', ['2026-11-27T07:12:32Z', '20261127', '20261327T000000Z', ''])
def test_backup_id_rejects_what_is_not_a_duplicity_time(stamp):
    with pytest.raises(ValueError):
        out.backup_id(stamp)


# ----------------------------------------------------------------------------- file lists

@pytest.mark.parametrize('output', [LIST_CURRENT_FILES_DUP08, LIST_CURRENT_FILES_DUP21,
                                    LIST_CURRENT_FILES_DUP3], ids=['dup08', 'dup21', 'dup3'])
def test_parse_file_list_reads_list_current_files_of_each_major(output):
    assert out.parse_file_list(output) == ['a.txt', 'c.txt', 'sub', 'sub/b.txt']


def test_parse_file_list_keeps_spaces_and_reads_single_digit_days():
    output = ('Last full backup date: Mon Dec  1 08:22:57 2026\n'
              'Mon Dec  1 08:22:55 2026 etc/my file.conf\n'
              'Tue Dec 16 23:59:59 2026 srv/data/ünïcode\n')
    assert out.parse_file_list(output) == ['etc/my file.conf', 'srv/data/ünïcode']


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
    assert out.classify_failure(text).startswith(reason)


def test_classify_failure_quotes_the_meaningful_last_line():
    assert out.classify_failure(BAD_PASSPHRASE) == (
        'decryption failed: wrong passphrase or private key '
        '(gpg: decryption failed: Bad session key)')
    assert out.classify_failure(NO_BACKUP_RESTORE) == (
        'no backup found at the destination '
        '(duplicity.dup_collections.CollectionsError: No backup chains found)')


def test_classify_failure_of_an_unknown_error_is_its_last_line():
    assert out.classify_failure('starting\nsomething odd happened\n\n') == 'something odd happened'
    assert out.classify_failure('') == 'duplicity failed'


def test_classify_failure_redacts_secrets_in_the_quoted_line():
    secret = 's3cr3t-Pass'
    text = 'BackendException: Authentication failed for user bk password {}\n'.format(secret)
    message = out.classify_failure(text, secrets=[secret, 'other-secret'])
    assert secret not in message
    assert '***' in message and message.startswith('authentication refused')


def test_classify_failure_caps_the_quoted_line():
    assert len(out.classify_failure('x' * 1000)) == 200


@pytest.mark.parametrize('text,secrets,expected', [
    ('pw=hunter22 and hunter22', ['hunter22'], 'pw=*** and ***'),
    ('key abcdef and abcdefXYZ', ['abcdef', 'abcdefXYZ'], 'key *** and ***'),
    ('short abc stays', ['abc', '', None], 'short abc stays'),
    ('nothing secret', [], 'nothing secret'),
])
def test_redact_replaces_every_secret_longest_first(text, secrets, expected):
    assert dp.redact(text, secrets) == expected


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
    assert out.real_differences(output, ['/srv/app/data', '/etc/hosts']) == [
        'File srv/app/data/a.txt has mtime Mon Nov 30 10:00:00 2026',
        'Directory srv/app/data has mtime Mon Nov 30 10:00:00 2026',
        'Directory srv has permissions 700, expected 755',
        'File etc/hosts has metadata',
    ]


def test_real_differences_of_a_clean_verify_are_none():
    assert out.real_differences('Verify complete: 5 files compared, 0 differences found.',
                              ['/etc']) == []


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
    message = out.classify_failure('Duplicity backup complete.\n', (), returncode, log)
    assert message.startswith(reason), message
    assert 'Duplicity backup complete' not in message


def test_a_source_mismatch_names_the_fix_and_quotes_the_fatal_line_not_the_last_one():
    message = out.classify_failure(SOURCE_MISMATCH_OUTPUT, (), 42, SOURCE_MISMATCH_LOG)
    assert 'do-backup full=true' in message
    assert message.endswith('(Fatal Error: Backup source directory has changed.)')


def test_without_a_log_the_fatal_output_line_is_quoted_rather_than_the_last_one():
    assert out.classify_failure(SOURCE_MISMATCH_OUTPUT) == (
        'Fatal Error: Backup source directory has changed.')


def test_the_quoted_error_record_is_redacted_and_the_message_capped():
    secret = 'Sup3r-Secret-Value'
    log = 'ERROR 30\n. ValueError: password {} rejected {}\n'.format(secret, 'y' * 1000)
    message = out.classify_failure('', [secret], 30, log)
    assert secret not in message and '***' in message
    assert len(message) <= dp.MAX_MESSAGE


def test_an_unknown_exit_code_without_output_still_says_which():
    assert out.classify_failure('', (), 99, '') == 'duplicity failed with exit code 99'


def test_log_records_reads_code_extra_and_message():
    records = out.log_records(SOURCE_MISMATCH_LOG, 'ERROR')
    assert [(c, e) for c, e, _ in records] == [(42, "'/tmp/rx/other' '/tmp/rx/src'")]
    assert records[0][2].startswith('Fatal Error: Backup source directory has changed.\n')


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
    assert out.classify_failure('', (), returncode, log).startswith(reason)
