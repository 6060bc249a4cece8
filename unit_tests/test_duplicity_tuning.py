"""Pure tests of lib/duplicity_tuning.py: the compression key, the argv per mode, encryption
and duplicity version, parallel upload, and the sample behind compression=auto."""
import dataclasses
import os
import random

import pytest

import duplicity_config as dc
import duplicity_helper as h
import duplicity_tuning as t
from duplicity_paths import UnitPaths
from duplicity_records import RunnerSpec
from duplicity_settings import Settings

PATHS = UnitPaths.for_unit('duplicity/0')
FPR = '0123456789ABCDEF0123456789ABCDEF01234567'
VERSIONS = {'0.8.11': (0, 8, 11), '0.8.22': (0, 8, 22), '2.1': (2, 1, 5), '3.x': (3, 2, 1)}
ENCRYPTIONS = {
    'passphrase': {'encryption_passphrase': 'a passphrase'},
    'public-key': {'gpg_public_key': '-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n'
                                     '-----END PGP PUBLIC KEY BLOCK-----'},
    'disabled': {'disable_encryption': True},
}
BASE = {'backend': 'file', 'remote_backup_url': 'file:///srv/backups', 'volsize': 200,
        'concurrency': 1, 'full_if_older_than': '1M', 'disable_encryption': False,
        'gpg_public_key': '', 'encryption_passphrase': ''}
COMPRESSION_OPTIONS = ('--no-compression', '--compress', '--gpg-options=--compress')


def config(encryption='passphrase', **extra):
    return dict(BASE, **ENCRYPTIONS[encryption], **extra)


def settings(encryption='passphrase', compression_auto='', **extra):
    """The parsed duplicity settings of config(encryption, **extra), what build_argv takes."""
    parsed, problems = Settings.parse(config(encryption, **extra), ('/srv/data',),
                                      unit='duplicity/0')
    assert parsed.duplicity is not None, problems
    return dataclasses.replace(parsed.duplicity, compression_auto=compression_auto)


def ctx(version='3.x'):
    return h.Context(unit='duplicity/0', paths=PATHS, version=VERSIONS[version],
                     encrypt_key=FPR, includes=('/srv/data',), excludes=())


def tuning_options(argv):
    """The options this module adds to a backup argv."""
    return [a for a in argv if a.startswith(COMPRESSION_OPTIONS + ('--concurrency',))]


# ----------------------------------------------------------------------------- the key

@pytest.mark.parametrize('value,mode', [
    ('auto', 'auto'), ('none', 'none'), ('fast', 'fast'), ('default', 'default'),
    ('best', 'best'), ('', 'auto'), (None, 'auto'),
])
def test_valid_compression_values_parse_to_their_mode(value, mode):
    assert t.compression_problem(value) == ''
    assert t.parse_compression(value) == mode
    assert dc.validate_backend(dict(BASE, encryption_passphrase='p', compression=value)) == []


@pytest.mark.parametrize('value', ['fastest', 'Auto', ' auto', 'auto ', 'zip', 'gzip', '9',
                                   1, 0, True, ['fast'], 'x' * 500])
def test_invalid_compression_values_block_with_a_message_naming_the_key(value):
    problems = dc.validate_backend(dict(BASE, encryption_passphrase='p', compression=value))
    assert len(problems) == 1, problems
    assert problems[0].startswith('compression must be one of auto, none, fast, default, best')
    assert len(problems[0]) < 120  # the value is echoed capped
    with pytest.raises(ValueError, match='^compression '):
        t.parse_compression(value)
    parsed = Settings.parse(config(compression=value), ('/srv/data',), unit='duplicity/0')[0]
    assert parsed.duplicity is None      # nothing to build from


def test_a_compression_problem_is_filed_under_the_backend_group():
    assert 'compression' in dc.KEY_GROUPS['backend']


# ----------------------------------------------------------------------------- argv

GPG = {
    'none': ['--gpg-options=--compress-algo=none'],
    'fast': ['--gpg-options=--compress-algo=zip --compress-level=1'],
    'default': [],
    'best': ['--gpg-options=--compress-algo=bzip2 --compress-level=9'],
}
PLAIN = {'none': ['--no-compression'], 'fast': [], 'default': [], 'best': []}
ARGV_TABLE = [
    (mode, encryption, version, (PLAIN if encryption == 'disabled' else GPG)[mode])
    for mode in ('none', 'fast', 'default', 'best')
    for encryption in ENCRYPTIONS
    for version in VERSIONS
]


@pytest.mark.parametrize('mode,encryption,version,expected', ARGV_TABLE)
def test_backup_argv_carries_the_compression_options_of_each_mode(mode, encryption, version,
                                                                  expected):
    for full in (False, True):
        argv = h.build_argv('backup', settings(encryption, compression=mode), ctx(version),
                            full=full)
        assert tuning_options(argv) == expected
        # the encryption options stay as they were: gpg gets both
        if encryption == 'passphrase':
            assert '--gpg-options=--cipher-algo=AES256' in argv
        if encryption == 'public-key':
            assert '--encrypt-key=' + FPR in argv and '--gpg-options=--trust-model=always' in argv
        # the options come before the source and target
        assert argv[-2:] == ['/', 'file:///srv/backups/duplicity-0']


@pytest.mark.parametrize('encryption', ENCRYPTIONS)
@pytest.mark.parametrize('version', VERSIONS)
def test_default_mode_builds_the_argv_of_charm_versions_before_the_setting(encryption, version):
    """'default' adds nothing: the argv duplicity was run with before compression existed."""
    argv = h.build_argv('backup', settings(encryption, compression='default'), ctx(version))
    assert not [a for a in argv if a.startswith(COMPRESSION_OPTIONS)]
    assert [a for a in argv if a.startswith('--gpg-options')] == (
        [] if encryption == 'disabled' else
        ['--gpg-options=' + (h.AES256_GPG_OPTION if encryption == 'passphrase'
                             else h.TRUST_GPG_OPTION)])


@pytest.mark.parametrize('sampled,expected', [
    (None, GPG['fast']), ('fast', GPG['fast']), ('none', GPG['none']),
    ('best', GPG['fast']),  # only a sample's choices count; anything else is the default
])
def test_auto_uses_the_sampled_choice_or_fast_without_one(sampled, expected):
    extra = {'compression_auto': sampled} if sampled else {}
    argv = h.build_argv('backup', settings(compression='auto', **extra), ctx())
    assert tuning_options(argv) == expected
    plain = h.build_argv('backup', settings('disabled', compression='auto', **extra), ctx())
    assert tuning_options(plain) == (['--no-compression'] if sampled == 'none' else [])


@pytest.mark.parametrize('operation,kwargs', [
    ('restore', {'target': '/srv/restore/x'}), ('verify', {'compare_data': True}),
    ('list-current-files', {}), ('collection-status', {}), ('cleanup', {}),
    ('remove-older-than', {'time': '30D'}), ('remove-all-but-n-full', {'count': 2}),
])
@pytest.mark.parametrize('mode', t.COMPRESSION_MODES)
@pytest.mark.parametrize('encryption', ENCRYPTIONS)
def test_only_backups_take_compression_options_reading_detects_them(operation, kwargs, mode,
                                                                     encryption):
    argv = h.build_argv(operation, settings(encryption, compression=mode, concurrency=4),
                        ctx(), **kwargs)
    assert tuning_options(argv) == []
    # and the argv is the same in every mode: a mode change never changes how a backup is read
    assert argv == h.build_argv(operation, settings(encryption, concurrency=4), ctx(), **kwargs)


@pytest.mark.parametrize('version,concurrency,expected', [
    ('3.x', 1, []), ('3.x', 2, ['--concurrency=2']), ('3.x', 8, ['--concurrency=8']),
    ('2.1', 4, []), ('0.8.22', 4, []), ('0.8.11', 4, []),
])
def test_concurrency_is_passed_on_duplicity_3_from_two_up(version, concurrency, expected):
    argv = h.build_argv('backup', settings(compression='default', concurrency=concurrency),
                        ctx(version))
    assert tuning_options(argv) == expected


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('encryption', ENCRYPTIONS)
def test_asynchronous_upload_is_never_passed(version, encryption):
    for concurrency in (1, 4):
        argv = h.build_argv('backup', settings(encryption, concurrency=concurrency), ctx(version))
        assert not [a for a in argv if a.startswith('--asynchronous')]


@pytest.mark.parametrize('mode,encryption,concurrency,version,expected', [
    ('auto', 'passphrase', 1, '0.8.22', []),
    ('auto', 'passphrase', 4, '3.x', []),
    ('auto', 'passphrase', 4, '2.1', ['concurrency=4 ignored: duplicity 2.1.5 uploads']),
    ('auto', 'passphrase', 2, '0.8.22', ['concurrency=2 ignored: duplicity 0.8.22 uploads']),
    ('fast', 'disabled', 1, '3.x', ['compression=fast is gzip level 6 without encryption']),
    ('best', 'disabled', 1, '3.x', ['compression=best is gzip level 6 without encryption']),
    ('best', 'passphrase', 1, '3.x', []),
    ('none', 'disabled', 1, '3.x', []),
])
def test_a_setting_the_installed_duplicity_ignores_is_noted_in_one_line(
        mode, encryption, concurrency, version, expected):
    notes = h.notes(settings(encryption, compression=mode, concurrency=concurrency), ctx(version))
    assert len(notes) == len(expected), notes
    for note, start in zip(notes, expected):
        assert note.startswith(start), note


# ----------------------------------------------------------------------------- auto sample

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def text(n, seed=1):
    rng = random.Random(seed)
    words = 'backup restore volume chain error info debug started finished'.split()
    out = []
    size = 0
    while size < n:
        out.append('{} {} id={}\n'.format(rng.choice(words), rng.choice(words),
                                          rng.randint(0, 999)))
        size += len(out[-1])
    return ''.join(out).encode()[:n]


def test_incompressible_data_samples_as_none(tmp_path):
    for i in range(30):
        write(str(tmp_path / 'media' / 'f{}.jpg'.format(i)), os.urandom(100000))
    ratio, raw, count = t.sample_ratio([str(tmp_path / 'media')])
    assert ratio > 0.99 and count == 30 and raw == 30 * t.SAMPLE_CHUNK
    assert t.choose_auto(ratio) == 'none'


def test_text_samples_as_fast(tmp_path):
    for i in range(10):
        write(str(tmp_path / 'logs' / 'f{}.log'.format(i)), text(200000, seed=i))
    ratio, _, _ = t.sample_ratio([str(tmp_path / 'logs')])
    assert ratio < 0.5
    assert t.choose_auto(ratio) == 'fast'


def test_a_mix_samples_by_its_share_of_compressible_bytes(tmp_path):
    for i in range(10):
        write(str(tmp_path / 'a' / 'r{}'.format(i)), os.urandom(50000))
        write(str(tmp_path / 'a' / 't{}'.format(i)), text(50000, seed=i))
    ratio, _, count = t.sample_ratio([str(tmp_path / 'a')])
    assert count == 20 and 0.5 < ratio < 0.75
    assert t.choose_auto(ratio) == 'fast'


def test_a_large_file_weighs_by_its_size_not_by_its_one_sample(tmp_path):
    """One 3 MB random file and ten small text files: mostly incompressible bytes."""
    write(str(tmp_path / 'b' / 'big.bin'), os.urandom(3000000))
    for i in range(10):
        write(str(tmp_path / 'b' / 't{}.txt'.format(i)), text(20000, seed=i))
    ratio, raw, count = t.sample_ratio([str(tmp_path / 'b')])
    assert count == 11 and raw == t.SAMPLE_CHUNK + 10 * 20000
    assert ratio > 0.9
    assert t.choose_auto(ratio) == 'none'


def test_a_large_file_is_sampled_in_pieces_spread_over_it(tmp_path):
    """A database-like file: a random first MiB, then text and zeros: compressible."""
    path = str(tmp_path / 'db' / 'db.img')
    write(path, os.urandom(1 << 20) + text(1 << 20) + bytes(2 << 20))
    ratio, raw, count = t.sample_ratio([str(tmp_path / 'db')])
    assert count == 1 and raw == t.SAMPLE_CHUNK
    assert ratio < 0.5
    assert t.choose_auto(ratio) == 'fast'


@pytest.mark.parametrize('ratio,choice', [(None, 'fast'), (0.2, 'fast'), (0.89, 'fast'),
                                          (0.91, 'none'), (1.0, 'none'), (1.01, 'none')])
def test_auto_turns_compression_off_below_a_ten_percent_saving(ratio, choice):
    assert t.choose_auto(ratio) == choice


def test_the_sample_reads_at_most_its_budget_large_files_first(tmp_path, monkeypatch):
    monkeypatch.setattr(t, 'SAMPLE_BYTES', 10 * t.SAMPLE_CHUNK)
    for i in range(100):
        write(str(tmp_path / 'd' / 'big{:03d}'.format(i)), os.urandom(t.SAMPLE_CHUNK + i))
    for i in range(400):
        write(str(tmp_path / 'd' / 'small{:03d}'.format(i)), text(4096, seed=i))
    ratio, raw, count = t.sample_ratio([str(tmp_path / 'd')])
    # 3/4 of the budget: the 7 largest files; the rest: every n-th small file
    assert raw <= 10 * t.SAMPLE_CHUNK and raw > 9 * t.SAMPLE_CHUNK
    assert count == 7 + 48  # 3 chunks of small files: 48 of 4 KiB
    # each stratum counts for all its bytes: the large random files (6.4 MB) outweigh the
    # small text files (1.6 MB)
    assert 0.8 < ratio < 0.95


def test_the_sample_skips_excluded_paths_symlinks_fifos_and_empty_files(tmp_path):
    outside = tmp_path / 'outside.bin'
    write(str(outside), os.urandom(100000))
    sel = tmp_path / 'sel'
    write(str(sel / 'skip' / 'random.bin'), os.urandom(100000))
    write(str(sel / 'empty'), b'')
    os.symlink(str(outside), str(sel / 'link'))
    os.symlink(str(tmp_path), str(sel / 'dirlink'))
    os.mkfifo(str(sel / 'fifo'))  # opening it without O_NONBLOCK would hang
    assert t.sample_ratio([str(sel)], [str(sel / 'skip')]) == (None, 0, 0)
    assert t.sample_files([str(sel)], [str(sel / 'skip')]) == []
    write(str(sel / 'log.txt'), text(100000))
    assert t.sample_files([str(sel)], [str(sel / 'skip')]) == [(str(sel / 'log.txt'), 100000)]


def test_nothing_to_sample_means_fast(tmp_path):
    assert t.sample_ratio([str(tmp_path / 'missing'), str(tmp_path)]) == (None, 0, 0)
    assert t.choose_auto(None) == 'fast'
    choice, line = t.auto_compression('auto', [str(tmp_path)], [])
    assert choice == 'fast' and line == 'compression=auto: nothing to sample yet, using fast'


def test_auto_keeps_its_choice_while_the_selection_is_unchanged(tmp_path):
    data = tmp_path / 'data'
    for i in range(5):
        write(str(data / 'f{}'.format(i)), os.urandom(70000))
    includes, excludes = [str(data)], ['**/*.tmp']
    choice, line = t.auto_compression('auto', includes, excludes)
    assert choice == 'none'
    assert line.startswith('compression=auto: a sample of 320 KiB from 5 files deflates to 10')
    assert line.endswith('using none')
    # the spec the hooks wrote, read back as the charm reads it
    written = RunnerSpec(unit='duplicity/0', settings=dataclasses.replace(
        settings(), compression='auto', compression_auto=choice),
        includes=tuple(includes), excludes=tuple(excludes))
    spec = RunnerSpec.from_json(written.to_json())
    # the data becomes text, but the selection is the same: no new sample, no log line
    for i in range(5):
        write(str(data / 'f{}'.format(i)), text(70000))
    assert t.auto_compression('auto', includes, excludes, spec) == (
        'none', '')
    # a changed selection is sampled again
    choice, line = t.auto_compression('auto', includes, [], spec)
    assert choice == 'fast' and line.endswith('using fast')
    # no readable spec (read_runner_spec gives None) is a first sample
    assert t.auto_compression('auto', includes, excludes, None)[0] == 'fast'


@pytest.mark.parametrize('mode', ['none', 'fast', 'default', 'best', 'bogus'])
def test_explicit_or_invalid_modes_are_not_sampled(mode, tmp_path):
    write(str(tmp_path / 'f'), os.urandom(1000))
    assert t.auto_compression(mode, [str(tmp_path)], []) == (None, '')
