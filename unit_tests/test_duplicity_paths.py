"""Per-unit paths of lib/duplicity_paths.py: safe names, one namespace per unit."""
import dataclasses
import os

import pytest

from duplicity_paths import UnitPaths, unit_slug

UNITS = ['duplicity/0', 'duplicity/1', 'duplicity-0/0', 'backup/0', 'duplicity/10',
         'dup_licity/0']


@pytest.mark.parametrize('unit,slug', [
    ('duplicity/0', 'duplicity-0'),
    ('duplicity/12', 'duplicity-12'),
    ('my-backup/3', 'my-backup-3'),
    ('Dup_2/0', 'Dup_2-0'),
])
def test_unit_slug_replaces_the_slash_with_a_hyphen(unit, slug):
    assert unit_slug(unit) == slug


@pytest.mark.parametrize('unit', ['', 'dup.licity/0', 'dup licity/0', '../etc/0', 'a/b/../c',
                                  'dup;rm -rf/0', 'dup\n/0', 'dupé/0', 'dup*/0', 'dup/0\n',
                                  '-dup/0', '-/0', 'dup/0;id', 'dup/0&', 'dup(1)/0'])
def test_unit_slug_rejects_names_unusable_as_file_cron_or_remote_directory_names(unit):
    with pytest.raises(ValueError, match='cannot be used in file names'):
        unit_slug(unit)


def path_fields(paths):
    return {f.name: getattr(paths, f.name) for f in dataclasses.fields(paths)
            if f.name not in ('unit', 'slug')}


def test_every_path_is_absolute_and_under_the_given_root(tmp_path):
    root = str(tmp_path)
    for name, path in path_fields(UnitPaths.for_unit('duplicity/0', root=root)).items():
        assert os.path.isabs(path), name
        assert path.startswith(root + os.sep), name


@pytest.mark.parametrize('unit', UNITS)
def test_every_path_is_in_the_units_namespace(unit):
    paths = UnitPaths.for_unit(unit)
    shared_dirs = {'status_dir', 'log_dir'}
    for name, path in path_fields(paths).items():
        if name in shared_dirs:
            continue
        assert paths.slug in os.path.basename(path) or \
            any(path == d or path.startswith(d + '/') for d in paths.own_dirs()), name


def test_the_documented_layout_for_duplicity_0():
    p = UnitPaths.for_unit('duplicity/0')
    assert p.state_dir == '/var/lib/charm-duplicity/duplicity-0'
    assert p.secrets_dir == '/var/lib/charm-duplicity/duplicity-0/secrets'
    assert p.env_file == p.secrets_dir + '/env'
    assert p.ssh_key == p.secrets_dir + '/ssh/id_key'
    assert p.known_hosts == p.secrets_dir + '/ssh/known_hosts'
    assert p.gnupg_home == p.secrets_dir + '/gnupg'
    assert p.ca_file == p.secrets_dir + '/ca.pem'
    assert p.spec_file == p.state_dir + '/spec.json'
    assert p.lock_file == p.state_dir + '/lock'
    assert p.restore_dir == p.state_dir + '/restore'
    assert p.archive_dir == '/var/cache/charm-duplicity/duplicity-0/archive'
    assert p.temp_dir == '/var/cache/charm-duplicity/duplicity-0/tmp'
    assert p.status_file == '/var/lib/charm-duplicity/status/duplicity-0.json'
    assert p.log_file == '/var/log/charm-duplicity/duplicity-0.log'
    assert p.cron_file == '/etc/cron.d/charm-duplicity-duplicity-0'
    assert p.logrotate_file == '/etc/logrotate.d/charm-duplicity-duplicity-0'
    assert p.own_dirs() == [p.state_dir, p.cache_dir]


def test_secrets_are_inside_the_state_dir_and_the_state_dir_is_an_own_dir():
    p = UnitPaths.for_unit('duplicity/0')
    for path in (p.env_file, p.ssh_key, p.known_hosts, p.gnupg_home, p.ca_file):
        assert path.startswith(p.secrets_dir + '/')
    assert p.secrets_dir.startswith(p.state_dir + '/')
    for path in (p.archive_dir, p.temp_dir):
        assert path.startswith(p.cache_dir + '/')


@pytest.mark.parametrize('unit', UNITS)
def test_cron_file_name_has_only_letters_digits_hyphens_and_underscores(unit):
    name = os.path.basename(UnitPaths.for_unit(unit).cron_file)
    assert name.replace('-', '').replace('_', '').isalnum()


def test_two_units_never_share_a_path():
    seen = {}
    for unit in UNITS:
        for name, path in path_fields(UnitPaths.for_unit(unit)).items():
            if name in ('status_dir', 'log_dir'):
                continue
            assert path not in seen, '{} {} is also {} of {}'.format(unit, name, *seen[path])
            seen[path] = (name, unit)


def test_no_units_file_lies_inside_another_units_directories():
    all_paths = {u: UnitPaths.for_unit(u) for u in UNITS}
    for unit, paths in all_paths.items():
        for other, other_paths in all_paths.items():
            if other == unit:
                continue
            for path in path_fields(paths).values():
                for own in other_paths.own_dirs():
                    assert not (path == own or path.startswith(own + '/')), (unit, path, other)


def test_machine_dirs_hold_every_units_state_secrets_cache_and_log():
    """What every backup excludes: the directories of all units, not only this one's."""
    mine = UnitPaths.for_unit('duplicity/0')
    dirs = mine.machine_dirs()
    assert dirs == ['/var/lib/charm-duplicity', '/var/cache/charm-duplicity',
                    '/var/log/charm-duplicity']
    for unit in UNITS:
        other = path_fields(UnitPaths.for_unit(unit))
        for name, path in other.items():
            if name in ('cron_file', 'logrotate_file'):
                continue
            assert any(path.startswith(d + '/') or path == d for d in dirs), (unit, name)
