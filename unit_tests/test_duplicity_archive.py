"""lib/duplicity_archive.py: the newest complete and the interrupted backup set, from the
names duplicity leaves in its archive cache (no files, no processes)."""
import pytest

import duplicity_archive as arc

FULL_0800 = 'duplicity-full.20261127T080000Z.manifest'
INC_0830 = 'duplicity-inc.20261127T080000Z.to.20261127T083000Z.manifest'
SIGS = 'duplicity-full-signatures.20261127T080000Z.sigtar.gz'


@pytest.mark.parametrize('names, newest', [
    ((), None),
    ((SIGS,), None),
    ((FULL_0800, SIGS), ('2026-11-27T08:00:00Z', 'full')),
    ((INC_0830, FULL_0800), ('2026-11-27T08:30:00Z', 'incremental')),
    ((FULL_0800, INC_0830, 'duplicity-full.20261127T090000Z.manifest'),
     ('2026-11-27T09:00:00Z', 'full')),
    ((FULL_0800, 'duplicity-inc.20261127T080000Z.to.20261127T090000Z.manifest.part'),
     ('2026-11-27T08:00:00Z', 'full')),                  # a partial set is not complete
])
def test_the_newest_set_is_the_latest_complete_manifest(names, newest):
    assert arc.newest_set(names) == newest


@pytest.mark.parametrize('names, interrupted', [
    ((FULL_0800, INC_0830), None),
    ((FULL_0800, 'duplicity-full.20261127T090000Z.manifest.part'), '2026-11-27T09:00:00Z'),
    # the newest by time, whatever the names sort as (inc sorts after full)
    (('duplicity-inc.20261127T080000Z.to.20261127T083000Z.manifest.part',
      'duplicity-full.20261127T090000Z.manifest.part'), '2026-11-27T09:00:00Z'),
])
def test_the_interrupted_set_is_the_newest_partial_manifest(names, interrupted):
    assert arc.interrupted_set(names) == interrupted


def test_a_missing_cache_has_no_names(tmp_path):
    assert arc.cache_names(str(tmp_path), 'duplicity-0') == []
    (tmp_path / 'duplicity-0').mkdir()
    (tmp_path / 'duplicity-0' / FULL_0800).write_text('')
    assert arc.cache_names(str(tmp_path), 'duplicity-0') == [FULL_0800]
