"""pytest fixtures for the harness; import them from tests/conftest.py."""
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from . import wheels
from .build import INTERFACES_DIR, _tree_digest, build_charm, charm_name, find_charm_build, \
    harness_layers_dir
from .model import Model

# Test builds kept across sessions and pytest-xdist workers (make clean removes them).
SHARED_BUILDS = Path(__file__).resolve().parents[1] / '.work' / 'charm-builds'


@pytest.fixture(scope='session')
def charm_build_cmd():
    """The charm-build command ($CHARM_BUILD, PATH, or the scratch venv)."""
    return find_charm_build()


@pytest.fixture(scope='session')
def harness_build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('charm-builds')


def shared_build(src_dir, cache_dir=SHARED_BUILDS, **kwargs):
    """build_charm() once per source tree, layers, interfaces and local wheels: in
    ``cache_dir/<digest>``, which is never rebuilt in place (a build another process
    deploys from stays as it is); the first process builds, the others wait and reuse."""
    layers = Path(kwargs.get('layers_dir') or harness_layers_dir()).resolve()
    interfaces = Path(kwargs.get('interfaces_dir') or INTERFACES_DIR).resolve()
    key = (str(Path(src_dir).resolve()), str(layers), str(interfaces),
           bool(kwargs.get('strict')), _tree_digest(src_dir, layers, interfaces),
           wheels.read_manifest(wheels.DEFAULT_DIR))
    out = Path(cache_dir) / hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    done = out / '.complete'
    if not done.exists():
        os.makedirs(str(cache_dir), exist_ok=True)
        with open(str(out) + '.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                build_charm(src_dir, out, **kwargs)
                done.touch()
    return out / charm_name(src_dir)


@pytest.fixture(scope='session')
def build(charm_build_cmd):
    """``build(src_dir)`` -> path of the built charm, built once (shared_build)."""
    def _build(src_dir, **kwargs):
        kwargs.setdefault('charm_build', charm_build_cmd)
        return shared_build(src_dir, **kwargs)
    return _build


@pytest.fixture
def juju_model(tmp_path):
    """A fresh model (Juju version from $HARNESS_JUJU_VERSION, default
    3.4.0)."""
    return Model(tmp_path / 'model',
                 juju_version=os.environ.get('HARNESS_JUJU_VERSION',
                                             '3.4.0'))
