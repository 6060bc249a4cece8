"""Fixtures for end-to-end tests of the built duplicity charm."""

import itertools
import pwd
import os
import subprocess

import pytest

from harness import Model

from .helpers import NRPE_CONFDIR, REPO, letters, remove_unit, require_duplicity

_APP_COUNTER = itertools.count()



@pytest.fixture(scope="session")
def duplicity_charm(build):
    """The duplicity charm, built with charm build from this checkout (once: shared_build)."""
    return build(REPO)


@pytest.fixture(scope="session")
def principal_charm(build):
    """The example principal charm that uses interfaces/backup's requires side."""
    return build(os.path.join(REPO, "tests", "charms", "backup-principal"))


class Deployment:
    """A played principal unit with a duplicity unit related over backup (or general-info)."""

    def __init__(self, model, charm, app_name, bin_dir, endpoint="backup"):
        self.model = model
        self.principal_app = model.add_application("principal-" + app_name.split("-")[-1])
        self.principal = self.principal_app.add_unit()
        self.app = model.add_application(app_name, charm=charm)
        self.unit = self.app.add_unit(principal=self.principal,
                                      extra_path=[bin_dir] if bin_dir else [])
        self.relation = None
        if endpoint:
            self.relation = model.relate("{}:{}".format(app_name, endpoint),
                                         "{}:{}".format(self.principal_app.name,
                                                        "backup" if endpoint == "backup"
                                                        else "juju-info"))

    @property
    def unit_name(self):
        return self.unit.name

    def declare(self, **data):
        self.relation.set_data(self.principal_app.name, data)

    def configure(self, **config):
        self.app.set_config(**config)

    def action(self, name, **params):
        return self.unit.run_action(name, params)

    def ok(self, name, **params):
        result = self.unit.run_action(name, params)
        assert result.status == "completed", "{} failed: {}".format(name, result.message)
        return result.results


@pytest.fixture
def deploy(tmp_path, duplicity_charm, request):
    """deploy(version_id='dup3', endpoint='backup') -> Deployment with a unique app name.

    The app name is unique per test, so the per-unit files the charm writes on this machine
    never collide; the unit is removed (stop, remove) at teardown, which must leave none.
    """
    made = []

    def _deploy(version_id="dup3", endpoint="backup", juju_version="3.4.0"):
        bin_dir = require_duplicity(version_id)
        model = Model(tmp_path / "model{}".format(len(made)), juju_version=juju_version)
        name = "dup{}-{}".format(letters(os.getpid()), letters(next(_APP_COUNTER)))
        deployment = Deployment(model, duplicity_charm, name, bin_dir, endpoint)
        made.append(deployment)
        return deployment

    yield _deploy
    for deployment in made:
        remove_unit(deployment.unit)


NRPE_PIDFILE = "/run/nagios/nrpe.pid"


def _nrpe_pid():
    try:
        with open(NRPE_PIDFILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@pytest.fixture
def nrpe_server():
    """The nagios user and /etc/nagios/nrpe.d of nagios-nrpe-server (charmhelpers needs both).

    charmhelpers restarts nagios-nrpe-server after writing a check, which starts the NRPE
    daemon on a machine without systemd; stop it afterwards unless it ran before the test.
    """
    try:
        pwd.getpwnam("nagios")
        present = os.path.isdir(NRPE_CONFDIR)
    except KeyError:
        present = False
    if not present:
        message = "nagios-nrpe-server is not installed: run tests/setup/install-system.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    running_before = _nrpe_pid() is not None
    yield
    if not running_before and _nrpe_pid() is not None:
        subprocess.run(["service", "nagios-nrpe-server", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
