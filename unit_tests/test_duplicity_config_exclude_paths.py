"""exclude_paths (lib/duplicity_config.py): a table of patterns, what the validator says about
each, and what real duplicity does with each one.

The charm backs up from / with ``--exclude=<pattern>`` options before its includes. duplicity
refuses some patterns with a fatal error on every backup (``*.tmp``: a glob must start with /
or **; ``//`` inside a glob), crashes on others (a character class Python cannot compile), and
takes others without complaint although they can never do what was meant (``..`` components
never match; ``/*`` excludes everything). The validator refuses all of these, so a unit with
such a value is blocked instead of failing every backup.

The second half runs each table entry through every installed duplicity of
tests/servers/duplicity_versions.py (Debian's 0.8.x, focal's 0.8.11, 2.1.x, 3.x): a dry-run
full backup of a small tree with the pattern, reading which files duplicity would store
(``A <path>`` lines at verbosity info).
"""
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import duplicity_config as dc

from servers.duplicity_versions import CANDIDATES as BINARIES

# The tree each pattern is tried on ({t} is its absolute path).
TREE = ('keep.txt', 'a.tmp', 'sub/B.TMP', 'sub/c.txt', 'cache/x.bin', 'log7', 'logs/z')

# What duplicity does with a pattern: REFUSED (exits non-zero), EVERYTHING (every file of the
# tree excluded), or the set of files of the tree it excludes (empty: the pattern never matches).
REFUSED = 'refused'
EVERYTHING = 'everything'

VALID = [
    ('{t}/cache', {'cache/x.bin'}),
    ('{t}/cache/', {'cache/x.bin'}),                       # trailing /: directories only
    ('{t}/keep.txt/', set()),                              # ... so a file is not matched
    ('**/*.tmp', {'a.tmp'}),
    ('ignorecase:**/*.tmp', {'a.tmp', 'sub/B.TMP'}),
    ('IgnoreCase:{t}/SUB', {'sub/B.TMP', 'sub/c.txt'}),
    ('{t}/sub/*.txt', {'sub/c.txt'}),
    ('{t}/log[0-9]', {'log7'}),
    ('{t}/log[!0-9]', {'logs/z'}),
    ('{t}/?eep.txt', {'keep.txt'}),
    ('{t}/log[', set()),                                   # an unclosed [ is a literal [
    ('{t}/log[[:digit:]]', set()),                         # no POSIX classes: a set + ']'
    ('**/sub', {'sub/B.TMP', 'sub/c.txt'}),
    ('/nonexistent-elsewhere/cache', set()),               # outside every include: harmless
]

INVALID = [
    ('*.tmp', 'start with / or **', REFUSED),
    ('sub/*', 'start with / or **', REFUSED),
    ('tmp', 'start with / or **', REFUSED),
    ('-x', 'start with / or **', REFUSED),
    ('ignorecase:', 'start with / or **', REFUSED),
    ('ignorecase:*.tmp', 'start with / or **', REFUSED),
    ('*', 'start with / or **', EVERYTHING),
    ('[!x]', 'start with / or **', set()),
    ('{t}//sub', "'//'", REFUSED),
    ('/{t}/sub', "'//'", REFUSED),
    ('{t}/[z-a]', 'character class', REFUSED),
    ('ignorecase:{t}/[Z-a]', 'character class', REFUSED),  # [Z-a] is valid, [z-a] is not
    ('{t}/sub/..', '..', set()),
    ('{t}/./keep.txt', '..', set()),
    ('/', 'exclude everything', EVERYTHING),
    ('/*', 'exclude everything', EVERYTHING),
    ('/**', 'exclude everything', EVERYTHING),
    ('**', 'exclude everything', EVERYTHING),
    ('**/', 'exclude everything', EVERYTHING),
    ('ignorecase:/*', 'exclude everything', EVERYTHING),
    ('{t}/a\x01b', 'control character', set()),
]


def pattern(row, tree='/srv/data'):
    return row[0].replace('{t}', tree)


# ----------------------------------------------------------------------------- the validator

@pytest.mark.parametrize('row', VALID, ids=[r[0] for r in VALID])
def test_exclude_patterns_duplicity_takes_are_valid(row):
    assert dc.exclude_pattern_problem(pattern(row)) == ''
    assert dc.validate_exclude_paths({'exclude_paths': pattern(row)}) == []


@pytest.mark.parametrize('row', INVALID, ids=[repr(r[0]) for r in INVALID])
def test_exclude_patterns_duplicity_refuses_or_cannot_apply_block_naming_the_key(row):
    problems = dc.validate_exclude_paths({'exclude_paths': pattern(row)})
    assert len(problems) == 1, problems
    assert problems[0].startswith('exclude_paths '), problems
    assert row[1] in problems[0]
    assert len(problems[0]) < 250
    assert '\x01' not in problems[0]


def test_exclude_paths_split_on_commas_spaces_and_newlines_and_a_trailing_newline_is_fine():
    value = '/srv/a/cache,**/*.tmp\n/var/tmp/x \n'
    assert dc.validate_exclude_paths({'exclude_paths': value}) == []
    assert dc.validate_exclude_paths({'exclude_paths': ''}) == []
    assert dc.validate_exclude_paths({}) == []


def test_each_bad_exclude_pattern_is_reported_once_and_the_list_is_capped():
    value = ' '.join(['*.tmp', '*.tmp', 'a', 'b', 'c', 'd', 'e', '/ok'])
    problems = dc.validate_exclude_paths({'exclude_paths': value})
    assert len(problems) == 4
    assert problems[-1] == 'exclude_paths has 3 more invalid patterns'


def test_a_long_bad_pattern_is_echoed_cut_short():
    problems = dc.validate_exclude_paths({'exclude_paths': 'x' * 5000})
    assert len(problems) == 1 and len(problems[0]) < 250


def test_the_sources_group_reports_exclude_paths_problems():
    config = {'aux_backup_directory': '/etc', 'exclude_paths': '*.tmp'}
    problems = dc.validate_sources(config)
    assert problems and all('exclude_paths' in p for p in problems)
    assert dc.validate_sources(dict(config, exclude_paths='**/*.tmp')) == []


# ----------------------------------------------------------------------------- real duplicity

def make_tree(base):
    tree = os.path.join(base, 'tree')
    for rel in TREE:
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(rel + '\n')
    return tree


def duplicity_effect(binary, base, tree, index, glob):
    """What one dry-run full backup of tree with --exclude=glob does: REFUSED, or the set
    of the tree's files it leaves out."""
    work = os.path.join(base, 'run{}'.format(index))
    os.makedirs(os.path.join(work, 'tmp'))
    argv = [binary, 'full', '--dry-run', '--no-encryption', '--verbosity=info',
            '--archive-dir=' + os.path.join(work, 'archive'),
            '--tempdir=' + os.path.join(work, 'tmp'), '--name=n{}'.format(index),
            '--exclude=' + glob, '--include=' + tree, '--exclude=**',
            '/', 'file://' + os.path.join(work, 'remote')]
    env = dict(os.environ, HOME=work, LC_ALL='C.UTF-8', LANG='C.UTF-8')
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        return REFUSED, p.stdout[-600:] + p.stderr[-600:]
    stored = {line[2:].strip() for line in p.stdout.splitlines() if line.startswith('A ')}
    prefix = tree.lstrip('/') + '/'
    kept = {s[len(prefix):] for s in stored if s.startswith(prefix)}
    excluded = set(TREE) - kept
    return (EVERYTHING if excluded == set(TREE) else excluded), p.stdout[-300:]


@pytest.mark.parametrize('version_id', sorted(BINARIES))
def test_real_duplicity_does_with_each_pattern_what_the_table_says(version_id, tmp_path):
    """Every VALID pattern is taken by duplicity and excludes exactly the files listed;
    every INVALID one is refused by duplicity, or excludes everything, or nothing at all."""
    binary = BINARIES[version_id]
    if not os.access(binary, os.X_OK):
        pytest.skip('{} not installed'.format(binary))
    base = str(tmp_path)
    tree = make_tree(base)
    rows = [(pattern(r, tree), r[1]) for r in VALID] + [(pattern(r, tree), r[2])
                                                        for r in INVALID]
    with ThreadPoolExecutor(max_workers=6) as pool:
        effects = list(pool.map(lambda ir: duplicity_effect(binary, base, tree, ir[0], ir[1][0]),
                                enumerate(rows)))
    wrong = ['{!r}: expected {}, duplicity did {} ({})'.format(glob, expected, got, out)
             for (glob, expected), (got, out) in zip(rows, effects) if got != expected]
    assert not wrong, '\n'.join(wrong)
    shutil.rmtree(base, ignore_errors=True)
