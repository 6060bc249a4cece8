"""Fixtures for the backup interface layer tests.

The interface modules are imported as the package ``backup`` (from
``interfaces/``).  Their Endpoint classes run against a fake Juju model
(:class:`FakeJuju`) standing in for the hook tools, and against
charms.reactive's real unitdata store in a temporary ``UNIT_STATE_DB``.
"""

import os
import platform
import sys

import pytest

# charmhelpers refuses to import on a distribution it does not know (Debian):
# pretend to be Ubuntu before the first import of charmhelpers.
platform.linux_distribution = lambda: ('Ubuntu', '22.04', 'jammy')

INTERFACES = os.path.abspath(os.path.join(
    os.path.dirname(__file__), '..', '..', '..', 'interfaces'))
if INTERFACES not in sys.path:
    sys.path.insert(0, INTERFACES)

from charmhelpers.core import hookenv, unitdata


class FakeJuju:
    """In-memory stand-in for the hook tools the Endpoints use."""

    def __init__(self, local_unit):
        self.local_unit = local_unit
        self.leader = True
        self.units = {}       # relation id -> [remote unit names]
        self.app_data = {}    # (relation id, app name) -> dict
        self.unit_data = {}   # (relation id, unit name) -> dict
        self.gets = []        # (rid, unit, app) of every relation-get
        self.sets = []        # (rid, settings, app) of every relation-set

    def relate(self, rid, units, app_data=None):
        self.units[rid] = list(units)
        if app_data is not None:
            app = units[0].split('/')[0]
            self.app_data[(rid, app)] = dict(app_data)

    def relation_get(self, attribute=None, unit=None, rid=None, app=None):
        self.gets.append((rid, unit, app))
        if app is not None:
            if app == self.local_unit.split('/')[0] and not self.leader:
                raise AssertionError('a non-leader read its own app data')
            data = self.app_data.get((rid, app), {})
        else:
            data = self.unit_data.get((rid, unit), {})
        data = dict(data)
        return data.get(attribute) if attribute else data

    def relation_set(self, relation_id=None, relation_settings=None,
                     app=False, **kwargs):
        settings = dict(relation_settings or {}, **kwargs)
        self.sets.append((relation_id, settings, app))
        if app:
            key = (relation_id, self.local_unit.split('/')[0])
            store = self.app_data.setdefault(key, {})
        else:
            store = self.unit_data.setdefault(
                (relation_id, self.local_unit), {})
        for k, v in settings.items():
            if v in (None, ''):
                store.pop(k, None)
            else:
                store[k] = v

    def related_units(self, relid=None):
        return list(self.units.get(relid, []))

    def is_leader(self):
        return self.leader


@pytest.fixture
def juju(monkeypatch, tmp_path):
    """A FakeJuju for the duplicity unit ``duplicity/0`` next to ``app/3``.

    charms.reactive's unitdata (flags, data_changed) lives in tmp_path.
    """
    monkeypatch.setenv('UNIT_STATE_DB', str(tmp_path / 'unit-state.db'))
    monkeypatch.setenv('JUJU_UNIT_NAME', 'duplicity/0')
    monkeypatch.setenv('JUJU_PRINCIPAL_UNIT', 'app/3')
    monkeypatch.setenv('JUJU_HOOK_NAME', 'backup-relation-changed')
    for name in ('JUJU_RELATION_ID', 'JUJU_REMOTE_UNIT', 'JUJU_REMOTE_APP'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(unitdata, '_KV', None)
    fake = FakeJuju('duplicity/0')
    for name in ('relation_get', 'relation_set', 'related_units', 'is_leader'):
        monkeypatch.setattr(hookenv, name, getattr(fake, name))
    yield fake
    kv = unitdata._KV
    if kv is not None:
        kv.close()
    unitdata._KV = None


@pytest.fixture
def provides():
    import backup.provides as module
    return module


@pytest.fixture
def requires():
    import backup.requires as module
    return module
