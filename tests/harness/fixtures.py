"""pytest fixtures for the harness; import them from tests/conftest.py."""
import os

import pytest

from .build import build_charm, find_charm_build
from .model import Model


@pytest.fixture(scope='session')
def charm_build_cmd():
    """The charm-build command ($CHARM_BUILD, PATH, or the scratch venv)."""
    return find_charm_build()


@pytest.fixture(scope='session')
def harness_build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('charm-builds')


@pytest.fixture(scope='session')
def build(harness_build_dir, charm_build_cmd):
    """``build(src_dir)`` -> path of the built charm, cached per session."""
    def _build(src_dir, **kwargs):
        kwargs.setdefault('charm_build', charm_build_cmd)
        return build_charm(src_dir, harness_build_dir, **kwargs)
    return _build


@pytest.fixture
def juju_model(tmp_path):
    """A fresh model (Juju version from $HARNESS_JUJU_VERSION, default
    3.4.0)."""
    return Model(tmp_path / 'model',
                 juju_version=os.environ.get('HARNESS_JUJU_VERSION',
                                             '3.4.0'))
